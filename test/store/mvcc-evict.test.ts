// Values of superseded revisions leave memory once the backend has them, and come back from level
// whenever history is read. Two stores get the same random operations: A commits its backend as
// the member does (so it evicts), B never commits (so it keeps every value in memory). Everything a
// client can read of history must be the same on both: ranges at past revisions with every
// option, ranges inside txns, watch replays with prev_kv, HashKV, snapshots, and A reopened from
// its level directory.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Backend } from '../../src/store/backend.js';
import { Mvcc } from '../../src/store/mvcc/kvstore.js';
import type { RangeRequest, TxnRequest } from '../../src/store/mvcc/types.js';
import type { WatchResponse } from '../../src/store/mvcc/watch.js';

const b = (s: string) => Buffer.from(s);
const KEYS = 24;

/** mulberry32: every residue comes up (an LCG's low bits repeat with a short period). */
function rng(seed: number): (n: number) => number {
  let x = seed >>> 0;
  return (n) => {
    x = (x + 0x6d2b79f5) >>> 0;
    let t = x;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) % n;
  };
}

/** Everything a replay from `start` delivers, with prev_kv, as plain data. */
function replay(m: Mvcc, start: number, prefix: boolean): unknown[] {
  const got: WatchResponse[] = [];
  const stream = m.watchHub.newStream((r) => {
    got.push(r);
  });
  stream.watch(prefix ? { key: b('k'), rangeEnd: b('l'), startRevision: start, prevKv: true } : { key: b('k1'), startRevision: start, prevKv: true });
  stream.close();
  return got.flatMap((r) => r.events.map((e) => [e.type, e.kv, e.prevKv]));
}

function randomRange(rnd: (n: number) => number, m: Mvcc): RangeRequest {
  const lo = m.compactRevision() + 1;
  const rev = lo + rnd(Math.max(1, m.currentRevision() - lo + 1));
  const sorts = ['NONE', 'ASCEND', 'DESCEND'] as const;
  const targets = ['KEY', 'VERSION', 'CREATE', 'MOD', 'VALUE'] as const;
  return {
    key: b(`k${rnd(KEYS)}`),
    rangeEnd: rnd(3) === 0 ? undefined : rnd(4) === 0 ? b('\0') : b('l'),
    revision: rnd(5) === 0 ? 0 : rev,
    limit: rnd(3) === 0 ? rnd(6) : 0,
    sortOrder: sorts[rnd(3)],
    sortTarget: targets[rnd(5)],
    keysOnly: rnd(6) === 0,
    countOnly: rnd(10) === 0,
  };
}

test('evicted history reads the same as history kept in memory (randomized, 3 seeds)', async () => {
  for (const seed of [11, 12, 13]) {
    const dirA = await mkdtemp(join(tmpdir(), 'mvcc-evict-a-'));
    const dirB = await mkdtemp(join(tmpdir(), 'mvcc-evict-b-'));
    let beA = await Backend.open(dirA);
    const beB = await Backend.open(dirB);
    try {
      let a = await Mvcc.open(beA);
      const m = await Mvcc.open(beB);
      const rnd = rng(seed);
      // The same call on both stores: equal results, or errors with the same message.
      const both = <T>(f: (s: Mvcc) => T): T | undefined => {
        const run = (s: Mvcc): { ok: T } | { err: string } => {
          try {
            return { ok: f(s) };
          } catch (e) {
            return { err: (e as Error).message };
          }
        };
        const ra = run(a);
        assert.deepEqual(ra, run(m));
        return 'ok' in ra ? ra.ok : undefined;
      };
      let checks = 0;
      for (let i = 0; i < 2000; i++) {
        const k = b(`k${rnd(KEYS)}`);
        const op = rnd(20);
        // (arguments are drawn before `both`, which runs its function twice)
        if (op < 10) {
          const value = b(`v${i}-${'x'.repeat(100 + rnd(200))}`);
          both((s) => s.put({ key: k, value, prevKv: true }));
        } else if (op < 12) {
          const rangeEnd = rnd(2) ? b(`k${rnd(KEYS)}`) : undefined;
          both((s) => s.deleteRange({ key: k, rangeEnd, prevKv: true }));
        } else if (op < 14) {
          // a txn reading history (a range at a past revision) and writing in one go
          const req: TxnRequest = {
            compare: [{ key: k, target: 'VERSION', result: 'GREATER', version: 1 }],
            success: [{ requestRange: randomRange(rnd, a) }, { requestPut: { key: k, value: b(`t${i}`) } }],
            failure: [{ requestRange: { ...randomRange(rnd, a), countOnly: false } }],
          };
          both((s) => s.txn(req));
        } else if (op === 14 && rnd(2) === 0) {
          // several changes to one key in one txn, or a txn that fails its checks (undone)
          const lease = rnd(3) === 0 ? 99n : 0n; // no lease 99 exists: "lease not found"
          const req: TxnRequest = {
            success: [
              { requestPut: { key: k, value: b(`a${i}`) } },
              { requestDeleteRange: { key: k } },
              { requestPut: { key: k, value: b(`b${i}`), lease } },
            ],
          };
          both((s) => s.txn(req));
        } else if (op === 14 && rnd(25) === 0 && a.currentRevision() - a.compactRevision() > 40) {
          const rev = a.currentRevision() - 30;
          both((s) => s.compact(rev));
        } else if (op < 18) {
          const req = randomRange(rnd, a);
          both((s) => s.range(req));
          checks++;
        } else if (op === 18) {
          const lo = Math.max(a.compactRevision() + 1, 1);
          const start = lo + rnd(a.currentRevision() - lo + 1);
          const pre = rnd(2) === 0;
          both((s) => replay(s, start, pre));
          checks++;
        } else {
          const lo = a.compactRevision() + 1;
          const rev = rnd(3) === 0 ? 0 : lo + rnd(a.currentRevision() - lo + 1);
          both((s) => s.hashKV(rev));
          checks++;
        }
        // A commits as a member does, after some rounds; reads in between see staged history,
        // and some commits are still being written while the next operations run.
        const c = rnd(7);
        if (c === 0) await beA.commit();
        else if (c === 1) void beA.commit();
      }
      await beA.commit();
      assert.ok(checks > 200, `only ${checks} reads compared`);
      assert.deepEqual(Buffer.from(a.saveSnapshot()), Buffer.from(m.saveSnapshot()));
      for (let r = a.compactRevision() + 1; r <= a.currentRevision(); r += 7) {
        both((s) => s.range({ key: b('\0'), rangeEnd: b('\0'), revision: r }));
      }
      // The point of it all: A holds only the newest value of each key, B every value.
      assert.ok(a.sizeBytesEstimate() < m.sizeBytesEstimate() * 0.6, `A ${a.sizeBytesEstimate()} B ${m.sizeBytesEstimate()} bytes in memory`);

      // Reopened from level, A still reads every past revision the same, and holds the same
      // memory as before (each evicted value was counted out once).
      const bytesBefore = a.sizeBytesEstimate();
      await beA.close();
      beA = await Backend.open(dirA);
      a = await Mvcc.open(beA);
      for (let r = a.compactRevision() + 1; r <= a.currentRevision(); r += 5) {
        both((s) => s.range({ key: b('\0'), rangeEnd: b('\0'), revision: r }));
      }
      both((s) => replay(s, a.compactRevision() + 1, true));
      both((s) => s.hashKV(0));
      assert.equal(a.sizeBytesEstimate(), bytesBefore);

      // A snapshot of other history replaces A's, whose history is evicted: readers see the new
      // state from the moment restore() returns, while the bucket is still being cleared.
      const dirC = await mkdtemp(join(tmpdir(), 'mvcc-evict-c-'));
      const beC = await Backend.open(dirC);
      try {
        const c = await Mvcc.open(beC);
        for (let i = 0; i < 200; i++) c.put({ key: b(`k${rnd(KEYS)}`), value: b(`c${i}`) });
        const all = (s: Mvcc, r: number) => s.range({ key: b('\0'), rangeEnd: b('\0'), revision: r });
        const restoring = a.restore(c.saveSnapshot());
        assert.equal(a.currentRevision(), c.currentRevision());
        assert.deepEqual(all(a, 100), all(c, 100));
        await restoring;
        await beA.commit();
        for (let r = 2; r <= c.currentRevision(); r += 9) assert.deepEqual(all(a, r), all(c, r));
        assert.ok(a.sizeBytesEstimate() < c.sizeBytesEstimate(), 'the restored history left memory once written');
        const restoredBytes = a.sizeBytesEstimate();
        await beA.close();
        beA = await Backend.open(dirA);
        a = await Mvcc.open(beA);
        assert.equal(a.sizeBytesEstimate(), restoredBytes);
        for (let r = 2; r <= c.currentRevision(); r += 9) assert.deepEqual(all(a, r), all(c, r));
      } finally {
        await beC.close().catch(() => undefined);
        await rm(dirC, { recursive: true, force: true });
      }
    } finally {
      await beA.close().catch(() => undefined);
      await beB.close().catch(() => undefined);
      await rm(dirA, { recursive: true, force: true });
      await rm(dirB, { recursive: true, force: true });
    }
  }
});

test('memory accounting: a value is counted out once, whether compaction or a restore comes before its eviction', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mvcc-evict-acct-'));
  let be = await Backend.open(dir);
  const reopened = async (): Promise<number> => {
    await be.close();
    be = await Backend.open(dir);
    return (await Mvcc.open(be)).sizeBytesEstimate();
  };
  try {
    // compaction drops a revision whose eviction is still pending
    let m = await Mvcc.open(be);
    m.put({ key: b('k'), value: b('x'.repeat(1000)) });
    m.put({ key: b('k'), value: b('y') });
    m.compact(m.currentRevision());
    await be.commit();
    assert.equal(m.sizeBytesEstimate(), await reopened());

    // a restore replaces the state while the old history waits for its batch
    m = await Mvcc.open(be);
    for (let i = 0; i < 10; i++) m.put({ key: b('k'), value: b(`${i}`.repeat(900)) });
    const srcDir = await mkdtemp(join(tmpdir(), 'mvcc-evict-src-'));
    const srcBe = await Backend.open(srcDir);
    const src = await Mvcc.open(srcBe);
    src.put({ key: b('z'), value: b('1') });
    const snapshot = src.saveSnapshot();
    await srcBe.close();
    await rm(srcDir, { recursive: true, force: true });
    const inFlight = be.commit(); // takes the old history's evictions with it
    await m.restore(snapshot);
    await inFlight;
    await be.commit();
    assert.equal(m.sizeBytesEstimate(), await reopened());
  } finally {
    await be.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
});

test('a value the backend has leaves memory as soon as it is replaced; a failed write puts it back; a restored history stays until written', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mvcc-evict-written-'));
  const be = await Backend.open(dir);
  try {
    const m = await Mvcc.open(be);
    const big = 'v'.repeat(4000);
    m.put({ key: b('k'), value: b(big) });
    const r1 = m.currentRevision();
    await be.commit();
    const before = m.sizeBytesEstimate();
    // Replacing a written value: its 4,000 bytes are counted out at once, no batch needed.
    m.put({ key: b('k'), value: b('w') });
    const afterPut = m.sizeBytesEstimate();
    assert.ok(afterPut < before - 3000, `the replaced value left memory (${before} -> ${afterPut})`);
    assert.equal(m.range({ key: b('k'), revision: r1 }).kvs[0]!.value.toString(), big);

    // A write that puts k and then fails changes nothing, memory included.
    await be.commit();
    const r2 = m.currentRevision();
    const size2 = m.sizeBytesEstimate();
    assert.throws(
      () =>
        m.write((t) => {
          t.put({ key: b('k'), value: b('x'.repeat(500)) });
          throw new Error('fails after the put');
        }),
      /fails after the put/,
    );
    assert.equal(m.currentRevision(), r2);
    assert.equal(m.sizeBytesEstimate(), size2);
    assert.equal(m.range({ key: b('k') }).kvs[0]!.value.toString(), 'w');
    assert.equal(m.range({ key: b('k'), revision: r1 }).kvs[0]!.value.toString(), big);

    // After a restore nothing of the new history is in the backend until a batch that starts
    // after its puts are staged is written: a value it replaces right away stays readable.
    const srcDir = await mkdtemp(join(tmpdir(), 'mvcc-evict-src2-'));
    const srcBe = await Backend.open(srcDir);
    const src = await Mvcc.open(srcBe);
    src.put({ key: b('r'), value: b('old') });
    const rOld = src.currentRevision();
    src.put({ key: b('s'), value: b('1') });
    const snapshot = src.saveSnapshot();
    await srcBe.close();
    await rm(srcDir, { recursive: true, force: true });
    await m.restore(snapshot);
    m.put({ key: b('r'), value: b('new') });
    assert.equal(m.range({ key: b('r'), revision: rOld }).kvs[0]!.value.toString(), 'old');
    await be.commit();
    assert.equal(m.range({ key: b('r'), revision: rOld }).kvs[0]!.value.toString(), 'old');
  } finally {
    await be.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
});
