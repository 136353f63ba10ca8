import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Net, ids, storageWith, bytes } from './net.js';
import { ProposalDroppedError } from '../../src/raft/api.js';
import type { MsgApp } from '../../src/raft/message.js';
import { ENTRY_OVERHEAD_BYTES } from '../../src/raft/limits.js';

const [A, B, C] = ids(3) as [string, string, string];
const CS3 = { voters: [A, B, C], learners: [] };

test('entries replicate to every member and apply in the same order', () => {
  const net = Net.cluster(3);
  net.campaign(A);
  for (let i = 0; i < 20; i++) net.propose(i % 2 ? A : B, `v${i}`);
  const want = Array.from({ length: 20 }, (_, i) => `v${i}`);
  for (const id of [A, B, C]) assert.deepEqual(net.appliedData(id), want);
});

test('a new leader appends an empty entry of its term', () => {
  const net = Net.cluster(3);
  net.campaign(A);
  const e = net.get(A).storage.entries(1, 2, Infinity)[0]!;
  assert.equal(e.term, 1);
  assert.equal(e.data.length, 0);
  assert.equal(net.get(B).node.status().commit, 1);
});

test('a divergent follower log is repaired with few probes (fast backtracking)', () => {
  const net = new Net();
  net.add(A, storageWith(CS3, [1, 1, 3], { term: 3 }));
  net.add(B, storageWith(CS3, [1, 2, 2, 2, 2, 2, 2, 2, 2, 2], { term: 2 }));
  net.add(C, storageWith(CS3, [1], { term: 1 }));
  net.campaign(A); // A is more up to date than B (last term 3 > 2); C votes
  assert.equal(net.get(A).node.status().state, 'leader');
  net.tickAll(2);
  const termsOf = (id: string) => {
    const s = net.get(id).storage;
    return s.entries(1, s.lastIndex() + 1, Infinity).map((e) => e.term);
  };
  assert.deepEqual(termsOf(B), termsOf(A));
  assert.deepEqual(termsOf(B), [1, 1, 3, 4]);
  const rejects = net.log.filter((m) => m.type === 'MsgAppResp' && m.from === B && m.reject).length;
  assert.ok(rejects <= 2, `${rejects} rejections`);
});

test('only entries of the current term are committed by counting', () => {
  const net = new Net();
  net.add(A, storageWith(CS3, [1, 2], { term: 2 }));
  net.add(B, storageWith(CS3, [1, 2], { term: 2 }));
  net.add(C, storageWith(CS3, [1], { term: 2 }));
  const a = net.get(A).node;
  a.campaign();
  net.drain(A);
  const votes = net.queue.filter((m) => m.type === 'MsgVote');
  net.queue = [];
  for (const v of votes) net.deliver(v);
  net.drain(B);
  net.drain(C);
  for (const m of net.queue) if (m.type === 'MsgVoteResp') a.step(m);
  net.queue = [];
  assert.equal(a.status().state, 'leader');
  // B acknowledges the old-term entry 2 but not the new leader's entry 3.
  a.step({ type: 'MsgAppResp', from: B, to: A, term: 3, index: 2, reject: false, rejectHint: 0, logTerm: 0 });
  assert.equal(a.status().commit, 0, 'committed an earlier-term entry by counting');
  a.step({ type: 'MsgAppResp', from: B, to: A, term: 3, index: 3, reject: false, rejectHint: 0, logTerm: 0 });
  assert.equal(a.status().commit, 3);
});

test('pipelining is bounded by maxInflightMsgs', () => {
  const net = Net.cluster(3, { maxInflightMsgs: 3 });
  net.campaign(A);
  net.filters.push((m) => m.to === B);
  const mark = net.log.length;
  for (let i = 0; i < 10; i++) net.propose(A, `p${i}`);
  const sent = net.log.slice(mark).filter((m) => m.type === 'MsgApp' && m.to === B && m.entries.length > 0).length;
  assert.equal(sent, 3);
  assert.equal(net.appliedData(C).length, 10); // A + C still commit
});

test('replication resumes after lost acknowledgements (heartbeat frees the window)', () => {
  const net = Net.cluster(3, { maxInflightMsgs: 1 });
  net.campaign(A);
  const drop = (m: { type: string; from: string }) => m.type === 'MsgAppResp' && m.from === B;
  net.filters.push(drop);
  for (let i = 0; i < 3; i++) net.propose(A, `p${i}`);
  net.heal();
  for (let i = 0; i < 3; i++) net.tickAll();
  assert.deepEqual(net.appliedData(B), ['p0', 'p1', 'p2']);
});

test('a catching-up follower gets entries batched up to maxSizePerMsg', () => {
  const max = 3 * (40 + ENTRY_OVERHEAD_BYTES) + 10;
  const net = Net.cluster(3, { maxSizePerMsg: max });
  net.campaign(A);
  net.isolate(C);
  for (let i = 0; i < 12; i++) net.propose(A, 'x'.repeat(40));
  net.heal();
  const mark = net.log.length;
  for (let i = 0; i < 5; i++) net.tickAll();
  const apps = net.log.slice(mark).filter((m): m is MsgApp => m.type === 'MsgApp' && m.to === C && m.entries.length > 0);
  assert.ok(apps.length >= 4);
  assert.ok(apps.every((m) => m.entries.length <= 3));
  assert.ok(apps.some((m) => m.entries.length === 3));
  assert.equal(net.appliedData(C).length, 12);
});

test('the commit index reaches followers on heartbeats', () => {
  const net = Net.cluster(3);
  net.campaign(A);
  // C gets the entry but not the MsgApp that carries the new commit index.
  net.filters.push((m) => m.type === 'MsgApp' && m.to === C && m.entries.length === 0);
  net.propose(A, 'x');
  assert.deepEqual(net.appliedData(B), ['x']);
  assert.deepEqual(net.appliedData(C), []);
  net.tick(A);
  net.settle();
  assert.deepEqual(net.appliedData(C), ['x']);
  assert.ok(net.log.some((m) => m.type === 'MsgHeartbeat' && m.to === C && m.commit === 2));
});

test('a proposal on a follower is forwarded to the leader as MsgProp', () => {
  const net = Net.cluster(3);
  net.campaign(A);
  net.propose(C, 'from-c');
  assert.ok(net.log.some((m) => m.type === 'MsgProp' && m.from === C && m.to === A));
  for (const id of [A, B, C]) assert.deepEqual(net.appliedData(id), ['from-c']);
});

test('a proposal with no leader is dropped with ProposalDroppedError', () => {
  const net = Net.cluster(3);
  assert.throws(() => net.get(A).node.propose(bytes('x')), (e: unknown) => e instanceof ProposalDroppedError && /no leader/.test(e.message));
  net.get(A).node.campaign(); // candidate: still no leader
  assert.throws(() => net.get(A).node.propose(bytes('x')), ProposalDroppedError);
});

test('a proposal over maxProposalBytes is refused', () => {
  const net = Net.cluster(1, { maxProposalBytes: 10 });
  net.campaign(A);
  net.get(A).node.propose(new Uint8Array(10));
  assert.throws(() => net.get(A).node.propose(new Uint8Array(11)), ProposalDroppedError);
});

test('reportUnreachable stops pipelining to that follower (replicate -> probe)', () => {
  const net = Net.cluster(3);
  net.campaign(A);
  assert.equal(net.get(A).node.status().progress![B]!.state, 'replicate');
  net.get(A).node.reportUnreachable(B);
  assert.equal(net.get(A).node.status().progress![B]!.state, 'probe');
  net.propose(A, 'x');
  assert.equal(net.get(A).node.status().progress![B]!.state, 'replicate');
  assert.deepEqual(net.appliedData(B), ['x']);
});

test('a member restarted from its storage keeps term, vote, log and commit', () => {
  const net = Net.cluster(3);
  net.campaign(A);
  net.propose(A, 'a');
  net.propose(A, 'b');
  const old = net.get(B);
  const st = old.node.status();
  const applied = old.applied.length ? old.applied[old.applied.length - 1]!.index : 0;
  const restarted = net.add(B, old.storage, {}, applied);
  const st2 = restarted.node.status();
  assert.equal(st2.term, st.term);
  assert.equal(st2.vote, st.vote);
  assert.equal(st2.commit, st.commit);
  assert.equal(st2.lastIndex, st.lastIndex);
  assert.equal(st2.applied, applied);
  net.propose(A, 'c');
  assert.deepEqual(net.appliedData(B), ['c']); // only what is new since the restart
});
