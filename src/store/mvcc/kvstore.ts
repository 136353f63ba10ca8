// The v3 MVCC key-value store (etcd's mvcc + the KV part of its v3 applier). The key index of
// the whole history since the last compaction lives in memory, with the value of each key's
// newest revision; every committed write transaction is staged into the level backend, which the
// member writes every 100 ms or 10,000 staged ops. Once a batch is written, the values it made
// history are evicted from memory (as etcd keeps values only in bbolt): reads at a past
// revision, watch replays, prev_kv of old events, Hash and snapshots load them back with a
// synchronous level read (kvAt). Writes only ever read the newest values, so they stay synchronous and
// deterministic: members that apply the same log hold the same state and the same Hash.
//
// Revisions: the store starts at revision 1 (as etcd does); each write transaction that changes
// something gets the next main revision, its changes sub revisions 0, 1, 2, ... A transaction or
// delete that changes nothing leaves the revision alone.
import type { Backend } from '../backend.js';
import { V3Error } from '../v3error.js';
import { etcdHashKV } from './etcd-hash.js';
import { crc32c, decodeKv, decodeRevKey, encodeKv, encodeRevKey, REV_KEY_BYTES } from './codec.js';
import { heldKey, type HeldKey, KeyIndex } from './keyindex.js';
import { SortedKeys } from './keytree.js';
import { ValueArena } from './value-arena.js';
import type {
  Compare,
  DeleteRangeRequest,
  DeleteRangeResponse,
  KeyValue,
  LeaseId,
  PutRequest,
  PutResponse,
  RangeRequest,
  RangeResponse,
  RequestOp,
  ResponseOp,
  TxnRequest,
  TxnResponse,
} from './types.js';
import { WatchHub, type WatchSource } from './watch.js';

/** The backend bucket of stored revisions: 16-byte revision key -> KeyValue record. */
export const KEY_BUCKET = 'key';
const META_BUCKET = 'meta';
const COMPACT_REV_KEY = Buffer.from('mvcc_compact_rev');
/** Memory accounted per stored revision on top of its key and value bytes: its (main, sub) in
 *  its key's history and in the store's log (5 array slots of 8 bytes), with growth room. */
const REV_OVERHEAD_BYTES = 48;
const SNAPSHOT_MAGIC = Buffer.from('TSMVCC1\n');

const EMPTY = Buffer.alloc(0);

/** What the store needs from the lessor. attach/detach keep the lessor's key sets in step with
 *  the store (called synchronously inside writes, and for every live leased key on open/restore). */
export interface LeaseHooks {
  exists(id: LeaseId): boolean;
  attach(id: LeaseId, key: Uint8Array): void;
  detach(id: LeaseId, key: Uint8Array): void;
}

export interface MvccOptions {
  leases?: LeaseHooks;
  /** Per-watcher pending events bound (default WATCH_PENDING_EVENTS_MAX). */
  watchPendingEventsMax?: number;
}

/** The view a write transaction gives its body: reads see the transaction's own writes. */
export interface WriteTxn {
  /** The revision the transaction's writes get (current + 1). */
  writeRevision(): number;
  range(req: RangeRequest): RangeResponse;
  put(req: PutRequest): PutResponse;
  deleteRange(req: DeleteRangeRequest): DeleteRangeResponse;
}

/** One change of the write transaction in progress: the stored revision (main, sub) of key ki,
 *  its KeyValue and the live value it replaced (which memory holds, as prevHeld, until the
 *  change's batch is written). */
export interface Change {
  readonly ki: KeyIndex;
  readonly main: number;
  readonly sub: number;
  readonly kv: KeyValue;
  readonly prev: KeyValue | undefined;
  readonly prevHeld: HeldKey | undefined;
  /** The KeyIndex was created by this change (undo removes it). */
  readonly created: boolean;
}

/** A stored revision could not be read back from the backend (an I/O error, or a record the
 *  index expects is missing or different). Not a client's error: the member must stop rather
 *  than answer, or apply a txn differently from the other members. */
export class MvccReadError extends Error {
  override readonly name = 'MvccReadError';
}

export function keyString(key: Uint8Array): string {
  return (Buffer.isBuffer(key) ? key : Buffer.from(key.buffer, key.byteOffset, key.byteLength)).toString('latin1');
}

/** etcd's range end rules: undefined = single key; null = no upper bound; else exclusive end. */
export function rangeEndString(rangeEnd: Uint8Array | undefined): string | null | undefined {
  if (rangeEnd === undefined || rangeEnd.length === 0) return undefined;
  if (rangeEnd.length === 1 && rangeEnd[0] === 0) return null;
  return keyString(rangeEnd);
}

/** A private copy of request bytes (a new key's). Request bytes may be views of a larger decode
 *  buffer, and Buffer.from would put small copies in node's shared 8 KiB pool slabs, where one
 *  long-lived key keeps a whole slab alive: so unpooled. Values go to a ValueArena, which
 *  bounds what dead values pin. */
export function ownCopy(src: Uint8Array): Buffer {
  const b = Buffer.allocUnsafeSlow(src.length);
  b.set(src);
  return b;
}

function cmpNum(a: number, b: number): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export class Mvcc implements WatchSource {
  private index = new Map<string, KeyIndex>();
  /** Memory for the values of puts (see value-arena.ts). */
  private values = new ValueArena();
  private tree = new SortedKeys<KeyIndex>();
  /** Every stored revision in (main, sub) order, since the last compaction (plus the kept ones):
   *  its key, main and sub, in three parallel arrays (whether it is a tombstone, its key knows). */
  private logKi: KeyIndex[] = [];
  private logMain: number[] = [];
  private logSub: number[] = [];
  private rev = 1;
  private compactRev = -1;
  private liveKeys = 0;
  private bytes = 0;

  private inWrite = false;
  private sub = 0;
  private changes: Change[] = [];
  /** Live revisions superseded since the backend's last batch started, as (key, held key):
   *  their values go when it ends. */
  private evictKi: KeyIndex[] = [];
  private evictHeld: HeldKey[] = [];
  /** Bumped by restore(): a batch that started before it evicts nothing of the new state's
   *  accounting (its revisions belong to the old state). */
  private generation = 0;
  /** Every revision up to this one is written to the backend: a live value superseded at or
   *  below it leaves memory at once (readers find it in level) instead of being held until the
   *  current batch is written. Under a write load most puts replace a value written a batch or
   *  more ago, and holding it cost a Map per key for the length of a batch: garbage that lived
   *  long enough to be promoted, for the full GC to collect. 0 after a restore (the new state
   *  is not written yet); frozen after a batch fails. */
  private writtenRev = 0;
  private batchFailed = false;
  /** A restore is between clearing its new state's accounting and staging its puts. */
  private restoring = false;
  private readonly wtxn: WriteTxn;

  readonly watchHub: WatchHub;

  private hooks: LeaseHooks | undefined;

  private constructor(
    private readonly backend: Backend,
    opts: MvccOptions | undefined,
  ) {
    this.hooks = opts?.leases;
    this.watchHub = new WatchHub(this, opts?.watchPendingEventsMax);
    this.wtxn = {
      writeRevision: () => this.rev + 1,
      range: (req) => this.doRange(req, this.changes.length > 0 ? this.rev + 1 : this.rev),
      put: (req) => this.doPut(req),
      deleteRange: (req) => this.doDelete(req),
    };
    backend.onBatch(() => {
      // Everything applied so far is staged in this batch or an earlier one.
      const upTo = this.restoring ? 0 : this.rev;
      const kis = this.evictKi;
      const held = this.evictHeld;
      const generation = this.generation;
      this.evictKi = [];
      this.evictHeld = [];
      return (ok) => {
        if (!ok) this.batchFailed = true;
        if (!ok || generation !== this.generation) return;
        this.evict(kis, held);
        if (!this.batchFailed && upTo > this.writtenRev) this.writtenRev = upTo;
      };
    });
  }

  /** Rebuilds the store from the backend's 'key' bucket. */
  static async open(backend: Backend, opts?: MvccOptions): Promise<Mvcc> {
    const m = new Mvcc(backend, opts);
    let compactRev = -1;
    for (const [k, v] of await backend.loadBucket(META_BUCKET)) {
      if (k.equals(COMPACT_REV_KEY)) compactRev = Number(v.readBigInt64BE(0));
    }
    // Every row is in level already, so a revision's KeyValue is dropped as soon as a newer one
    // of its key is read: memory at start never holds more than the newest values.
    const load = m.loader(true);
    await backend.scanBucket(KEY_BUCKET, (k, v) => {
      const { main, sub } = decodeRevKey(k);
      load.add(main, sub, decodeKv(v, main, true));
    });
    load.finish(compactRev);
    m.writtenRev = m.rev;
    return m;
  }

  /** A new store holding a snapshot's state (replacing whatever the backend's bucket held). */
  static async restoreSnapshot(data: Uint8Array, backend: Backend, opts?: MvccOptions): Promise<Mvcc> {
    const m = new Mvcc(backend, opts);
    await m.restore(data);
    return m;
  }

  setLeaseHooks(hooks: LeaseHooks | undefined): void {
    this.hooks = hooks;
  }

  currentRevision(): number {
    return this.rev;
  }
  compactRevision(): number {
    return this.compactRev;
  }
  /** Number of live keys. */
  keyCount(): number {
    return this.liveKeys;
  }
  /** Memory held by the stored history (keys, values in memory, per-revision overhead). */
  sizeBytesEstimate(): number {
    return this.bytes + this.logKi.length * REV_OVERHEAD_BYTES;
  }

  // ---- reads ------------------------------------------------------------------------------

  /** Range at req.revision (or current). Returned KeyValues are shared and must not be mutated. */
  range(req: RangeRequest): RangeResponse {
    return this.doRange(req, this.rev);
  }

  private doRange(req: RangeRequest, curRev: number): RangeResponse {
    let rev = req.revision ?? 0;
    if (rev > curRev) throw new V3Error('futureRev');
    if (rev <= 0) rev = curRev;
    if (rev < this.compactRev) throw new V3Error('compacted');

    // etcd treats a limit <= 0 as no limit.
    const limit = Math.max(0, req.limit ?? 0);
    const minMod = req.minModRevision ?? 0;
    const maxMod = req.maxModRevision ?? 0;
    const minCreate = req.minCreateRevision ?? 0;
    const maxCreate = req.maxCreateRevision ?? 0;
    const filtered = minMod !== 0 || maxMod !== 0 || minCreate !== 0 || maxCreate !== 0;
    let sortOrder = req.sortOrder ?? 'NONE';
    const sortTarget = req.sortTarget ?? 'KEY';
    // etcd: sorting or filtering fetches everything, then sorts and truncates; otherwise it
    // fetches limit + 1 to know `more`. `count` is the number of keys in the range either way.
    let fetchLimit = sortOrder !== 'NONE' || filtered ? 0 : limit;
    if (fetchLimit > 0) fetchLimit++;
    const countOnly = req.countOnly === true;

    let kvs: KeyValue[] = [];
    let count = 0;
    const end = rangeEndString(req.rangeEnd);
    if (end === undefined) {
      const ki = this.index.get(keyString(req.key));
      const i = ki === undefined ? -1 : ki.liveIndexAt(rev);
      if (i >= 0) {
        count = 1;
        if (!countOnly) kvs.push(this.kvAt(ki!, i));
      }
    } else {
      const lo = keyString(req.key);
      if (end === null || lo < end) {
        this.tree.forRange(lo, end, (ki) => {
          const i = ki.liveIndexAt(rev);
          if (i < 0) return;
          count++;
          if (!countOnly && (fetchLimit === 0 || kvs.length < fetchLimit)) kvs.push(this.kvAt(ki, i));
        });
      }
    }
    if (countOnly) return { kvs: [], more: false, count };

    if (filtered) {
      kvs = kvs.filter(
        (kv) =>
          !(maxMod !== 0 && kv.modRevision > maxMod) &&
          !(minMod !== 0 && kv.modRevision < minMod) &&
          !(maxCreate !== 0 && kv.createRevision > maxCreate) &&
          !(minCreate !== 0 && kv.createRevision < minCreate),
      );
    }
    // etcd: a sort target other than KEY with order NONE sorts ascending.
    if (sortTarget !== 'KEY' && sortOrder === 'NONE') sortOrder = 'ASCEND';
    if (sortOrder !== 'NONE' && kvs.length > 1) {
      if (sortTarget === 'KEY') {
        if (sortOrder === 'DESCEND') kvs.reverse(); // already in ascending key order
      } else {
        const dir = sortOrder === 'DESCEND' ? -1 : 1;
        let cmp: (a: KeyValue, b: KeyValue) => number;
        switch (sortTarget) {
          case 'VERSION': cmp = (a, b) => dir * cmpNum(a.version, b.version); break;
          case 'CREATE': cmp = (a, b) => dir * cmpNum(a.createRevision, b.createRevision); break;
          case 'MOD': cmp = (a, b) => dir * cmpNum(a.modRevision, b.modRevision); break;
          case 'VALUE': cmp = (a, b) => dir * Buffer.compare(a.value, b.value); break;
          default: throw new Error(`mvcc: unknown sort target ${String(sortTarget satisfies never)}`);
        }
        kvs.sort(cmp); // stable: ties stay in key order
      }
    }
    let more = false;
    if (limit > 0 && kvs.length > limit) {
      kvs.length = limit;
      more = true;
    }
    if (req.keysOnly === true) {
      for (let i = 0; i < kvs.length; i++) {
        const kv = kvs[i]!;
        kvs[i] = { key: kv.key, createRevision: kv.createRevision, modRevision: kv.modRevision, version: kv.version, value: EMPTY, lease: kv.lease };
      }
    }
    return { kvs, more, count };
  }

  /** The KeyValue of revision i of key ki: in memory, or else read from the backend (not kept).
   *  A revision the index holds but the backend lacks is lost data: that throws, never answers. */
  kvAt(ki: KeyIndex, i: number): KeyValue {
    const inMemory = ki.kvInMemory(i);
    if (inMemory !== undefined) return inMemory;
    const main = ki.mainAt(i);
    const sub = ki.subAt(i);
    let kv: KeyValue | undefined;
    try {
      const rec = this.backend.getSync(KEY_BUCKET, encodeRevKey(main, sub));
      kv = rec === undefined ? undefined : decodeKv(rec, main, true);
    } catch (err) {
      throw new MvccReadError(`mvcc: reading revision ${main}_${sub} from the backend: ${(err as Error).message}`);
    }
    if (kv === undefined) throw new MvccReadError(`mvcc: revision ${main}_${sub} is in the index but not in the backend`);
    if (!ki.key.equals(kv.key) || kv.version === 0) throw new MvccReadError(`mvcc: the backend's record of revision ${main}_${sub} is not the index's`);
    return { key: ki.key, createRevision: kv.createRevision, modRevision: main, version: kv.version, value: kv.value, lease: kv.lease };
  }

  /** Drops the values of superseded revisions now in the backend (see evictKi). */
  private evict(kis: KeyIndex[], held: HeldKey[]): void {
    for (let i = 0; i < kis.length; i++) this.bytes -= kis[i]!.evict(held[i]!);
  }

  // ---- writes -----------------------------------------------------------------------------

  /** Runs fn as ONE write transaction: all its changes get revision current + 1 (none: no new
   *  revision). If fn throws, its changes are undone and the error propagates. On success the
   *  changes are staged into the backend and delivered to watchers before write returns. */
  write<T>(fn: (txn: WriteTxn) => T): T {
    if (this.inWrite) throw new Error('mvcc: nested write transaction');
    this.inWrite = true;
    this.sub = 0;
    let result: T;
    try {
      result = fn(this.wtxn);
    } catch (e) {
      this.undo();
      this.changes.length = 0;
      this.inWrite = false;
      this.values.settle();
      throw e;
    }
    this.inWrite = false;
    if (this.changes.length > 0) this.commitChanges();
    // Slab reviews move head values: between transactions, never inside one.
    this.values.settle();
    return result;
  }

  put(req: PutRequest): PutResponse {
    return this.write((t) => t.put(req));
  }

  /** The value slabs' memory (ValueArena.stats). */
  valueSlabs(): { slabs: number; bytes: number } {
    return this.values.stats();
  }

  deleteRange(req: DeleteRangeRequest): DeleteRangeResponse {
    return this.write((t) => t.deleteRange(req));
  }

  private doPut(req: PutRequest): PutResponse {
    if (!this.inWrite) throw new Error('mvcc: put outside a write transaction');
    const key = req.key;
    if (key.length === 0) throw new V3Error('emptyKey');
    const ks = keyString(key);
    let ki = this.index.get(ks);
    const prev = ki?.live();
    // Every check comes before the first mutation: a failed put changes nothing.
    if ((req.ignoreValue === true || req.ignoreLease === true) && prev === undefined) throw new V3Error('keyNotFound');
    const lease = req.ignoreLease === true ? prev!.lease : (req.lease ?? 0n);
    if (req.ignoreLease !== true && lease !== 0n && (this.hooks === undefined || !this.hooks.exists(lease))) {
      throw new V3Error('leaseNotFound');
    }
    const main = this.rev + 1;
    const created = ki === undefined;
    if (ki === undefined) ki = new KeyIndex(ownCopy(key), ks);
    const value = req.ignoreValue === true ? prev!.value : req.value === undefined || req.value.length === 0 ? EMPTY : this.values.copy(req.value, ki);
    if (created) {
      this.index.set(ks, ki);
      this.tree.insert(ki);
    }
    const kv: KeyValue = {
      key: ki.key,
      createRevision: prev === undefined ? main : prev.createRevision,
      modRevision: main,
      version: prev === undefined ? 1 : prev.version + 1,
      value,
      lease,
    };
    this.append(ki, kv, prev, created);
    if (prev === undefined) this.liveKeys++;
    const oldLease = prev === undefined ? 0n : prev.lease;
    if (oldLease !== lease && this.hooks !== undefined) {
      if (oldLease !== 0n) this.hooks.detach(oldLease, ki.key);
      if (lease !== 0n) this.hooks.attach(lease, ki.key);
    }
    return req.prevKv === true && prev !== undefined ? { prevKv: prev } : {};
  }

  private doDelete(req: DeleteRangeRequest): DeleteRangeResponse {
    if (!this.inWrite) throw new Error('mvcc: deleteRange outside a write transaction');
    const resp: DeleteRangeResponse = { deleted: 0, prevKvs: [] };
    const wantPrev = req.prevKv === true;
    const end = rangeEndString(req.rangeEnd);
    if (end === undefined) {
      const ki = this.index.get(keyString(req.key));
      if (ki !== undefined) this.deleteOne(ki, resp, wantPrev);
    } else {
      const lo = keyString(req.key);
      if (end === null || lo < end) {
        // Appending a tombstone does not change the tree, so deleting while iterating is safe.
        this.tree.forRange(lo, end, (ki) => this.deleteOne(ki, resp, wantPrev));
      }
    }
    return resp;
  }

  private deleteOne(ki: KeyIndex, resp: DeleteRangeResponse, wantPrev: boolean): void {
    const prev = ki.live();
    if (prev === undefined) return;
    const main = this.rev + 1;
    const tomb: KeyValue = { key: ki.key, createRevision: 0, modRevision: main, version: 0, value: EMPTY, lease: 0n };
    this.append(ki, tomb, prev, false);
    this.liveKeys--;
    if (prev.lease !== 0n && this.hooks !== undefined) this.hooks.detach(prev.lease, ki.key);
    resp.deleted++;
    if (wantPrev) resp.prevKvs.push(prev);
  }

  private append(ki: KeyIndex, kv: KeyValue, prev: KeyValue | undefined, created: boolean): void {
    const main = kv.modRevision;
    const sub = this.sub++;
    const prevHeld = ki.push(main, sub, kv, prev === undefined || prev.modRevision > this.writtenRev);
    this.logPush(ki, main, sub);
    this.bytes += ki.key.length + kv.value.length;
    if (prev !== undefined && prevHeld === undefined) this.bytes -= prev.value.length;
    this.changes.push({ ki, main, sub, kv, prev, prevHeld, created });
  }

  private logPush(ki: KeyIndex, main: number, sub: number): void {
    this.logKi.push(ki);
    this.logMain.push(main);
    this.logSub.push(sub);
  }

  /** Reverts the changes of the write transaction in progress, newest first. */
  private undo(): void {
    const ch = this.changes;
    for (let i = ch.length - 1; i >= 0; i--) {
      const { ki, main, sub, kv, prev, prevHeld, created } = ch[i]!;
      ki.pop(main, sub, prev);
      if (prev !== undefined && prevHeld === undefined) this.bytes += prev.value.length;
      const last = this.logKi.length - 1;
      if (this.logKi[last] !== ki || this.logMain[last] !== main) throw new Error('mvcc: undo out of order (invariant)');
      this.logKi.pop();
      this.logMain.pop();
      this.logSub.pop();
      this.bytes -= ki.key.length + kv.value.length;
      const live = kv.version !== 0;
      if (live && prev === undefined) this.liveKeys--;
      if (!live) this.liveKeys++;
      const newLease = live ? kv.lease : 0n;
      const oldLease = prev === undefined ? 0n : prev.lease;
      if (newLease !== oldLease && this.hooks !== undefined) {
        if (newLease !== 0n) this.hooks.detach(newLease, ki.key);
        if (oldLease !== 0n) this.hooks.attach(oldLease, ki.key);
      }
      if (created) {
        if (ki.length !== 0) throw new Error('mvcc: undo of a created key left history (invariant)');
        this.index.delete(ki.keyStr);
        this.tree.remove(ki.keyStr);
      }
    }
  }

  private commitChanges(): void {
    const main = this.rev + 1;
    const ch = this.changes;
    for (let i = 0; i < ch.length; i++) {
      const c = ch[i]!;
      if (c.main !== main || c.sub !== i) throw new Error('mvcc: change revision mismatch (invariant)');
      this.backend.put(KEY_BUCKET, encodeRevKey(main, i), encodeKv(c.kv));
      // The live value it replaced may leave memory once the backend has it.
      if (c.prevHeld !== undefined) {
        this.evictKi.push(c.ki);
        this.evictHeld.push(c.prevHeld);
      }
    }
    this.rev = main;
    this.watchHub.notify(main, ch);
    this.changes.length = 0;
  }

  // ---- txn --------------------------------------------------------------------------------

  /** etcd 3.4's applyTxn: every compare (nested ones included) is evaluated against the state
   *  before the transaction; puts (lease, ignore_*) and ranges (revision) of the chosen branches
   *  are checked before anything is written; then the ops run as one write transaction. */
  txn(req: TxnRequest): TxnResponse {
    if (this.inWrite) throw new Error('mvcc: txn inside a write transaction');
    const path: boolean[] = [];
    this.compareToPath(req, path);
    this.checkOps(req, path, { i: 0 }, true);
    this.checkOps(req, path, { i: 0 }, false);
    return this.write((t) => this.applyTxn(t, req, path, { i: 0 }));
  }

  private compareToPath(req: TxnRequest, path: boolean[]): void {
    const ok = this.applyCompares(req.compare);
    path.push(ok);
    const ops = ok ? req.success : req.failure;
    if (ops === undefined) return;
    for (const op of ops) if ('requestTxn' in op) this.compareToPath(op.requestTxn, path);
  }

  private checkOps(req: TxnRequest, path: boolean[], at: { i: number }, puts: boolean): void {
    const ops = path[at.i++] ? req.success : req.failure;
    if (ops === undefined) return;
    for (const op of ops) {
      if ('requestTxn' in op) this.checkOps(op.requestTxn, path, at, puts);
      else if (puts && 'requestPut' in op) {
        const p = op.requestPut;
        if ((p.ignoreValue === true || p.ignoreLease === true) && this.index.get(keyString(p.key))?.live() === undefined) {
          throw new V3Error('keyNotFound');
        }
        const lease = p.lease ?? 0n;
        if (lease !== 0n && (this.hooks === undefined || !this.hooks.exists(lease))) throw new V3Error('leaseNotFound');
      } else if (!puts && 'requestRange' in op) {
        const rev = op.requestRange.revision ?? 0;
        if (rev === 0) continue;
        if (rev > this.rev) throw new V3Error('futureRev');
        if (rev < this.compactRev) throw new V3Error('compacted');
      }
    }
  }

  private applyTxn(t: WriteTxn, req: TxnRequest, path: boolean[], at: { i: number }): TxnResponse {
    const succeeded = path[at.i++]!;
    const ops: RequestOp[] = (succeeded ? req.success : req.failure) ?? [];
    const responses: ResponseOp[] = new Array(ops.length);
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!;
      if ('requestRange' in op) responses[i] = { responseRange: t.range(op.requestRange) };
      else if ('requestPut' in op) responses[i] = { responsePut: t.put(op.requestPut) };
      else if ('requestDeleteRange' in op) responses[i] = { responseDeleteRange: t.deleteRange(op.requestDeleteRange) };
      else if ('requestTxn' in op) responses[i] = { responseTxn: this.applyTxn(t, op.requestTxn, path, at) };
      else throw new Error('mvcc: unknown txn op');
    }
    return { succeeded, responses };
  }

  private applyCompares(cmps: Compare[] | undefined): boolean {
    if (cmps === undefined) return true;
    for (const c of cmps) if (!this.applyCompare(c)) return false;
    return true;
  }

  /** etcd: every key in [key, rangeEnd) must satisfy the compare; no key at all compares as a
   *  zero KeyValue, except that a VALUE compare on a missing key always fails. */
  private applyCompare(c: Compare): boolean {
    const end = rangeEndString(c.rangeEnd);
    if (end === undefined) {
      const kv = this.index.get(keyString(c.key))?.live();
      if (kv === undefined) return c.target === 'VALUE' ? false : compareKv(c, undefined);
      return compareKv(c, kv);
    }
    const lo = keyString(c.key);
    let any = false;
    let ok = true;
    if (end === null || lo < end) {
      this.tree.forRange(lo, end, (ki) => {
        const kv = ki.live();
        if (kv === undefined) return;
        any = true;
        if (!compareKv(c, kv)) return (ok = false);
      });
    }
    if (!any) return c.target === 'VALUE' ? false : compareKv(c, undefined);
    return ok;
  }

  // ---- compaction, hash, snapshot ---------------------------------------------------------

  /** Drops history at or before rev, keeping the latest live revision of each key. */
  compact(rev: number): void {
    if (this.inWrite) throw new Error('mvcc: compact inside a write transaction');
    if (rev <= this.compactRev) throw new V3Error('compacted');
    if (rev > this.rev) throw new V3Error('futureRev');
    const gone: string[] = [];
    this.tree.forEach((ki) => {
      // A dropped value still held is counted out here; its pending eviction then finds nothing.
      ki.compact(rev, (main, sub, heldBytes) => {
        this.backend.del(KEY_BUCKET, encodeRevKey(main, sub));
        this.bytes -= ki.key.length + heldBytes;
      });
      if (ki.length === 0) gone.push(ki.keyStr);
    });
    for (const k of gone) {
      this.index.delete(k);
      this.tree.remove(k);
    }
    // A revision at or before rev survives only as the (new) first revision of its key.
    const { logKi, logMain, logSub } = this;
    let n = 0;
    for (let i = 0; i < logKi.length; i++) {
      const ki = logKi[i]!;
      const main = logMain[i]!;
      if (main <= rev && !(ki.length > 0 && ki.mainAt(0) === main && ki.subAt(0) === logSub[i])) continue;
      logKi[n] = ki;
      logMain[n] = main;
      logSub[n] = logSub[i]!;
      n++;
    }
    logKi.length = n;
    logMain.length = n;
    logSub.length = n;
    this.compactRev = rev;
    const b = Buffer.allocUnsafe(8);
    b.writeBigInt64BE(BigInt(rev));
    this.backend.put(META_BUCKET, COMPACT_REV_KEY, b);
  }

  /** etcd's Hash (here the same as HashKV at the current revision). */
  hash(): number {
    return this.hashKV(0).hash;
  }

  /** etcd's HashKV, computed exactly as etcd 3.4 does over its bbolt records (etcd-hash.ts), so
   *  the value agrees with a real etcd's that applied the same writes. */
  hashKV(rev: number): { hash: number; compactRevision: number; revision: number } {
    return etcdHashKV(this, rev);
  }

  /** The whole state: magic | currentRev i64 | compactRev i64 | count u32 | per revision
   *  (revKey 16 | len u32 | record) | crc32c u32 of everything before. */
  saveSnapshot(): Uint8Array {
    const parts: Buffer[] = [];
    const head = Buffer.allocUnsafe(SNAPSHOT_MAGIC.length + 20);
    SNAPSHOT_MAGIC.copy(head, 0);
    head.writeBigInt64BE(BigInt(this.rev), SNAPSHOT_MAGIC.length);
    head.writeBigInt64BE(BigInt(this.compactRev), SNAPSHOT_MAGIC.length + 8);
    const n = this.logKi.length;
    head.writeUInt32BE(n, SNAPSHOT_MAGIC.length + 16);
    parts.push(head);
    for (let i = 0; i < n; i++) {
      const rec = encodeKv(this.kvAt(this.logKi[i]!, this.logIndexInKey(i)));
      const len = Buffer.allocUnsafe(4);
      len.writeUInt32BE(rec.length);
      parts.push(encodeRevKey(this.logMain[i]!, this.logSub[i]!), len, rec);
    }
    const body = Buffer.concat(parts);
    const out = Buffer.allocUnsafe(body.length + 4);
    body.copy(out, 0);
    out.writeUInt32BE(crc32c(0, body), body.length);
    return out;
  }

  /** Replaces the whole state with a snapshot's (a follower installing a raft snapshot): memory,
   *  the backend bucket (cleared, then staged), leases re-attached, watchers re-synced from the
   *  new history. */
  async restore(data: Uint8Array): Promise<void> {
    if (this.inWrite) throw new Error('mvcc: restore inside a write transaction');
    const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const m = SNAPSHOT_MAGIC.length;
    if (buf.length < m + 24 || !buf.subarray(0, m).equals(SNAPSHOT_MAGIC)) throw new Error('mvcc: not an mvcc snapshot');
    const body = buf.subarray(0, buf.length - 4);
    if (crc32c(0, body) !== buf.readUInt32BE(buf.length - 4)) throw new Error('mvcc: snapshot checksum mismatch');
    const rev = Number(buf.readBigInt64BE(m));
    const compactRev = Number(buf.readBigInt64BE(m + 8));
    const n = buf.readUInt32BE(m + 16);
    const recs: StoredRevData[] = new Array(n);
    let off = m + 20;
    for (let i = 0; i < n; i++) {
      if (off + REV_KEY_BYTES + 4 > body.length) throw new Error('mvcc: truncated snapshot');
      const { main, sub } = decodeRevKey(body.subarray(off, off + REV_KEY_BYTES));
      const len = body.readUInt32BE(off + REV_KEY_BYTES);
      off += REV_KEY_BYTES + 4;
      if (off + len > body.length) throw new Error('mvcc: truncated snapshot');
      recs[i] = { main, sub, kv: decodeKv(body.subarray(off, off + len), main, true) };
      off += len;
    }
    if (off !== body.length) throw new Error('mvcc: trailing bytes in snapshot');

    // The new state goes in first, wholly in memory: while the bucket is cleared below, readers
    // must not look for evicted values of the old state in the backend.
    const oldRev = this.rev;
    this.index = new Map();
    this.tree = new SortedKeys();
    this.values = new ValueArena();
    this.logKi = [];
    this.logMain = [];
    this.logSub = [];
    this.liveKeys = 0;
    this.bytes = 0;
    this.evictKi = [];
    this.evictHeld = [];
    this.generation++;
    // Nothing of the new state is in the backend until a batch that starts after its puts are
    // staged (below) is written.
    this.writtenRev = 0;
    this.restoring = true;
    const load = this.loader(false);
    for (const rec of recs) load.add(rec.main, rec.sub, rec.kv);
    load.finish(compactRev);
    if (this.rev !== Math.max(rev, 1)) throw new Error(`mvcc: snapshot revision ${rev} disagrees with its history (${this.rev})`);
    this.watchHub.onRestore(oldRev);
    await this.backend.clearBucket(KEY_BUCKET);
    // The restored revisions are log entries 0..n-1 (the bucket was cleared while writes may
    // have gone on). Their history leaves memory once the batch with these puts is written.
    for (let i = 0; i < n; i++) {
      const ki = this.logKi[i]!;
      const main = this.logMain[i]!;
      const j = this.logIndexInKey(i);
      const sub = ki.subAt(j);
      this.backend.put(KEY_BUCKET, encodeRevKey(main, sub), encodeKv(this.kvAt(ki, j)));
      if (!ki.isTombstoneAt(j) && j !== ki.length - 1) {
        this.evictKi.push(ki);
        this.evictHeld.push(heldKey(main, sub));
      }
    }
    const b = Buffer.allocUnsafe(8);
    b.writeBigInt64BE(BigInt(compactRev));
    this.backend.put(META_BUCKET, COMPACT_REV_KEY, b);
    this.restoring = false;
  }

  /** Builds memory from stored revisions added in (main, sub) order; inBackend: they are all in
   *  level already, so superseded ones are evicted at once. A revision's key and value may be
   *  views of a larger buffer: the key is copied once per key, values go to the arena as a put's
   *  do (so a restarted member's heap looks like a running one's, not one allocation a value). */
  private loader(inBackend: boolean): { add(main: number, sub: number, kv: KeyValue): void; finish(compactRev: number): void } {
    let lastMain = 0;
    let lastSub = -1;
    const add = (main: number, sub: number, kv: KeyValue): void => {
      if (main < lastMain || (main === lastMain && sub <= lastSub)) throw new Error('mvcc: stored revisions out of order');
      lastMain = main;
      lastSub = sub;
      const ks = keyString(kv.key);
      let ki = this.index.get(ks);
      if (ki === undefined) {
        ki = new KeyIndex(ownCopy(kv.key), ks);
        this.index.set(ks, ki);
        this.tree.insert(ki);
      }
      const value = kv.value.length === 0 ? kv.value : this.values.copy(kv.value, ki);
      const stored: KeyValue = { key: ki.key, createRevision: kv.createRevision, modRevision: kv.modRevision, version: kv.version, value, lease: kv.lease };
      const superseded = ki.push(main, sub, stored);
      this.logPush(ki, main, sub);
      this.bytes += ki.key.length + value.length;
      if (inBackend && superseded !== undefined) this.bytes -= ki.evict(superseded);
      // Superseded values leave garbage in the slabs; reviews copy the live ones on as it grows.
      this.values.settle();
    };
    return { add, finish: (compactRev) => this.finishLoad(lastMain, compactRev) };
  }

  private finishLoad(lastMain: number, compactRev: number): void {
    this.compactRev = compactRev;
    // etcd: the current revision is the newest stored one, or the compaction revision when
    // compaction removed it (a delete's tombstones), and at least 1.
    this.rev = Math.max(1, lastMain, compactRev);
    this.liveKeys = 0;
    this.tree.forEach((ki) => {
      const kv = ki.live();
      if (kv === undefined) return;
      this.liveKeys++;
      if (kv.lease !== 0n && this.hooks !== undefined) this.hooks.attach(kv.lease, ki.key);
    });
  }

  // ---- WatchSource ------------------------------------------------------------------------

  /** Index in the log of the first stored revision with main >= rev. */
  logIndexFrom(rev: number): number {
    const mains = this.logMain;
    let lo = 0;
    let hi = mains.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (mains[mid]! < rev) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
  /** The key of the log's i-th stored revision; undefined past the end. */
  logKeyAt(i: number): KeyIndex | undefined {
    return this.logKi[i];
  }
  logMainAt(i: number): number {
    return this.logMain[i]!;
  }
  /** Where the log's i-th stored revision is in its key's history. */
  logIndexInKey(i: number): number {
    const j = this.logKi[i]!.indexOf(this.logMain[i]!, this.logSub[i]!);
    if (j < 0) throw new Error('mvcc: a logged revision is missing from its key (invariant)');
    return j;
  }
  keyIndex(keyStr: string): KeyIndex | undefined {
    return this.index.get(keyStr);
  }
}

interface StoredRevData {
  main: number;
  sub: number;
  kv: KeyValue;
}

function compareKv(c: Compare, kv: KeyValue | undefined): boolean {
  let r: number;
  switch (c.target ?? 'VERSION') {
    case 'VERSION': r = cmpNum(kv?.version ?? 0, c.version ?? 0); break;
    case 'CREATE': r = cmpNum(kv?.createRevision ?? 0, c.createRevision ?? 0); break;
    case 'MOD': r = cmpNum(kv?.modRevision ?? 0, c.modRevision ?? 0); break;
    // A compare whose union holds no value (or another member) compares with "", as etcd's does.
    case 'VALUE': r = Buffer.compare(kv?.value ?? EMPTY, c.value instanceof Uint8Array ? c.value : EMPTY); break;
    case 'LEASE': {
      const a = kv?.lease ?? 0n;
      const b = c.lease ?? 0n;
      r = a < b ? -1 : a > b ? 1 : 0;
      break;
    }
    default: throw new Error(`mvcc: unknown compare target ${String(c.target)}`);
  }
  switch (c.result ?? 'EQUAL') {
    case 'EQUAL': return r === 0;
    case 'NOT_EQUAL': return r !== 0;
    case 'GREATER': return r > 0;
    case 'LESS': return r < 0;
    default: throw new Error(`mvcc: unknown compare result ${String(c.result)}`);
  }
}
