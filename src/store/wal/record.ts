// The on-disk record format of a WAL segment.
//
//   frame := bodyLength:u32le  crc32c(body):u32le  body
//   body  := kind:u8  payload
//
// Kinds and payloads (u64 = two u32le, low word first; values are safe integers < 2^53):
//   header   (1)  magic "TSWL":4  version:u32  seq:u64  firstIndex:u64   (first record of a segment)
//   metadata (2)  opaque bytes given to Wal.create (cluster id, member id, ...)
//   hardState(3)  term:u64  commit:u64  voteLength:u8  vote:utf8
//   entry    (4)  term:u64  index:u64  entryType:u8  data
//   snapshot (5)  index:u64  term:u64                                    (snapshot marker)
//
// One record per entry keeps a torn write's damage to one entry and lets replay overwrite a
// truncated suffix entry by entry. Every record is self-checking, so replay can tell a torn tail
// (nothing valid after the damage) from corruption in the middle (valid records after it).
import type { Entry, EntryType, HardState } from '../../raft/types.js';
import { crc32c } from './crc32c.js';

export const RECORD_FRAME_BYTES = 8;
/** Largest record body accepted on write and on read. An entry larger than this is refused by
 *  save() with a RangeError before anything is queued; on read a larger length is damage. */
export const walRecordBodyBytesMax = 64 * 1024 * 1024;
export const VOTE_BYTES_MAX = 255;

export const RecordKind = {
  header: 1,
  metadata: 2,
  hardState: 3,
  entry: 4,
  snapshot: 5,
} as const;
export type RecordKind = (typeof RecordKind)[keyof typeof RecordKind];

export const SEGMENT_MAGIC = 0x4c575354; // "TSWL" little-endian
export const SEGMENT_FORMAT_VERSION = 1;

const HEADER_BODY_BYTES = 1 + 4 + 4 + 8 + 8;
const HARDSTATE_BODY_FIXED_BYTES = 1 + 8 + 8 + 1;
export const ENTRY_BODY_FIXED_BYTES = 1 + 8 + 8 + 1;
const SNAPSHOT_BODY_BYTES = 1 + 8 + 8;
const TWO_POW_32 = 4294967296;

export interface SnapshotMarker {
  readonly index: number;
  readonly term: number;
}

function putU64(buf: Buffer, off: number, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`wal: ${n} is not a non-negative safe integer`);
  buf.writeUInt32LE(n >>> 0, off);
  buf.writeUInt32LE(Math.floor(n / TWO_POW_32), off + 4);
}

export function getU64(buf: Uint8Array, off: number): number {
  const lo = (buf[off]! | (buf[off + 1]! << 8) | (buf[off + 2]! << 16) | (buf[off + 3]! << 24)) >>> 0;
  const hi = (buf[off + 4]! | (buf[off + 5]! << 8) | (buf[off + 6]! << 16) | (buf[off + 7]! << 24)) >>> 0;
  return hi * TWO_POW_32 + lo;
}

function getU32(buf: Uint8Array, off: number): number {
  return (buf[off]! | (buf[off + 1]! << 8) | (buf[off + 2]! << 16) | (buf[off + 3]! << 24)) >>> 0;
}

/** Writes the frame header for a body at [off+8, off+8+bodyLength) that is already in place. */
function sealFrame(buf: Buffer, off: number, bodyLength: number): void {
  buf.writeUInt32LE(bodyLength, off);
  buf.writeUInt32LE(crc32c(buf, off + RECORD_FRAME_BYTES, off + RECORD_FRAME_BYTES + bodyLength), off + 4);
}

export function entryRecordBytes(e: Entry): number {
  return RECORD_FRAME_BYTES + ENTRY_BODY_FIXED_BYTES + e.data.length;
}

function voteBytes(hs: HardState): number {
  const n = Buffer.byteLength(hs.vote, 'utf8');
  if (n > VOTE_BYTES_MAX) throw new RangeError(`wal: vote id of ${n} bytes exceeds ${VOTE_BYTES_MAX}`);
  return n;
}

export function hardStateRecordBytes(hs: HardState): number {
  return RECORD_FRAME_BYTES + HARDSTATE_BODY_FIXED_BYTES + voteBytes(hs);
}

export const SNAPSHOT_RECORD_BYTES = RECORD_FRAME_BYTES + SNAPSHOT_BODY_BYTES;

/** Each put* writes one whole record at buf[off] and returns the offset after it. */
export function putEntry(buf: Buffer, off: number, e: Entry): number {
  const body = off + RECORD_FRAME_BYTES;
  const dataLength = e.data.length;
  buf[body] = RecordKind.entry;
  putU64(buf, body + 1, e.term);
  putU64(buf, body + 9, e.index);
  buf[body + 17] = entryTypeCode(e.type);
  buf.set(e.data, body + 18);
  sealFrame(buf, off, ENTRY_BODY_FIXED_BYTES + dataLength);
  return body + ENTRY_BODY_FIXED_BYTES + dataLength;
}

export function putHardState(buf: Buffer, off: number, hs: HardState): number {
  const body = off + RECORD_FRAME_BYTES;
  buf[body] = RecordKind.hardState;
  putU64(buf, body + 1, hs.term);
  putU64(buf, body + 9, hs.commit);
  const n = buf.write(hs.vote, body + 18, 'utf8');
  buf[body + 17] = n;
  sealFrame(buf, off, HARDSTATE_BODY_FIXED_BYTES + n);
  return body + HARDSTATE_BODY_FIXED_BYTES + n;
}

export function putSnapshotMarker(buf: Buffer, off: number, m: SnapshotMarker): number {
  const body = off + RECORD_FRAME_BYTES;
  buf[body] = RecordKind.snapshot;
  putU64(buf, body + 1, m.index);
  putU64(buf, body + 9, m.term);
  sealFrame(buf, off, SNAPSHOT_BODY_BYTES);
  return body + SNAPSHOT_BODY_BYTES;
}

/** The records that open every segment: header, metadata, and the latest hardState and snapshot
 *  marker written so far, so that releasing older segments never loses them. */
export function encodeSegmentPreamble(
  seq: number,
  firstIndex: number,
  metadata: Uint8Array,
  hardState: HardState | undefined,
  marker: SnapshotMarker | undefined,
): Buffer {
  if (metadata.length + 1 > walRecordBodyBytesMax) throw new RangeError('wal: metadata too large');
  const size =
    RECORD_FRAME_BYTES + HEADER_BODY_BYTES +
    RECORD_FRAME_BYTES + 1 + metadata.length +
    (hardState ? hardStateRecordBytes(hardState) : 0) +
    (marker ? SNAPSHOT_RECORD_BYTES : 0);
  const buf = Buffer.alloc(size);
  let off = 0;
  let body = off + RECORD_FRAME_BYTES;
  buf[body] = RecordKind.header;
  buf.writeUInt32LE(SEGMENT_MAGIC, body + 1);
  buf.writeUInt32LE(SEGMENT_FORMAT_VERSION, body + 5);
  putU64(buf, body + 9, seq);
  putU64(buf, body + 17, firstIndex);
  sealFrame(buf, off, HEADER_BODY_BYTES);
  off = body + HEADER_BODY_BYTES;
  body = off + RECORD_FRAME_BYTES;
  buf[body] = RecordKind.metadata;
  buf.set(metadata, body + 1);
  sealFrame(buf, off, 1 + metadata.length);
  off = body + 1 + metadata.length;
  if (hardState) off = putHardState(buf, off, hardState);
  if (marker) off = putSnapshotMarker(buf, off, marker);
  if (off !== size) throw new Error(`wal: preamble size ${off} != ${size}`);
  return buf;
}

function entryTypeCode(t: EntryType): number {
  switch (t) {
    case 'normal':
      return 0;
    case 'confChange':
      return 1;
    default: {
      const never: never = t;
      throw new RangeError(`wal: unknown entry type ${String(never)}`);
    }
  }
}

// ---- reading ----

/** Why a frame at some offset is not a valid record. */
export type FrameDamage =
  | 'truncated frame header'
  | 'zero length (zeroed or preallocated space)'
  | 'length past end of file'
  | 'length over the record limit'
  | 'checksum mismatch'
  | 'unknown record kind';

/** Body length of the valid frame at buf[off] (>= 1), or the damage found there. */
export function checkFrame(buf: Uint8Array, off: number, end: number): number | FrameDamage {
  if (end - off < RECORD_FRAME_BYTES) return 'truncated frame header';
  const length = getU32(buf, off);
  if (length === 0) return 'zero length (zeroed or preallocated space)';
  if (length > walRecordBodyBytesMax) return 'length over the record limit';
  const bodyStart = off + RECORD_FRAME_BYTES;
  if (length > end - bodyStart) return 'length past end of file';
  const kind = buf[bodyStart]!;
  if (kind < RecordKind.header || kind > RecordKind.snapshot) return 'unknown record kind';
  if (crc32c(buf, bodyStart, bodyStart + length) !== getU32(buf, off + 4)) return 'checksum mismatch';
  return length;
}

/** Checksummed bytes one torn-tail scan may spend. Entry data crafted to look like frame
 *  headers could otherwise make the scan quadratic; past the budget the damage is reported as
 *  corruption (the member refuses to start) rather than guessed to be a torn tail. */
export const tornTailScanCrcBytesMax = 256 * 1024 * 1024;

/** Offset of the first valid frame that starts after `from`, -1 if none, or -2 if the scan ran
 *  out of budget. Used to tell a torn tail (nothing valid follows the damage) from corruption in
 *  the middle. Cheap in practice: most offsets fail the length and kind checks before any
 *  checksum is computed. */
export function findValidFrameAfter(buf: Uint8Array, from: number, end: number): number {
  let budget = tornTailScanCrcBytesMax;
  for (let p = from + 1; p + RECORD_FRAME_BYTES < end; p++) {
    const length = getU32(buf, p);
    if (length === 0 || length > end - p - RECORD_FRAME_BYTES) continue;
    budget -= length;
    if (budget < 0) return -2;
    if (typeof checkFrame(buf, p, end) === 'number') return p;
  }
  return -1;
}

export interface HeaderBody {
  readonly magic: number;
  readonly version: number;
  readonly seq: number;
  readonly firstIndex: number;
}

export function readHeader(buf: Uint8Array, body: number, length: number): HeaderBody | undefined {
  if (length !== HEADER_BODY_BYTES) return undefined;
  return {
    magic: getU32(buf, body + 1),
    version: getU32(buf, body + 5),
    seq: getU64(buf, body + 9),
    firstIndex: getU64(buf, body + 17),
  };
}

export function readHardState(buf: Uint8Array, body: number, length: number): HardState | undefined {
  if (length < HARDSTATE_BODY_FIXED_BYTES) return undefined;
  const voteLength = buf[body + 17]!;
  if (length !== HARDSTATE_BODY_FIXED_BYTES + voteLength) return undefined;
  return {
    term: getU64(buf, body + 1),
    commit: getU64(buf, body + 9),
    vote: Buffer.from(buf.buffer, buf.byteOffset + body + 18, voteLength).toString('utf8'),
  };
}

export function readSnapshotMarker(buf: Uint8Array, body: number, length: number): SnapshotMarker | undefined {
  if (length !== SNAPSHOT_BODY_BYTES) return undefined;
  return { index: getU64(buf, body + 1), term: getU64(buf, body + 9) };
}

/** Index of the entry record whose body starts at `body` (reads nothing else, for skipping). */
export function readEntryIndex(buf: Uint8Array, body: number): number {
  return getU64(buf, body + 9);
}

/** The entry, with its data copied out of the segment buffer (so the segment can be freed). */
export function readEntry(buf: Uint8Array, body: number, length: number): Entry | undefined {
  if (length < ENTRY_BODY_FIXED_BYTES) return undefined;
  const code = buf[body + 17];
  let type: EntryType;
  if (code === 0) type = 'normal';
  else if (code === 1) type = 'confChange';
  else return undefined;
  const dataLength = length - ENTRY_BODY_FIXED_BYTES;
  const data = new Uint8Array(dataLength);
  data.set(buf.subarray(body + 18, body + 18 + dataLength));
  return { term: getU64(buf, body + 1), index: getU64(buf, body + 9), type, data };
}
