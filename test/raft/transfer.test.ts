import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Net, ids, bytes } from './net.js';
import { ProposalDroppedError } from '../../src/raft/api.js';

const [A, B, C] = ids(3) as [string, string, string];

for (const checkQuorum of [false, true]) {
  test(`transferLeader hands leadership to an up-to-date follower (checkQuorum=${checkQuorum})`, () => {
    const net = Net.cluster(3, { checkQuorum, preVote: true });
    net.campaign(A);
    const term = net.get(A).node.status().term;
    const mark = net.log.length;
    net.get(A).node.transferLeader(B);
    net.settle();
    assert.deepEqual(net.leaders(), [B]);
    assert.equal(net.get(B).node.status().term, term + 1);
    assert.ok(net.log.some((m) => m.type === 'MsgTimeoutNow' && m.to === B));
    assert.ok(net.log.some((m) => m.type === 'MsgVote' && m.from === B && m.transfer));
    assert.ok(!net.log.slice(mark).some((m) => m.type === 'MsgPreVote'), 'a transfer must not pre-vote');
  });
}

test('a lagging transferee is caught up before MsgTimeoutNow', () => {
  const net = Net.cluster(3);
  net.campaign(A);
  net.isolate(C);
  for (let i = 0; i < 3; i++) net.propose(A, `e${i}`);
  net.heal();
  net.get(A).node.transferLeader(C);
  net.settle();
  assert.deepEqual(net.leaders(), [C]);
  const c = net.get(C).storage;
  assert.equal(c.entries(1, c.lastIndex() + 1, Infinity).filter((e) => e.data.length > 0).length, 3);
});

test('proposals are refused during a transfer, which aborts after an election timeout', () => {
  const net = Net.cluster(3);
  net.campaign(A);
  net.isolate(B);
  net.get(A).node.transferLeader(B);
  net.settle();
  assert.equal(net.get(A).node.status().leadTransferee, B);
  assert.throws(() => net.get(A).node.propose(bytes('x')), ProposalDroppedError);
  net.tick(A, 10);
  net.settle();
  assert.equal(net.get(A).node.status().leadTransferee, '');
  assert.equal(net.get(A).node.status().state, 'leader');
  net.propose(A, 'x');
  assert.deepEqual(net.appliedData(C), ['x']);
});

test('a follower asks for the transfer with MsgTransferLeader', () => {
  const net = Net.cluster(3);
  net.campaign(A);
  net.get(C).node.transferLeader(C);
  net.settle();
  assert.ok(net.log.some((m) => m.type === 'MsgTransferLeader' && m.from === C && m.to === A && m.transferee === C));
  assert.deepEqual(net.leaders(), [C]);
});

test('a transfer to a learner is ignored', () => {
  const net = Net.cluster(3, {}, [C]);
  net.campaign(A);
  net.get(A).node.transferLeader(C);
  net.settle();
  assert.equal(net.get(A).node.status().leadTransferee, '');
  assert.deepEqual(net.leaders(), [A]);
});
