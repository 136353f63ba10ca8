// Binary forms of the MVCC state: the 16-byte revision key of the 'key' bucket (main, sub as
// big-endian u64, so level's key order is revision order), the stored KeyValue record, and CRC-32C
// (Castagnoli, etcd's hash polynomial) for Hash/HashKV and snapshot integrity.
import type { KeyValue } from './types.js';

export const REV_KEY_BYTES = 16;
/** Record layout: flags u8 | createRevision u64 | version u64 | lease i64 | keyLen u32 | key | value */
const RECORD_HEADER_BYTES = 1 + 8 + 8 + 8 + 4;
const FLAG_TOMBSTONE = 1;
const TWO_32 = 0x1_0000_0000;

function writeU64(b: Buffer, off: number, n: number): void {
  if (!(Number.isSafeInteger(n) && n >= 0)) throw new Error(`mvcc codec: bad u64 ${n}`);
  b.writeUInt32BE(Math.floor(n / TWO_32), off);
  b.writeUInt32BE(n >>> 0, off + 4);
}
function readU64(b: Buffer, off: number): number {
  const n = b.readUInt32BE(off) * TWO_32 + b.readUInt32BE(off + 4);
  if (!Number.isSafeInteger(n)) throw new Error('mvcc codec: u64 beyond 2^53');
  return n;
}

export function encodeRevKey(main: number, sub: number): Buffer {
  const b = Buffer.allocUnsafe(REV_KEY_BYTES);
  writeU64(b, 0, main);
  writeU64(b, 8, sub);
  return b;
}
export function decodeRevKey(b: Buffer): { main: number; sub: number } {
  if (b.length !== REV_KEY_BYTES) throw new Error(`mvcc codec: revision key of ${b.length} bytes`);
  return { main: readU64(b, 0), sub: readU64(b, 8) };
}

/** A tombstone is stored as a record with the flag set, its KeyValue has version 0. */
export function encodeKv(kv: KeyValue): Buffer {
  const key = kv.key;
  const value = kv.value;
  const tomb = kv.version === 0;
  const b = Buffer.allocUnsafe(RECORD_HEADER_BYTES + key.length + (tomb ? 0 : value.length));
  b[0] = tomb ? FLAG_TOMBSTONE : 0;
  writeU64(b, 1, kv.createRevision);
  writeU64(b, 9, kv.version);
  b.writeBigInt64BE(kv.lease, 17);
  b.writeUInt32BE(key.length, 25);
  b.set(key, RECORD_HEADER_BYTES);
  if (!tomb) b.set(value, RECORD_HEADER_BYTES + key.length);
  return b;
}

const EMPTY = Buffer.alloc(0);

/** An unpooled copy (see ownCopy in kvstore.ts: pooled slabs would outlive compaction). */
function copyOut(b: Buffer, start: number, end: number): Buffer {
  const out = Buffer.allocUnsafeSlow(end - start);
  b.copy(out, 0, start, end);
  return out;
}

/** Decodes a record stored at revision main. The key and value are copies (not views of b),
 *  unless `views` (for a short-lived read: they keep all of b alive). */
export function decodeKv(b: Buffer, main: number, views = false): KeyValue {
  if (b.length < RECORD_HEADER_BYTES) throw new Error('mvcc codec: short record');
  const flags = b[0]!;
  const keyLen = b.readUInt32BE(25);
  if (RECORD_HEADER_BYTES + keyLen > b.length) throw new Error('mvcc codec: key past record end');
  const cut = views ? (start: number, end: number) => b.subarray(start, end) : (start: number, end: number) => copyOut(b, start, end);
  const key = cut(RECORD_HEADER_BYTES, RECORD_HEADER_BYTES + keyLen);
  const kv: KeyValue = {
    key,
    createRevision: readU64(b, 1),
    modRevision: main,
    version: readU64(b, 9),
    value: flags & FLAG_TOMBSTONE || b.length === RECORD_HEADER_BYTES + keyLen ? EMPTY : cut(RECORD_HEADER_BYTES + keyLen, b.length),
    lease: b.readBigInt64BE(17),
  };
  if ((flags & FLAG_TOMBSTONE) !== 0 ? kv.version !== 0 : kv.version < 1) throw new Error('mvcc codec: bad version in record');
  return kv;
}

const CRC32C_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    t[i] = c >>> 0;
  }
  return t;
})();

/** Running CRC-32C: start with crc = 0, feed chunks, the result is the checksum. */
export function crc32c(crc: number, data: Uint8Array): number {
  let c = ~crc >>> 0;
  for (let i = 0; i < data.length; i++) c = CRC32C_TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}
