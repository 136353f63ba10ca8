// leaderCountsSelfWhenPersisted: the leader's own copy of an entry counts toward commit only
// once the caller reports it durable, so the caller may pipeline the leader's disk writes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Net, ids } from './net.js';

const [A, B, C] = ids(3) as [string, string, string];

test('with one follower cut off, nothing commits until the leader reports its entries durable', () => {
  const net = Net.cluster(3, { leaderCountsSelfWhenPersisted: true });
  net.campaign(A);
  // The election's empty entry commits through B and C (a quorum without the leader).
  const base = net.get(A).node.status().commit;
  assert.ok(base >= 1);
  net.filters.push(net.isolate(C));
  net.propose(A, 'x');
  const last = net.get(A).storage.lastIndex();
  assert.equal(net.get(A).node.status().commit, base, 'B alone is not a quorum while A has not reported');
  assert.deepEqual(net.appliedData(A).includes('x'), false);
  net.get(A).node.reportPersisted(last, net.get(A).node.status().term);
  net.settle();
  assert.equal(net.get(A).node.status().commit, last, 'A + B is a quorum once A counts');
  assert.ok(net.appliedData(B).includes('x'), 'the new commit index reached B');
});

test('reports of another term, of an index past the log, or on a follower change nothing', () => {
  const net = Net.cluster(3, { leaderCountsSelfWhenPersisted: true });
  net.campaign(A);
  net.filters.push(net.isolate(C));
  net.propose(A, 'y');
  const st = net.get(A).node.status();
  const last = net.get(A).storage.lastIndex();
  net.get(A).node.reportPersisted(last, st.term + 1);
  net.get(A).node.reportPersisted(last + 5, st.term);
  net.get(B).node.reportPersisted(last, st.term);
  net.settle();
  assert.equal(net.get(A).node.status().commit, st.commit);
});

test('classic mode (the default) counts the leader at append, as before', () => {
  const net = Net.cluster(3);
  net.campaign(A);
  net.filters.push(net.isolate(C));
  net.propose(A, 'z');
  assert.equal(net.get(A).node.status().commit, net.get(A).storage.lastIndex());
});
