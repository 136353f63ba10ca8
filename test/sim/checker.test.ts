// Each checker, fed a hand-made history that breaks its invariant, must say so (and must stay
// quiet on the matching good history).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Checker, InvariantViolation } from './checker.js';
import type { Invariant, LogView } from './checker.js';

function logOf(snapshotIndex: number, entries: ReadonlyArray<[term: number, hash: number]>): LogView {
  return {
    snapshotIndex,
    lastIndex: snapshotIndex + entries.length,
    termAt: (i) => entries[i - snapshotIndex - 1]?.[0] ?? -1,
    hashAt: (i) => entries[i - snapshotIndex - 1]?.[1] ?? -1,
  };
}

function violates(invariant: Invariant, f: () => void): void {
  assert.throws(f, (err: unknown) => err instanceof InvariantViolation && err.invariant === invariant);
}

test('election safety: two leaders in one term are caught, a re-election in a new term is not', () => {
  const c = new Checker();
  c.onLeader('a', 1, logOf(0, []));
  c.onLeader('b', 2, logOf(0, []));
  c.onLeader('b', 2, logOf(0, [])); // the same leader reported again
  violates('electionSafety', () => c.onLeader('a', 2, logOf(0, [])));
});

test('log matching: same index and term with different data or different history is caught', () => {
  const c = new Checker();
  c.onAppend('a', { index: 1, term: 1, hash: 10 }, 0);
  c.onAppend('a', { index: 2, term: 1, hash: 20 }, 1);
  c.onAppend('b', { index: 1, term: 1, hash: 10 }, 0);
  c.onAppend('b', { index: 2, term: 2, hash: 99 }, 1); // another term at 2: allowed
  violates('logMatching', () => c.onAppend('c', { index: 2, term: 1, hash: 21 }, 1));
  violates('logMatching', () => c.onAppend('c', { index: 2, term: 1, hash: 20 }, 3));
});

test('leader completeness: a leader missing a committed entry is caught', () => {
  const c = new Checker();
  c.onApply('a', { index: 1, term: 1, hash: 10 });
  c.onApply('a', { index: 2, term: 1, hash: 20 });
  c.onLeader('b', 2, logOf(0, [[1, 10], [1, 20], [2, 0]]));
  c.onLeader('c', 3, logOf(2, [[2, 0]])); // entries 1-2 are in its snapshot
  violates('leaderCompleteness', () => c.onLeader('d', 4, logOf(0, [[1, 10]])));
  violates('leaderCompleteness', () => c.onLeader('e', 5, logOf(0, [[1, 10], [3, 20]])));
  violates('leaderCompleteness', () => c.onLeader('f', 6, logOf(0, [[1, 10], [1, 21]])));
});

test('state-machine safety: two different entries applied at one index are caught', () => {
  const c = new Checker();
  c.onApply('a', { index: 1, term: 1, hash: 10 });
  c.onApply('b', { index: 1, term: 1, hash: 10 });
  violates('stateMachineSafety', () => c.onApply('c', { index: 1, term: 2, hash: 10 }));
  violates('stateMachineSafety', () => c.onApply('c', { index: 1, term: 1, hash: 11 }));
  c.onStateAt('a', 1, 777);
  c.onStateAt('b', 1, 777);
  violates('stateMachineSafety', () => c.onStateAt('c', 1, 778));
});

test('read index: a read must see every write committed before it began', () => {
  const c = new Checker();
  c.onReadIssued('early');
  c.onCommit(5);
  c.onApply('a', { index: 5, term: 1, hash: 1 });
  c.onReadIssued('late');
  c.onReadState('a', 'early', 3); // began before 5 was committed: fine
  c.onReadState('a', 'late', 5);
  c.onReadIssued('stale');
  violates('readIndex', () => c.onReadState('b', 'stale', 4));
  assert.equal(c.readsChecked, 3);
});
