// ValueArena (src/store/mvcc/value-arena.ts) with real KeyIndex histories: every key's current
// value reads back as written, and dead values do not pin more than a bounded number of slabs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Backend } from '../../src/store/backend.js';
import { Mvcc } from '../../src/store/mvcc/kvstore.js';
import { KeyIndex } from '../../src/store/mvcc/keyindex.js';
import { ValueArena, VALUE_SLAB_BYTES, VALUE_SLAB_LIVE_SHARE_MIN, VALUE_SLAB_VALUE_BYTES_MAX } from '../../src/store/mvcc/value-arena.js';

/** A store in miniature: each write copies through the arena, drops the superseded value at
 *  once (as Mvcc does once the backend has it) and settles the arena (as Mvcc does after each
 *  write transaction). */
class Keys {
  readonly arena = new ValueArena();
  readonly index = new Map<string, KeyIndex>();
  readonly expected = new Map<string, Buffer>();
  rev = 0;

  put(name: string, value: Buffer): void {
    let ki = this.index.get(name);
    if (ki === undefined) {
      ki = new KeyIndex(Buffer.from(name), name);
      this.index.set(name, ki);
    }
    const prev = ki.live();
    const main = ++this.rev;
    const v = this.arena.copy(value, ki);
    const held = ki.push(main, 0, {
      key: ki.key, createRevision: prev?.createRevision ?? main, modRevision: main, version: (prev?.version ?? 0) + 1, value: v, lease: 0n,
    });
    if (held !== undefined) ki.evict(held);
    this.arena.settle();
    this.expected.set(name, Buffer.from(value));
  }

  del(name: string): void {
    const ki = this.index.get(name)!;
    const main = ++this.rev;
    const held = ki.push(main, 0, { key: ki.key, createRevision: 0, modRevision: main, version: 0, value: Buffer.alloc(0), lease: 0n });
    if (held !== undefined) ki.evict(held);
    this.arena.settle();
    this.expected.delete(name);
  }

  check(): void {
    for (const [name, ki] of this.index) {
      const want = this.expected.get(name);
      const got = ki.live();
      if (want === undefined) assert.equal(got, undefined, name);
      else {
        assert.ok(got !== undefined && Buffer.from(got.value).equals(want), `${name}: value as written`);
        assert.equal(got.modRevision, ki.mainAt(ki.length - 1), `${name}: the head is still the newest revision`);
      }
    }
  }

  liveSmallBytes(): number {
    let n = 0;
    for (const v of this.expected.values()) if (v.length <= VALUE_SLAB_VALUE_BYTES_MAX) n += v.length;
    return n;
  }
}

function valueOf(seed: number, len: number): Buffer {
  const b = Buffer.allocUnsafe(len);
  for (let i = 0; i < len; i++) b[i] = (seed * 31 + i * 7) & 0xff;
  return b;
}

/** What the arena may hold: a slab is kept only while at least VALUE_SLAB_LIVE_SHARE_MIN of it is
 *  live, as of its last review, so about 1/0.25 = 4 times the live bytes; a quarter more for the
 *  values that died since, and a few slabs being filled. (Without reviews this test sees 10 to
 *  100 times the bound.) */
function slabBound(liveBytes: number): number {
  return Math.ceil((1.25 * liveBytes) / (VALUE_SLAB_LIVE_SHARE_MIN * VALUE_SLAB_BYTES)) + 4;
}

test('values read back as written; the copy is private', () => {
  const k = new Keys();
  const src = valueOf(1, 100);
  k.put('a', src);
  src.fill(0);
  k.put('big', valueOf(2, VALUE_SLAB_VALUE_BYTES_MAX + 1));
  k.put('empty', Buffer.alloc(0));
  k.check();
  assert.ok(Buffer.from(k.index.get('a')!.live()!.value).equals(valueOf(1, 100)));
});

test('hot keys rewritten many times: values stay right and dead ones pin a bounded number of slabs', () => {
  const k = new Keys();
  // 40 MiB written over 64 keys of 256 bytes: 640 slabs' worth.
  let maxSlabs = 0;
  for (let i = 0; i < 160_000; i++) {
    k.put(`hot/${i % 64}`, valueOf(i, 256));
    if (i % 997 === 0) maxSlabs = Math.max(maxSlabs, k.arena.stats().slabs);
  }
  k.check();
  maxSlabs = Math.max(maxSlabs, k.arena.stats().slabs);
  assert.ok(maxSlabs <= slabBound(k.liveSmallBytes()), `${maxSlabs} slabs for ${k.liveSmallBytes()} live bytes`);
});

test('cold keys written between hot writes survive every review, and are packed together', () => {
  const k = new Keys();
  let seed = 0;
  for (let round = 0; round < 50; round++) {
    // 40 cold keys, each written once, scattered among hot writes so every slab holds a few.
    for (let c = 0; c < 40; c++) {
      k.put(`cold/${round}/${c}`, valueOf(++seed, 1 + (seed % 900)));
      for (let h = 0; h < 30; h++) k.put(`hot/${h % 16}`, valueOf(++seed, 200));
    }
    if (round % 10 === 9) {
      // Some cold keys go away.
      for (let c = 0; c < 40; c += 3) k.del(`cold/${round}/${c}`);
    }
  }
  k.check();
  const { slabs } = k.arena.stats();
  assert.ok(slabs <= slabBound(k.liveSmallBytes()), `${slabs} slabs for ${k.liveSmallBytes()} live bytes`);
});

test('large values get memory of their own, outside the slabs', () => {
  const k = new Keys();
  for (let i = 0; i < 200; i++) k.put(`big/${i % 5}`, valueOf(i, VALUE_SLAB_VALUE_BYTES_MAX + 100));
  k.check();
  assert.equal(k.arena.stats().slabs, 0);
});

test('values up to the slab limit, written while reviews copy values on, always fit', () => {
  const k = new Keys();
  let seed = 0;
  for (let i = 0; i < 20_000; i++) {
    if (i % 7 === 0) k.put(`cold/${i}`, valueOf(++seed, 1 + (seed * 13) % VALUE_SLAB_VALUE_BYTES_MAX));
    else k.put(`hot/${i % 9}`, valueOf(++seed, VALUE_SLAB_VALUE_BYTES_MAX - (seed % 3)));
    if (i % 5 === 0 && i % 7 !== 0 && k.expected.has(`cold/${i - 5 - ((i - 5) % 7)}`)) k.del(`cold/${i - 5 - ((i - 5) % 7)}`);
  }
  k.check();
  const { slabs } = k.arena.stats();
  assert.ok(slabs <= slabBound(k.liveSmallBytes()), `${slabs} slabs for ${k.liveSmallBytes()} live bytes`);
});

test('through an Mvcc: values stay right across reviews, undone transactions and a snapshot restore', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'value-arena-'));
  const be = await Backend.open(dir);
  try {
    const m = await Mvcc.open(be, {});
    const want = new Map<string, Buffer>();
    const check = (): void => {
      for (const [k, v] of want) {
        const got = m.range({ key: Buffer.from(k) }).kvs[0];
        assert.ok(got !== undefined && Buffer.from(got.value).equals(v), `${k} as last written`);
      }
    };
    // 2,000 keys of 300 bytes written 10 times over (about 90 slabs' worth); every 50th write is
    // a transaction that puts and then fails, and is undone.
    for (let i = 0; i < 20_000; i++) {
      const k = `k/${i % 2000}`;
      const v = valueOf(i, 300);
      if (i % 50 === 49) {
        assert.throws(() => m.write((t) => {
          t.put({ key: Buffer.from(k), value: v });
          throw new Error('undone');
        }), /undone/);
      } else {
        m.put({ key: Buffer.from(k), value: v });
        want.set(k, v);
      }
    }
    check();
    assert.ok(m.valueSlabs().slabs <= slabBound(2000 * 300), `${m.valueSlabs().slabs} slabs`);
    // Compacted, the snapshot holds one revision a key: restored, they fill slabs of a new arena
    // end to end (an old arena kept would add its slabs).
    m.compact(m.currentRevision());
    await m.restore(m.saveSnapshot());
    check();
    for (const k of want.keys()) assert.equal(m.range({ key: Buffer.from(k) }).kvs[0]!.value.buffer.byteLength, VALUE_SLAB_BYTES, `${k} in a slab`);
    assert.equal(m.valueSlabs().slabs, Math.ceil(want.size / Math.floor(VALUE_SLAB_BYTES / 300)));
    for (let i = 0; i < 4000; i++) {
      const k = `k/${i % 2000}`;
      const v = valueOf(i + 7, 300);
      m.put({ key: Buffer.from(k), value: v });
      want.set(k, v);
    }
    check();
  } finally {
    await be.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
});

test('a store opened from level puts the small values in slabs, within the same bound as puts; large ones keep their own', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'value-arena-open-'));
  let be = await Backend.open(dir);
  try {
    let m = await Mvcc.open(be, {});
    const want = new Map<string, Buffer>();
    for (let i = 0; i < 6000; i++) {
      const k = `k/${i % 2000}`;
      const v = valueOf(i, i % 500 === 0 ? VALUE_SLAB_VALUE_BYTES_MAX + 1 : 300);
      m.put({ key: Buffer.from(k), value: v });
      want.set(k, v);
    }
    for (let i = 0; i < 2000; i += 10) {
      m.deleteRange({ key: Buffer.from(`k/${i}`) });
      want.delete(`k/${i}`);
    }
    await be.commit();
    await be.close();
    be = await Backend.open(dir);
    m = await Mvcc.open(be, {});
    for (const [k, v] of want) assert.ok(Buffer.from(m.range({ key: Buffer.from(k) }).kvs[0]!.value).equals(v), `${k} as last written`);
    assert.equal(m.range({ key: Buffer.from('k/10') }).kvs.length, 0);
    for (const [k, v] of want) {
      const got = m.range({ key: Buffer.from(k) }).kvs[0]!.value;
      assert.equal(got.buffer.byteLength, v.length <= VALUE_SLAB_VALUE_BYTES_MAX ? VALUE_SLAB_BYTES : v.length, `${k}: ${v.length} bytes`);
    }
    const smallBytes = [...want.values()].filter((v) => v.length <= VALUE_SLAB_VALUE_BYTES_MAX).length * 300;
    assert.ok(m.valueSlabs().slabs <= slabBound(smallBytes), `${m.valueSlabs().slabs} slabs for ${smallBytes} live bytes`);
    // Rewritten after the restart, the loaded values' slabs are reviewed like any others.
    for (let i = 0; i < 8000; i++) m.put({ key: Buffer.from(`k/${i % 2000}`), value: valueOf(i + 1, 300) });
    assert.ok(m.valueSlabs().slabs <= slabBound(2000 * 300), `${m.valueSlabs().slabs} slabs`);
    assert.ok(Buffer.from(m.range({ key: Buffer.from('k/1999') }).kvs[0]!.value).equals(valueOf(7999 + 1, 300)));
  } finally {
    await be.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
});
