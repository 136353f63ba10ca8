import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Net, ids, bytes } from './net.js';

const [A, B, C] = ids(3) as [string, string, string];
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

test('ReadIndex on the leader is confirmed by a heartbeat round', () => {
  const net = Net.cluster(3);
  net.campaign(A);
  net.propose(A, 'x');
  const commit = net.get(A).node.status().commit;
  net.get(A).node.readIndex(bytes('r1'));
  net.drain(A);
  assert.equal(net.get(A).readStates.length, 0, 'answered before the quorum confirmed');
  net.settle();
  assert.deepEqual(net.get(A).readStates.map((r) => [r.index, dec(r.context)]), [[commit, 'r1']]);
  assert.ok(net.log.some((m) => m.type === 'MsgHeartbeat' && dec(m.context) === 'r1'));
});

test('ReadIndex on a follower is forwarded and answered by the leader', () => {
  const net = Net.cluster(3);
  net.campaign(A);
  net.propose(A, 'x');
  net.get(B).node.readIndex(bytes('r2'));
  net.settle();
  assert.deepEqual(net.get(B).readStates.map((r) => [r.index, dec(r.context)]), [[net.get(A).node.status().commit, 'r2']]);
  assert.ok(net.log.some((m) => m.type === 'MsgReadIndex' && m.from === B));
  assert.ok(net.log.some((m) => m.type === 'MsgReadIndexResp' && m.to === B));
  assert.equal(net.get(A).readStates.length, 0);
});

test('a single-voter cluster answers ReadIndex at once', () => {
  const net = Net.cluster(1);
  net.campaign(A);
  net.get(A).node.readIndex(bytes('r'));
  const rd = net.get(A).node.ready();
  assert.equal(rd.readStates.length, 1);
  assert.equal(rd.readStates[0]!.index, 1);
  assert.equal(rd.messages.length, 0);
});

test('a new leader holds ReadIndex until it has committed an entry of its term', () => {
  const net = Net.cluster(3);
  net.filters.push((m) => m.type === 'MsgApp');
  net.campaign(A);
  assert.equal(net.get(A).node.status().state, 'leader');
  assert.equal(net.get(A).node.status().commit, 0);
  net.get(A).node.readIndex(bytes('early'));
  net.settle();
  assert.equal(net.get(A).readStates.length, 0);
  net.heal();
  net.tickAll();
  assert.deepEqual(net.get(A).readStates.map((r) => [r.index, dec(r.context)]), [[1, 'early']]);
});

test('a leader cut off from its quorum never confirms a read', () => {
  const net = Net.cluster(3);
  net.campaign(A);
  net.isolate(A);
  net.get(A).node.readIndex(bytes('lost'));
  net.tickAll(5);
  assert.equal(net.get(A).readStates.length, 0);
});

test('ReadIndex with no leader is dropped', () => {
  const net = Net.cluster(3);
  net.get(B).node.readIndex(bytes('r'));
  net.settle();
  assert.equal(net.log.length, 0);
  assert.equal(net.get(B).readStates.length, 0);
});
