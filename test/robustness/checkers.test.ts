// Each checker is fed a valid history (it must pass) and one with a planted anomaly (it must
// fail, pointing at the anomaly).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  checkLinearizable,
  checkAllKeys,
  checkSet,
  checkMonotonic,
  checkWatches,
  registerModel,
  multiRegisterModel,
  type Op,
  type RegInput,
  type RegOutput,
  type TxnInput,
  type TxnOutput,
} from './checkers.js';
import { Prng } from './prng.js';

let nextId = 0;
function op(client: number, input: RegInput, t0: number, t1: number, outcome: Op['outcome'] = 'ok', value?: string | null, key = 'k'): Op<RegInput, RegOutput> {
  return { id: nextId++, client, key, input, outcome, output: value === undefined ? undefined : { value }, invokeMs: t0, completeMs: t1 };
}

test('linearizable: sequential and concurrent register histories pass', () => {
  const h = [
    op(0, { f: 'write', value: 'a' }, 0, 1),
    op(1, { f: 'read' }, 2, 3, 'ok', 'a'),
    // concurrent write b and read that sees either a or b
    op(0, { f: 'write', value: 'b' }, 4, 10),
    op(1, { f: 'read' }, 5, 6, 'ok', 'b'),
    op(2, { f: 'read' }, 7, 8, 'ok', 'b'),
    op(1, { f: 'cas', from: 'b', to: 'c' }, 11, 12),
    op(2, { f: 'cas', from: 'b', to: 'd' }, 13, 14, 'fail'),
    op(2, { f: 'read' }, 15, 16, 'ok', 'c'),
  ];
  assert.equal(checkLinearizable(h, registerModel).ok, true);
});

test('linearizable: a stale read after a completed write is caught', () => {
  const h = [
    op(0, { f: 'write', value: 'a' }, 0, 1),
    op(0, { f: 'write', value: 'b' }, 2, 3),
    op(1, { f: 'read' }, 4, 5, 'ok', 'a'), // stale
  ];
  const r = checkLinearizable(h, registerModel);
  assert.equal(r.ok, false);
  assert.ok(!r.unknown);
  assert.ok(r.excerpt!.some((o) => (o.input as RegInput).f === 'read'), JSON.stringify(r));
});

test('linearizable: two CAS from the same value both succeeding is caught', () => {
  const h = [
    op(0, { f: 'write', value: '0' }, 0, 1),
    op(1, { f: 'cas', from: '0', to: '1' }, 2, 5),
    op(2, { f: 'cas', from: '0', to: '2' }, 3, 6),
  ];
  assert.equal(checkLinearizable(h, registerModel).ok, false);
});

test('linearizable: a failed CAS whose compare should have held is caught', () => {
  const h = [op(0, { f: 'write', value: 'x' }, 0, 1), op(1, { f: 'cas', from: 'x', to: 'y' }, 2, 3, 'fail')];
  assert.equal(checkLinearizable(h, registerModel).ok, false);
});

test('linearizable: timed-out writes may happen or not, but a value never written is caught', () => {
  const ok = [
    op(0, { f: 'write', value: 'a' }, 0, 1),
    op(1, { f: 'write', value: 'lost?' }, 2, 3, 'info'),
    op(2, { f: 'read' }, 4, 5, 'ok', 'a'),
    op(2, { f: 'read' }, 6, 7, 'ok', 'lost?'), // took effect late: allowed
    op(3, { f: 'write', value: 'never' }, 8, 9, 'info'), // never took effect: allowed
    op(2, { f: 'read' }, 10, 11, 'ok', 'lost?'),
  ];
  assert.equal(checkLinearizable(ok, registerModel).ok, true);
  const bad = [...ok, op(2, { f: 'read' }, 12, 13, 'ok', 'ghost')];
  assert.equal(checkLinearizable(bad, registerModel).ok, false);
  // A timed-out write cannot take effect before it was invoked.
  const early = [op(0, { f: 'read' }, 0, 1, 'ok', 'late'), op(1, { f: 'write', value: 'late' }, 2, 3, 'info')];
  assert.equal(checkLinearizable(early, registerModel).ok, false);
});

test('linearizable: a random valid history of 8 clients x 300 ops passes quickly; one flipped read fails', () => {
  // Simulate a real register with ops taking effect at a random instant inside their interval.
  const rnd = new Prng(7);
  const events: Op<RegInput, RegOutput>[] = [];
  let value: string | null = null;
  const clients = Array.from({ length: 8 }, () => ({ busyUntil: 0 }));
  let t = 0;
  for (let i = 0; i < 300; i++) {
    t += rnd.int(3);
    const c = rnd.int(8);
    const inv = Math.max(t, clients[c]!.busyUntil + 1);
    const done = inv + rnd.int(10);
    clients[c]!.busyUntil = done;
    const k = rnd.int(3);
    if (k === 0) {
      const v = `v${i}`;
      value = v;
      events.push(op(c, { f: 'write', value: v }, inv, done));
    } else if (k === 1) events.push(op(c, { f: 'read' }, inv, done, 'ok', value));
    else {
      const from: string | null = rnd.int(2) === 0 ? value : 'nope';
      if (from === value) {
        value = `c${i}`;
        events.push(op(c, { f: 'cas', from, to: value }, inv, done));
      } else events.push(op(c, { f: 'cas', from, to: 'x' }, inv, done, 'fail'));
    }
    t = inv + 1; // each op's effect is after the previous op's invocation: sequential effects
  }
  // Invocations strictly increase in generation order, so effects at the invocation instants,
  // applied in generation order, are a valid linearization.
  const started = Date.now();
  const r = checkLinearizable(events, registerModel);
  assert.equal(r.ok, true, JSON.stringify(r).slice(0, 500));
  assert.ok(Date.now() - started < 5000);
  const reads = events.filter((e) => e.input.f === 'read');
  const victim = reads[Math.floor(reads.length / 2)]!;
  const bad = events.map((e) => (e === victim ? { ...e, output: { value: 'planted' } } : e));
  assert.equal(checkLinearizable(bad, registerModel).ok, false);
});

test('checkAllKeys: keys are independent; an anomaly on one key is reported with its key', () => {
  const h = [
    op(0, { f: 'write', value: 'a' }, 0, 1, 'ok', undefined, 'k1'),
    op(0, { f: 'write', value: 'a' }, 0, 1, 'ok', undefined, 'k2'),
    op(1, { f: 'read' }, 2, 3, 'ok', 'a', 'k1'),
    op(1, { f: 'read' }, 2, 3, 'ok', null, 'k2'),
  ];
  const r = checkAllKeys(h, registerModel);
  assert.equal(r.checked, 2);
  assert.deepEqual(r.failures.map((f) => f.key), ['k2']);
});

test('strict serializability of multi-key txns: a torn txn read is caught', () => {
  let id = 0;
  const tx = (input: TxnInput, output: TxnOutput | undefined, t0: number, t1: number, outcome: Op['outcome'] = 'ok'): Op<TxnInput, TxnOutput> => ({
    id: id++, client: 0, key: 'g', input, output, outcome, invokeMs: t0, completeMs: t1,
  });
  const good = [
    tx({ cmp: {}, writes: { a: '1', b: '1' }, reads: [] }, { succeeded: true, values: {} }, 0, 1),
    tx({ cmp: { a: '1' }, writes: { a: '2', b: '2' }, reads: ['a', 'b'] }, { succeeded: true, values: { a: '1', b: '1' } }, 2, 3),
    tx({ cmp: {}, writes: {}, reads: ['a', 'b'] }, { succeeded: true, values: { a: '2', b: '2' } }, 4, 5),
  ];
  assert.equal(checkLinearizable(good, multiRegisterModel).ok, true);
  const torn = [...good, tx({ cmp: {}, writes: {}, reads: ['a', 'b'] }, { succeeded: true, values: { a: '2', b: '1' } }, 6, 7)];
  assert.equal(checkLinearizable(torn, multiRegisterModel).ok, false);
  const wrongGuard = [...good, tx({ cmp: { a: '2' }, writes: { a: '3' }, reads: [] }, { succeeded: false, values: {} }, 6, 7)];
  assert.equal(checkLinearizable(wrongGuard, multiRegisterModel).ok, false);
});

test('checkSet: a lost acknowledged add and a phantom element are caught; unknown adds may go either way', () => {
  const attempted = [
    { element: 'a', outcome: 'ok' as const },
    { element: 'b', outcome: 'ok' as const },
    { element: 'c', outcome: 'info' as const },
    { element: 'd', outcome: 'info' as const },
    { element: 'e', outcome: 'fail' as const },
  ];
  const good = checkSet(attempted, ['a', 'b', 'c']);
  assert.equal(good.ok, true);
  assert.equal(good.recovered, 1);
  const lost = checkSet(attempted, ['a', 'c']);
  assert.deepEqual(lost.lost, ['b']);
  assert.equal(lost.ok, false);
  assert.deepEqual(checkSet(attempted, ['a', 'b', 'zzz']).unexpected, ['zzz']);
  assert.deepEqual(checkSet(attempted, ['a', 'b', 'e']).unexpected, ['e']);
});

test('checkMonotonic: a revision going backwards for one client is caught', () => {
  const good = [
    { client: 0, seq: 0, revision: 5, opId: 0 },
    { client: 0, seq: 1, revision: 5, opId: 1 },
    { client: 1, seq: 0, revision: 3, opId: 2 },
    { client: 0, seq: 2, revision: 9, opId: 3 },
  ];
  assert.equal(checkMonotonic(good).ok, true);
  const bad = checkMonotonic([...good, { client: 0, seq: 3, revision: 8, opId: 4 }]);
  assert.equal(bad.ok, false);
  assert.equal(bad.violations[0]!.after.opId, 4);
});

test('checkWatches: gaps, duplicates, reordering, missing acked writes and disagreement are caught', () => {
  const acked = [
    { index: 10, key: '/a', type: 'put' as const, value: '1' },
    { index: 11, key: '/b', type: 'put' as const, value: '2' },
    { index: 12, key: '/a', type: 'delete' as const },
  ];
  const events = [
    { index: 10, key: '/a', type: 'put' as const, value: '1' },
    { index: 11, key: '/b', type: 'put' as const, value: '2' },
    { index: 12, key: '/a', type: 'delete' as const },
  ];
  assert.equal(checkWatches([{ name: 'w1', from: 10, events }, { name: 'w2', from: 11, events: events.slice(1) }], acked, true).ok, true);
  const gap = checkWatches([{ name: 'w', from: 10, events: [events[0]!, events[2]!] }], [], true);
  assert.match(gap.problems.join(), /gap/);
  const missing = checkWatches([{ name: 'w', from: 10, events: [events[0]!, events[2]!] }], acked, false);
  assert.match(missing.problems.join(), /acknowledged put 11\/\/b missing/);
  const dup = checkWatches([{ name: 'w', from: 10, events: [events[0]!, events[0]!, events[1]!] }], [], false);
  assert.match(dup.problems.join(), /duplicate/);
  const order = checkWatches([{ name: 'w', from: 10, events: [events[1]!, events[0]!] }], [], false);
  assert.match(order.problems.join(), /out of order/);
  const wrongValue = checkWatches([{ name: 'w', from: 10, events: [{ ...events[0]!, value: 'X' }] }], acked, false);
  assert.match(wrongValue.problems.join(), /the write said 1/);
  const disagree = checkWatches([
    { name: 'w1', from: 10, events: [events[0]!] },
    { name: 'w2', from: 10, events: [{ ...events[0]!, value: 'Y' }] },
  ], [], false);
  assert.match(disagree.problems.join(), /another watcher/);
});
