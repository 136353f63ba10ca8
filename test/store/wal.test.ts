import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, writeFile, cp, truncate, unlink, appendFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Entry, HardState } from '../../src/raft/types.js';
import { Wal, WalClosedError, WalCorruptError, WalExistsError, WalFailedError, crc32c } from '../../src/store/wal/index.js';

const META = new TextEncoder().encode('cluster=abc member=123');

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'tsetcd-wal-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function entry(index: number, term = 1, size = 20, tag = ''): Entry {
  const text = `${tag}e${index}t${term}:`.padEnd(size, 'x');
  return { index, term, type: index % 7 === 0 ? 'confChange' : 'normal', data: new TextEncoder().encode(text) };
}

function range(from: number, to: number, term = 1, size = 20, tag = ''): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push(entry(i, term, size, tag));
  return out;
}

/** Compares entries by value (data compared as bytes). */
function assertEntries(actual: Entry[], expected: Entry[]): void {
  assert.equal(actual.length, expected.length, 'entry count');
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    assert.deepEqual({ index: a.index, term: a.term, type: a.type }, { index: e.index, term: e.term, type: e.type });
    assert.equal(Buffer.compare(Buffer.from(a.data), Buffer.from(e.data)), 0, `data of entry ${e.index}`);
  }
}

async function segmentFiles(dir: string): Promise<string[]> {
  return (await readdir(dir)).filter((n) => n.endsWith('.wal')).sort();
}

/** Start offsets of the records in a segment file (walking the length prefixes). */
function recordOffsets(buf: Buffer): number[] {
  const out: number[] = [];
  let off = 0;
  while (off + 8 <= buf.length) {
    out.push(off);
    off += 8 + buf.readUInt32LE(off);
  }
  assert.equal(off, buf.length, 'records tile the file');
  return out;
}

test('crc32c matches the standard check value', () => {
  assert.equal(crc32c(Buffer.from('123456789')), 0xe3069283);
  const b = Buffer.from('hello, write-ahead log');
  assert.equal(crc32c(b, 5), crc32c(b.subarray(5)));
  assert.equal(crc32c(b, 7, b.length, crc32c(b, 0, 7)), crc32c(b));
});

test('round trip: many batches, close, open returns the same hard state, entries and metadata', async () => {
  await withDir(async (dir) => {
    const wal = await Wal.create(dir, META);
    let hs: HardState = { term: 1, vote: '', commit: 0 };
    const all: Entry[] = [];
    let next = 1;
    for (let b = 0; b < 60; b++) {
      const batch = range(next, next + (b % 5), 1 + Math.floor(b / 20), 10 + b * 3);
      next += batch.length;
      all.push(...batch);
      hs = { term: 1 + Math.floor(b / 20), vote: '00000000000000aa', commit: next - 2 };
      await wal.save(hs, batch, b % 3 === 0);
    }
    await wal.close();
    assert.equal(await Wal.exists(dir), true);
    const r = await Wal.open(dir);
    assert.deepEqual(r.hardState, hs);
    assert.deepEqual(Buffer.from(r.metadata), Buffer.from(META));
    assertEntries(r.entries, all);
    assert.equal(r.lastIndex, next - 1);
    await r.wal.close();
  });
});

test('a new dir: exists is false, create refuses a dir with segments, open of an empty wal', async () => {
  await withDir(async (dir) => {
    const sub = join(dir, 'member', 'wal');
    assert.equal(await Wal.exists(sub), false);
    const wal = await Wal.create(sub, META);
    await wal.close();
    await assert.rejects(Wal.create(sub, META), WalExistsError);
    const r = await Wal.open(sub);
    assert.deepEqual(r.hardState, { term: 0, vote: '', commit: 0 });
    assert.equal(r.entries.length, 0);
    assert.equal(r.lastIndex, 0);
    await assert.rejects(r.wal.save(undefined, [], true).then(() => r.wal.close()).then(() => r.wal.save(undefined, range(1, 1), true)), WalClosedError);
  });
});

test('a later save at a lower index replaces that suffix on replay', async () => {
  await withDir(async (dir) => {
    const wal = await Wal.create(dir, META);
    await wal.save({ term: 1, vote: 'a', commit: 3 }, range(1, 10, 1), true);
    await wal.save({ term: 2, vote: 'b', commit: 5 }, range(6, 8, 2, 30, 'new'), true);
    await wal.close();
    const r = await Wal.open(dir);
    assertEntries(r.entries, [...range(1, 5, 1), ...range(6, 8, 2, 30, 'new')]);
    assert.equal(r.lastIndex, 8);
    assert.deepEqual(r.hardState, { term: 2, vote: 'b', commit: 5 });
    await r.wal.close();
  });
});

test('fromSnapshot: only entries after the snapshot; a hole after it is refused', async () => {
  await withDir(async (dir) => {
    const wal = await Wal.create(dir, META);
    await wal.save(undefined, range(1, 20), true);
    await wal.saveSnapshot({ index: 15, term: 1 });
    await wal.close();
    const r = await Wal.open(dir, { fromSnapshot: { index: 15, term: 1 } });
    assertEntries(r.entries, range(16, 20));
    assert.deepEqual(r.snapshotMarkers, [{ index: 15, term: 1 }]);
    assert.deepEqual(await Wal.snapshotMarkers(dir), [{ index: 15, term: 1 }]);
    await r.wal.save(undefined, range(21, 21), true); // appending after reopen still works
    await r.wal.close();
    const r2 = await Wal.open(dir, { fromSnapshot: { index: 25, term: 1 } });
    assert.equal(r2.entries.length, 0);
    assert.equal(r2.lastIndex, 25);
    await r2.wal.close();
  });
  await withDir(async (dir) => {
    // A member that installed a snapshot at 100 from its leader: old entries 1..5 then 101...
    const wal = await Wal.create(dir, META);
    await wal.save(undefined, range(1, 5), true);
    await wal.saveSnapshot({ index: 100, term: 3 });
    await wal.save(undefined, range(101, 103, 3), true);
    await wal.close();
    const r = await Wal.open(dir, { fromSnapshot: { index: 100, term: 3 } });
    assertEntries(r.entries, range(101, 103, 3));
    await r.wal.close();
    // Restoring from an older snapshot would leave 6..100 missing: refuse.
    await assert.rejects(Wal.open(dir, { fromSnapshot: { index: 3, term: 1 } }), (err: unknown) =>
      err instanceof WalCorruptError && /gap/.test(err.message));
  });
});

test('group commit: 200 saves in flight, all resolve in order, far fewer fdatasyncs', async () => {
  await withDir(async (dir) => {
    const wal = await Wal.create(dir, META);
    const order: number[] = [];
    const ps: Promise<void>[] = [];
    for (let i = 1; i <= 200; i++) {
      ps.push(wal.save({ term: 1, vote: '', commit: i - 1 }, [entry(i)], true).then(() => { order.push(i); }));
    }
    await Promise.all(ps);
    assert.deepEqual(order, range(1, 200).map((e) => e.index));
    assert.ok(wal.syncCount >= 1 && wal.syncCount <= 10, `syncCount ${wal.syncCount} should be << 200`);
    // Saves issued while a group is in flight form the next group.
    const more: Promise<void>[] = [];
    for (let i = 201; i <= 300; i++) {
      more.push(wal.save(undefined, [entry(i)], true));
      if (i % 25 === 0) await new Promise((r) => setImmediate(r));
    }
    await Promise.all(more);
    assert.ok(wal.syncCount <= 20, `syncCount ${wal.syncCount}`);
    await wal.close();
    const r = await Wal.open(dir);
    assertEntries(r.entries, range(1, 300));
    assert.equal(r.hardState.commit, 199);
    await r.wal.close();
  });
});

test('pending queue limit: saves beyond pendingBytesMax wait but all complete in call order', async () => {
  await withDir(async (dir) => {
    const wal = await Wal.create(dir, META, { pendingBytesMax: 1000 });
    const order: number[] = [];
    const ps: Promise<void>[] = [];
    for (let i = 1; i <= 60; i++) {
      // 300-byte entries: at most 3 fit under the limit at once; one of 5000 bytes goes alone.
      ps.push(wal.save(undefined, [entry(i, 1, i === 30 ? 5000 : 300)], i % 2 === 0).then(() => { order.push(i); }));
    }
    await Promise.all(ps);
    assert.deepEqual(order, range(1, 60).map((e) => e.index));
    assert.ok(wal.stats.groupCount >= 20, `groups ${wal.stats.groupCount}: the limit must split the burst`);
    await wal.close();
    const r = await Wal.open(dir);
    assert.equal(r.entries.length, 60);
    assert.equal(r.entries[29]!.data.length, 5000);
    await r.wal.close();
  });
});

test('torn tail at every byte of the last record: prefix recovered, file truncated, appends readable', async () => {
  await withDir(async (base) => {
    const src = join(base, 'src');
    const wal = await Wal.create(src, META);
    await wal.save({ term: 1, vote: 'v', commit: 2 }, range(1, 4), true);
    await wal.save(undefined, [entry(5, 1, 40)], true);
    await wal.close();
    const [name] = await segmentFiles(src);
    const full = await readFile(join(src, name!));
    const offs = recordOffsets(full);
    const lastStart = offs[offs.length - 1]!;
    const dir = join(base, 'cut');
    for (let cut = lastStart; cut < full.length; cut++) {
      await rm(dir, { recursive: true, force: true });
      await cp(src, dir, { recursive: true });
      await truncate(join(dir, name!), cut);
      const warnings: object[] = [];
      const logger = { info() {}, warn: (o: object) => { warnings.push(o); }, error() {} };
      const r = await Wal.open(dir, { logger });
      assertEntries(r.entries, range(1, 4));
      assert.equal(r.hardState.commit, 2);
      assert.equal((await stat(join(dir, name!))).size, lastStart, `cut at ${cut}: truncated to the last good record`);
      assert.equal(warnings.length, cut === lastStart ? 0 : 1, `cut at ${cut}: torn tail logged`);
      await r.wal.save(undefined, [entry(5, 2, 33, 'again')], true);
      await r.wal.close();
      const r2 = await Wal.open(dir);
      assertEntries(r2.entries, [...range(1, 4), entry(5, 2, 33, 'again')]);
      await r2.wal.close();
    }
  });
});

test('trailing zeros after the last record are truncated, nothing lost', async () => {
  await withDir(async (dir) => {
    const wal = await Wal.create(dir, META);
    await wal.save(undefined, range(1, 9), true);
    await wal.close();
    const [name] = await segmentFiles(dir);
    const size = (await stat(join(dir, name!))).size;
    await appendFile(join(dir, name!), Buffer.alloc(8192));
    const r = await Wal.open(dir);
    assertEntries(r.entries, range(1, 9));
    assert.equal((await stat(join(dir, name!))).size, size);
    await r.wal.close();
  });
});

test('a flipped byte in an earlier record is corruption, not a torn tail', async () => {
  await withDir(async (dir) => {
    const wal = await Wal.create(dir, META);
    for (let i = 1; i <= 30; i++) await wal.save(undefined, [entry(i, 1, 50)], false);
    await wal.close();
    const [name] = await segmentFiles(dir);
    const path = join(dir, name!);
    const buf = await readFile(path);
    const offs = recordOffsets(buf);
    const victim = offs[10]!; // an entry record with 20 valid records after it
    buf[victim + 30] = buf[victim + 30]! ^ 0x40;
    await writeFile(path, buf);
    await assert.rejects(Wal.open(dir), (err: unknown) =>
      err instanceof WalCorruptError && err.file === name && err.offset === victim && /checksum/.test(err.message));
    assert.equal((await stat(path)).size, buf.length, 'a corrupt wal is never truncated');
  });
});

test('a zeroed page in the middle of a segment is corruption', async () => {
  await withDir(async (dir) => {
    const wal = await Wal.create(dir, META);
    await wal.save(undefined, range(1, 400, 1, 60), true);
    await wal.close();
    const [name] = await segmentFiles(dir);
    const path = join(dir, name!);
    const buf = await readFile(path);
    assert.ok(buf.length > 4 * 4096);
    buf.fill(0, 8192, 12288);
    await writeFile(path, buf);
    await assert.rejects(Wal.open(dir), (err: unknown) =>
      err instanceof WalCorruptError && err.file === name && err.offset < 8192 + 100 && /followed by a valid record/.test(err.message));
  });
});

test('segment roll at the size limit; replay across segments; damage in a non-last segment', async () => {
  await withDir(async (dir) => {
    const opts = { segmentBytesMax: 4096 };
    const wal = await Wal.create(dir, META, opts);
    for (let i = 1; i <= 300; i += 3) await wal.save({ term: 1, vote: '', commit: i }, range(i, i + 2, 1, 100), i % 2 === 0);
    await wal.close();
    const files = await segmentFiles(dir);
    assert.ok(files.length >= 10, `${files.length} segments`);
    for (let i = 0; i < files.length; i++) {
      assert.equal(files[i]!.slice(0, 16), i.toString(16).padStart(16, '0'));
      const size = (await stat(join(dir, files[i]!))).size;
      assert.ok(size <= 4096, `${files[i]} is ${size} bytes`);
    }
    assert.equal(files[0], '0000000000000000-0000000000000000.wal');
    const r = await Wal.open(dir, opts);
    assertEntries(r.entries, range(1, 300, 1, 100));
    assert.equal(r.hardState.commit, 298);
    // Appends after reopen keep rolling and stay readable.
    await r.wal.save(undefined, range(301, 340, 1, 100), true);
    await r.wal.close();
    const r2 = await Wal.open(dir, opts);
    assertEntries(r2.entries, range(1, 340, 1, 100));
    await r2.wal.close();

    // Truncating a non-last segment (a "torn tail" there) is corruption.
    const files2 = await segmentFiles(dir);
    const mid = join(dir, files2[3]!);
    await truncate(mid, (await stat(mid)).size - 5);
    await assert.rejects(Wal.open(dir), (err: unknown) =>
      err instanceof WalCorruptError && err.file === files2[3] && /not the last/.test(err.message));
  });
});

test('a missing segment in the sequence is corruption', async () => {
  await withDir(async (dir) => {
    const wal = await Wal.create(dir, META, { segmentBytesMax: 2048 });
    await wal.save(undefined, range(1, 100, 1, 100), true);
    for (let i = 101; i <= 150; i++) await wal.save(undefined, [entry(i, 1, 100)], false);
    await wal.close();
    const files = await segmentFiles(dir);
    assert.ok(files.length >= 4);
    await unlink(join(dir, files[2]!));
    await assert.rejects(Wal.open(dir), (err: unknown) =>
      err instanceof WalCorruptError && /missing/.test(err.message));
  });
});

test('releaseTo deletes segments covered by the snapshot but keeps maxWals files', async () => {
  await withDir(async (dir) => {
    const opts = { segmentBytesMax: 2048, maxWals: 3 };
    const wal = await Wal.create(dir, META, opts);
    for (let i = 1; i <= 200; i += 5) await wal.save({ term: 4, vote: 'me', commit: i + 4 }, range(i, i + 4, 4, 100), true);
    const before = await segmentFiles(dir);
    assert.ok(before.length > 8);
    assert.deepEqual(await wal.releaseTo(0), [], 'nothing is covered by a snapshot at 0');
    // Snapshot at 100: only segments whose entries are all <= 100 go.
    const released = await wal.releaseTo(100);
    assert.ok(released.length > 0);
    const after = await segmentFiles(dir);
    assert.deepEqual(after, before.slice(released.length));
    await wal.saveSnapshot({ index: 100, term: 4 });
    await wal.close();
    const r = await Wal.open(dir, { ...opts, fromSnapshot: { index: 100, term: 4 } });
    assertEntries(r.entries, range(101, 200, 4, 100));
    assert.deepEqual(r.hardState, { term: 4, vote: 'me', commit: 200 });
    assert.deepEqual(Buffer.from(r.metadata), Buffer.from(META));
    // Everything covered: maxWals files remain.
    await r.wal.releaseTo(200);
    assert.equal((await segmentFiles(dir)).length, 3);
    await r.wal.save({ term: 5, vote: 'me', commit: 201 }, [entry(201, 5)], true);
    await r.wal.close();
    const r2 = await Wal.open(dir, { fromSnapshot: { index: 200, term: 4 } });
    assertEntries(r2.entries, [entry(201, 5)]);
    assert.deepEqual(r2.hardState, { term: 5, vote: 'me', commit: 201 });
    await r2.wal.close();
  });
  await withDir(async (dir) => {
    const wal = await Wal.create(dir, META, { segmentBytesMax: 2048, maxWals: 0 });
    await wal.save(undefined, range(1, 100, 1, 100), true);
    for (let i = 101; i <= 130; i++) await wal.save(undefined, [entry(i, 1, 100)], false);
    const n = (await segmentFiles(dir)).length;
    assert.deepEqual(await wal.releaseTo(130), [], 'maxWals 0 keeps everything');
    assert.equal((await segmentFiles(dir)).length, n);
    await wal.close();
  });
});

test('an unfinished segment file (crash during a roll) is removed on open', async () => {
  await withDir(async (dir) => {
    const wal = await Wal.create(dir, META);
    await wal.save(undefined, range(1, 3), true);
    await wal.close();
    await writeFile(join(dir, '0000000000000001-0000000000000004.wal.tmp'), Buffer.alloc(100, 7));
    const r = await Wal.open(dir);
    assertEntries(r.entries, range(1, 3));
    assert.deepEqual((await readdir(dir)).filter((n) => n.endsWith('.tmp')), []);
    await r.wal.close();
  });
});

test('close waits for saves in flight; a failed write fails that save and every later one', async () => {
  await withDir(async (dir) => {
    const wal = await Wal.create(dir, META);
    const ps: Promise<void>[] = [];
    for (let i = 1; i <= 50; i++) ps.push(wal.save(undefined, [entry(i)], false));
    await wal.close();
    await Promise.all(ps);
    const r = await Wal.open(dir);
    assertEntries(r.entries, range(1, 50));
    // Pull the file out from under the WAL: the next write fails (EBADF).
    await (r.wal as unknown as { fh: { close(): Promise<void> } }).fh.close();
    await assert.rejects(r.wal.save(undefined, [entry(51)], true), WalFailedError);
    await assert.rejects(r.wal.save(undefined, [entry(52)], true), WalFailedError);
    await r.wal.close().catch(() => undefined);
    const r2 = await Wal.open(dir);
    assertEntries(r2.entries, range(1, 50));
    await r2.wal.close();
  });
});
