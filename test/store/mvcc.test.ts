// The v3 MVCC store: what a client sees through Range/Put/DeleteRange/Txn/Compact, revisions,
// compaction, hash agreement, snapshots, and reopening from the level backend.
// Expectations marked "etcd:" were observed on etcd 3.4.23 (etcdctl / the JSON gateway).
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Backend } from '../../src/store/backend.js';
import { Mvcc, type LeaseHooks } from '../../src/store/mvcc/kvstore.js';
import { checkPutRequest, checkTxnRequest, checkRangeRequest, checkDeleteRequest } from '../../src/store/mvcc/validate.js';
import type { KeyValue, RequestOp, TxnRequest } from '../../src/store/mvcc/types.js';
import { V3Error } from '../../src/store/v3error.js';

const b = (s: string) => Buffer.from(s);
const s = (x: Uint8Array) => Buffer.from(x).toString();
const keys = (kvs: KeyValue[]) => kvs.map((kv) => s(kv.key));
const kind = (k: string) => (e: unknown) => e instanceof V3Error && e.kind === k;

async function withStore(fn: (m: Mvcc, be: Backend, dir: string) => Promise<void> | void, leases?: LeaseHooks): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'mvcc-test-'));
  const be = await Backend.open(dir);
  try {
    await fn(await Mvcc.open(be, { leases }), be, dir);
  } finally {
    await be.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

class FakeLeases implements LeaseHooks {
  live = new Set<bigint>();
  attached = new Map<bigint, Set<string>>();
  exists(id: bigint) {
    return this.live.has(id);
  }
  attach(id: bigint, key: Uint8Array) {
    if (!this.attached.has(id)) this.attached.set(id, new Set());
    this.attached.get(id)!.add(s(key));
  }
  detach(id: bigint, key: Uint8Array) {
    this.attached.get(id)?.delete(s(key));
  }
  keysOf(id: bigint) {
    return [...(this.attached.get(id) ?? [])].sort();
  }
}

describe('mvcc: put, delete, revisions', () => {
  test('a fresh store is at revision 1; each put is one revision; version and create revision per key', () =>
    withStore((m) => {
      assert.equal(m.currentRevision(), 1); // etcd: a new cluster answers with header revision 1
      m.put({ key: b('a'), value: b('1') });
      m.put({ key: b('b'), value: b('2') });
      const r = m.put({ key: b('a'), value: b('3'), prevKv: true });
      assert.equal(s(r.prevKv!.value), '1');
      assert.equal(m.currentRevision(), 4);
      const a = m.range({ key: b('a') }).kvs[0]!;
      assert.deepEqual({ c: a.createRevision, m: a.modRevision, v: a.version, val: s(a.value) }, { c: 2, m: 4, v: 2, val: '3' });
      assert.equal(m.keyCount(), 2);
    }));

  test('delete resets the version; a delete that removes nothing does not advance the revision', () =>
    withStore((m) => {
      m.put({ key: b('a'), value: b('1') });
      m.put({ key: b('a'), value: b('2') });
      const d = m.deleteRange({ key: b('a'), prevKv: true });
      assert.equal(d.deleted, 1);
      assert.equal(s(d.prevKvs[0]!.value), '2');
      assert.equal(m.currentRevision(), 4);
      // etcd: deleting a missing key answers deleted 0 at the same revision
      assert.deepEqual(m.deleteRange({ key: b('nope') }), { deleted: 0, prevKvs: [] });
      assert.equal(m.currentRevision(), 4);
      m.put({ key: b('a'), value: b('3') });
      const a = m.range({ key: b('a') }).kvs[0]!;
      assert.equal(a.version, 1);
      assert.equal(a.createRevision, 5);
      assert.equal(m.keyCount(), 1);
    }));

  test('delete of a range is one revision for all keys', () =>
    withStore((m) => {
      for (const k of ['a', 'b', 'c', 'd']) m.put({ key: b(k), value: b(k) });
      const d = m.deleteRange({ key: b('b'), rangeEnd: b('d') });
      assert.equal(d.deleted, 2);
      assert.equal(m.currentRevision(), 6);
      assert.deepEqual(keys(m.range({ key: b('a'), rangeEnd: b('\0') }).kvs), ['a', 'd']);
      // deleting all keys: key "\0", range end "\0"
      assert.equal(m.deleteRange({ key: b('\0'), rangeEnd: b('\0') }).deleted, 2);
      assert.equal(m.keyCount(), 0);
      assert.equal(m.currentRevision(), 7);
    }));

  test('ignore_value / ignore_lease keep the old value / lease; on a missing key: key not found', () => {
    const leases = new FakeLeases();
    leases.live.add(7n);
    return withStore((m) => {
      assert.throws(() => m.put({ key: b('a'), ignoreValue: true }), kind('keyNotFound')); // etcd: "etcdserver: key not found"
      assert.throws(() => m.put({ key: b('a'), ignoreLease: true }), kind('keyNotFound'));
      assert.equal(m.currentRevision(), 1);
      m.put({ key: b('a'), value: b('v'), lease: 7n });
      m.put({ key: b('a'), ignoreValue: true, ignoreLease: true });
      const a = m.range({ key: b('a') }).kvs[0]!;
      assert.equal(s(a.value), 'v');
      assert.equal(a.lease, 7n);
      assert.equal(a.version, 2);
      m.put({ key: b('a'), value: b('w'), ignoreLease: true });
      assert.equal(m.range({ key: b('a') }).kvs[0]!.lease, 7n);
      m.put({ key: b('a'), ignoreValue: true }); // lease not given: detached
      assert.equal(m.range({ key: b('a') }).kvs[0]!.lease, 0n);
      assert.equal(s(m.range({ key: b('a') }).kvs[0]!.value), 'w');
    }, leases);
  });

  test('leases: unknown lease -> lease not found; attach/detach follow puts and deletes', () => {
    const leases = new FakeLeases();
    leases.live.add(1n).add(2n);
    return withStore((m) => {
      assert.throws(() => m.put({ key: b('a'), value: b('1'), lease: 99n }), kind('leaseNotFound'));
      assert.equal(m.currentRevision(), 1);
      m.put({ key: b('a'), value: b('1'), lease: 1n });
      m.put({ key: b('b'), value: b('1'), lease: 1n });
      assert.deepEqual(leases.keysOf(1n), ['a', 'b']);
      m.put({ key: b('a'), value: b('2'), lease: 2n });
      assert.deepEqual(leases.keysOf(1n), ['b']);
      assert.deepEqual(leases.keysOf(2n), ['a']);
      m.deleteRange({ key: b('a'), rangeEnd: b('z') });
      assert.deepEqual(leases.keysOf(1n), []);
      assert.deepEqual(leases.keysOf(2n), []);
    }, leases);
  });

  test('write(): several ops are one revision; a throw undoes everything', () => {
    const leases = new FakeLeases();
    leases.live.add(1n);
    return withStore((m) => {
      m.put({ key: b('k'), value: b('0') });
      m.write((t) => {
        assert.equal(t.writeRevision(), 3);
        t.put({ key: b('x'), value: b('1') });
        t.put({ key: b('x'), value: b('2') });
        assert.equal(t.range({ key: b('x') }).kvs[0]!.version, 2); // reads see own writes
        t.deleteRange({ key: b('k') });
      });
      assert.equal(m.currentRevision(), 3);
      assert.throws(() =>
        m.write((t) => {
          t.put({ key: b('y'), value: b('1'), lease: 1n });
          t.deleteRange({ key: b('x') });
          throw new Error('boom');
        }),
      );
      assert.equal(m.currentRevision(), 3);
      assert.deepEqual(keys(m.range({ key: b('\0'), rangeEnd: b('\0') }).kvs), ['x']);
      assert.deepEqual(leases.keysOf(1n), []);
      assert.equal(m.keyCount(), 1);
    }, leases);
  });
});

describe('mvcc: range options', () => {
  // Keys a..e put in the order c, a, e, b, d with values so that VALUE order != key order.
  const fill = (m: Mvcc) => {
    m.put({ key: b('c'), value: b('3') }); // rev 2
    m.put({ key: b('a'), value: b('5') }); // 3
    m.put({ key: b('e'), value: b('1') }); // 4
    m.put({ key: b('b'), value: b('4') }); // 5
    m.put({ key: b('d'), value: b('2') }); // 6
    m.put({ key: b('c'), value: b('3') }); // 7: c version 2
  };
  const all = { key: b('a'), rangeEnd: b('\0') };

  test('single key, prefix range, from-key, everything, empty and inverted ranges', () =>
    withStore((m) => {
      fill(m);
      assert.deepEqual(keys(m.range({ key: b('c') }).kvs), ['c']);
      assert.deepEqual(keys(m.range({ key: b('b'), rangeEnd: b('d') }).kvs), ['b', 'c']);
      assert.deepEqual(keys(m.range({ key: b('c'), rangeEnd: b('\0') }).kvs), ['c', 'd', 'e']);
      assert.deepEqual(keys(m.range({ key: b('\0'), rangeEnd: b('\0') }).kvs), ['a', 'b', 'c', 'd', 'e']);
      assert.deepEqual(m.range({ key: b('zz') }), { kvs: [], more: false, count: 0 });
      // etcd: key "c" range_end "a" -> no kvs, count 0
      assert.deepEqual(m.range({ key: b('c'), rangeEnd: b('a') }), { kvs: [], more: false, count: 0 });
    }));

  test('byte order, not string order', () =>
    withStore((m) => {
      for (const k of ['\u00e9', 'z', '\x01', 'A']) m.put({ key: b(k), value: b('') });
      m.put({ key: Buffer.from([0xff, 0x00]), value: b('') });
      const got = m.range({ key: b('\0'), rangeEnd: b('\0') }).kvs.map((kv) => Buffer.from(kv.key).toString('hex'));
      assert.deepEqual(got, ['01', '41', '7a', 'c3a9', 'ff00']);
    }));

  test('limit: count is the total, more says there is more', () =>
    withStore((m) => {
      fill(m);
      const r = m.range({ ...all, limit: 2 });
      assert.deepEqual(keys(r.kvs), ['a', 'b']);
      assert.equal(r.count, 5);
      assert.equal(r.more, true);
      const r2 = m.range({ ...all, limit: 5 });
      assert.equal(r2.more, false);
      assert.equal(r2.kvs.length, 5);
    }));

  test('sort: order and target; NONE with a non-KEY target sorts ascending', () =>
    withStore((m) => {
      fill(m);
      assert.deepEqual(keys(m.range({ ...all, sortOrder: 'DESCEND' }).kvs), ['e', 'd', 'c', 'b', 'a']);
      assert.deepEqual(keys(m.range({ ...all, sortOrder: 'ASCEND', sortTarget: 'VALUE' }).kvs), ['e', 'd', 'c', 'b', 'a']);
      assert.deepEqual(keys(m.range({ ...all, sortOrder: 'DESCEND', sortTarget: 'VALUE' }).kvs), ['a', 'b', 'c', 'd', 'e']);
      // etcd quirk: sort_target MOD without sort_order sorts ascending, but only the limit+1 keys
      // fetched in key order (etcd 3.4.23 answered [a@3, b@5] on this data; with ASCEND [a@3, e@4])
      assert.deepEqual(keys(m.range({ ...all, sortTarget: 'MOD', limit: 2 }).kvs), ['a', 'b']);
      assert.deepEqual(keys(m.range({ ...all, sortTarget: 'MOD', sortOrder: 'ASCEND', limit: 2 }).kvs), ['a', 'e']);
      assert.deepEqual(keys(m.range({ ...all, sortTarget: 'VALUE', limit: 2 }).kvs), ['c', 'b']); // etcd: [c, b]
      assert.deepEqual(keys(m.range({ ...all, sortOrder: 'DESCEND', sortTarget: 'MOD', limit: 2 }).kvs), ['c', 'd']);
      assert.deepEqual(keys(m.range({ ...all, sortOrder: 'ASCEND', sortTarget: 'CREATE' }).kvs), ['c', 'a', 'e', 'b', 'd']);
      assert.deepEqual(keys(m.range({ ...all, sortOrder: 'DESCEND', sortTarget: 'VERSION' }).kvs)[0], 'c');
      const r = m.range({ ...all, sortOrder: 'DESCEND', sortTarget: 'MOD', limit: 2 });
      assert.equal(r.more, true);
      assert.equal(r.count, 5);
    }));

  test('keys_only and count_only', () =>
    withStore((m) => {
      fill(m);
      const r = m.range({ ...all, keysOnly: true, limit: 1 });
      assert.equal(r.kvs[0]!.value.length, 0);
      assert.equal(r.kvs[0]!.modRevision, 3);
      assert.equal(s(m.range({ key: b('a') }).kvs[0]!.value), '5'); // the stored value is untouched
      // etcd: count_only returns no kvs, more false, the count (limit ignored)
      assert.deepEqual(m.range({ ...all, countOnly: true, limit: 2 }), { kvs: [], more: false, count: 5 });
    }));

  test('min/max mod/create revision filters apply after fetching: count is before filtering', () =>
    withStore((m) => {
      fill(m);
      // etcd (gateway): min_mod_revision=8 limit=2 over 6 keys -> count 6, more true, 2 kvs
      const r = m.range({ ...all, minModRevision: 4, limit: 2 });
      assert.deepEqual(keys(r.kvs), ['b', 'c']);
      assert.equal(r.count, 5);
      assert.equal(r.more, true);
      assert.deepEqual(keys(m.range({ ...all, maxModRevision: 4 }).kvs), ['a', 'e']);
      assert.deepEqual(keys(m.range({ ...all, minCreateRevision: 5 }).kvs), ['b', 'd']);
      assert.deepEqual(keys(m.range({ ...all, maxCreateRevision: 2 }).kvs), ['c']);
      const last = m.range({ ...all, minModRevision: 6, limit: 2 });
      assert.deepEqual(keys(last.kvs), ['c', 'd']);
      assert.equal(last.more, false);
      // count_only with a filter: the unfiltered count (etcd prunes no kvs then)
      assert.equal(m.range({ ...all, minModRevision: 6, countOnly: true }).count, 5);
    }));

  test('past revisions; compacted and future revisions fail', () =>
    withStore((m) => {
      fill(m);
      m.deleteRange({ key: b('a') }); // 8
      assert.deepEqual(keys(m.range({ ...all, revision: 3 }).kvs), ['a', 'c']);
      assert.equal(s(m.range({ key: b('a'), revision: 7 }).kvs[0]!.value), '5');
      assert.equal(m.range({ key: b('a'), revision: 8 }).kvs.length, 0);
      assert.equal(m.range({ key: b('c'), revision: 6 }).kvs[0]!.version, 1);
      // etcd: "required revision is a future revision"
      assert.throws(() => m.range({ key: b('a'), revision: 9 }), kind('futureRev'));
      m.compact(5);
      // etcd: reading AT the compaction revision works, before it: "required revision has been compacted"
      assert.deepEqual(keys(m.range({ ...all, revision: 5 }).kvs), ['a', 'b', 'c', 'e']);
      assert.throws(() => m.range({ key: b('a'), revision: 4 }), kind('compacted'));
    }));
});

describe('mvcc: txn', () => {
  const put = (k: string, v: string): RequestOp => ({ requestPut: { key: b(k), value: b(v) } });
  const get = (k: string, end?: string): RequestOp => ({ requestRange: { key: b(k), rangeEnd: end === undefined ? undefined : b(end) } });

  test('compares on VERSION/CREATE/MOD/VALUE/LEASE with each result', () =>
    withStore((m) => {
      m.put({ key: b('a'), value: b('m') }); // rev 2
      m.put({ key: b('a'), value: b('m') }); // rev 3, version 2
      const ok = (c: TxnRequest['compare']) => m.txn({ compare: c }).succeeded;
      assert.equal(ok([{ key: b('a'), target: 'VERSION', result: 'EQUAL', version: 2 }]), true);
      assert.equal(ok([{ key: b('a'), target: 'VERSION', result: 'GREATER', version: 1 }]), true);
      assert.equal(ok([{ key: b('a'), target: 'VERSION', result: 'LESS', version: 2 }]), false);
      assert.equal(ok([{ key: b('a'), target: 'CREATE', result: 'EQUAL', createRevision: 2 }]), true);
      assert.equal(ok([{ key: b('a'), target: 'MOD', result: 'NOT_EQUAL', modRevision: 3 }]), false);
      assert.equal(ok([{ key: b('a'), target: 'VALUE', result: 'GREATER', value: b('l') }]), true);
      assert.equal(ok([{ key: b('a'), target: 'VALUE', result: 'LESS', value: b('l') }]), false);
      assert.equal(ok([{ key: b('a'), target: 'LEASE', result: 'EQUAL', lease: 0n }]), true);
      // defaults: target VERSION, result EQUAL
      assert.equal(ok([{ key: b('a'), version: 2 }]), true);
      // all compares must hold
      assert.equal(ok([{ key: b('a'), version: 2 }, { key: b('a'), version: 3 }]), false);
      assert.equal(m.currentRevision(), 3); // read-only txns do not advance the revision
    }));

  test('a missing key compares as version/create/mod 0, but any VALUE compare fails', () =>
    withStore((m) => {
      const ok = (c: NonNullable<TxnRequest['compare']>[number]) => m.txn({ compare: [c] }).succeeded;
      // etcd: version("zz") = "0" and mod("zz") = "0" succeed
      assert.equal(ok({ key: b('zz'), target: 'VERSION', version: 0 }), true);
      assert.equal(ok({ key: b('zz'), target: 'MOD', modRevision: 0 }), true);
      assert.equal(ok({ key: b('zz'), target: 'CREATE', result: 'LESS', createRevision: 1 }), true);
      // etcd: value("zz") = "", value("zz") != "q", value("zz") < "q" all fail
      assert.equal(ok({ key: b('zz'), target: 'VALUE', value: b('') }), false);
      assert.equal(ok({ key: b('zz'), target: 'VALUE', result: 'NOT_EQUAL', value: b('q') }), false);
      assert.equal(ok({ key: b('zz'), target: 'VALUE', result: 'LESS', value: b('q') }), false);
    }));

  test('a compare with a range end: every existing key in the range must satisfy it', () =>
    withStore((m) => {
      m.put({ key: b('p/1'), value: b('x') });
      m.put({ key: b('p/2'), value: b('x') });
      m.put({ key: b('p/2'), value: b('y') });
      const ok = (c: NonNullable<TxnRequest['compare']>[number]) => m.txn({ compare: [c] }).succeeded;
      assert.equal(ok({ key: b('p/'), rangeEnd: b('p0'), target: 'VERSION', result: 'GREATER', version: 0 }), true);
      assert.equal(ok({ key: b('p/'), rangeEnd: b('p0'), target: 'VERSION', version: 1 }), false);
      assert.equal(ok({ key: b('p/'), rangeEnd: b('p0'), target: 'VALUE', value: b('x') }), false);
      assert.equal(ok({ key: b('p/'), rangeEnd: b('p0'), target: 'CREATE', result: 'LESS', createRevision: 4 }), true);
      assert.equal(ok({ key: b('q/'), rangeEnd: b('q0'), target: 'VERSION', version: 0 }), true); // empty range: zero kv
      assert.equal(ok({ key: b('q/'), rangeEnd: b('q0'), target: 'VALUE', value: b('') }), false);
      assert.equal(ok({ key: b('p/'), rangeEnd: b('\0'), target: 'MOD', result: 'GREATER', modRevision: 1 }), true);
    }));

  test('branches, responses per op, reads see earlier writes, the whole txn is one revision', () =>
    withStore((m) => {
      m.put({ key: b('a'), value: b('1') });
      const r = m.txn({
        compare: [{ key: b('a'), target: 'VALUE', value: b('1') }],
        success: [put('b', '2'), get('b'), { requestDeleteRange: { key: b('a'), prevKv: true } }, get('a', 'z')],
        failure: [put('f', 'f')],
      });
      assert.equal(r.succeeded, true);
      assert.equal(m.currentRevision(), 3);
      assert.deepEqual(r.responses[0], { responsePut: {} });
      const rb = (r.responses[1] as { responseRange: { kvs: KeyValue[] } }).responseRange.kvs[0]!;
      assert.equal(s(rb.value), '2');
      assert.equal(rb.modRevision, 3);
      const d = (r.responses[2] as { responseDeleteRange: { deleted: number; prevKvs: KeyValue[] } }).responseDeleteRange;
      assert.equal(d.deleted, 1);
      assert.equal(s(d.prevKvs[0]!.value), '1');
      assert.deepEqual(keys((r.responses[3] as { responseRange: { kvs: KeyValue[] } }).responseRange.kvs), ['b']);
      const bkv = m.range({ key: b('b') }).kvs[0]!;
      assert.equal(bkv.modRevision, 3);
      const f = m.txn({ compare: [{ key: b('a'), target: 'VALUE', value: b('1') }], success: [put('s', 's')], failure: [put('f', 'f')] });
      assert.equal(f.succeeded, false);
      assert.equal(m.range({ key: b('f') }).kvs.length, 1);
      assert.equal(m.range({ key: b('s') }).kvs.length, 0);
      assert.equal(m.currentRevision(), 4);
    }));

  test('nested txns: compares see the state before the whole txn (etcd 3.4), one revision', () =>
    withStore((m) => {
      m.put({ key: b('a'), value: b('1') });
      const r = m.txn({
        success: [
          put('x', '1'),
          {
            requestTxn: {
              // x does not exist before the outer txn, so version 0 holds although x was just put
              compare: [{ key: b('x'), version: 0 }],
              success: [put('y', '1'), get('x')],
              failure: [put('n', '1')],
            },
          },
          { requestTxn: { compare: [{ key: b('a'), version: 5 }], success: [put('n2', '1')], failure: [put('z', '1')] } },
        ],
      });
      assert.equal(r.succeeded, true);
      const inner = (r.responses[1] as { responseTxn: { succeeded: boolean; responses: unknown[] } }).responseTxn;
      assert.equal(inner.succeeded, true);
      assert.equal(s((inner.responses[1] as { responseRange: { kvs: KeyValue[] } }).responseRange.kvs[0]!.value), '1');
      assert.equal((r.responses[2] as { responseTxn: { succeeded: boolean } }).responseTxn.succeeded, false);
      assert.deepEqual(keys(m.range({ key: b('\0'), rangeEnd: b('\0') }).kvs), ['a', 'x', 'y', 'z']);
      for (const k of ['x', 'y', 'z']) assert.equal(m.range({ key: b(k) }).kvs[0]!.modRevision, 3);
      assert.equal(m.currentRevision(), 3);
    }));

  test('a failing check (lease, ignore_value, range revision) writes nothing', () => {
    const leases = new FakeLeases();
    return withStore((m) => {
      m.put({ key: b('a'), value: b('1') });
      assert.throws(() => m.txn({ success: [put('b', '1'), { requestPut: { key: b('c'), value: b('1'), lease: 5n } }] }), kind('leaseNotFound'));
      assert.throws(() => m.txn({ success: [put('b', '1'), { requestPut: { key: b('zz'), ignoreValue: true } }] }), kind('keyNotFound'));
      assert.throws(() => m.txn({ success: [put('b', '1'), { requestRange: { key: b('a'), revision: 9 } }] }), kind('futureRev'));
      assert.equal(m.currentRevision(), 2);
      assert.equal(m.range({ key: b('b') }).kvs.length, 0);
      // a range at the txn's own new revision is a future revision at check time (etcd checkRange)
      assert.throws(() => m.txn({ success: [put('b', '1'), { requestRange: { key: b('b'), revision: 3 } }] }), kind('futureRev'));
    }, leases);
  });
});

describe('mvcc: request validation (before proposing)', () => {
  const put = (k: string): RequestOp => ({ requestPut: { key: b(k), value: b('v') } });
  const del = (k: string, end?: string): RequestOp => ({ requestDeleteRange: { key: b(k), rangeEnd: end === undefined ? undefined : b(end) } });
  const dup = (t: TxnRequest) => assert.throws(() => checkTxnRequest(t, 128), kind('duplicateKey'));
  const fine = (t: TxnRequest) => assert.doesNotThrow(() => checkTxnRequest(t, 128));

  test('put/range/delete checks', () => {
    assert.throws(() => checkPutRequest({ key: b('') }), kind('emptyKey'));
    assert.throws(() => checkPutRequest({ key: b('a'), value: b('x'), ignoreValue: true }), kind('valueProvided'));
    assert.throws(() => checkPutRequest({ key: b('a'), lease: 3n, ignoreLease: true }), kind('leaseProvided'));
    assert.doesNotThrow(() => checkPutRequest({ key: b('a'), ignoreValue: true, ignoreLease: true }));
    assert.throws(() => checkRangeRequest({ key: b('') }), kind('emptyKey'));
    assert.throws(() => checkDeleteRequest({ key: b('') }), kind('emptyKey'));
  });

  test('too many ops', () => {
    const ops = Array.from({ length: 129 }, (_, i) => put(`k${i}`));
    assert.throws(() => checkTxnRequest({ success: ops }, 128), kind('tooManyOps'));
    fine({ success: ops.slice(0, 128) });
    assert.throws(() => checkTxnRequest({ compare: Array.from({ length: 3 }, () => ({ key: b('a') })) }, 2), kind('tooManyOps'));
  });

  test('duplicate / overlapping writes in one branch, through nested txns', () => {
    dup({ success: [put('a'), put('a')] });
    dup({ success: [put('b'), del('a', 'c')] });
    dup({ success: [del('a'), put('a')] });
    dup({ success: [put('a'), { requestTxn: { success: [put('a')] } }] });
    dup({ success: [{ requestTxn: { success: [put('a')] } }, { requestTxn: { failure: [put('a')] } }] });
    dup({ success: [del('a', 'c'), { requestTxn: { failure: [put('b')] } }] });
    dup({ failure: [{ requestTxn: { success: [del('a')] } }, put('a')] });
    fine({ success: [put('a')], failure: [put('a')] }); // different branches
    fine({ success: [{ requestTxn: { success: [put('a')], failure: [put('a')] } }] }); // then/else exclusive
    fine({ success: [del('a', 'c'), del('b', 'd')] }); // overlapping deletes are allowed
    fine({ success: [put('c'), del('a', 'c')] }); // range end is exclusive
    fine({ success: [put('a'), { requestRange: { key: b('a') } }] });
    // etcd 3.4 quirk: a from-key delete (range end "\0") overlaps no put in the interval check
    fine({ success: [put('b'), del('a', '\0')] });
  });
});

describe('mvcc: compaction', () => {
  test('errors; history dropped; the latest version of live keys kept; deleted keys gone', () =>
    withStore((m) => {
      m.put({ key: b('a'), value: b('1') }); // 2
      m.put({ key: b('b'), value: b('1') }); // 3
      m.put({ key: b('a'), value: b('2') }); // 4
      m.deleteRange({ key: b('b') }); // 5
      m.put({ key: b('c'), value: b('1') }); // 6
      assert.throws(() => m.compact(7), kind('futureRev'));
      m.compact(5);
      assert.equal(m.compactRevision(), 5);
      assert.throws(() => m.compact(5), kind('compacted'));
      assert.throws(() => m.compact(3), kind('compacted'));
      assert.deepEqual(keys(m.range({ key: b('\0'), rangeEnd: b('\0'), revision: 5 }).kvs), ['a']);
      assert.equal(s(m.range({ key: b('a'), revision: 5 }).kvs[0]!.value), '2');
      assert.throws(() => m.range({ key: b('a'), revision: 4 }), kind('compacted'));
      const before = m.sizeBytesEstimate();
      m.put({ key: b('a'), value: b('3') }); // 7
      m.compact(7);
      assert.ok(m.sizeBytesEstimate() <= before);
      assert.equal(m.keyCount(), 2);
      assert.equal(s(m.range({ key: b('a') }).kvs[0]!.value), '3');
    }));

  test('compaction and state persist across reopen (real level dir)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'mvcc-reopen-'));
    try {
      let be = await Backend.open(dir);
      let m = await Mvcc.open(be);
      for (let i = 0; i < 50; i++) m.put({ key: b(`k${i % 7}`), value: b(`v${i}`) });
      m.deleteRange({ key: b('k3') });
      m.txn({ success: [{ requestPut: { key: b('t'), value: b('x') } }, { requestDeleteRange: { key: b('k4') } }] });
      m.compact(30);
      m.deleteRange({ key: b('k5') }); // the newest revision is a delete: its tombstone is stored
      const state = {
        rev: m.currentRevision(),
        compact: m.compactRevision(),
        kvs: m.range({ key: b('\0'), rangeEnd: b('\0') }),
        past: m.range({ key: b('\0'), rangeEnd: b('\0'), revision: 40 }),
        hash: m.hash(),
        keys: m.keyCount(),
      };
      await be.commit();
      await be.close();
      be = await Backend.open(dir);
      m = await Mvcc.open(be);
      assert.deepEqual(
        {
          rev: m.currentRevision(),
          compact: m.compactRevision(),
          kvs: m.range({ key: b('\0'), rangeEnd: b('\0') }),
          past: m.range({ key: b('\0'), rangeEnd: b('\0'), revision: 40 }),
          hash: m.hash(),
          keys: m.keyCount(),
        },
        state,
      );
      assert.throws(() => m.range({ key: b('k1'), revision: 29 }), kind('compacted'));
      // compacting at the current revision after a delete removes the tombstone; the revision stays
      m.compact(m.currentRevision());
      const rev = m.currentRevision();
      await be.commit();
      await be.close();
      be = await Backend.open(dir);
      m = await Mvcc.open(be);
      assert.equal(m.currentRevision(), rev);
      assert.equal(m.compactRevision(), rev);
      await be.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('mvcc: hash and snapshot', () => {
  function feed(m: Mvcc, seed: number): void {
    let x = seed;
    const rnd = (n: number) => ((x = (x * 1103515245 + 12345) & 0x7fffffff), x % n);
    for (let i = 0; i < 300; i++) {
      const k = b(`key${rnd(20)}`);
      const op = rnd(10);
      if (op < 6) m.put({ key: k, value: b(`v${i}`) });
      else if (op < 8) m.deleteRange({ key: k, rangeEnd: rnd(2) ? b(`key${rnd(20)}`) : undefined });
      else m.txn({ compare: [{ key: k, result: 'GREATER', version: 1 }], success: [{ requestPut: { key: k, value: b('t') } }], failure: [{ requestDeleteRange: { key: k } }] });
      if (i === 150) m.compact(m.currentRevision() - 20);
    }
  }

  test('two stores fed the same ops agree on Hash/HashKV; a different op changes it', () =>
    withStore(async (m1) =>
      withStore((m2) => {
        feed(m1, 42);
        feed(m2, 42);
        assert.equal(m1.hash(), m2.hash());
        const rev = m1.currentRevision() - 5;
        assert.deepEqual(m1.hashKV(rev), m2.hashKV(rev));
        assert.notEqual(m1.hashKV(rev).hash, m1.hashKV(0).hash);
        assert.throws(() => m1.hashKV(m1.compactRevision()), kind('compacted'));
        assert.throws(() => m1.hashKV(m1.currentRevision() + 1), kind('futureRev'));
        m2.put({ key: b('extra'), value: b('') });
        assert.notEqual(m1.hash(), m2.hash());
        assert.equal(m1.hashKV(rev).hash, m2.hashKV(rev).hash); // history up to rev is unchanged
      }),
    ));

  test('snapshot save/restore gives an equal store (and replaces what the target held)', () =>
    withStore(async (m1) =>
      withStore(async (m2, be2, dir2) => {
        feed(m1, 7);
        feed(m2, 8); // the target has other state first
        await m2.restore(m1.saveSnapshot());
        const view = (m: Mvcc) => ({
          rev: m.currentRevision(),
          compact: m.compactRevision(),
          kvs: m.range({ key: b('\0'), rangeEnd: b('\0') }),
          past: m.range({ key: b('\0'), rangeEnd: b('\0'), revision: m.compactRevision() + 3 }),
          hash: m.hash(),
          keys: m.keyCount(),
        });
        assert.deepEqual(view(m2), view(m1));
        // and the backend now holds exactly that state
        await be2.commit();
        const m3 = await Mvcc.open(be2);
        assert.deepEqual(view(m3), view(m1));
        const bad = Buffer.from(m1.saveSnapshot());
        bad[bad.length - 10] ^= 1;
        await assert.rejects(m2.restore(bad), /checksum/);
        const m4 = await Mvcc.restoreSnapshot(m1.saveSnapshot(), be2);
        assert.equal(m4.hash(), m1.hash());
        void dir2;
      }),
    ));
});
