// Tells a gateway WebSocket handshake from every other HTTP/1.1 connection on the client port,
// before Node's HTTP server sees the connection. The server never listens for 'upgrade': Node
// then serves any other upgrade request (curl --http2 asks for h2c) as the plain request it also
// is, as Go's server does, and a request pipelined in front of it is answered as usual.
//
// Only a connection whose first bytes are "GET /v3" can be a gateway handshake; its request
// head is read here (at most HTTP1_HEAD_BYTES_MAX, within HTTP1_HEAD_TIMEOUT_MS). If the route
// takes the handshake, the connection is the route's; otherwise every byte read goes back in
// front of the socket and the HTTP server gets it unchanged. (A handshake that is not its
// connection's first request reaches the HTTP server; WebSocket clients open a connection
// for each WebSocket.)
import type http from 'node:http';
import type { Socket } from 'node:net';

/** A request head larger than this is not a handshake we take (Node's own header limit is
 *  16 KiB; the HTTP server answers such a head 431). */
export const HTTP1_HEAD_BYTES_MAX = 16 * 1024;
/** The whole head of a possible handshake must arrive within this, from the connection's
 *  handover (a deadline, not an idle timeout: a client trickling a byte at a time is cut off
 *  all the same). */
export const HTTP1_HEAD_TIMEOUT_MS = 30_000;

const HANDSHAKE_PREFIX = Buffer.from('GET /v3');
const HEAD_END = Buffer.from('\r\n\r\n');

/** A request head: the request line and the header fields (names lower-cased), in order. */
export interface Http1Head {
  readonly method: string;
  readonly target: string;
  readonly fields: ReadonlyArray<readonly [string, string]>;
}

/** The first value of header `name` (Go's Header.Get), or undefined. */
export function headerOf(head: Http1Head, name: string): string | undefined {
  for (const [k, v] of head.fields) if (k === name) return v;
  return undefined;
}

/** Whether a comma-separated header holds `token` (case-insensitive) in any of its fields
 *  (gorilla's tokenListContainsValue). */
export function headerHasToken(values: ReadonlyArray<string | undefined>, token: string): boolean {
  for (const v of values) {
    if (v === undefined) continue;
    for (const t of v.split(',')) if (t.trim().toLowerCase() === token) return true;
  }
  return false;
}

/** All values of header `name`. */
export function headerValues(head: Http1Head, name: string): string[] {
  const out: string[] = [];
  for (const [k, v] of head.fields) if (k === name) out.push(v);
  return out;
}

/** Parses a request head (without its final CRLF CRLF); undefined if it is not one. */
export function parseHead(text: string): Http1Head | undefined {
  const lines = text.split('\r\n');
  const m = /^([A-Z]+) (\S+) HTTP\/1\.[01]$/.exec(lines[0] ?? '');
  if (m === null) return undefined;
  const fields: Array<[string, string]> = [];
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    // Folded or malformed lines: not a head we take; the HTTP server answers it.
    if (colon <= 0 || line[0] === ' ' || line[0] === '\t') return undefined;
    fields.push([line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim()]);
  }
  return { method: m[1]!, target: m[2]!, fields };
}

/** Who serves gateway WebSockets. */
export interface WebSocketRoute {
  /** Whether this connection's first request is a handshake served here. One that is not (a
   *  Host not whitelisted, a bad handshake) goes to the HTTP server, which answers it as etcd
   *  does. */
  accepts(head: Http1Head, socket: Socket): boolean;
  /** Takes the connection (paused; nothing answered yet); `rest` is what followed the head. */
  serve(socket: Socket, head: Http1Head, rest: Buffer): void;
}

/** Whether bytes that start a connection may start a gateway handshake. */
function mayBeHandshake(first: Buffer): boolean {
  const n = Math.min(first.length, HANDSHAKE_PREFIX.length);
  return first.subarray(0, n).equals(HANDSHAKE_PREFIX.subarray(0, n));
}

/**
 * Hands an HTTP/1.1 connection on: to `ws` when its first request is a handshake that route
 * accepts, else to `http1`. The socket is paused, with whatever was read of it put back
 * (`first`, when the caller has looked at the first bytes); it is read here only when it may
 * be a handshake. headTimeoutMs: HTTP1_HEAD_TIMEOUT_MS unless given (tests use less).
 */
export function routeHttp1(socket: Socket, http1: http.Server, ws: WebSocketRoute | undefined, first?: Buffer, headTimeoutMs = HTTP1_HEAD_TIMEOUT_MS): void {
  const toHttp = (): void => {
    http1.emit('connection', socket);
    socket.resume();
  };
  if (ws === undefined || (first !== undefined && !mayBeHandshake(first))) return toHttp();
  const held: Buffer[] = [];
  let heldBytes = 0;
  let deadline: NodeJS.Timeout | undefined = undefined;
  const onClose = (): void => clearTimeout(deadline);
  const finish = (): Buffer => {
    socket.off('data', onData);
    socket.off('close', onClose);
    clearTimeout(deadline);
    socket.pause();
    return held.length === 1 ? held[0]! : Buffer.concat(held);
  };
  const giveBack = (): void => {
    const bytes = finish();
    if (bytes.length > 0) socket.unshift(bytes);
    toHttp();
  };
  const onData = (d: Buffer): void => {
    held.push(d);
    heldBytes += d.length;
    const all = held.length === 1 ? held[0]! : Buffer.concat(held);
    if (!mayBeHandshake(all)) return giveBack();
    // A line ended by a bare LF: not a head taken here; the HTTP server answers it as before.
    for (let i = all.indexOf(0x0a); i >= 0; i = all.indexOf(0x0a, i + 1)) if (i === 0 || all[i - 1] !== 0x0d) return giveBack();
    const end = all.indexOf(HEAD_END);
    if (end < 0) {
      if (heldBytes > HTTP1_HEAD_BYTES_MAX) giveBack();
      return;
    }
    const head = end <= HTTP1_HEAD_BYTES_MAX ? parseHead(all.subarray(0, end).toString('latin1')) : undefined;
    if (head === undefined || !ws.accepts(head, socket)) return giveBack();
    finish();
    ws.serve(socket, head, all.subarray(end + HEAD_END.length));
  };
  deadline = setTimeout(() => socket.destroy(), headTimeoutMs).unref();
  socket.once('close', onClose);
  socket.on('data', onData);
  socket.resume();
}
