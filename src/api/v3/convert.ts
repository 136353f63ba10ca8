// Conversions between wire messages (protobufjs reflection objects with proto field names; int64
// decoded as Long, encoded from number or Long) and the store shapes of src/store/mvcc/types.ts.
// Hand-written per message: this is the hot path of every KV call, so no toObject/fromObject.
import protobuf from 'protobufjs';
import type * as kv from '../../store/mvcc/types.js';
import type { V3Header, V3Member, Permission, PermissionType } from './backend.js';

/** protobufjs's 64-bit value (the `long` package it depends on). */
export interface Long {
  readonly low: number;
  readonly high: number;
  readonly unsigned: boolean;
  toString(): string;
}
interface LongStatic {
  fromBits(low: number, high: number, unsigned: boolean): Long;
}
const LongCtor = (protobuf.util as unknown as { Long: LongStatic }).Long;

/** A decoded or to-be-encoded wire message. */
export type Wire = Record<string, any>;

/** int64/uint64 as it comes out of protobufjs: Long, or number when small / set by hand. */
export type WireLong = Long | number | string | null | undefined;

const EMPTY = new Uint8Array(0);
const TWO32 = 4294967296;

export function num(v: WireLong): number {
  if (v === null || v === undefined) return 0;
  if (typeof v === 'number') return v;
  if (typeof v === 'string') return Number(v);
  return v.high === 0 ? v.low >>> 0 : v.high * TWO32 + (v.low >>> 0);
}

/** Signed 64-bit (lease ids, watch ids). */
export function big(v: WireLong): bigint {
  if (v === null || v === undefined) return 0n;
  if (typeof v === 'number') return BigInt(v);
  if (typeof v === 'string') return BigInt(v);
  if (v.high === 0 && v.low === 0) return 0n;
  return BigInt.asIntN(64, (BigInt(v.high >>> 0) << 32n) | BigInt(v.low >>> 0));
}

/** Unsigned 64-bit (member and cluster ids). */
export function ubig(v: WireLong): bigint {
  return BigInt.asUintN(64, big(v));
}

const SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** bigint to what protobufjs encodes: a number when exact, else a Long. */
export function long(b: bigint, unsigned = false): number | Long {
  if (b <= SAFE && b >= -SAFE) return Number(b);
  const u = BigInt.asUintN(64, b);
  return LongCtor.fromBits(Number(u & 0xffffffffn) | 0, Number(u >> 32n) | 0, unsigned);
}

export function bytes(v: Uint8Array | null | undefined): Uint8Array {
  return v ?? EMPTY;
}

function nonEmpty(v: Uint8Array | null | undefined): Uint8Array | undefined {
  return v && v.length > 0 ? v : undefined;
}

// ---- headers -------------------------------------------------------------------------------

let lastIds: { cluster: bigint; member: bigint; wire: [number | Long, number | Long] } | undefined;

export function headerWire(h: V3Header, revision: number | undefined): Wire {
  if (!lastIds || lastIds.cluster !== h.clusterId || lastIds.member !== h.memberId) {
    lastIds = { cluster: h.clusterId, member: h.memberId, wire: [long(h.clusterId, true), long(h.memberId, true)] };
  }
  return { cluster_id: lastIds.wire[0], member_id: lastIds.wire[1], revision: revision || undefined, raft_term: h.raftTerm || undefined };
}

// ---- KV ------------------------------------------------------------------------------------

export function kvWire(k: kv.KeyValue): Wire {
  return {
    key: k.key,
    create_revision: k.createRevision || undefined,
    mod_revision: k.modRevision || undefined,
    version: k.version || undefined,
    value: k.value.length > 0 ? k.value : undefined,
    lease: k.lease === 0n ? undefined : long(k.lease),
  };
}

export function kvFromWire(w: Wire): kv.KeyValue {
  return {
    key: bytes(w.key), createRevision: num(w.create_revision), modRevision: num(w.mod_revision),
    version: num(w.version), value: bytes(w.value), lease: big(w.lease),
  };
}

const SORT_ORDER: readonly kv.SortOrder[] = ['NONE', 'ASCEND', 'DESCEND'];
const SORT_TARGET: readonly kv.SortTarget[] = ['KEY', 'VERSION', 'CREATE', 'MOD', 'VALUE'];

export function rangeFromWire(w: Wire): kv.RangeRequest {
  const r: kv.RangeRequest = { key: bytes(w.key) };
  const o = r as { -readonly [K in keyof kv.RangeRequest]: kv.RangeRequest[K] };
  if (w.range_end && w.range_end.length > 0) o.rangeEnd = w.range_end;
  if (w.limit) o.limit = num(w.limit);
  if (w.revision) o.revision = num(w.revision);
  if (w.sort_order) o.sortOrder = SORT_ORDER[w.sort_order] ?? 'NONE';
  if (w.sort_target) o.sortTarget = SORT_TARGET[w.sort_target] ?? 'KEY';
  if (w.serializable) o.serializable = true;
  if (w.keys_only) o.keysOnly = true;
  if (w.count_only) o.countOnly = true;
  if (w.min_mod_revision) o.minModRevision = num(w.min_mod_revision);
  if (w.max_mod_revision) o.maxModRevision = num(w.max_mod_revision);
  if (w.min_create_revision) o.minCreateRevision = num(w.min_create_revision);
  if (w.max_create_revision) o.maxCreateRevision = num(w.max_create_revision);
  return r;
}

export function putFromWire(w: Wire): kv.PutRequest {
  const r: { -readonly [K in keyof kv.PutRequest]: kv.PutRequest[K] } = { key: bytes(w.key) };
  if (w.value && w.value.length > 0) r.value = w.value;
  if (w.lease) { const l = big(w.lease); if (l !== 0n) r.lease = l; }
  if (w.prev_kv) r.prevKv = true;
  if (w.ignore_value) r.ignoreValue = true;
  if (w.ignore_lease) r.ignoreLease = true;
  return r;
}

export function deleteFromWire(w: Wire): kv.DeleteRangeRequest {
  const r: { -readonly [K in keyof kv.DeleteRangeRequest]: kv.DeleteRangeRequest[K] } = { key: bytes(w.key) };
  if (w.range_end && w.range_end.length > 0) r.rangeEnd = w.range_end;
  if (w.prev_kv) r.prevKv = true;
  return r;
}

const CMP_RESULT: readonly kv.CompareResult[] = ['EQUAL', 'GREATER', 'LESS', 'NOT_EQUAL'];
const CMP_TARGET: readonly kv.CompareTarget[] = ['VERSION', 'CREATE', 'MOD', 'VALUE', 'LEASE'];

function compareFromWire(w: Wire): kv.Compare {
  const c: { -readonly [K in keyof kv.Compare]: kv.Compare[K] } = {
    key: bytes(w.key),
    result: CMP_RESULT[w.result ?? 0] ?? 'EQUAL',
    target: CMP_TARGET[w.target ?? 0] ?? 'VERSION',
  };
  if (w.range_end && w.range_end.length > 0) c.rangeEnd = w.range_end;
  switch (c.target) {
    case 'VERSION': c.version = num(w.version); break;
    case 'CREATE': c.createRevision = num(w.create_revision); break;
    case 'MOD': c.modRevision = num(w.mod_revision); break;
    case 'VALUE': c.value = bytes(w.value); break;
    case 'LEASE': c.lease = big(w.lease); break;
  }
  return c;
}

function opFromWire(w: Wire): kv.RequestOp {
  if (w.request_range) return { requestRange: rangeFromWire(w.request_range) };
  if (w.request_put) return { requestPut: putFromWire(w.request_put) };
  if (w.request_delete_range) return { requestDeleteRange: deleteFromWire(w.request_delete_range) };
  if (w.request_txn) return { requestTxn: txnFromWire(w.request_txn) };
  // An empty RequestOp: etcd treats it as a range of the empty key (rejected by validation).
  return { requestRange: { key: EMPTY } };
}

export function txnFromWire(w: Wire): kv.TxnRequest {
  const cmp: Wire[] = w.compare ?? [];
  const succ: Wire[] = w.success ?? [];
  const fail: Wire[] = w.failure ?? [];
  return { compare: cmp.map(compareFromWire), success: succ.map(opFromWire), failure: fail.map(opFromWire) };
}

export function rangeRespWire(r: kv.RangeResponse, header: Wire): Wire {
  const kvs = new Array<Wire>(r.kvs.length);
  for (let i = 0; i < r.kvs.length; i++) kvs[i] = kvWire(r.kvs[i]!);
  return { header, kvs, more: r.more || undefined, count: r.count || undefined };
}

export function putRespWire(r: kv.PutResponse, header: Wire): Wire {
  return { header, prev_kv: r.prevKv ? kvWire(r.prevKv) : undefined };
}

export function deleteRespWire(r: kv.DeleteRangeResponse, header: Wire): Wire {
  return { header, deleted: r.deleted || undefined, prev_kvs: r.prevKvs.map(kvWire) };
}

/**
 * A txn response. etcd prints nested headers with only a revision: a nested range shows the
 * revision it read (the txn's revision once an earlier op of the txn changed something, else the
 * one before), a nested put/delete the txn's revision, a nested txn an empty header.
 */
export function txnRespWire(r: kv.TxnResponse, header: Wire, txnRevision: number): Wire {
  const changed = txnChanges(r);
  const state = { changedSoFar: false };
  return { header, succeeded: r.succeeded || undefined, responses: opsRespWire(r.responses, txnRevision, changed, state) };
}

function txnChanges(r: kv.TxnResponse): boolean {
  for (const op of r.responses) {
    if ('responsePut' in op) return true;
    if ('responseDeleteRange' in op && op.responseDeleteRange.deleted > 0) return true;
    if ('responseTxn' in op && txnChanges(op.responseTxn)) return true;
  }
  return false;
}

function opsRespWire(ops: readonly kv.ResponseOp[], rev: number, changed: boolean, state: { changedSoFar: boolean }): Wire[] {
  const out = new Array<Wire>(ops.length);
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    if ('responseRange' in op) {
      const readRev = state.changedSoFar || !changed ? rev : rev - 1;
      out[i] = { response_range: rangeRespWire(op.responseRange, { revision: readRev || undefined }) };
    } else if ('responsePut' in op) {
      state.changedSoFar = true;
      out[i] = { response_put: putRespWire(op.responsePut, { revision: rev || undefined }) };
    } else if ('responseDeleteRange' in op) {
      // etcd: the txn's revision once this delete or an earlier op changed something, else the
      // revision the txn began at (storeTxnWrite.DeleteRange).
      if (op.responseDeleteRange.deleted > 0) state.changedSoFar = true;
      const delRev = state.changedSoFar || !changed ? rev : rev - 1;
      out[i] = { response_delete_range: deleteRespWire(op.responseDeleteRange, { revision: delRev || undefined }) };
    } else {
      const t = op.responseTxn;
      out[i] = { response_txn: { header: {}, succeeded: t.succeeded || undefined, responses: opsRespWire(t.responses, rev, changed, state) } };
    }
  }
  return out;
}

export function eventWire(e: kv.MvccEvent): Wire {
  return { type: e.type === 'DELETE' ? 1 : undefined, kv: kvWire(e.kv), prev_kv: e.prevKv ? kvWire(e.prevKv) : undefined };
}

// ---- cluster / auth ------------------------------------------------------------------------

export function memberWire(m: V3Member): Wire {
  return {
    ID: long(m.id, true), name: m.name || undefined, peerURLs: m.peerUrls.slice(),
    clientURLs: m.clientUrls.slice(), isLearner: m.isLearner || undefined,
  };
}

const PERM: readonly PermissionType[] = ['READ', 'WRITE', 'READWRITE'];

export function permWire(p: Permission): Wire {
  return { permType: PERM.indexOf(p.permType) || undefined, key: nonEmpty(p.key), range_end: nonEmpty(p.rangeEnd) };
}

export function permFromWire(w: Wire | null | undefined): Permission {
  return { permType: PERM[w?.permType ?? 0] ?? 'READ', key: bytes(w?.key), rangeEnd: bytes(w?.range_end) };
}
