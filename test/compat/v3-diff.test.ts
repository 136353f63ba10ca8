// Seeded, randomized differential test of the v3 gRPC API: the same sequence of >= 10,000 v3
// requests (Range/Put/DeleteRange/Txn/Compact/lease ops/HashKV, from v3-diff-gen.ts) goes to a
// one-member real etcd 3.4 (the reference) and to a one-member candidate, one op at a time; every
// response (or gRPC error code + message) must be equal after normalisation (v3-diff-compare.ts:
// ids, raft terms and TTL clock readings only). Six watch streams (prefix + prev_kv, one key,
// NOPUT filter, and three opened mid-run: from a past revision, from a future one, from a
// compacted one) are compared event by event at the end.
//
// Env: V3DIFF_SEED (default 1), V3DIFF_OPS (default 10000), V3DIFF_IMPL=etcd|tsetcd (candidate;
// default tsetcd when built; `etcd` validates the normaliser against a second real etcd),
// V3DIFF_KEEP_GOING=N (report up to N mismatching ops instead of stopping at the first),
// V3DIFF_SKIP=kind,kind (do not send these op kinds, e.g. hashKV, to look past a known difference),
// V3DIFF_PORT (reference client port, default 26700; the candidate's is +20),
// V3DIFF_AVOID=feature,... (request features not to generate: nestedTxn, negativeLimit,
// foreignUnion, fromKeyDeleteInTxn; see v3-diff-gen.ts).
// With V3DIFF_KEEP_GOING the run still stops once the revisions diverge (every later op would
// differ as a consequence).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { startCluster, tsetcdAvailable, sleep, type Cluster, type Impl } from '../harness/cluster.js';
import { V3Client, type Outcome, type Plain, type WatchStream } from './v3-diff-client.js';
import { Generator, prefixEnd, type GenState, type Op } from './v3-diff-gen.js';
import { normalise, alignTtl, diff, normaliseWatch } from './v3-diff-compare.js';

const REF_BASE = Number(process.env.V3DIFF_PORT ?? 26700);
const CAND_BASE = REF_BASE + 20;
const SEED = Number(process.env.V3DIFF_SEED ?? 1);
const OPS = Number(process.env.V3DIFF_OPS ?? 10_000);
const KEEP_GOING = Number(process.env.V3DIFF_KEEP_GOING ?? 0);
const AVOID = new Set((process.env.V3DIFF_AVOID ?? '').split(',').filter((s) => s !== ''));
const SKIP = new Set((process.env.V3DIFF_SKIP ?? '').split(',').filter((s) => s !== ''));
const candImpl: Impl = (process.env.V3DIFF_IMPL as Impl | undefined) ?? (tsetcdAvailable() ? 'tsetcd' : 'etcd');
const WATCH_SETTLE_MS = 500;
const WATCH_WAIT_MAX_MS = 10_000;
const TEST_TIMEOUT_MS = 300_000;

const show = (v: unknown): string => JSON.stringify(v, (_k, x: unknown) => (x === undefined ? null : x));

interface Side {
  cluster: Cluster;
  client: V3Client;
}

async function startSide(impl: Impl, basePort: number): Promise<Side> {
  const cluster = await startCluster({ impl, size: 1, basePort, enableV2: false });
  return { cluster, client: new V3Client(`${impl}@${basePort}`, cluster.members[0]!.clientUrl) };
}

interface WatchPair {
  name: string;
  create: Record<string, unknown>;
  ref: WatchStream;
  cand: WatchStream;
}

/** The mod_revision of the last event a stream received (0 if none), or Infinity once canceled. */
function lastEventRevision(ws: WatchStream): number {
  let rev = 0;
  for (const e of normaliseWatch(ws.responses)) {
    if (e === null || typeof e !== 'object' || Array.isArray(e)) continue;
    if (e.canceled === true) return Infinity;
    const kv = e.kv;
    if (kv !== null && typeof kv === 'object' && !Array.isArray(kv)) rev = Number(kv.mod_revision);
  }
  return rev;
}

/** Opens the same watch on both sides and waits for both "created" answers, so that the ops that
 *  follow are ordered after the creation. With catchUpTo, also waits until both streams delivered
 *  the history up to that revision: etcd replays history from a background loop (every 100 ms), and
 *  a compaction that lands before the replay cancels the watch there, a timing accident. */
async function openWatch(ref: Side, cand: Side, name: string, create: Record<string, unknown>, catchUpTo = 0): Promise<WatchPair> {
  const p: WatchPair = { name, create, ref: ref.client.watch(), cand: cand.client.watch() };
  p.ref.write({ create_request: create });
  p.cand.write({ create_request: create });
  const deadline = Date.now() + WATCH_WAIT_MAX_MS;
  while (Date.now() < deadline && (p.ref.responses.length === 0 || p.cand.responses.length === 0)) await sleep(5);
  while (Date.now() < deadline && (lastEventRevision(p.ref) < catchUpTo || lastEventRevision(p.cand) < catchUpTo)) await sleep(5);
  return p;
}

function stateUpdate(st: GenState, op: Op, o: Outcome): void {
  if (!('ok' in o) || o.ok === null || typeof o.ok !== 'object' || Array.isArray(o.ok)) return;
  const res = o.ok;
  const h = res.header;
  if (h !== null && typeof h === 'object' && !Array.isArray(h) && h.revision !== undefined) st.rev = Math.max(st.rev, Number(h.revision));
  if (op.kind === 'compact') st.compactRev = Number(op.req.revision);
  if (op.kind === 'leaseGrant') st.leases.add(Number(res.ID));
  if (op.kind === 'leaseRevoke') st.leases.delete(Number(op.req.ID));
}

const WRITES = new Set(['put', 'deleteRange', 'txn', 'compact', 'leaseGrant', 'leaseRevoke']);

/** After this mismatch, do the two servers hold different states (so that comparing on is moot)? */
function diverged(op: Op, ro: Outcome, co: Outcome, d: string[]): boolean {
  if (d.some((x) => x.startsWith('$.ok.header.revision'))) return true;
  return WRITES.has(op.kind) && ('error' in ro) !== ('error' in co);
}

function outcomeClass(o: Outcome): string {
  if ('error' in o) return `error ${o.error.code} ${o.error.details}`;
  const r = o.ok as { succeeded?: boolean } | null;
  return r && typeof r === 'object' && 'succeeded' in r ? (r.succeeded ? 'ok succeeded' : 'ok failed') : 'ok';
}

test('comparator: a difference in one field fails, ids/terms/TTL jitter/tie order do not', () => {
  const kv = (key: string, mod: number, version = 1): Plain => ({ key, value: 'v', create_revision: '2', mod_revision: String(mod), version: String(version), lease: '0' });
  const res = (mod: number, member: string): Outcome => ({ ok: { header: { cluster_id: '1', member_id: member, revision: '9', raft_term: '2' }, kvs: [kv('a', 3), kv('b', mod)], more: false, count: '2' } });
  const req = { key: 'a', range_end: 'c' };
  // Only ids differ: equal.
  assert.deepEqual(diff(normalise('range', req, res(5, '11')), normalise('range', req, res(5, '22'))), []);
  // One field differs: the comparator fails and names the field.
  const d = diff(normalise('range', req, res(5, '11')), normalise('range', req, res(6, '11')));
  assert.deepEqual(d, ['$.ok.kvs[1].mod_revision: ref="5" cand="6"']);
  assert.throws(() => assert.deepEqual(d, []));
  // Header revision is compared.
  const r2 = res(5, '11') as { ok: { header: { revision: string } } };
  r2.ok.header.revision = '10';
  assert.equal(diff(normalise('range', req, res(5, '11')), normalise('range', req, r2)).length, 1);
  // Error code and message are compared.
  const e1: Outcome = { error: { code: 'OUT_OF_RANGE', details: 'etcdserver: mvcc: required revision has been compacted' } };
  const e2: Outcome = { error: { code: 'OUT_OF_RANGE', details: 'etcdserver: mvcc: required revision is a future revision' } };
  assert.equal(diff(normalise('range', req, e1), normalise('range', req, e2)).length, 1);
  // TTL jitter within tolerance is ignored, beyond it is not.
  const ttl = (t: number): Outcome => ({ ok: { header: { revision: '3' }, ID: '101', TTL: String(t), grantedTTL: '600', keys: ['b', 'a'] } });
  const tr = normalise('leaseTimeToLive', {}, ttl(598));
  assert.deepEqual(diff(tr, alignTtl('leaseTimeToLive', tr, normalise('leaseTimeToLive', {}, ttl(597)))), []);
  assert.equal(diff(tr, alignTtl('leaseTimeToLive', tr, normalise('leaseTimeToLive', {}, ttl(590)))).length, 1);
  // Ties of a VERSION sort are order-insensitive; distinct values are not.
  const sreq = { key: 'a', range_end: 'c', sort_target: 'VERSION', sort_order: 'ASCEND' };
  const sres = (a: Plain, b: Plain): Outcome => ({ ok: { header: { revision: '9' }, kvs: [a, b], more: false, count: '2' } });
  assert.deepEqual(diff(normalise('range', sreq, sres(kv('a', 3), kv('b', 5))), normalise('range', sreq, sres(kv('b', 5), kv('a', 3)))), []);
  assert.equal(diff(normalise('range', sreq, sres(kv('a', 3, 1), kv('b', 5, 2))), normalise('range', sreq, sres(kv('b', 5, 2), kv('a', 3, 1)))).length > 0, true);
  // Watch streams: batching is ignored, an event difference is not.
  const ev = (rev: string): Plain => ({ type: 'PUT', kv: kv('a', Number(rev)), prev_kv: null });
  const w1 = normaliseWatch([{ created: true, watch_id: '1', header: { revision: '1' } }, { events: [ev('2'), ev('3')], header: { revision: '3' } }]);
  const w2 = normaliseWatch([{ created: true, watch_id: '1', header: { revision: '1' } }, { events: [ev('2')], header: { revision: '2' } }, { events: [ev('3')], header: { revision: '3' } }]);
  assert.deepEqual(diff(w1, w2), []);
  assert.equal(diff(w1, normaliseWatch([{ created: true, watch_id: '1', header: { revision: '1' } }, { events: [ev('2'), ev('4')] }])).length, 1);
});

test(`v3 differential: ${OPS} seeded ops, etcd vs ${candImpl} (seed ${SEED})`, { timeout: TEST_TIMEOUT_MS }, async () => {
  assert.ok(OPS >= 1, 'V3DIFF_OPS must be positive');
  // Data dirs on tmpfs: this test is about API semantics; fsync latency would only slow it down.
  if (process.env.TMPDIR === undefined && existsSync('/dev/shm')) process.env.TMPDIR = '/dev/shm';
  const t0 = Date.now();
  const [ref, cand] = await Promise.all([startSide('etcd', REF_BASE), startSide(candImpl, CAND_BASE)]);
  const log: string[] = [];
  try {
    const watches: WatchPair[] = [];
    watches.push(await openWatch(ref, cand, 'W1 prefix a + prev_kv', { key: 'a', range_end: prefixEnd('a'), prev_kv: true, watch_id: 1 }));
    watches.push(await openWatch(ref, cand, 'W2 key b', { key: 'b', watch_id: 2 }));
    watches.push(await openWatch(ref, cand, 'W3 from c, NOPUT, prev_kv', { key: 'c', range_end: '\0', filters: ['NOPUT'], prev_kv: true, watch_id: 3 }));

    const gen = new Generator(SEED, AVOID);
    const st: GenState = { rev: 1, compactRev: 0, leases: new Set() };
    const recent: string[] = [];
    const mismatches: string[] = [];
    const classes = new Map<string, number>();
    const tOps = Date.now();
    for (let i = 0; i < OPS; i++) {
      if (i === Math.floor(OPS / 2)) {
        // Every write touches a key >= "a", so this watch sees every revision up to st.rev.
        watches.push(await openWatch(ref, cand, 'W4 all keys from a past revision + prev_kv', { key: 'a', range_end: '\0', start_revision: Math.max(st.compactRev + 1, st.rev - 100), prev_kv: true, watch_id: 4 }, st.rev));
        watches.push(await openWatch(ref, cand, 'W5 prefix b from a future revision', { key: 'b', range_end: prefixEnd('b'), start_revision: st.rev + 50, watch_id: 5 }));
      }
      if (i === Math.floor((OPS * 3) / 4)) {
        // etcd cancels it from its background sync loop, with the compacted revision of that moment:
        // wait for the cancel (or, if nothing was compacted yet, the catch-up) before going on.
        watches.push(await openWatch(ref, cand, 'W6 all keys from a compacted revision', { key: 'a', range_end: '\0', start_revision: Math.max(1, st.compactRev - 1), watch_id: 6 }, st.rev));
      }
      const op = gen.next(st);
      if (SKIP.has(op.kind)) continue;
      const line = `#${i} ${op.kind} ${show(op.req)}`;
      recent.push(line);
      if (recent.length > 10) recent.shift();
      const [ro, co] = await Promise.all([ref.client.call(op.kind, op.req), cand.client.call(op.kind, op.req)]);
      const rn = normalise(op.kind, op.req, ro);
      const cn = alignTtl(op.kind, rn, normalise(op.kind, op.req, co));
      const d = diff(rn, cn);
      const cls = `${op.kind}: ${outcomeClass(ro)}`;
      classes.set(cls, (classes.get(cls) ?? 0) + 1);
      if (d.length > 0) {
        const report = [
          `MISMATCH seed=${SEED} op=${i} (replay: V3DIFF_SEED=${SEED} V3DIFF_OPS=${i + 1} V3DIFF_IMPL=${candImpl}${AVOID.size > 0 ? ` V3DIFF_AVOID=${[...AVOID].join(',')}` : ''}${SKIP.size > 0 ? ` V3DIFF_SKIP=${[...SKIP].join(',')}` : ''})`,
          `op: ${op.kind} ${show(op.req)}`,
          `etcd:      ${show(rn)}`,
          `${candImpl}: ${show(cn)}`,
          'diff:',
          ...d.map((x) => `  ${x}`),
          'last ops:',
          ...recent.map((x) => `  ${x}`),
        ].join('\n');
        mismatches.push(report);
        log.push(report);
        if (mismatches.length > KEEP_GOING) break;
        if (diverged(op, ro, co, d)) {
          log.push(`stopping after op ${i}: the servers' states may have diverged, later ops would differ as a consequence`);
          break;
        }
      }
      stateUpdate(st, op, ro);
    }
    const opsMs = Date.now() - tOps;

    // Watch streams: wait until both sides stop receiving (bounded), then compare them whole.
    const count = (): string => watches.map((w) => `${w.ref.responses.length}/${w.cand.responses.length}`).join(' ');
    const deadline = Date.now() + WATCH_WAIT_MAX_MS;
    let last = '';
    let stableSince = Date.now();
    while (Date.now() < deadline) {
      const c = count();
      const balanced = watches.every((w) => normaliseWatch(w.ref.responses).length === normaliseWatch(w.cand.responses).length);
      if (c !== last) {
        last = c;
        stableSince = Date.now();
      } else if (balanced && Date.now() - stableSince >= WATCH_SETTLE_MS) break;
      await sleep(50);
    }
    const watchDiffs: string[] = [];
    for (const w of watches) {
      const rw = normaliseWatch(w.ref.responses);
      const cw = normaliseWatch(w.cand.responses);
      const d = diff(rw, cw, '$', [], 10);
      const errs = `stream errors: etcd=${w.ref.error ?? 'none'} ${candImpl}=${w.cand.error ?? 'none'}`;
      log.push(`watch ${w.name}: ${rw.length} entries on etcd, ${cw.length} on ${candImpl}; ${errs}`);
      if (d.length > 0 || w.ref.error !== w.cand.error) {
        const firstBad = /^\$\[(\d+)\]/.exec(d[0] ?? '')?.[1];
        const at = firstBad === undefined ? 0 : Number(firstBad);
        watchDiffs.push(
          [
            `WATCH MISMATCH seed=${SEED} ${w.name} create=${show(w.create)}`,
            errs,
            ...d.map((x) => `  ${x}`),
            `etcd entries [${at}..${at + 2}]: ${show(rw.slice(at, at + 3))}`,
            `${candImpl} entries [${at}..${at + 2}]: ${show(cw.slice(at, at + 3))}`,
          ].join('\n'),
        );
      }
    }

    const summary = [...classes.entries()].sort().map(([k, n]) => `  ${String(n).padStart(5)}  ${k}`);
    console.log(
      [
        `v3-diff seed=${SEED} ops=${OPS} candidate=${candImpl}: final revision ${st.rev}, compacted at ${st.compactRev}; ops took ${opsMs} ms, total ${Date.now() - t0} ms`,
        'outcomes on etcd (op: class):',
        ...summary,
        ...log,
        ...watchDiffs,
      ].join('\n'),
    );
    assert.equal(mismatches.length + watchDiffs.length, 0, `${mismatches.length} op mismatch(es), ${watchDiffs.length} watch stream mismatch(es); first:\n${mismatches[0] ?? watchDiffs[0]}`);
  } finally {
    ref.client.close();
    cand.client.close();
    await Promise.all([ref.cluster.destroy(), cand.cluster.destroy()]);
  }
});
