// The v3 backend's batches on a real level store: the consistent index on disk never runs ahead
// of the writes on disk, also when a durable commit overlaps writes still being staged (a
// member goes on applying while it saves a snapshot).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Backend } from '../../src/store/backend.js';

const key = (s: string): Buffer => Buffer.from(s);

test('a durable commit records the consistent index of the writes it carries, not of writes staged while it runs', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsetcd-backend-'));
  try {
    const be = await Backend.open(dir);
    be.put('kv', key('a'), key('1'));
    be.setConsistentIndex(1, 1);
    const first = be.commit(); // in flight: the durable commit queues behind it
    be.put('kv', key('b'), key('2'));
    be.setConsistentIndex(2, 1);
    let batches = 0;
    be.onBatch(() => {
      // The batch carrying 'b' has started: entry 3 is applied while it is written, as the
      // Ready loop applies while a snapshot is saved. Only a later batch may carry it.
      if (++batches === 1) {
        be.put('kv', key('c'), key('3'));
        be.setConsistentIndex(3, 1);
      }
      return undefined;
    });
    await be.commitDurable();
    await first;
    assert.equal(be.stagedOps(), 1, "entry 3's write is still staged");
    // A crash now: 'c' was never committed.
    await be.close();

    const again = await Backend.open(dir);
    try {
      assert.deepEqual(again.getSync('kv', key('b')), key('2'));
      assert.equal(again.getSync('kv', key('c')), undefined);
      assert.equal(again.consistentIndex(), 2, 'the index on disk is that of the last write on disk: entry 3 is replayed from the WAL');
    } finally {
      await again.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('commits asked for while a batch is in flight are coalesced into one next batch, durable if any asked for it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsetcd-backend-'));
  try {
    const be = await Backend.open(dir);
    let batches = 0;
    be.onBatch(() => {
      batches++;
      return undefined;
    });
    be.put('kv', key('a'), key('1'));
    be.setConsistentIndex(1, 1);
    const first = be.commit();
    be.put('kv', key('b'), key('2'));
    be.setConsistentIndex(2, 1);
    const second = be.commit();
    const durable = be.commitDurable();
    be.put('kv', key('c'), key('3'));
    be.setConsistentIndex(3, 1);
    const third = be.commit();
    await Promise.all([first, second, durable, third]);
    assert.equal(batches, 2, 'one batch in flight, then one batch for everything asked meanwhile');
    assert.equal(be.stagedOps(), 0);
    await be.close();
    const again = await Backend.open(dir);
    try {
      assert.deepEqual(again.getSync('kv', key('c')), key('3'));
      assert.equal(again.consistentIndex(), 3);
    } finally {
      await again.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
