// The server side of WebSocket (RFC 6455) as etcd 3.4 serves it in front of its v3 gateway
// (tmc/grpc-websocket-proxy on gorilla/websocket): masked client frames, fragmentation,
// ping/pong, the closing handshake, and gorilla's close codes and reasons for bad frames
// ("bad MASK", "RSV1 set", ...; several joined with ", " as gorilla joins them).
//
// Everything held is bounded, and a client that does not read cannot make the member queue
// for it: while a write waits for 'drain' nothing more is read from the socket (so no new
// requests, pings included, are taken), and a socket that does not drain within
// WS_DRAIN_TIMEOUT_MS, or whose queue passes WS_OUTBOUND_BYTES_MAX, is destroyed. The consumer
// can also stop reading (pause/resume) while it works on a message, as Go's pipe does for etcd.
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';

const HANDSHAKE_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const OP_CONTINUATION = 0x0;
const OP_TEXT = 0x1;
const OP_BINARY = 0x2;
const OP_CLOSE = 0x8;
const OP_PING = 0x9;
const OP_PONG = 0xa;

/** Close codes (RFC 6455 7.4.1). */
export const WS_CLOSE_NORMAL = 1000;
export const WS_CLOSE_PROTOCOL_ERROR = 1002;
export const WS_CLOSE_NO_STATUS = 1005;
export const WS_CLOSE_TOO_BIG = 1009;

/** A control frame's payload is at most this long (RFC 6455 5.5). */
const CONTROL_PAYLOAD_BYTES_MAX = 125;
/** The longest frame header: 2 bytes, a 64-bit length, a mask key. */
export const WS_FRAME_HEADER_BYTES_MAX = 14;
/** Frames one message may be cut into. Empty continuation frames cost nothing against the
 *  byte limit, so without this a client could send fragments forever; past it the connection
 *  is closed with 1009 (the message is too big to take). */
export const WS_MESSAGE_FRAGMENTS_MAX = 1024;
/** Bytes queued on the socket for a client. Every producer stops at the socket's high-water
 *  mark and waits for 'drain'; this is the safety net past it: the socket is destroyed. */
export const WS_OUTBOUND_BYTES_MAX = 16 * 1024 * 1024;
/** How long a write may wait for 'drain' before the client is taken as one that will not read
 *  and the socket is destroyed (a close frame would only queue behind the rest). */
export const WS_DRAIN_TIMEOUT_MS = 10_000;
/** After the last frame (an answer, a close frame), how long the socket may take to flush,
 *  and the client to close its side, before it is destroyed. */
export const WS_CLOSE_FLUSH_TIMEOUT_MS = 2_000;

export interface WebSocketOptions {
  /** A data message (all its fragments) larger than this closes the connection with 1009. */
  readonly messageBytesMax: number;
  /** WS_DRAIN_TIMEOUT_MS unless given (tests use less). */
  readonly drainTimeoutMs?: number;
}

/** The Sec-WebSocket-Accept value for a client's Sec-WebSocket-Key (RFC 6455 4.2.2). */
export function acceptKey(key: string): string {
  return createHash('sha1').update(`${key}${HANDSHAKE_GUID}`).digest('base64');
}

/** The 101 answer to a handshake; `protocol` is the subprotocol to name, if any. */
export function handshakeResponse(key: string, protocol?: string): string {
  return `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(key)}\r\n` +
    (protocol !== undefined ? `Sec-WebSocket-Protocol: ${protocol}\r\n` : '') + '\r\n';
}

/** gorilla's isValidReceivedCloseCode. */
function validReceivedCloseCode(code: number): boolean {
  if (code >= 3000 && code <= 4999) return true;
  return code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006;
}

/**
 * One accepted WebSocket (the 101 already written). Events: 'message' (Buffer: a whole text or
 * binary message), 'drain' (the socket took what was queued), 'close' (the connection is gone;
 * once, also when the socket was already gone at construction).
 */
export class WebSocketConn extends EventEmitter {
  /** Received bytes not yet parsed, and their total. */
  private chunks: Buffer[] = [];
  private chunkBytes = 0;
  /** The message being joined from fragments. */
  private fragments: Buffer[] = [];
  private fragmentBytes = 0;
  /** Frames of the message so far (empty ones are counted, not kept). */
  private fragmentCount = 0;
  private inMessage = false;
  /** The consumer asked not to be given messages (pause()). */
  private consumerPaused = false;
  /** A write is waiting for 'drain'. */
  private writeBlocked = false;
  private drainTimer: NodeJS.Timeout | undefined;
  /** No more frames go out (a close frame or the last answer was sent, or the socket is gone). */
  private ending = false;
  private terminating = false;
  private closed = false;
  private parsing = false;
  private readonly messageBytesMax: number;
  private readonly drainTimeoutMs: number;

  constructor(private readonly socket: Duplex, opts: WebSocketOptions, initial?: Buffer) {
    super();
    this.messageBytesMax = opts.messageBytesMax;
    this.drainTimeoutMs = opts.drainTimeoutMs ?? WS_DRAIN_TIMEOUT_MS;
    socket.on('data', (d: Buffer) => this.receive(d));
    socket.on('drain', () => this.onDrain());
    // The client went away without a close frame: as in Go, everything stops at once.
    socket.on('end', () => this.terminate());
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.gone());
    // Started a turn later, so that the owner's listeners (attached after construction) see the
    // first message, and 'close' when the socket went away before it was handed over.
    queueMicrotask(() => {
      if (socket.destroyed) return this.gone();
      if (initial !== undefined && initial.length > 0) {
        this.chunks.push(initial);
        this.chunkBytes += initial.length;
      }
      if (!this.consumerPaused) socket.resume();
      this.parse();
    });
  }

  /** A write waits for 'drain': a producer of answers should wait for it too. */
  get writeWaiting(): boolean {
    return this.writeBlocked;
  }

  /** True until a close was started or the connection is gone. */
  get isOpen(): boolean {
    return !this.ending && !this.closed;
  }

  /** Bytes received and not yet parsed (for tests and assertions). */
  get bufferedBytes(): number {
    return this.chunkBytes + this.fragmentBytes;
  }

  /** Sends a text message. False when the socket's buffer is past its high-water mark: wait
   *  for 'drain' before sending more (nothing is read from the client until then). */
  send(text: string): boolean {
    if (!this.isOpen) return true;
    return this.write(frame(OP_TEXT, Buffer.from(text, 'utf8')));
  }

  /** Stops giving messages (and reading from the socket) until resume(). */
  pause(): void {
    this.consumerPaused = true;
    this.socket.pause();
  }

  resume(): void {
    this.consumerPaused = false;
    if (!this.writeBlocked && !this.closed) {
      this.socket.resume();
      this.parse();
    }
  }

  /** Sends a close frame and closes the connection (without waiting for the peer's answer, as
   *  gorilla's handleProtocolError does). */
  close(code: number, reason = ''): void {
    if (!this.isOpen) return;
    const r = Buffer.from(reason, 'utf8');
    const p = Buffer.alloc(2 + r.length);
    p.writeUInt16BE(code, 0);
    r.copy(p, 2);
    this.write(frame(OP_CLOSE, p));
    this.terminate();
  }

  /** Ends the connection without a close frame once what is queued is flushed, as etcd's proxy
   *  does after a unary answer (Go's conn.Close()). */
  terminate(): void {
    if (this.closed || this.terminating) return;
    this.terminating = true;
    this.ending = true;
    this.chunks = [];
    this.chunkBytes = 0;
    this.fragments = [];
    this.fragmentBytes = 0;
    const s = this.socket;
    const timer = setTimeout(() => s.destroy(), WS_CLOSE_FLUSH_TIMEOUT_MS);
    timer.unref();
    // A lingering close: what the client still sends is read and dropped (receive() ignores it
    // now) until it closes its side or the timer fires. Closing a socket with unread data resets
    // the connection, and the client may then lose the frames just sent (a close frame's code).
    s.once('end', () => s.destroy());
    s.once('close', () => clearTimeout(timer));
    s.end();
    s.resume();
  }

  private write(b: Buffer): boolean {
    const s = this.socket;
    if (s.destroyed) return true;
    if (s.writableLength > WS_OUTBOUND_BYTES_MAX) {
      // A producer ignored backpressure; the client is not reading either.
      s.destroy();
      return false;
    }
    const ok = s.write(b);
    if (!ok && !this.writeBlocked) {
      this.writeBlocked = true;
      s.pause();
      this.drainTimer = setTimeout(() => s.destroy(), this.drainTimeoutMs);
      this.drainTimer.unref();
    }
    return ok;
  }

  private onDrain(): void {
    if (!this.writeBlocked) return;
    this.writeBlocked = false;
    clearTimeout(this.drainTimer);
    this.drainTimer = undefined;
    if (this.closed) return;
    if (!this.consumerPaused) {
      this.socket.resume();
      this.parse();
    }
    this.emit('drain');
  }

  private gone(): void {
    if (this.closed) return;
    this.closed = true;
    this.ending = true;
    clearTimeout(this.drainTimer);
    this.chunks = [];
    this.chunkBytes = 0;
    this.fragments = [];
    this.fragmentBytes = 0;
    this.emit('close');
  }

  /** A protocol error or an oversized message: gorilla's close frame, then the connection ends. */
  private fail(code: number, reason: string): void {
    this.close(code, reason);
  }

  private receive(d: Buffer): void {
    if (this.ending) return;
    this.chunks.push(d);
    this.chunkBytes += d.length;
    this.parse();
  }

  /** The first `n` unparsed bytes as one buffer (joined only when a frame spans chunks). */
  private peek(n: number): Buffer {
    if (this.chunks[0]!.length < n) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0]!;
  }

  private consume(n: number): void {
    this.chunkBytes -= n;
    while (n > 0) {
      const c = this.chunks[0]!;
      if (c.length <= n) {
        this.chunks.shift();
        n -= c.length;
      } else {
        this.chunks[0] = c.subarray(n);
        n = 0;
      }
    }
  }

  private parse(): void {
    if (this.parsing) return;
    this.parsing = true;
    try {
      while (!this.ending && !this.consumerPaused && !this.writeBlocked && this.parseFrame());
    } finally {
      this.parsing = false;
    }
    // Only a partial frame stays: its header was checked, so it is within the message limit.
    if (!this.ending && !this.consumerPaused && !this.writeBlocked && this.chunkBytes > this.messageBytesMax + WS_FRAME_HEADER_BYTES_MAX) {
      throw new Error(`websocket: ${this.chunkBytes} bytes held for a partial frame`);
    }
  }

  /** Parses and handles one frame; false when the next frame is not all here. */
  private parseFrame(): boolean {
    if (this.chunkBytes < 2) return false;
    let b = this.peek(2);
    const fin = (b[0]! & 0x80) !== 0;
    const op = b[0]! & 0x0f;
    const masked = (b[1]! & 0x80) !== 0;
    const len7 = b[1]! & 0x7f;
    // gorilla checks all of these on the first two bytes and reports them together.
    const errors: string[] = [];
    if (b[0]! & 0x40) errors.push('RSV1 set');
    if (b[0]! & 0x20) errors.push('RSV2 set');
    if (b[0]! & 0x10) errors.push('RSV3 set');
    switch (op) {
      case OP_CLOSE: case OP_PING: case OP_PONG:
        if (len7 > CONTROL_PAYLOAD_BYTES_MAX) errors.push('len > 125 for control');
        if (!fin) errors.push('FIN not set on control');
        break;
      case OP_TEXT: case OP_BINARY:
        if (this.inMessage) errors.push('data before FIN');
        break;
      case OP_CONTINUATION:
        if (!this.inMessage) errors.push('continuation after FIN');
        break;
      default:
        errors.push(`bad opcode ${op}`);
    }
    if (!masked) errors.push('bad MASK');
    if (errors.length > 0) {
      this.fail(WS_CLOSE_PROTOCOL_ERROR, errors.join(', '));
      return false;
    }
    let off = 2;
    let len = len7;
    if (len7 === 126) {
      if (this.chunkBytes < 4) return false;
      b = this.peek(4);
      len = b.readUInt16BE(2);
      off = 4;
    } else if (len7 === 127) {
      if (this.chunkBytes < 10) return false;
      b = this.peek(10);
      const big = b.readBigUInt64BE(2);
      len = big > BigInt(this.messageBytesMax) ? this.messageBytesMax + 1 : Number(big);
      off = 10;
    }
    const data = op === OP_TEXT || op === OP_BINARY || op === OP_CONTINUATION;
    if (data && this.fragmentBytes + len > this.messageBytesMax) {
      this.fail(WS_CLOSE_TOO_BIG, '');
      return false;
    }
    const total = off + 4 + len;
    if (this.chunkBytes < total) return false;
    b = this.peek(total);
    const payload = Buffer.allocUnsafe(len);
    const m0 = b[off]!, m1 = b[off + 1]!, m2 = b[off + 2]!, m3 = b[off + 3]!;
    const start = off + 4;
    for (let i = 0; i < len; i++) {
      const k = i & 3;
      payload[i] = b[start + i]! ^ (k === 0 ? m0 : k === 1 ? m1 : k === 2 ? m2 : m3);
    }
    this.consume(total);
    if (!data) {
      this.control(op, payload);
      return !this.ending;
    }
    if (op !== OP_CONTINUATION) this.inMessage = true;
    if (++this.fragmentCount > WS_MESSAGE_FRAGMENTS_MAX) {
      this.fail(WS_CLOSE_TOO_BIG, '');
      return false;
    }
    if (len > 0 || this.fragments.length === 0) this.fragments.push(payload);
    this.fragmentBytes += len;
    if (!fin) return true;
    const message = this.fragments.length === 1 ? this.fragments[0]! : Buffer.concat(this.fragments);
    this.fragments = [];
    this.fragmentBytes = 0;
    this.fragmentCount = 0;
    this.inMessage = false;
    this.emit('message', message);
    return true;
  }

  private control(op: number, payload: Buffer): void {
    if (op === OP_PING) {
      this.write(frame(OP_PONG, payload));
      return;
    }
    if (op === OP_PONG) return;
    // Close: gorilla answers with the peer's code (none if it sent none) and ends.
    let code = WS_CLOSE_NO_STATUS;
    if (payload.length >= 2) {
      code = payload.readUInt16BE(0);
      if (!validReceivedCloseCode(code)) return this.fail(WS_CLOSE_PROTOCOL_ERROR, `bad close code ${code}`);
      try {
        new TextDecoder('utf-8', { fatal: true }).decode(payload.subarray(2));
      } catch {
        return this.fail(WS_CLOSE_PROTOCOL_ERROR, 'invalid utf8 payload in close frame');
      }
    }
    if (code === WS_CLOSE_NO_STATUS) {
      this.write(frame(OP_CLOSE, Buffer.alloc(0)));
      this.terminate();
    } else {
      this.close(code);
    }
  }
}

/** A server frame (never masked, never fragmented). */
export function frame(op: number, payload: Buffer): Buffer {
  const n = payload.length;
  const headBytes = n < 126 ? 2 : n < 65536 ? 4 : 10;
  const out = Buffer.allocUnsafe(headBytes + n);
  out[0] = 0x80 | op;
  if (n < 126) out[1] = n;
  else if (n < 65536) {
    out[1] = 126;
    out.writeUInt16BE(n, 2);
  } else {
    out[1] = 127;
    out.writeBigUInt64BE(BigInt(n), 2);
  }
  payload.copy(out, headBytes);
  return out;
}
