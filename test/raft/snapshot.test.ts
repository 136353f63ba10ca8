import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Net, ids } from './net.js';
import type { Net as NetT } from './net.js';

const [A, B, C] = ids(3) as [string, string, string];
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

/** Leader A with C cut off; A applies 5 entries, snapshots at its applied index and compacts. */
function lagBehindCompaction(): { net: NetT; snapIndex: number } {
  const net = Net.cluster(3);
  net.campaign(A);
  net.isolate(C);
  for (let i = 0; i < 5; i++) net.propose(A, `e${i}`);
  const a = net.get(A);
  const snapIndex = a.applied[a.applied.length - 1]!.index;
  a.storage.createSnapshot(snapIndex, a.confState, new TextEncoder().encode('state@' + snapIndex));
  a.storage.compact(snapIndex);
  return { net, snapIndex };
}

test('a follower behind the compacted log gets the snapshot, restores it and catches up', () => {
  const { net, snapIndex } = lagBehindCompaction();
  net.heal();
  for (let i = 0; i < 3; i++) net.tickAll();
  assert.ok(net.log.some((m) => m.type === 'MsgSnap' && m.to === C));
  const c = net.get(C);
  assert.equal(dec(c.storage.snapshot().data), 'state@' + snapIndex);
  assert.deepEqual(c.confState.voters, [A, B, C]);
  net.propose(A, 'after');
  assert.deepEqual(net.appliedData(C), ['after']);
  const pr = net.get(A).node.status().progress![C]!;
  assert.equal(pr.state, 'replicate');
  assert.equal(pr.match, net.get(A).node.status().lastIndex);
  assert.equal(c.node.status().applied, net.get(A).node.status().applied);
});

test('reportSnapshot(failed) makes the leader retry after the next heartbeat', () => {
  const { net } = lagBehindCompaction();
  net.heal();
  net.filters.push((m) => m.type === 'MsgSnap'); // the first send is lost
  net.tickAll();
  const a = net.get(A).node;
  assert.equal(a.status().progress![C]!.state, 'snapshot');
  net.heal();
  net.tickAll(); // paused in snapshot state: nothing is resent
  assert.equal(a.status().progress![C]!.state, 'snapshot');
  a.reportSnapshot(C, true);
  assert.equal(a.status().progress![C]!.state, 'probe');
  for (let i = 0; i < 3; i++) net.tickAll();
  assert.equal(a.status().progress![C]!.state, 'replicate');
  assert.equal(net.log.filter((m) => m.type === 'MsgSnap' && m.to === C).length, 2);
});

test('reportSnapshot(success) resumes probing from after the snapshot', () => {
  const { net, snapIndex } = lagBehindCompaction();
  net.heal();
  // The snapshot is delivered but the follower's answer is lost.
  net.filters.push((m) => m.type === 'MsgAppResp' && m.from === C && !m.reject);
  net.tickAll();
  const a = net.get(A).node;
  assert.equal(a.status().progress![C]!.state, 'snapshot');
  a.reportSnapshot(C, false);
  const pr = a.status().progress![C]!;
  assert.equal(pr.state, 'probe');
  assert.equal(pr.next, snapIndex + 1);
  net.heal();
  for (let i = 0; i < 3; i++) net.tickAll();
  assert.equal(a.status().progress![C]!.state, 'replicate');
});

test('a follower whose log already holds the snapshot index only fast-forwards its commit', () => {
  const net = Net.cluster(3);
  net.campaign(A);
  net.propose(A, 'x');
  const b = net.get(B).node;
  const st = b.status();
  b.step({ type: 'MsgSnap', from: A, to: B, term: st.term, snapshot: { metadata: { index: st.lastIndex, term: st.term, confState: { voters: [A, B, C], learners: [] } }, data: new Uint8Array(0) } });
  assert.equal(b.hasReady(), true);
  const rd = b.ready();
  assert.equal(rd.snapshot, undefined);
  b.advance(rd);
});
