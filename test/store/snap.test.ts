import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile, truncate, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Snapshot } from '../../src/raft/types.js';
import { Snapshotter, snapshotFileName } from '../../src/store/snap/index.js';

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'tsetcd-snap-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function snap(index: number, term: number, bytes = 1000): Snapshot {
  const data = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) data[i] = (i * 31 + index) & 0xff;
  return { metadata: { index, term, confState: { voters: ['000000000000000a', '000000000000000b'], learners: ['000000000000000c'] } }, data };
}

function assertSnap(actual: Snapshot | undefined, expected: Snapshot): void {
  assert.ok(actual, 'a snapshot was loaded');
  assert.deepEqual(actual.metadata, expected.metadata);
  assert.equal(Buffer.compare(Buffer.from(actual.data), Buffer.from(expected.data)), 0, 'snapshot data');
}

test('save then loadNewest returns the newest snapshot, byte for byte', async () => {
  await withDir(async (base) => {
    const dir = join(base, 'member', 'snap');
    const s = new Snapshotter(dir);
    assert.equal(await s.loadNewest(), undefined, 'no dir yet: no snapshot');
    assert.equal(await s.save(snap(100, 2)), '0000000000000002-0000000000000064.snap');
    await s.save(snap(250, 2, 3 * 1024 * 1024));
    await s.save(snap(200, 2));
    assertSnap(await s.loadNewest(), snap(250, 2, 3 * 1024 * 1024));
    assert.deepEqual((await readdir(dir)).filter((n) => n.endsWith('.tmp')), []);
    // A fresh Snapshotter (a restarted member) sees the same.
    assertSnap(await new Snapshotter(dir).loadNewest(), snap(250, 2, 3 * 1024 * 1024));
    // accept: e.g. only snapshots the WAL has a marker for.
    assertSnap(await s.loadNewest((m) => m.index <= 200), snap(200, 2));
  });
});

test('empty snapshots are refused', async () => {
  await withDir(async (dir) => {
    await assert.rejects(new Snapshotter(dir).save(snap(0, 0)), RangeError);
  });
});

test('a corrupt newest snapshot is set aside as .broken and the next older one is used', async () => {
  await withDir(async (dir) => {
    const warnings: object[] = [];
    const s = new Snapshotter(dir, { logger: { info() {}, warn: (o) => { warnings.push(o); } } });
    await s.save(snap(10, 1));
    await s.save(snap(20, 1));
    await s.save(snap(30, 2));
    // Newest: one flipped data byte. Next: cut short.
    const newest = join(dir, snapshotFileName(2, 30));
    const buf = await readFile(newest);
    buf[buf.length - 100] = buf[buf.length - 100]! ^ 1;
    await writeFile(newest, buf);
    const second = join(dir, snapshotFileName(1, 20));
    await truncate(second, (await stat(second)).size - 1);
    assertSnap(await s.loadNewest(), snap(10, 1));
    const names = (await readdir(dir)).sort();
    assert.deepEqual(names, [
      snapshotFileName(1, 10),
      `${snapshotFileName(1, 20)}.broken`,
      `${snapshotFileName(2, 30)}.broken`,
    ]);
    assert.equal(warnings.length, 2);
    // All damaged: nothing to load.
    await writeFile(join(dir, snapshotFileName(1, 10)), Buffer.alloc(64));
    assert.equal(await s.loadNewest(), undefined);
  });
});

test('purge keeps the newest N snapshot files', async () => {
  await withDir(async (dir) => {
    const s = new Snapshotter(dir);
    for (let i = 1; i <= 8; i++) await s.save(snap(i * 10, 1 + Math.floor(i / 4), 100));
    await writeFile(join(dir, 'x.snap.tmp'), 'leftover');
    const deleted = await s.purge(5);
    assert.equal(deleted.length, 4);
    const left = (await readdir(dir)).sort();
    assert.deepEqual(left, [30, 40, 50, 60, 70, 80].slice(1).map((i) => snapshotFileName(1 + Math.floor(i / 40), i)).sort());
    assertSnap(await s.loadNewest(), snap(80, 3, 100));
    assert.deepEqual(await s.purge(0), [], '0 keeps everything');
    assert.equal((await readdir(dir)).length, 5);
  });
});
