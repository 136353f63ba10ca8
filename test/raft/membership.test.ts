import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Net, ids, bytes } from './net.js';
import { MemoryStorage } from '../../src/raft/storage.js';
import { ProposalDroppedError } from '../../src/raft/api.js';
import { decodeConfChange, encodeConfChange } from '../../src/raft/confchange.js';
import type { ConfChange } from '../../src/raft/types.js';

const [A, B, C, D] = ids(4) as [string, string, string, string];
const cc = (type: ConfChange['type'], nodeId: string): ConfChange => ({ type, nodeId, context: bytes(`ctx-${nodeId}`) });

function change(net: Net, at: string, c: ConfChange): void {
  net.get(at).node.proposeConfChange(c);
  net.settle();
}

test('encodeConfChange/decodeConfChange round-trip and reject garbage', () => {
  for (const c of [cc('addNode', D), cc('removeNode', A), { type: 'addLearner' as const, nodeId: B, context: new Uint8Array(0) }]) {
    assert.deepEqual(decodeConfChange(encodeConfChange(c)), c);
  }
  const good = encodeConfChange(cc('addNode', D));
  assert.throws(() => decodeConfChange(good.subarray(0, good.length - 1)));
  assert.throws(() => decodeConfChange(new Uint8Array([1, 9, 0, 0, 0, 0, 0, 0])));
  assert.throws(() => decodeConfChange(new Uint8Array(3)));
});

test('addNode: a new member catches up and then counts for the quorum', () => {
  const net = Net.cluster(3);
  // A joining member starts from the bootstrap configuration: it replays the log from index 1,
  // which holds its own addition.
  net.add(D, new MemoryStorage({ voters: [A, B, C], learners: [] }));
  net.campaign(A);
  net.propose(A, 'before');
  change(net, A, cc('addNode', D));
  for (const id of [A, B, C]) assert.deepEqual(net.get(id).confState.voters, [A, B, C, D]);
  net.tickAll(2);
  assert.deepEqual(net.appliedData(D), ['before']);
  assert.deepEqual(net.get(D).confState.voters, [A, B, C, D]);
  // 4 voters: quorum is 3, so A + B alone cannot commit.
  net.isolate(C, D);
  net.get(A).node.propose(bytes('x'));
  net.settle();
  assert.deepEqual(net.appliedData(B), ['before']);
  net.heal();
  net.tickAll();
  assert.deepEqual(net.appliedData(D), ['before', 'x']);
});

test('removeNode: the quorum shrinks and the removed member gets nothing more', () => {
  const net = Net.cluster(3);
  net.campaign(A);
  change(net, A, cc('removeNode', C));
  assert.deepEqual(net.get(A).confState.voters, [A, B]);
  const mark = net.log.length;
  net.propose(A, 'x');
  net.tickAll(3);
  assert.deepEqual(net.appliedData(A), ['x']);
  assert.equal(net.log.slice(mark).filter((m) => m.to === C).length, 0);
  // C is not in its own configuration any more either: it never campaigns.
  for (let i = 0; i < 50; i++) net.tick(C);
  assert.notEqual(net.get(C).node.status().state, 'candidate');
});

test('a learner receives entries but does not count for the quorum', () => {
  const net = Net.cluster(3, {}, [C]);
  net.campaign(A);
  net.propose(A, 'x');
  assert.deepEqual(net.appliedData(C), ['x']);
  net.isolate(B);
  net.get(A).node.propose(bytes('y'));
  net.settle();
  assert.deepEqual(net.appliedData(A), ['x'], 'committed with a learner standing in for a voter');
  assert.equal(net.get(A).node.status().progress![C]!.match, net.get(A).node.status().lastIndex);
});

test('a learner\'s vote does not count', () => {
  const net = Net.cluster(3, {}, [C]);
  net.isolate(B);
  net.campaign(A);
  assert.equal(net.get(A).node.status().state, 'candidate');
});

test('addLearner then promote (addNode of a learner)', () => {
  const net = Net.cluster(3);
  net.add(D, new MemoryStorage({ voters: [A, B, C], learners: [] }));
  net.campaign(A);
  change(net, A, cc('addLearner', D));
  net.tickAll(2);
  assert.deepEqual(net.get(A).confState, { voters: [A, B, C], learners: [D] });
  assert.deepEqual(net.get(D).confState, { voters: [A, B, C], learners: [D] });
  for (let i = 0; i < 30; i++) net.tick(D);
  assert.equal(net.get(D).node.status().state, 'follower');
  change(net, A, cc('addNode', D));
  net.tickAll();
  assert.deepEqual(net.get(D).confState, { voters: [A, B, C, D], learners: [] });
  net.campaign(D);
  assert.equal(net.get(D).node.status().state, 'leader');
});

test('a second conf change while one is pending is dropped', () => {
  const net = Net.cluster(3);
  net.campaign(A);
  net.isolate(B, C); // keep the first change uncommitted
  net.get(A).node.proposeConfChange(cc('removeNode', C));
  assert.throws(() => net.get(A).node.proposeConfChange(cc('addLearner', D)), (e: unknown) => e instanceof ProposalDroppedError && /pending/.test(e.message));
  net.heal();
  net.settle();
  net.tickAll();
  assert.deepEqual(net.get(A).confState.voters, [A, B]);
  net.get(A).node.proposeConfChange(cc('addLearner', D)); // applied now: accepted
  net.settle();
  assert.deepEqual(net.get(A).confState.learners, [D]);
});

test('a leader that removes itself steps down and the others elect a new leader', () => {
  const net = Net.cluster(3);
  net.campaign(A);
  change(net, A, cc('removeNode', A));
  assert.equal(net.get(A).node.status().state, 'follower');
  for (let i = 0; i < 40 && net.leaders().length === 0; i++) net.tickAll();
  const leaders = net.leaders();
  assert.equal(leaders.length, 1);
  assert.notEqual(leaders[0], A);
  net.propose(leaders[0]!, 'x');
  assert.deepEqual(net.appliedData(B), ['x']);
  assert.deepEqual(net.get(B).confState.voters, [B, C]);
});
