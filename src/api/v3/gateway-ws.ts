// The v3 gateway over WebSocket, as etcd 3.4 serves it (grpc-websocket-proxy in front of
// grpc-gateway, checked against etcd 3.4.23). The proxy writes every message, then "\n", into
// one request body and sends every line of the answer as a text message; the gateway reads that
// body as Go's json.Decoder does (json-stream.ts). So on one connection:
// - a unary path takes the first JSON value, answers it like the POST route does and closes the
//   connection (TCP, no close frame: the proxy's conn.Close()); a bad value is answered with
//   code 3;
// - /v3/watch and /v3/lease/keepalive take every value: answers and events are
//   {"result":...} messages. A bad first value is answered {"error",...,"code":2} (grpc-gateway
//   does not wrap a bidi stream's decode error) and closes; a bad later one ends the requests:
//   a watch goes on sending events, a keepalive stream ends;
// - /v3/election/observe and /v3/maintenance/snapshot take one value (a bad one: code 3) and
//   stream; an observe that fails ends without a message, as etcd's Observe returns nil then;
// - any other path answers "Not Found" at once and closes.
// The proxy does not pass the upgrade request's Authorization header on: the token comes from
// the handshake (ws-intake.ts's gatewayToken), as etcd's proxy makes it.
import { V3Error, GrpcCode } from '../../store/v3error.js';
import type { WebSocketConn } from '../http/websocket.js';
import { WS_CLOSE_TOO_BIG } from '../http/websocket.js';
import { drainedOrGone } from '../http/drain.js';
import type { AuthInfo, V3ApiOptions, V3Backend } from './backend.js';
import { big, headerWire, long, type Wire } from './convert.js';
import { observe } from './election.js';
import { codeAndMessage, grpcErrorText, httpStatusOf, UNARY_ROUTES } from './gateway.js';
import { GRPC_OVERHEAD_BYTES, SNAPSHOT_CHUNK_BYTES } from './grpc.js';
import { fromJson, toJson } from './json.js';
import { GoJsonStream, type JsonStreamItem } from './json-stream.js';
import { type, type PbType } from './proto.js';
import { unaryMethods, type UnaryMethod } from './services.js';
import { WatchSession } from './watch.js';

/** The gateway's paths: a WebSocket handshake on one of these is the gateway's. */
export const GATEWAY_PATH = /^\/v3(beta)?\//;

/** Requests of one connection handled in one turn of the event loop (many may come in one
 *  message): past it the others wait a turn, so one client cannot hold the member up. */
export const WS_REQUESTS_PER_TURN = 64;

/**
 * The largest message (and request value held across messages) taken, for --max-request-bytes:
 * a request's JSON is its protobuf size with bytes in base64 (4/3) and numbers as strings, so
 * twice the gRPC limit holds any request etcd's gRPC server accepts. etcd's proxy reads messages
 * of any size; a larger one closes the connection with 1009 here.
 */
export function wsMessageBytesMax(maxRequestBytes: number): number {
  return 2 * (maxRequestBytes + GRPC_OVERHEAD_BYTES);
}

/** Serves one accepted WebSocket on `path` (the request target) acting with `token`. */
export type GatewayWebSocketHandler = (conn: WebSocketConn, path: string, token: string | undefined) => void;

/** A value that is not the request: Go's syntax error or jsonpb's type error. */
class BadJson extends Error {}

/** grpc-gateway's error body for a call: {"error","message","code"}. */
function errorBody(err: unknown, badJsonCode: number): string {
  const [code, message] = err instanceof BadJson ? [badJsonCode, err.message] : codeAndMessage(err);
  return JSON.stringify({ error: message, message, code });
}

/** grpc-gateway's error line in a stream once it has started. */
function streamErrorBody(err: unknown): string {
  const [code, message] = codeAndMessage(err);
  return JSON.stringify({ error: { grpc_code: code, http_code: httpStatusOf(code), message, http_status: '' } });
}

const result = (t: PbType, w: Wire): string => JSON.stringify({ result: toJson(t, w) });

function decodeItem(t: PbType, item: JsonStreamItem): Wire {
  if ('error' in item) throw new BadJson(item.error);
  try {
    return fromJson(t, item.value);
  } catch (err) {
    throw new BadJson((err as Error).message);
  }
}

/**
 * Gives the connection's request values to `take` one at a time. While the Promise `take` may
 * return is pending, nothing more is read from the socket (as Go's pipe blocks the proxy), so a
 * client cannot queue requests: one is worked on at a time (`take` may resume reading itself
 * once it has stopped the reader). After stop() messages are still read (for pings and the
 * close frame) but dropped.
 */
class RequestReader {
  private readonly json: GoJsonStream;
  private busy = false;
  private stopped = false;

  constructor(private readonly conn: WebSocketConn, bytesMax: number, private readonly take: (item: JsonStreamItem) => Promise<void> | void) {
    // A message as large as the connection takes, and the newline after it.
    this.json = new GoJsonStream(bytesMax + 1);
    conn.on('message', (m: Buffer) => {
      if (this.stopped) return;
      if (!this.json.pushMessage(m)) {
        conn.close(WS_CLOSE_TOO_BIG);
        return;
      }
      this.pump();
    });
  }

  stop(): void {
    this.stopped = true;
  }

  /** One message may hold many requests (etcd's proxy reads them as one stream). Pausing the
   *  socket does not stop those: they are taken one at a time, no more while an answer waits
   *  for 'drain' (a client that does not read gets nothing more done, and the drain timeout
   *  then drops it), and the event loop gets a turn every WS_REQUESTS_PER_TURN of them and
   *  after each one that awaited (a settled promise chain would otherwise never yield). */
  private pump(): void {
    let taken = 0;
    while (!this.busy && !this.stopped && this.conn.isOpen) {
      if (this.conn.writeWaiting) {
        this.waitDrain();
        return;
      }
      if (taken === WS_REQUESTS_PER_TURN) {
        this.later();
        return;
      }
      const item = this.json.next();
      if (item === undefined) return;
      taken++;
      this.busy = true;
      this.conn.pause();
      const p = this.take(item);
      if (p === undefined) {
        this.busy = false;
        this.conn.resume();
        continue;
      }
      void p.finally(() => {
        this.busy = false;
        if (!this.conn.isOpen) return;
        this.conn.resume();
        this.later();
      });
      return;
    }
  }

  /** pump() again once `wait` calls back; no value is taken meanwhile. */
  private pumpAfter(wait: (go: () => void) => void): void {
    this.busy = true;
    wait(() => {
      this.busy = false;
      this.pump();
    });
  }

  /** pump() on a later turn of the event loop. */
  private later(): void {
    this.pumpAfter((go) => setImmediate(go));
  }

  /** pump() once the answers queued are taken by the socket (or the connection is gone). */
  private waitDrain(): void {
    this.pumpAfter((go) => {
      const once = (): void => {
        this.conn.off('drain', once);
        this.conn.off('close', once);
        go();
      };
      this.conn.on('drain', once);
      this.conn.on('close', once);
    });
  }
}

export function gatewayWebSocketHandler(backend: V3Backend, opts: V3ApiOptions): GatewayWebSocketHandler {
  const methods = new Map<string, UnaryMethod>();
  for (const m of unaryMethods(backend, opts)) methods.set(m.path, m);
  const unaryByPath = new Map<string, UnaryMethod>(Object.entries(UNARY_ROUTES).map(([p, g]) => [p, methods.get(g)!]));
  const bytesMax = wsMessageBytesMax(opts.maxRequestBytes);
  const WatchReqT = type('etcdserverpb.WatchRequest');
  const WatchResT = type('etcdserverpb.WatchResponse');
  const KaReqT = type('etcdserverpb.LeaseKeepAliveRequest');
  const KaResT = type('etcdserverpb.LeaseKeepAliveResponse');
  const LeaderReqT = type('v3electionpb.LeaderRequest');
  const LeaderResT = type('v3electionpb.LeaderResponse');
  const SnapReqT = type('etcdserverpb.SnapshotRequest');
  const SnapResT = type('etcdserverpb.SnapshotResponse');

  // Present but empty is still a token (an invalid one), as in etcd.
  const authOf = async (token: string | undefined, learnerOk: boolean): Promise<AuthInfo | undefined> => {
    if (!learnerOk && backend.isLearner()) throw new V3Error('notSupportedForLearner');
    return token !== undefined ? backend.authInfoFromToken(token) : undefined;
  };

  const unary = (conn: WebSocketConn, m: UnaryMethod, token: string | undefined): void => {
    const reqT = type(m.requestType);
    const resT = type(m.responseType);
    const ac = new AbortController();
    conn.once('close', () => ac.abort());
    const reader: RequestReader = new RequestReader(conn, bytesMax, async (item) => {
      // Only the first value is read, as grpc-gateway decodes one.
      reader.stop();
      try {
        const w = decodeItem(reqT, item);
        const auth = await authOf(token, m.learnerOk ? m.learnerOk(w) : false);
        if (!conn.isOpen) return;
        const res = await m.handler(w, { auth, signal: ac.signal });
        if (conn.isOpen) conn.send(JSON.stringify(toJson(resT, res)));
      } catch (err) {
        if (conn.isOpen) conn.send(errorBody(err, GrpcCode.INVALID_ARGUMENT));
      }
      conn.terminate();
    });
  };

  const watch = (conn: WebSocketConn, token: string | undefined): void => {
    let session: WatchSession | undefined;
    /** The token was refused: etcd's watch server refuses each create with this reason. */
    let authError: unknown;
    let first = true;
    let ended = false;
    const end = (err: unknown): void => {
      if (ended) return;
      ended = true;
      session?.close();
      if (conn.isOpen) conn.send(streamErrorBody(err));
      conn.terminate();
    };
    conn.once('close', () => {
      ended = true;
      session?.close();
    });
    conn.on('drain', () => session?.drained());
    const reader: RequestReader = new RequestReader(conn, bytesMax, (item) => {
      let w: Wire;
      try {
        w = decodeItem(WatchReqT, item);
      } catch (err) {
        if (first) {
          conn.send(errorBody(err, GrpcCode.UNKNOWN));
          conn.terminate();
        }
        // Later: the gateway stops sending requests (CloseSend); the stream goes on.
        reader.stop();
        return;
      }
      if (!first) {
        handle(w);
        return;
      }
      first = false;
      return authOf(token, false).then((auth) => {
        if (ended || !conn.isOpen) return;
        session = new WatchSession(backend, auth, {
          write: (res) => (ended ? true : conn.send(result(WatchResT, res))),
          fail: (err) => end(err),
        }, opts.maxRequestBytes);
        handle(w);
      }, (err: unknown) => {
        authError = err;
        handle(w);
      });
    });
    const handle = (w: Wire): void => {
      if (ended) return;
      if (authError === undefined) {
        session?.handle(w);
        return;
      }
      if (!w.create_request) return;
      const h = backend.header();
      conn.send(result(WatchResT, {
        header: headerWire(h, h.revision), watch_id: long(-1n), created: true, canceled: true, cancel_reason: grpcErrorText(authError),
      }));
    };
  };

  const keepAlive = (conn: WebSocketConn): void => {
    let first = true;
    // etcd's LeaseKeepAlive looks at no token.
    const reader: RequestReader = new RequestReader(conn, bytesMax, async (item) => {
      let w: Wire;
      try {
        w = decodeItem(KaReqT, item);
      } catch (err) {
        // First: the call fails. Later: the stream ends (the server sees the end of requests).
        if (first) conn.send(errorBody(err, GrpcCode.UNKNOWN));
        reader.stop();
        conn.terminate();
        return;
      }
      first = false;
      const id = big(w.ID);
      let ttl = 0;
      try {
        ttl = await backend.leaseKeepAlive(id);
      } catch (err) {
        if (!(err instanceof V3Error && err.kind === 'leaseNotFound')) {
          if (conn.isOpen) conn.send(streamErrorBody(err));
          reader.stop();
          conn.terminate();
          return;
        }
      }
      // Another renewal is not read before this answer is queued; one not taken by the socket
      // stops reading until it is (WebSocketConn), so a client that does not read gets no more.
      if (conn.isOpen) conn.send(result(KaResT, { header: headerWire(backend.header(), backend.header().revision), ID: long(id), TTL: ttl || undefined }));
    });
  };

  /** A server-streaming call: its one request (a bad one: InvalidArgument, and the connection
   *  ends), then run(request) while messages are read again (the client's close is seen as the
   *  socket's), then the connection ends. */
  const serverStreaming = (conn: WebSocketConn, reqT: PbType, run: (w: Wire) => Promise<void>): void => {
    const reader: RequestReader = new RequestReader(conn, bytesMax, async (item) => {
      reader.stop();
      let w: Wire;
      try {
        w = decodeItem(reqT, item);
      } catch (err) {
        conn.send(errorBody(err, GrpcCode.INVALID_ARGUMENT));
        conn.terminate();
        return;
      }
      conn.resume();
      await run(w);
      conn.terminate();
    });
  };

  const observeLeader = (conn: WebSocketConn, token: string | undefined): void => {
    const ac = new AbortController();
    conn.once('close', () => ac.abort());
    serverStreaming(conn, LeaderReqT, async (w) => {
      try {
        const auth = await authOf(token, false);
        await observe(backend, w, auth, ac.signal, async (res) => {
          if (!conn.isOpen) return;
          if (!conn.send(result(LeaderResT, res))) await drainedOrGone(conn, 'close');
        });
      } catch {
        // etcd's Observe returns nil when its observer stops, whatever stopped it.
      }
    });
  };

  const snapshot = (conn: WebSocketConn, token: string | undefined): void => {
    serverStreaming(conn, SnapReqT, async () => {
      try {
        const auth = await authOf(token, false);
        const snap = await backend.snapshot(auth);
        const { createHash } = await import('node:crypto');
        const sha = createHash('sha256');
        let sent = 0;
        for await (const piece of snap.chunks) {
          for (let off = 0; off < piece.length; off += SNAPSHOT_CHUNK_BYTES) {
            if (!conn.isOpen) return;
            const chunk = piece.subarray(off, off + SNAPSHOT_CHUNK_BYTES);
            sha.update(chunk);
            sent += chunk.length;
            if (!conn.send(result(SnapResT, { remaining_bytes: snap.sizeBytes - sent || undefined, blob: chunk }))) await drainedOrGone(conn, 'close');
          }
        }
        if (conn.isOpen) conn.send(result(SnapResT, { blob: sha.digest() }));
      } catch (err) {
        if (conn.isOpen) conn.send(streamErrorBody(err));
      }
    });
  };

  return (conn, rawPath, token) => {
    const path = rawPath.split('?')[0]!.replace(/^\/v3beta\//, '/v3/');
    const m = unaryByPath.get(path);
    if (m !== undefined) return unary(conn, m, token);
    switch (path) {
      case '/v3/watch': return watch(conn, token);
      case '/v3/lease/keepalive': return keepAlive(conn);
      case '/v3/election/observe': return observeLeader(conn, token);
      case '/v3/maintenance/snapshot': return snapshot(conn, token);
      default:
        // grpc-gateway's answer to a path it does not know (its body, one line).
        conn.send('Not Found');
        conn.terminate();
    }
  };
}

/** The cookie etcd's proxy reads a token from (grpc-websocket-proxy's TokenCookieName). */
const TOKEN_COOKIE = 'token';

/** Go's parseCookieValue (with quotes allowed): the value, or undefined if it is not valid. */
function cookieValue(raw: string): string | undefined {
  const v = raw.length > 1 && raw.startsWith('"') && raw.endsWith('"') ? raw.slice(1, -1) : raw;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c < 0x20 || c >= 0x7f || c === 0x22 || c === 0x3b || c === 0x5c) return undefined;
  }
  return v;
}

/**
 * The token a gateway WebSocket acts with, as etcd's proxy makes the Authorization header of the
 * request it passes on (the handshake's own Authorization header is not passed): from a
 * Sec-WebSocket-Protocol of "Bearer, <token>", "Bearer <token>"; from any other non-empty one,
 * "" (still a token, an invalid one); a cookie named "token" wins with "Bearer <cookie>". etcd
 * then looks the whole value up as its token, "Bearer " included.
 * `protocols`: the first Sec-WebSocket-Protocol field; `cookies`: every Cookie field.
 */
export function proxyToken(protocols: string | undefined, cookies: readonly string[]): string | undefined {
  let token: string | undefined;
  if (protocols !== undefined && protocols !== '') {
    const at = protocols.indexOf('Bearer,');
    token = at < 0 ? '' : `Bearer ${trimSpaces(protocols.slice(at + 'Bearer,'.length))}`;
  }
  let cookie: string | undefined;
  for (const line of cookies) {
    for (const part of line.split(';')) {
      const p = part.trim();
      const eq = p.indexOf('=');
      const name = eq < 0 ? p : p.slice(0, eq);
      if (name !== TOKEN_COOKIE || cookie !== undefined) continue;
      cookie = cookieValue(eq < 0 ? '' : p.slice(eq + 1));
    }
  }
  return cookie !== undefined ? `Bearer ${cookie}` : token;
}

/** The subprotocol the handshake answer names: "Bearer" when the client's starts with it. */
export function proxySubprotocol(protocols: string | undefined): string | undefined {
  return protocols !== undefined && protocols.startsWith('Bearer') ? 'Bearer' : undefined;
}

/** Go's strings.Trim(s, " "). */
function trimSpaces(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && s[a] === ' ') a++;
  while (b > a && s[b - 1] === ' ') b--;
  return s.slice(a, b);
}
