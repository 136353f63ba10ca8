import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Net, ids, storageWith, bytes } from './net.js';
import { MemoryStorage, RaftSnapshotOutOfDateError } from '../../src/raft/storage.js';
import { RaftCompactedError, RaftUnavailableError } from '../../src/raft/api.js';
import type { Entry } from '../../src/raft/types.js';

const [A, B, C] = ids(3) as [string, string, string];
const CS3 = { voters: [A, B, C], learners: [] };
const e = (index: number, term: number, s = ''): Entry => ({ index, term, type: 'normal', data: bytes(s) });

test('ready() twice without advance() throws', () => {
  const net = Net.cluster(1);
  const n = net.get(A).node;
  n.campaign();
  n.ready();
  assert.throws(() => n.ready(), /before advance/);
});

test('a heartbeat claiming a commit beyond the log is an invariant violation', () => {
  const net = new Net();
  net.add(B, storageWith(CS3, [1, 1], { term: 1, commit: 2 }));
  const b = net.get(B).node;
  assert.throws(() => b.step({ type: 'MsgHeartbeat', from: A, to: B, term: 1, commit: 5, context: new Uint8Array(0) }), /invariant/);
});

test('a hard state whose commit is beyond the log is refused at start', () => {
  assert.throws(() => new Net().add(A, storageWith(CS3, [1], { term: 1, commit: 5 })), /invariant/);
});

test('voteIgnoresLog (testing bug) grants a vote to a stale candidate', () => {
  for (const bug of [false, true]) {
    const net = new Net({ testingBugs: { voteIgnoresLog: bug } });
    net.add(A, storageWith(CS3, [1, 1], { term: 1 }));
    net.add(B, storageWith(CS3, [1, 1], { term: 1 }));
    net.add(C, storageWith(CS3, [1], { term: 1 }));
    net.campaign(C);
    assert.equal(net.get(C).node.status().state === 'leader', bug);
  }
});

test('commitPreviousTermByCounting (testing bug) commits an earlier-term entry', () => {
  for (const bug of [false, true]) {
    const net = new Net({ testingBugs: { commitPreviousTermByCounting: bug } });
    net.add(A, storageWith(CS3, [1, 2], { term: 2 }));
    net.add(B, storageWith(CS3, [1, 2], { term: 2 }));
    net.add(C, storageWith(CS3, [1], { term: 2 }));
    const a = net.get(A).node;
    a.campaign();
    for (const m of a.ready().messages) {
      net.get(m.to).node.step(m);
      for (const r of net.get(m.to).node.ready().messages) a.step(r);
    }
    assert.equal(a.status().state, 'leader');
    a.step({ type: 'MsgAppResp', from: B, to: A, term: 3, index: 2, reject: false, rejectHint: 0, logTerm: 0 });
    assert.equal(a.status().commit, bug ? 2 : 0);
  }
});

test('MemoryStorage: append replaces a conflicting suffix', () => {
  const s = new MemoryStorage(CS3);
  s.append([e(1, 1), e(2, 1), e(3, 1)]);
  s.append([e(2, 2), e(3, 2), e(4, 2)]);
  assert.deepEqual(s.entries(1, 5, Infinity).map((x) => x.term), [1, 2, 2, 2]);
  s.append([e(3, 3)]);
  assert.equal(s.lastIndex(), 3);
  assert.throws(() => s.append([e(6, 3)]), /missing/);
});

test('MemoryStorage: entries honours maxBytes but returns at least one', () => {
  const s = new MemoryStorage();
  s.append([e(1, 1, 'x'.repeat(100)), e(2, 1, 'y'.repeat(100)), e(3, 1, 'z')]);
  assert.equal(s.entries(1, 4, 1).length, 1);
  assert.equal(s.entries(1, 4, 250).length, 2);
  assert.equal(s.entries(1, 4, Infinity).length, 3);
  assert.throws(() => s.entries(1, 5, Infinity), RaftUnavailableError);
});

test('MemoryStorage: catchUpStart bounds the entries kept behind a snapshot by count and by bytes', () => {
  const s = new MemoryStorage();
  // entries 1..6 of 76 data bytes: 100 bytes each with ENTRY_OVERHEAD_BYTES (24)
  s.append([1, 2, 3, 4, 5, 6].map((i) => e(i, 1, 'x'.repeat(76))));
  assert.equal(s.catchUpStart(5, 3, Infinity), 3); // [3, 5]: three entries
  assert.equal(s.catchUpStart(5, 100, 250), 4); // [4, 5]: 200 bytes; a third would be 300
  assert.equal(s.catchUpStart(5, 100, Infinity), 1); // never before the first index
  assert.equal(s.catchUpStart(5, 0, Infinity), 6); // nothing kept
  assert.equal(s.catchUpStart(6, 100, 99), 7); // one entry is already too big: nothing kept
  s.compact(2);
  assert.equal(s.catchUpStart(6, 100, Infinity), 3);
  assert.throws(() => s.catchUpStart(7, 1, 1), /beyond last index/);
});

test('MemoryStorage: createSnapshot, compact and applySnapshot', () => {
  const s = new MemoryStorage(CS3);
  s.append([e(1, 1), e(2, 1), e(3, 2), e(4, 2)]);
  const snap = s.createSnapshot(3, { voters: [A, B], learners: [C] }, bytes('s3'));
  assert.deepEqual(snap.metadata, { index: 3, term: 2, confState: { voters: [A, B], learners: [C] } });
  s.compact(3);
  assert.equal(s.firstIndex(), 4);
  assert.equal(s.term(3), 2);
  assert.throws(() => s.term(2), RaftCompactedError);
  assert.throws(() => s.entries(3, 5, Infinity), RaftCompactedError);
  assert.deepEqual(s.entries(4, 5, Infinity).map((x) => x.index), [4]);
  assert.throws(() => s.compact(3), RaftCompactedError);
  assert.throws(() => s.createSnapshot(2, undefined, bytes('')), RaftSnapshotOutOfDateError);
  assert.deepEqual(s.initialState().confState, { voters: [A, B], learners: [C] });
  s.applySnapshot({ metadata: { index: 10, term: 4, confState: CS3 }, data: bytes('s10') });
  assert.equal(s.firstIndex(), 11);
  assert.equal(s.lastIndex(), 10);
  assert.throws(() => s.applySnapshot({ metadata: { index: 9, term: 4, confState: CS3 }, data: bytes('') }), RaftSnapshotOutOfDateError);
});
