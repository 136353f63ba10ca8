// Takes in the client port's HTTP/2 connections before Node's HTTP/2 layer (nghttp2) gets them,
// for one reason: grpc-go may send an `:authority` that nghttp2 refuses.
//
// etcd's clientv3 dials each endpoint directly for the Maintenance calls Status, HashKV,
// Defragment and MoveLeader (`etcdctl endpoint status|hashkv`, `defrag`, `move-leader`), with the
// gRPC target `passthrough:///http://127.0.0.1:2379`. grpc-go then sends `:authority:
// http://127.0.0.1:2379`. etcd's grpc-go server does not look at it; nghttp2 checks it against
// RFC 3986's authority characters, finds the '/', and resets the stream with PROTOCOL_ERROR.
// Node has no switch for that check. (Over TLS grpc-go sends the server name instead, so only
// plain http:// endpoints were hit; the intake reads every HTTP/2 connection the same way.)
//
// So the client's first header block is read here. A client speaks only after the server's
// SETTINGS frame (grpc-go waits for it), so the intake sends a SETTINGS frame of its own at once
// (empty but for --max-concurrent-streams) and drops the client's ACK of it; Node's own SETTINGS
// follow as a second frame, which HTTP/2 allows. Then:
// - the usual case, a valid `:authority`: the socket and the bytes read so far go to Node
//   unchanged, and Node reads the socket natively from then on: no cost past the first request;
// - an `:authority` nghttp2 would refuse: Node gets a stream that passes every client frame
//   through and, in each header block, replaces the characters nghttp2 refuses in a literal
//   `:authority` with '_'. The decoded length stays the same, so the HPACK dynamic tables of
//   client and server still agree (an entry's size counts decoded octets), and no other field
//   needs decoding. These connections carry one or two maintenance calls.
import { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import { huffmanDecode } from './hpack-huffman.js';

/** The client connection preface (RFC 9113 section 3.4): the first bytes of an HTTP/2
 *  connection, by which the client ports tell it from HTTP/1.1. */
export const CLIENT_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
const FRAME_HEADER_BYTES = 9;
const TYPE_HEADERS = 0x1;
const TYPE_SETTINGS = 0x4;
const TYPE_CONTINUATION = 0x9;
const FLAG_ACK = 0x1;
const FLAG_END_HEADERS = 0x4;
const FLAG_PADDED = 0x8;
const FLAG_PRIORITY = 0x20;
/** SETTINGS_MAX_FRAME_SIZE's floor: a client may always send frames this large, and a rewritten
 *  header block is cut into frames no larger. */
const MAX_FRAME_BYTES = 16_384;
const SETTINGS_MAX_CONCURRENT_STREAMS = 0x3;
/** The HPACK static table's index of `:authority`. (A literal could also name it through a
 *  dynamic table entry; grpc-go, nghttp2 and the other encoders we know use this index.) */
const AUTHORITY_INDEX = 1;

/** What the intake holds before Node takes the connection, counting H2_INTAKE_FRAME_COST_BYTES
 *  a frame on top of its bytes (each frame held is an object). Until then a client sends its
 *  preface, SETTINGS, WINDOW_UPDATEs, header blocks and at most a 64 KiB window of DATA. */
export const H2_INTAKE_BUFFER_LIMIT_BYTES = 512 * 1024;
export const H2_INTAKE_FRAME_COST_BYTES = 128;
/** A header block (HEADERS and its CONTINUATIONs) the rewriting stream collects before passing it
 *  on; larger is refused. Node's own header list limit is far below. */
export const H2_HEADER_BLOCK_LIMIT_BYTES = 256 * 1024;
/** The least time a connection may take to acknowledge the SETTINGS and send its first request
 *  (IntakeOptions: the server's keepalive settings may allow more). */
export const H2_INTAKE_TIMEOUT_MS = 10_000;

/** RFC 3986 authority characters, as nghttp2 checks them: unreserved, pct-encoded, sub-delims,
 *  ':', '@', '[', ']'. */
const AUTHORITY_CHARS = new Uint8Array(256);
for (const c of "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~%!$&'()*+,;=:@[]") AUTHORITY_CHARS[c.charCodeAt(0)] = 1;
const REPLACEMENT = '_'.charCodeAt(0);

/** An HPACK integer with an n-bit prefix at `pos` (RFC 7541 section 5.1): its value and the
 *  position after it, or undefined if the block ends inside it or it is absurdly large. */
function readInt(b: Buffer, pos: number, prefixBits: number): [number, number] | undefined {
  if (pos >= b.length) return undefined;
  const max = (1 << prefixBits) - 1;
  let value = b[pos]! & max;
  pos++;
  if (value < max) return [value, pos];
  for (let shift = 0; shift <= 21; shift += 7) {
    if (pos >= b.length) return undefined;
    const byte = b[pos++]!;
    value += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) return [value, pos];
  }
  return undefined;
}

function writeInt(value: number, prefixBits: number, firstBits: number): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([firstBits | value]);
  const out = [firstBits | max];
  value -= max;
  while (value >= 0x80) {
    out.push((value % 0x80) | 0x80);
    value = Math.floor(value / 0x80);
  }
  out.push(value);
  return Buffer.from(out);
}

interface HpackString {
  readonly huffman: boolean;
  readonly start: number; // of the length prefix
  readonly data: number; // first octet of the string
  readonly end: number;
}

function readString(b: Buffer, pos: number): HpackString | undefined {
  if (pos >= b.length) return undefined;
  const huffman = (b[pos]! & 0x80) !== 0;
  const len = readInt(b, pos, 7);
  if (len === undefined || len[1] + len[0] > b.length) return undefined;
  return { huffman, start: pos, data: len[1], end: len[1] + len[0] };
}

function stringValue(b: Buffer, s: HpackString): Buffer | undefined {
  const raw = b.subarray(s.data, s.end);
  return s.huffman ? huffmanDecode(raw) : raw;
}

/**
 * The header block with every literal `:authority` value that nghttp2 would refuse made
 * acceptable, its refused characters replaced by '_' (sent as a plain, not Huffman-coded,
 * string); undefined if nothing needed changing or the block is not valid HPACK (Node then
 * answers it as it always would).
 */
export function fixAuthority(block: Buffer): Buffer | undefined {
  const parts: Buffer[] = [];
  let copied = 0;
  let pos = 0;
  while (pos < block.length) {
    const first = block[pos]!;
    if (first & 0x80) {
      // Indexed field: an index only.
      const r = readInt(block, pos, 7);
      if (r === undefined) return undefined;
      pos = r[1];
      continue;
    }
    if ((first & 0xe0) === 0x20) {
      // Dynamic table size update.
      const r = readInt(block, pos, 5);
      if (r === undefined) return undefined;
      pos = r[1];
      continue;
    }
    // A literal field: with incremental indexing (01), without (0000) or never indexed (0001).
    const prefixBits = (first & 0xc0) === 0x40 ? 6 : 4;
    const nameIndex = readInt(block, pos, prefixBits);
    if (nameIndex === undefined) return undefined;
    pos = nameIndex[1];
    let isAuthority = nameIndex[0] === AUTHORITY_INDEX;
    if (nameIndex[0] === 0) {
      const name = readString(block, pos);
      if (name === undefined) return undefined;
      // Decoded only if its length allows ':authority' (10 octets: 7 to 38 Huffman-coded).
      const n = name.end - name.data;
      if (name.huffman ? n >= 7 && n <= 38 : n === 10) isAuthority = stringValue(block, name)?.toString('latin1') === ':authority';
      pos = name.end;
    }
    const value = readString(block, pos);
    if (value === undefined) return undefined;
    pos = value.end;
    if (!isAuthority) continue;
    const text = stringValue(block, value);
    if (text === undefined || text.every((c) => AUTHORITY_CHARS[c] === 1)) continue;
    const fixed = Buffer.from(text.map((c) => (AUTHORITY_CHARS[c] === 1 ? c : REPLACEMENT)));
    parts.push(block.subarray(copied, value.start), writeInt(fixed.length, 7, 0), fixed);
    copied = value.end;
  }
  if (parts.length === 0) return undefined;
  parts.push(block.subarray(copied));
  return Buffer.concat(parts);
}

function frameHeader(length: number, type: number, flags: number, streamId: number): Buffer {
  const h = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  h.writeUIntBE(length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(streamId, 5);
  return h;
}

/**
 * Reads the client's side of a connection frame by frame: drops the first SETTINGS ACK (the
 * answer to the intake's own SETTINGS) and, once `rewrite` is set, passes header blocks through
 * fixAuthority(). Bytes come back in order, whole frames only; an incomplete frame waits.
 */
class ClientFrames {
  /** Received bytes not yet parsed; joined only once they hold what the parser waits for. */
  private chunks: Buffer[] = [];
  private chunkBytes = 0;
  /** Bytes the parser needs before it can go on: the preface, a frame header, a whole frame. */
  private need = CLIENT_PREFACE.length;
  private prefaceSeen = false;
  /** The frames of the header block in progress, as received, and its fragments. */
  private blockFrames: Buffer[] = [];
  private blockFragments: Buffer[] = [];
  private blockBytes = 0;
  private blockHeaders?: { flags: number; streamId: number; priority?: Buffer };
  ackDropped = false;
  /** A whole header block has been read (the first request). */
  sawRequest = false;
  /** Header blocks go through fixAuthority(): set when the first one needed it. */
  rewrite = false;

  /** The frames to pass on for `chunk`; throws on a malformed preface or frame. */
  push(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    this.chunks.push(chunk);
    this.chunkBytes += chunk.length;
    if (this.chunkBytes < this.need) return out;
    let buf = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    if (!this.prefaceSeen) {
      if (!buf.subarray(0, CLIENT_PREFACE.length).equals(CLIENT_PREFACE)) throw new Error('not an HTTP/2 client preface');
      out.push(buf.subarray(0, CLIENT_PREFACE.length));
      buf = buf.subarray(CLIENT_PREFACE.length);
      this.prefaceSeen = true;
    }
    this.need = FRAME_HEADER_BYTES;
    while (buf.length >= FRAME_HEADER_BYTES) {
      const length = buf.readUIntBE(0, 3);
      // Node never raises SETTINGS_MAX_FRAME_SIZE above its floor: nghttp2 would refuse it too.
      if (length > MAX_FRAME_BYTES) throw new Error(`frame of ${length} bytes`);
      if (buf.length < FRAME_HEADER_BYTES + length) {
        this.need = FRAME_HEADER_BYTES + length;
        break;
      }
      this.frame(buf.subarray(0, FRAME_HEADER_BYTES + length), out);
      buf = buf.subarray(FRAME_HEADER_BYTES + length);
    }
    this.chunks = buf.length > 0 ? [buf] : [];
    this.chunkBytes = buf.length;
    return out;
  }

  /** Bytes held back: a header block in progress, a partial frame. */
  buffered(): number {
    return this.blockBytes + this.chunkBytes;
  }

  /** Everything held back (a header block in progress, a partial frame), as received. */
  rest(): Buffer[] {
    return [...this.blockFrames, ...this.chunks];
  }

  private frame(frame: Buffer, out: Buffer[]): void {
    const type = frame[3]!;
    const flags = frame[4]!;
    const streamId = frame.readUInt32BE(5) & 0x7fffffff;
    // Inside a header block only its CONTINUATIONs may come (RFC 9113 6.10). Anything else goes
    // on in the order received, the block unchanged: nghttp2 reports the protocol error.
    if (this.blockHeaders !== undefined && (type !== TYPE_CONTINUATION || streamId !== this.blockHeaders.streamId)) this.flushBlock(out);
    if (type === TYPE_SETTINGS && flags & FLAG_ACK && !this.ackDropped) {
      this.ackDropped = true;
      return;
    }
    if (type === TYPE_CONTINUATION ? this.blockHeaders === undefined : type !== TYPE_HEADERS) {
      out.push(frame);
      return;
    }
    let fragment = frame.subarray(FRAME_HEADER_BYTES);
    if (type === TYPE_HEADERS) {
      let priority: Buffer | undefined;
      if (flags & FLAG_PADDED) {
        const pad = fragment[0] ?? 0;
        fragment = fragment.subarray(1, Math.max(1, fragment.length - pad));
      }
      if (flags & FLAG_PRIORITY) {
        priority = fragment.subarray(0, 5);
        fragment = fragment.subarray(5);
      }
      this.blockHeaders = { flags: flags & ~(FLAG_PADDED | FLAG_END_HEADERS), streamId, priority };
    }
    this.blockFrames.push(frame);
    this.blockFragments.push(fragment);
    this.blockBytes += frame.length;
    if (this.blockBytes > H2_HEADER_BLOCK_LIMIT_BYTES) throw new Error(`header block over ${H2_HEADER_BLOCK_LIMIT_BYTES} bytes`);
    if (!(flags & FLAG_END_HEADERS)) return;
    const block = Buffer.concat(this.blockFragments);
    const head = this.blockHeaders!;
    const frames = this.blockFrames;
    this.resetBlock();
    // Only the first block decides; after it, blocks are fixed only on a rewriting connection.
    const first = !this.sawRequest;
    this.sawRequest = true;
    const fixed = first || this.rewrite ? fixAuthority(block) : undefined;
    if (fixed === undefined) {
      out.push(...frames);
      return;
    }
    if (first) this.rewrite = true;
    out.push(...headerFrames(fixed, head.flags, head.streamId, head.priority));
  }

  private flushBlock(out: Buffer[]): void {
    out.push(...this.blockFrames);
    this.resetBlock();
  }

  private resetBlock(): void {
    this.blockFrames = [];
    this.blockFragments = [];
    this.blockBytes = 0;
    this.blockHeaders = undefined;
  }
}

/** A header block as HEADERS (with the priority fields, if any) and CONTINUATION frames. */
function headerFrames(block: Buffer, flags: number, streamId: number, priority: Buffer | undefined): Buffer[] {
  const out: Buffer[] = [];
  const prefix = priority ?? Buffer.alloc(0);
  let at = Math.min(block.length, MAX_FRAME_BYTES - prefix.length);
  const last = at === block.length;
  out.push(frameHeader(prefix.length + at, TYPE_HEADERS, flags | (last ? FLAG_END_HEADERS : 0), streamId), prefix, block.subarray(0, at));
  while (at < block.length) {
    const n = Math.min(block.length - at, MAX_FRAME_BYTES);
    const end = at + n === block.length;
    out.push(frameHeader(n, TYPE_CONTINUATION, end ? FLAG_END_HEADERS : 0, streamId), block.subarray(at, at + n));
    at += n;
  }
  return out;
}

/** The stream Node's HTTP/2 session reads instead of the socket when header blocks need fixing:
 *  client bytes through ClientFrames, server bytes straight to the socket. */
class RewritingStream extends Duplex {
  constructor(
    private readonly socket: Socket,
    private readonly frames: ClientFrames,
    initial: Buffer[],
  ) {
    super();
    for (const b of initial) if (b.length > 0) this.push(b);
    socket.on('data', (chunk: Buffer) => {
      let more = true;
      try {
        for (const b of this.frames.push(chunk)) more = this.push(b) && more;
      } catch (err) {
        this.destroy(err as Error);
        return;
      }
      if (!more) socket.pause();
    });
    socket.once('end', () => this.push(null));
    socket.once('close', () => this.destroy());
    socket.on('error', (err) => this.destroy(err));
    socket.resume();
  }

  override _read(): void {
    this.socket.resume();
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.socket.write(chunk, cb);
  }

  override _writev(chunks: Array<{ chunk: Buffer }>, cb: (err?: Error | null) => void): void {
    this.socket.write(chunks.length === 1 ? chunks[0]!.chunk : Buffer.concat(chunks.map((c) => c.chunk)), cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.socket.end(cb);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.socket.destroy();
    cb(err);
  }
}

export interface IntakeOptions {
  /** Announced in the intake's SETTINGS, as Node announces it in its own (which go out only
   *  once the connection is handed over): a client opening many streams at once queues them. */
  readonly maxConcurrentStreams?: number;
  /** A client that has not acknowledged the SETTINGS by then is closed, as one that does not
   *  answer a keepalive ping would be. */
  readonly ackTimeoutMs: number;
  /** A client that has acknowledged but sent no request by then is handed over as it is; Node
   *  then pings it like any other (keepalive). Its requests are no longer fixed. */
  readonly idleMs: number;
}

/**
 * Takes an HTTP/2 client connection (its preface unread or put back with unshift) and hands it to
 * `deliver` once its first request is known: the socket itself, or a RewritingStream when the
 * request's `:authority` has to be fixed. A connection that is not HTTP/2, sends too much
 * before its first request or does not acknowledge the SETTINGS is closed.
 */
export function takeHttp2Connection(socket: Socket, deliver: (conn: Socket | Duplex) => void, opts: IntakeOptions): void {
  const frames = new ClientFrames();
  const held: Buffer[] = [];
  let heldCost = 0;
  let done = false;
  const finish = (fn: () => void): void => {
    done = true;
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('error', onError);
    socket.off('close', onError);
    fn();
  };
  const handOver = (): void =>
    finish(() => {
      socket.pause();
      if (frames.rewrite) {
        deliver(new RewritingStream(socket, frames, held));
        return;
      }
      const bytes = Buffer.concat([...held, ...frames.rest()]);
      if (bytes.length > 0) socket.unshift(bytes);
      deliver(socket);
    });
  const onData = (chunk: Buffer): void => {
    let out: Buffer[];
    try {
      out = frames.push(chunk);
    } catch {
      finish(() => socket.destroy());
      return;
    }
    for (const b of out) {
      held.push(b);
      heldCost += b.length + H2_INTAKE_FRAME_COST_BYTES;
    }
    if (heldCost + frames.buffered() > H2_INTAKE_BUFFER_LIMIT_BYTES) return finish(() => socket.destroy());
    maybeHandOver();
  };
  // Node's HTTP/2 session must be the socket's only writer: on a TLS socket it writes natively
  // and aborts the process (TLSWrap: "Assertion failed: !current_write_") if the intake's own
  // write is still in flight. So the hand-over also waits for that write to complete, even when
  // the client's ACK of it (or its whole first request) is already here.
  let settingsWritten = false;
  let idle = false;
  const maybeHandOver = (): void => {
    if (!done && settingsWritten && frames.ackDropped && (frames.sawRequest || idle)) handOver();
  };
  const onError = (): void => {
    if (!done) finish(() => socket.destroy());
  };
  const started = performance.now();
  const onTimer = (): void => {
    if (!frames.ackDropped) return finish(() => socket.destroy());
    const left = opts.idleMs - (performance.now() - started);
    if (left <= 0) {
      idle = true;
      // Our SETTINGS write has not completed in all that time: the peer is not reading.
      if (!settingsWritten) return finish(() => socket.destroy());
      return maybeHandOver();
    }
    timer = setTimeout(onTimer, left);
    timer.unref();
  };
  let timer = setTimeout(onTimer, Math.min(opts.ackTimeoutMs, opts.idleMs));
  timer.unref();
  // Node's writes through a RewritingStream are small socket writes; Nagle would hold them.
  socket.setNoDelay(true);
  socket.on('data', onData);
  socket.on('error', onError);
  socket.on('close', onError);
  socket.write(settingsFrame(opts.maxConcurrentStreams), (err) => {
    if (err) return onError();
    settingsWritten = true;
    maybeHandOver();
  });
  socket.resume();
}

/** The intake's SETTINGS frame: MAX_CONCURRENT_STREAMS if there is a limit, else empty. */
function settingsFrame(maxConcurrentStreams: number | undefined): Buffer {
  if (maxConcurrentStreams === undefined) return frameHeader(0, TYPE_SETTINGS, 0, 0);
  const entry = Buffer.alloc(6);
  entry.writeUInt16BE(SETTINGS_MAX_CONCURRENT_STREAMS, 0);
  entry.writeUInt32BE(maxConcurrentStreams, 2);
  return Buffer.concat([frameHeader(entry.length, TYPE_SETTINGS, 0, 0), entry]);
}
