// etcd 3.4's HashKV, bit for bit: CRC-32C over the bucket name "key" and, in revision order,
// each stored revision's bbolt key (8-byte main, '_', 8-byte sub, 't' for a tombstone) and
// value (the gogoproto-marshalled mvccpb.KeyValue). Computing the same value as etcd lets a
// HashKV from tsetcd be compared with one from etcd, not only among tsetcd members.
import { V3Error } from '../v3error.js';
import type { KeyValue } from './types.js';
import type { KeyIndex } from './keyindex.js';
import { crc32c } from './codec.js';

/** What the hash reads of the store. */
export interface HashSource {
  currentRevision(): number;
  compactRevision(): number;
  /** The key of the i-th stored revision in revision order; undefined past the end. */
  logKeyAt(i: number): KeyIndex | undefined;
  logMainAt(i: number): number;
  /** Where the i-th stored revision is in its key's history. */
  logIndexInKey(i: number): number;
  /** The KeyValue of revision i of key ki (one only in the backend is loaded from it). */
  kvAt(ki: KeyIndex, i: number): KeyValue;
}

function revKey(ki: KeyIndex, i: number): Buffer {
  const tombstone = ki.isTombstoneAt(i);
  const b = Buffer.allocUnsafe(tombstone ? 18 : 17);
  b.writeBigInt64BE(BigInt(ki.mainAt(i)), 0);
  b[8] = 0x5f; // '_'
  b.writeBigInt64BE(BigInt(ki.subAt(i)), 9);
  if (tombstone) b[17] = 0x74; // 't'
  return b;
}

function varint(out: number[], v: bigint): void {
  let x = BigInt.asUintN(64, v);
  while (x >= 0x80n) {
    out.push(Number(x & 0x7fn) | 0x80);
    x >>= 7n;
  }
  out.push(Number(x));
}

function bytesField(out: number[], field: number, b: Uint8Array): void {
  if (b.length === 0) return;
  out.push((field << 3) | 2);
  varint(out, BigInt(b.length));
  for (let i = 0; i < b.length; i++) out.push(b[i]!);
}

function intField(out: number[], field: number, v: bigint): void {
  if (v === 0n) return;
  out.push(field << 3);
  varint(out, v);
}

/** mvccpb.KeyValue as etcd marshals it (proto3: zero fields left out; a tombstone is just the key). */
export function marshalKeyValue(kv: KeyValue, tombstone: boolean): Buffer {
  const out: number[] = [];
  bytesField(out, 1, kv.key);
  if (!tombstone) {
    intField(out, 2, BigInt(kv.createRevision));
    intField(out, 3, BigInt(kv.modRevision));
    intField(out, 4, BigInt(kv.version));
    bytesField(out, 5, kv.value);
    intField(out, 6, kv.lease);
  }
  return Buffer.from(out);
}

/** Revision i of ki is the key's latest at or before `rev`, and a live one (etcd's keyIndex.keep). */
function keptAt(ki: KeyIndex, i: number, rev: number): boolean {
  return ki.indexAt(rev) === i && !ki.isTombstoneAt(i);
}

export function etcdHashKV(src: HashSource, revision: number): { hash: number; compactRevision: number; revision: number } {
  const compactRev = src.compactRevision();
  const currentRev = src.currentRevision();
  if (revision > 0 && revision <= compactRev) throw new V3Error('compacted');
  if (revision > 0 && revision > currentRev) throw new V3Error('futureRev');
  const rev = revision <= 0 ? currentRev : revision;
  let h = crc32c(0, Buffer.from('key'));
  // Revisions at or below the compaction count only if compaction at `rev` would keep them —
  // unless that keep set is empty altogether (no live key at `rev`), as etcd's check reads.
  let anyKept = false;
  for (let i = 0; ; i++) {
    const ki = src.logKeyAt(i);
    if (ki === undefined || src.logMainAt(i) > rev) break;
    if (keptAt(ki, src.logIndexInKey(i), rev)) {
      anyKept = true;
      break;
    }
  }
  for (let i = 0; ; i++) {
    const ki = src.logKeyAt(i);
    if (ki === undefined) break;
    const main = src.logMainAt(i);
    if (main > rev) break;
    const j = src.logIndexInKey(i);
    if (main <= compactRev && anyKept && !keptAt(ki, j, rev)) continue;
    h = crc32c(h, revKey(ki, j));
    h = crc32c(h, marshalKeyValue(src.kvAt(ki, j), ki.isTombstoneAt(j)));
  }
  return { hash: h, compactRevision: compactRev, revision: currentRev };
}
