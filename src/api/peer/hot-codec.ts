// A fixed binary layout for the raft messages that make up nearly all peer traffic (MsgApp,
// MsgAppResp, MsgProp, MsgHeartbeat, MsgHeartbeatResp), sent as FrameKind.hotMessage frames.
// msgpack spends most of its time on field names and per-entry objects; here a MsgApp's entries
// are one length-prefixed block, encoded once per Ready however many followers receive it, and
// decoded with one copy for all of them. Every other message stays msgpack (FrameKind.message).
//
// Body (big-endian):
//   u8 type code | u8 len + from (latin1) | u8 len + to (latin1) | f64 term | per type:
//   MsgApp:           f64 logTerm | f64 index | f64 commit | entries
//   MsgProp:          entries
//   MsgAppResp:       f64 index | f64 rejectHint | f64 logTerm | u8 reject (0/1)
//   MsgHeartbeat:     f64 commit | u32 len + context
//   MsgHeartbeatResp: u32 len + context
//   entries:          u32 count, then per entry f64 term | f64 index | u8 type (0 normal,
//                     1 confChange) | u32 len + data
// Numbers are doubles: raft's terms and indexes are safe integers, and the decoder refuses
// anything that is not a non-negative one. Member ids are 16 hex digits (at most 255 bytes here).
import type { Message, MsgApp, MsgAppResp, MsgHeartbeat, MsgHeartbeatResp, MsgProp } from '../../raft/message.js';
import type { Entry } from '../../raft/types.js';
import { MAX_ENTRIES_PER_MESSAGE } from '../../raft/limits.js';
import { FRAME_HEADER_BYTES, FRAME_LENGTH_BYTES, FrameKind } from './frame.js';

const TYPE_CODES = { MsgApp: 1, MsgAppResp: 2, MsgProp: 3, MsgHeartbeat: 4, MsgHeartbeatResp: 5 } as const;
type HotMessage = MsgApp | MsgAppResp | MsgProp | MsgHeartbeat | MsgHeartbeatResp;

/** Longest member id the layout carries (one length byte). */
const ID_BYTES_MAX = 255;
/** Bytes of one entry's fixed part: term, index, type, data length. */
const ENTRY_FIXED_BYTES = 8 + 8 + 1 + 4;

export function isHot(m: Message): m is HotMessage {
  return Object.hasOwn(TYPE_CODES, m.type) && m.from.length <= ID_BYTES_MAX && m.to.length <= ID_BYTES_MAX;
}

/** The encoded entries block of the last MsgApp/MsgProp, reused when the next message carries
 *  the very same Entry objects (a Ready's MsgApp to each follower). Comparing the length and the
 *  first and last objects suffices: a message's entries are a contiguous slice of raft's log,
 *  whose Entry objects are immutable and unique per index (at most maxSizePerMsg stays alive
 *  here between messages). */
let lastEntries: readonly Entry[] | undefined;
let lastBlock: Buffer | undefined;

function entriesBlock(entries: readonly Entry[]): Buffer {
  const n = entries.length;
  if (lastEntries !== undefined && lastEntries.length === n && (n === 0 || (lastEntries[0] === entries[0] && lastEntries[n - 1] === entries[n - 1]))) {
    return lastBlock!;
  }
  let bytes = 4;
  for (let i = 0; i < n; i++) bytes += ENTRY_FIXED_BYTES + entries[i]!.data.length;
  const b = Buffer.allocUnsafe(bytes);
  let off = b.writeUInt32BE(n, 0);
  for (let i = 0; i < n; i++) {
    const e = entries[i]!;
    off = b.writeDoubleBE(e.term, off);
    off = b.writeDoubleBE(e.index, off);
    b[off++] = e.type === 'confChange' ? 1 : 0;
    off = b.writeUInt32BE(e.data.length, off);
    b.set(e.data, off);
    off += e.data.length;
  }
  lastEntries = entries;
  lastBlock = b;
  return b;
}

/** Encodes a hot message as a whole frame (header included). */
export function encodeHotFrame(m: HotMessage): Buffer {
  let block: Buffer | undefined;
  let fixed = 1 + 1 + m.from.length + 1 + m.to.length + 8;
  let context: Uint8Array | undefined;
  switch (m.type) {
    case 'MsgApp':
      fixed += 24;
      block = entriesBlock(m.entries);
      break;
    case 'MsgProp':
      block = entriesBlock(m.entries);
      break;
    case 'MsgAppResp':
      fixed += 25;
      break;
    case 'MsgHeartbeat':
      fixed += 8 + 4;
      context = m.context;
      break;
    case 'MsgHeartbeatResp':
      fixed += 4;
      context = m.context;
      break;
  }
  const bodyBytes = fixed + (block?.length ?? 0) + (context?.length ?? 0);
  const f = Buffer.allocUnsafe(FRAME_HEADER_BYTES + bodyBytes);
  f.writeUInt32BE(1 + bodyBytes, 0);
  f[FRAME_LENGTH_BYTES] = FrameKind.hotMessage;
  let off = FRAME_HEADER_BYTES;
  f[off++] = TYPE_CODES[m.type];
  f[off++] = m.from.length;
  off += f.write(m.from, off, 'latin1');
  f[off++] = m.to.length;
  off += f.write(m.to, off, 'latin1');
  off = f.writeDoubleBE(m.term, off);
  switch (m.type) {
    case 'MsgApp':
      off = f.writeDoubleBE(m.logTerm, off);
      off = f.writeDoubleBE(m.index, off);
      off = f.writeDoubleBE(m.commit, off);
      break;
    case 'MsgAppResp':
      off = f.writeDoubleBE(m.index, off);
      off = f.writeDoubleBE(m.rejectHint, off);
      off = f.writeDoubleBE(m.logTerm, off);
      f[off++] = m.reject ? 1 : 0;
      break;
    case 'MsgHeartbeat':
      off = f.writeDoubleBE(m.commit, off);
      break;
    default:
      break;
  }
  if (block !== undefined) {
    f.set(block, off);
    off += block.length;
  }
  if (context !== undefined) {
    off = f.writeUInt32BE(context.length, off);
    f.set(context, off);
    off += context.length;
  }
  if (off !== f.length) throw new Error(`hot codec: wrote ${off} of ${f.length} bytes`);
  return f;
}

class Malformed extends Error {}

/** A cursor over a frame body that refuses to read past its end. */
class Reader {
  off = 0;
  constructor(readonly b: Buffer) {}
  need(n: number): void {
    if (this.off + n > this.b.length) throw new Malformed(`truncated at byte ${this.off} (want ${n} more of ${this.b.length})`);
  }
  u8(): number {
    this.need(1);
    return this.b[this.off++]!;
  }
  u32(): number {
    this.need(4);
    const v = this.b.readUInt32BE(this.off);
    this.off += 4;
    return v;
  }
  /** A non-negative safe integer stored as a double. */
  uint(what: string): number {
    this.need(8);
    const v = this.b.readDoubleBE(this.off);
    this.off += 8;
    if (!(Number.isSafeInteger(v) && v >= 0)) throw new Malformed(`${what} is not a non-negative integer`);
    return v;
  }
  id(): string {
    const n = this.u8();
    this.need(n);
    const s = this.b.toString('latin1', this.off, this.off + n);
    this.off += n;
    return s;
  }
  bytes(copy: boolean): Uint8Array {
    const n = this.u32();
    this.need(n);
    const v = this.b.subarray(this.off, this.off + n);
    this.off += n;
    return copy ? Uint8Array.prototype.slice.call(v) : v;
  }
}

function readEntries(r: Reader, shared: boolean): Entry[] {
  const n = r.u32();
  // raft's own limit, and every entry takes at least ENTRY_FIXED_BYTES: a count over either is
  // refused before anything is allocated for it.
  if (n > MAX_ENTRIES_PER_MESSAGE) throw new Malformed(`${n} entries is over the limit of ${MAX_ENTRIES_PER_MESSAGE}`);
  r.need(n * ENTRY_FIXED_BYTES);
  if (n === 0) return [];
  // A frame that shares its chunk: copy the rest of the body once, into a buffer of its own (not
  // node's shared pool), so the entries (kept in the raft log) pin just this copy.
  let src = r.b.subarray(r.off);
  if (shared) {
    const copy = Buffer.allocUnsafeSlow(src.length);
    src.copy(copy);
    src = copy;
  }
  const er = new Reader(src);
  const out: Entry[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const term = er.uint('entry term');
    const index = er.uint('entry index');
    const t = er.u8();
    if (t > 1) throw new Malformed(`entry type ${t}`);
    const data = er.bytes(false);
    out[i] = { term, index, type: t === 1 ? 'confChange' : 'normal', data };
  }
  r.off += er.off;
  return out;
}

/** Decodes a hotMessage frame body into a raft Message, or returns why it is malformed. */
export function decodeHotBody(body: Buffer, shared: boolean): Message | string {
  try {
    const r = new Reader(body);
    const code = r.u8();
    const from = r.id();
    const to = r.id();
    const term = r.uint('term');
    let m: Message;
    switch (code) {
      case TYPE_CODES.MsgApp: {
        const logTerm = r.uint('logTerm');
        const index = r.uint('index');
        const commit = r.uint('commit');
        m = { type: 'MsgApp', from, to, term, logTerm, index, commit, entries: readEntries(r, shared) };
        break;
      }
      case TYPE_CODES.MsgProp:
        m = { type: 'MsgProp', from, to, term, entries: readEntries(r, shared) };
        break;
      case TYPE_CODES.MsgAppResp: {
        const index = r.uint('index');
        const rejectHint = r.uint('rejectHint');
        const logTerm = r.uint('logTerm');
        const reject = r.u8();
        if (reject > 1) throw new Malformed(`reject flag ${reject}`);
        m = { type: 'MsgAppResp', from, to, term, index, rejectHint, logTerm, reject: reject === 1 };
        break;
      }
      case TYPE_CODES.MsgHeartbeat: {
        const commit = r.uint('commit');
        m = { type: 'MsgHeartbeat', from, to, term, commit, context: r.bytes(shared) };
        break;
      }
      case TYPE_CODES.MsgHeartbeatResp:
        m = { type: 'MsgHeartbeatResp', from, to, term, context: r.bytes(shared) };
        break;
      default:
        return `unknown hot message type ${code}`;
    }
    if (r.off !== body.length) return `${body.length - r.off} trailing bytes after ${m.type}`;
    return m;
  } catch (err) {
    // Malformed input, or anything else decoding it raised: the connection is closed, nothing
    // reaches raft, and nothing is thrown into the socket's handler.
    return err instanceof Error ? err.message : String(err);
  }
}
