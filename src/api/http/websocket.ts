// The server side of WebSocket (RFC 6455), as much as the v3 gateway needs: etcd serves every
// /v3/ gateway path over a WebSocket too (grpc-websocket-proxy), one JSON request per text
// message, one JSON answer (or stream line) per text message back. Text and binary messages,
// fragmentation, ping/pong and the closing handshake; no extensions, no subprotocols.
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { IncomingMessage } from 'node:http';
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
export const WS_CLOSE_TOO_BIG = 1009;
/** A control frame's payload is at most this long (RFC 6455 5.5). */
const CONTROL_PAYLOAD_MAX = 125;
/** Bytes received and not yet parsed (a partial frame, or a fragmented message being joined). */
export const WS_RECEIVE_BUFFER_MAX_BYTES = 8 * 1024 * 1024;

/** True for a GET that asks to become a WebSocket (version 13, with a key). */
export function isWebSocketRequest(req: IncomingMessage): boolean {
  return (
    req.method === 'GET' &&
    (req.headers.upgrade ?? '').toLowerCase() === 'websocket' &&
    req.headers['sec-websocket-version'] === '13' &&
    typeof req.headers['sec-websocket-key'] === 'string'
  );
}

/**
 * One accepted WebSocket. Events: 'message' (string: a whole text or binary message), 'close'
 * (the connection is gone, once). Messages over `maxMessageBytes` close it with 1009.
 */
export class WebSocketConn extends EventEmitter {
  private buf: Buffer = Buffer.alloc(0);
  private fragments: Buffer[] = [];
  private fragmentBytes = 0;
  private closing = false;
  private closed = false;

  private constructor(
    private readonly socket: Duplex,
    private readonly maxMessageBytes: number,
  ) {
    super();
    socket.on('data', (d: Buffer) => this.receive(d));
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.gone());
  }

  /** Answers the handshake of `req` (see isWebSocketRequest) on its socket. */
  static accept(req: IncomingMessage, socket: Duplex, head: Buffer, maxMessageBytes: number): WebSocketConn {
    const accept = createHash('sha1').update(`${req.headers['sec-websocket-key']}${HANDSHAKE_GUID}`).digest('base64');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    const conn = new WebSocketConn(socket, maxMessageBytes);
    if (head.length > 0) queueMicrotask(() => conn.receive(head));
    return conn;
  }

  get isOpen(): boolean {
    return !this.closing && !this.closed;
  }

  /** Sends a text message; false once the socket's buffer is full (wait for 'drain' on it). */
  send(text: string): boolean {
    if (!this.isOpen) return true;
    return this.socket.write(frame(OP_TEXT, Buffer.from(text, 'utf8')));
  }

  /** Starts the closing handshake; the socket ends when the peer answers (or at once if it is
   *  gone). */
  close(code = WS_CLOSE_NORMAL): void {
    if (!this.isOpen) return;
    this.closing = true;
    const p = Buffer.alloc(2);
    p.writeUInt16BE(code, 0);
    this.socket.write(frame(OP_CLOSE, p));
    this.socket.end();
  }

  onDrain(fn: () => void): void {
    this.socket.on('drain', fn);
  }

  private gone(): void {
    if (this.closed) return;
    this.closed = true;
    this.emit('close');
  }

  /** A protocol error or an oversized message: close with `code` and read nothing more. */
  private fail(code: number): void {
    this.close(code);
    this.buf = Buffer.alloc(0);
    this.fragments = [];
    this.fragmentBytes = 0;
    this.closed = true;
    this.emit('close');
  }

  private receive(d: Buffer): void {
    if (this.closed) return;
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    if (this.buf.length + this.fragmentBytes > WS_RECEIVE_BUFFER_MAX_BYTES + 14) return this.fail(WS_CLOSE_TOO_BIG);
    for (;;) {
      const b = this.buf;
      if (b.length < 2) return;
      const fin = (b[0]! & 0x80) !== 0;
      const op = b[0]! & 0x0f;
      const masked = (b[1]! & 0x80) !== 0;
      let len = b[1]! & 0x7f;
      let off = 2;
      if (len === 126) {
        if (b.length < 4) return;
        len = b.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (b.length < 10) return;
        const big = b.readBigUInt64BE(2);
        if (big > BigInt(this.maxMessageBytes)) return this.fail(WS_CLOSE_TOO_BIG);
        len = Number(big);
        off = 10;
      }
      // RFC 6455 5.1: a client masks every frame; reserved bits must be 0 without extensions.
      if (!masked || (b[0]! & 0x70) !== 0) return this.fail(WS_CLOSE_PROTOCOL_ERROR);
      if (len > this.maxMessageBytes || this.fragmentBytes + len > this.maxMessageBytes) return this.fail(WS_CLOSE_TOO_BIG);
      if (b.length < off + 4 + len) return;
      const mask = b.subarray(off, off + 4);
      const payload = Buffer.from(b.subarray(off + 4, off + 4 + len));
      for (let i = 0; i < payload.length; i++) payload[i]! ^= mask[i & 3]!;
      this.buf = b.subarray(off + 4 + len);
      if (op >= OP_CLOSE) {
        if (!fin || len > CONTROL_PAYLOAD_MAX) return this.fail(WS_CLOSE_PROTOCOL_ERROR);
        if (op === OP_PING) {
          if (this.isOpen) this.socket.write(frame(OP_PONG, payload));
        } else if (op === OP_CLOSE) {
          // Echo the peer's close and end our side.
          if (this.isOpen) {
            this.closing = true;
            this.socket.write(frame(OP_CLOSE, payload.subarray(0, 2)));
          }
          this.socket.end();
          return;
        } else if (op !== OP_PONG) return this.fail(WS_CLOSE_PROTOCOL_ERROR);
        continue;
      }
      if (op === OP_CONTINUATION ? this.fragments.length === 0 : this.fragments.length > 0) return this.fail(WS_CLOSE_PROTOCOL_ERROR);
      if (op !== OP_CONTINUATION && op !== OP_TEXT && op !== OP_BINARY) return this.fail(WS_CLOSE_PROTOCOL_ERROR);
      this.fragments.push(payload);
      this.fragmentBytes += payload.length;
      if (!fin) continue;
      const message = this.fragments.length === 1 ? this.fragments[0]! : Buffer.concat(this.fragments);
      this.fragments = [];
      this.fragmentBytes = 0;
      if (this.isOpen) this.emit('message', message.toString('utf8'));
    }
  }
}

/** A server frame (never masked). */
function frame(op: number, payload: Buffer): Buffer {
  const n = payload.length;
  const head = n < 126 ? Buffer.from([0x80 | op, n]) : n < 65536 ? Buffer.from([0x80 | op, 126, n >> 8, n & 0xff]) : Buffer.alloc(10);
  if (n >= 65536) {
    head[0] = 0x80 | op;
    head[1] = 127;
    head.writeBigUInt64BE(BigInt(n), 2);
  }
  return Buffer.concat([head, payload]);
}
