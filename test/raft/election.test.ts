import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Net, ids, storageWith } from './net.js';
import { MemoryStorage } from '../../src/raft/storage.js';

const [A, B, C] = ids(3) as [string, string, string];
const CS3 = { voters: [A, B, C], learners: [] };

test('a single voter elects itself and commits at once', () => {
  const net = Net.cluster(1);
  net.campaign(A);
  const st = net.get(A).node.status();
  assert.equal(st.state, 'leader');
  assert.equal(st.commit, 1); // its empty entry
  net.propose(A, 'v');
  assert.deepEqual(net.appliedData(A), ['v']);
});

test('election timeout is randomized in [electionTick, 2*electionTick)', () => {
  const seen = new Set<number>();
  for (let seed = 0; seed < 40; seed++) {
    const net = new Net({ random: mulberry(seed) });
    net.add(A, new MemoryStorage({ voters: [A], learners: [] }));
    let ticks = 0;
    while (net.get(A).node.status().state !== 'leader') {
      net.tick(A);
      ticks++;
      assert.ok(ticks < 100, 'never campaigned');
    }
    assert.ok(ticks >= 10 && ticks < 20, `campaigned after ${ticks} ticks`);
    seen.add(ticks);
  }
  assert.ok(seen.size > 3, 'timeouts are not spread');
});

function mulberry(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('ticking alone elects exactly one leader in a 3-node cluster', () => {
  const net = Net.cluster(3);
  for (let i = 0; i < 30 && net.leaders().length === 0; i++) net.tickAll();
  assert.equal(net.leaders().length, 1);
  const lead = net.leaders()[0]!;
  for (const id of [A, B, C]) assert.equal(net.get(id).node.status().lead, lead);
});

test('a candidate with a stale log is refused and loses', () => {
  const net = new Net();
  net.add(A, storageWith(CS3, [1, 1], { term: 1 }));
  net.add(B, storageWith(CS3, [1, 1], { term: 1 }));
  net.add(C, storageWith(CS3, [1], { term: 1 }));
  net.campaign(C);
  assert.notEqual(net.get(C).node.status().state, 'leader');
  assert.equal(net.get(C).node.status().state, 'follower');
  const rejects = net.log.filter((m) => m.type === 'MsgVoteResp' && m.to === C && m.reject);
  assert.equal(rejects.length, 2);
});

test('a voter grants at most one vote per term', () => {
  const net = Net.cluster(3);
  net.isolate(C);
  net.get(A).node.campaign(); // term 1
  net.get(B).node.campaign(); // term 1 as well, B votes for itself
  net.drain(A);
  net.drain(B);
  const q = net.queue;
  net.queue = [];
  for (const m of q) net.deliver(m);
  net.drain(A);
  net.drain(B);
  const grants = net.queue.filter((m) => m.type === 'MsgVoteResp' && !m.reject);
  assert.equal(grants.length, 0);
  net.settle();
  assert.deepEqual(net.leaders(), []);
});

test('a leader steps down when it sees a higher term', () => {
  const net = Net.cluster(3);
  net.campaign(A);
  net.isolate(A);
  net.campaign(B);
  assert.equal(net.get(B).node.status().state, 'leader');
  net.heal();
  net.tick(B);
  net.settle();
  assert.equal(net.get(A).node.status().state, 'follower');
  assert.equal(net.get(A).node.status().lead, B);
  assert.equal(net.get(A).node.status().term, 2);
});

test('a message from a lower term is ignored (and answered with the term under check-quorum)', () => {
  for (const checkQuorum of [false, true]) {
    const net = new Net({ checkQuorum });
    for (const id of [A, B, C]) net.add(id, storageWith(CS3, [1, 2], { term: 2, commit: 1 }));
    const before = net.get(C).node.status();
    net.get(C).node.step({ type: 'MsgApp', from: A, to: C, term: 1, index: 2, logTerm: 1, entries: [{ term: 1, index: 3, type: 'normal', data: new Uint8Array(1) }], commit: 2 });
    const after = net.get(C).node.status();
    assert.deepEqual(after, before);
    net.drain(C);
    const replies = net.queue.filter((m) => m.to === A && m.type === 'MsgAppResp');
    assert.equal(replies.length, checkQuorum ? 1 : 0);
    if (checkQuorum) assert.equal(replies[0]!.term, 2);
  }
});

test('pre-vote: an isolated node does not raise its term and does not disrupt on rejoin', () => {
  const net = Net.cluster(3, { preVote: true });
  net.campaign(A);
  const term = net.get(A).node.status().term;
  net.isolate(C);
  for (let i = 0; i < 50; i++) {
    net.tick(C);
    net.settle();
  }
  assert.equal(net.get(C).node.status().term, term);
  assert.equal(net.get(C).node.status().state, 'preCandidate');
  net.heal();
  net.tickAll(3);
  assert.equal(net.get(A).node.status().state, 'leader');
  assert.equal(net.get(A).node.status().term, term);
  assert.equal(net.get(C).node.status().lead, A);
});

test('without pre-vote the same isolated node disrupts the leader on rejoin', () => {
  const net = Net.cluster(3, { preVote: false });
  net.campaign(A);
  const term = net.get(A).node.status().term;
  net.isolate(C);
  for (let i = 0; i < 50; i++) {
    net.tick(C);
    net.settle();
  }
  assert.ok(net.get(C).node.status().term > term);
  net.heal();
  net.tickAll(3);
  assert.ok(net.get(A).node.status().term > term, 'leader term unchanged');
});

test('check-quorum: a leader cut off from its quorum steps down after an election timeout', () => {
  const net = Net.cluster(3, { checkQuorum: true });
  net.campaign(A);
  net.isolate(A);
  for (let i = 0; i < 9; i++) net.tick(A);
  assert.equal(net.get(A).node.status().state, 'leader');
  net.tick(A, 11);
  assert.equal(net.get(A).node.status().state, 'follower');
  assert.equal(net.get(A).node.status().lead, '');
});

test('check-quorum: followers with a live leader ignore a disruptive candidate', () => {
  const net = Net.cluster(3, { checkQuorum: true });
  net.campaign(A);
  const term = net.get(B).node.status().term;
  net.isolate(C);
  net.get(C).node.campaign(); // term+1, messages dropped
  net.settle();
  net.heal();
  net.get(C).node.campaign(); // term+2, delivered
  net.drain(C);
  const q = net.queue;
  net.queue = [];
  for (const m of q) net.deliver(m);
  assert.equal(net.get(B).node.status().term, term);
  assert.equal(net.get(B).node.status().vote, A);
  assert.equal(net.get(A).node.status().state, 'leader');
  assert.ok(net.get(B).logger.lines.some((l) => l.msg.includes('within the leader lease')));
});

test('a learner never campaigns', () => {
  const net = Net.cluster(3, {}, [C]);
  for (let i = 0; i < 100; i++) {
    net.tick(C);
    net.settle();
  }
  assert.equal(net.get(C).node.status().state, 'follower');
  assert.equal(net.get(C).node.status().term, 0);
  assert.equal(net.log.filter((m) => m.from === C).length, 0);
});

test('status: progress is reported only on the leader', () => {
  const net = Net.cluster(3);
  net.campaign(A);
  const st = net.get(A).node.status();
  assert.ok(st.progress);
  assert.deepEqual(Object.keys(st.progress).sort(), [A, B, C]);
  assert.equal(st.progress[B]!.match, st.lastIndex);
  assert.equal(st.progress[B]!.state, 'replicate');
  assert.equal(net.get(B).node.status().progress, undefined);
});
