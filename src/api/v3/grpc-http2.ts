// gRPC over node:http2, the server side: length-prefixed messages, the status in trailers (or
// trailers-only), grpc-timeout deadlines, gzip/deflate request messages (gRPC's PROTOCOL-HTTP2),
// server keepalive pings, and the per-method counts of grpc-go's prometheus interceptors.
// tsetcd serves its calls on this rather than on @grpc/grpc-js's server: per call that server builds
// a Metadata map, an interceptor chain and a Node stream object around the HTTP/2 stream, about a
// third more CPU and garbage per call than the HTTP/2 work itself, and it ends a unary call in two
// socket writes (the trailers wait for the message's write to complete). Here a unary answer's
// headers, message and trailers leave together, as grpc-go sends them.
import { EventEmitter } from 'node:events';
import http2 from 'node:http2';
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import zlib from 'node:zlib';
import { GrpcCode } from '../../store/v3error.js';
import type { GrpcType } from '../metrics/grpc-methods.js';
import { H2_INTAKE_TIMEOUT_MS, takeHttp2Connection } from './h2-intake.js';
import type { Wire } from './convert.js';

/** After close(), sessions still open this much later (streams the clients keep open) are destroyed. */
export const GRPC_CLOSE_GRACE_MS = 2000;
/** grpc-go's floor for the server keepalive interval (keepalive.ServerParameters.Time). */
export const KEEPALIVE_INTERVAL_MIN_MS = 1000;
/** grpc-timeout has at most 8 digits; Node timers take at most this many milliseconds. */
const TIMER_MAX_MS = 2 ** 31 - 1;
/** A gRPC message frame starts with a compressed flag byte and the length (4 bytes, big-endian). */
export const MESSAGE_PREFIX_BYTES = 5;

export interface GrpcStatus {
  readonly code: number;
  readonly details: string;
}

export interface MethodSpec {
  readonly requestStream: boolean;
  readonly responseStream: boolean;
  readonly decode: (b: Buffer) => Wire;
  /** The message as a whole gRPC frame (grpcFrame(): the 5-byte prefix, then the bytes); a
   *  Buffer is an already encoded message. */
  readonly encode: (v: Wire | Buffer) => Buffer;
}

/** A unary method: the answer, or a thrown error turned into a status by `toStatus`. */
export type UnaryHandler = (req: Wire, call: GrpcCall) => Promise<Wire>;
/** A streaming method: it answers through call.write/end/fail. */
export type StreamHandler = (call: GrpcCall) => void;

interface Method {
  readonly spec: MethodSpec;
  readonly unary?: UnaryHandler;
  readonly stream?: StreamHandler;
  readonly stats?: MethodStats;
}

/** What grpc-go's prometheus interceptors count, per method (etcd's grpc_server_* series). */
export interface MethodStats {
  started(): void;
  /** The call ended with this status code after `seconds`. */
  handled(code: number, seconds: number): void;
  msgReceived(): void;
  msgSent(): void;
}

export interface GrpcObserver {
  /** Asked once per method, when it is registered. */
  method(path: string, type: GrpcType): MethodStats;
  /** Sizes of the request and response messages (etcd_network_client_grpc_*_bytes_total). */
  receivedBytes(n: number): void;
  sentBytes(n: number): void;
}

export interface GrpcServerOptions {
  /** Largest request message accepted (decompressed); larger is RESOURCE_EXHAUSTED. */
  readonly maxReceiveBytes: number;
  readonly maxConcurrentStreams?: number;
  readonly toStatus: (err: unknown) => GrpcStatus;
  readonly observer?: GrpcObserver;
  /** etcd's --grpc-keepalive-interval and --grpc-keepalive-timeout: a connection quiet for the
   *  interval is pinged, and closed if the ping is not answered within the timeout. Off unless
   *  both are > 0 (as in etcd). */
  readonly keepaliveIntervalMs?: number;
  readonly keepaliveTimeoutMs?: number;
}

const RESPONSE_HEADERS = { ':status': 200, 'content-type': 'application/grpc' } as const;
const OK_TRAILERS = { 'grpc-status': '0' } as const;

/** gRPC's percent-encoding of grpc-message: printable ASCII except '%' stays as it is. */
export function encodeGrpcMessage(s: string): string {
  let plain = true;
  for (let i = 0; i < s.length && plain; i++) {
    const c = s.charCodeAt(i);
    plain = c >= 0x20 && c <= 0x7e && c !== 0x25;
  }
  if (plain) return s;
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    out += b >= 0x20 && b <= 0x7e && b !== 0x25 ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** grpc-timeout ("100m", "5S", ...) in milliseconds, or undefined when absent or malformed. */
export function parseGrpcTimeout(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const m = /^(\d{1,8})([HMSmun])$/.exec(v);
  if (m === null) return undefined;
  const n = Number(m[1]);
  const ms = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 1e-3, n: 1e-6 }[m[2] as 'H'];
  return Math.min(TIMER_MAX_MS, Math.ceil(n * ms));
}

/** A message's bytes as a gRPC frame (not compressed). */
export function grpcFrame(body: Buffer): Buffer {
  const f = Buffer.allocUnsafe(MESSAGE_PREFIX_BYTES + body.length);
  f[0] = 0;
  f.writeUInt32BE(body.length, 1);
  body.copy(f, MESSAGE_PREFIX_BYTES);
  return f;
}

function headerString(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** A TLS socket's peer certificate CN (null: none), read once per connection. */
const peerCommonNames = new WeakMap<Socket, string | null>();

/**
 * One call: the HTTP/2 stream with gRPC's framing. Events: 'data' (a request message of a
 * client-streaming method), 'end' (the client half-closed), 'cancelled' (the client went away or
 * the deadline passed before the call ended), 'drain' (room to write again).
 */
export class GrpcCall extends EventEmitter {
  /** The request of a unary or server-streaming method. */
  request: Wire = {};
  /** Size in bytes of the last request message as received. */
  requestBytes = 0;
  private headersSent = false;
  private ended = false;
  private cancelledFlag = false;
  private trailers: Record<string, string> = OK_TRAILERS;
  private ac: AbortController | undefined;
  private deadline: NodeJS.Timeout | undefined;
  // Inbound bytes not yet a whole message; at most one message (maxReceiveBytes + prefix).
  private chunks: Buffer[] = [];
  private buffered = 0;
  private need = -1;
  private messages = 0;
  /** When the call was counted as started (performance.now()); -1 before. */
  private startedAt = -1;

  constructor(
    private readonly stream: http2.ServerHttp2Stream,
    private readonly headers: http2.IncomingHttpHeaders,
    private readonly spec: MethodSpec,
    private readonly maxReceiveBytes: number,
    private readonly stats?: MethodStats,
    private readonly observer?: GrpcObserver,
    /** The connection's own socket (TLS or not), under any stream Node reads through. */
    private readonly socket?: Socket,
  ) {
    super();
  }

  /** The CN of the client's certificate when the connection is TLS and the certificate was
   *  verified against the trusted CA (what etcd's AuthInfoFromTLS reads); else undefined. */
  peerCommonName(): string | undefined {
    const s = this.socket;
    if (!(s instanceof TLSSocket) || !s.authorized) return undefined;
    let cn = peerCommonNames.get(s);
    if (cn === undefined) {
      // null once the socket is gone. With several CNs Go's pkix.Name keeps the last.
      const subject = s.getPeerCertificate()?.subject as { CN?: string | string[] } | undefined;
      cn = (Array.isArray(subject?.CN) ? subject.CN[subject.CN.length - 1] : subject?.CN) ?? null;
      peerCommonNames.set(s, cn);
    }
    return cn ?? undefined;
  }

  /** @internal Counts the call as started (a unary call once its request is read, as grpc-go's
   *  interceptors see it); only started calls are counted as handled. */
  start(): void {
    if (this.stats === undefined || this.startedAt >= 0) return;
    this.startedAt = performance.now();
    this.stats.started();
  }

  private handled(code: number): void {
    if (this.stats === undefined || this.startedAt < 0) return;
    this.stats.handled(code, (performance.now() - this.startedAt) / 1000);
  }

  private sent(frame: Buffer): Buffer {
    this.stats?.msgSent();
    this.observer?.sentBytes(frame.length - MESSAGE_PREFIX_BYTES);
    return frame;
  }

  /** A request metadata value (etcd reads "token" and "hasleader"). */
  metadata(key: string): string | undefined {
    return headerString(this.headers[key]);
  }

  get cancelled(): boolean {
    return this.cancelledFlag;
  }

  /** Aborted when the call is cancelled; made on first use. */
  get signal(): AbortSignal {
    if (this.ac === undefined) {
      this.ac = new AbortController();
      if (this.cancelledFlag) this.ac.abort();
    }
    return this.ac.signal;
  }

  /** Bytes written and not yet taken by the transport. */
  get writableLength(): number {
    return this.stream.writableLength;
  }

  /** The stream can carry nothing more: reset by the client, closed, or destroyed. */
  private get gone(): boolean {
    return this.stream.destroyed || this.stream.closed;
  }

  /** The call has its status (or was cancelled); nothing more is sent. */
  get done(): boolean {
    return this.ended;
  }

  /** Sends one response message; false when the transport's buffer is over its high-water mark. */
  write(msg: Wire | Buffer): boolean {
    if (this.ended || this.gone) return true;
    const frame = this.encodeOrAbort(msg);
    if (frame === undefined) return true;
    this.sendHeaders();
    return this.stream.write(this.sent(frame));
  }

  /** Sends one response message encoded behind MESSAGE_PREFIX_BYTES of room, which this fills
   *  with the gRPC message prefix (uncompressed, length). */
  writeFrame(frame: Buffer): boolean {
    if (this.ended || this.gone) return true;
    frame[0] = 0;
    frame.writeUInt32BE(frame.length - MESSAGE_PREFIX_BYTES, 1);
    this.sendHeaders();
    return this.stream.write(this.sent(frame));
  }

  /** Ends the call with OK, after the messages written. */
  end(): void {
    this.finish(OK_TRAILERS);
  }

  /** Ends the call with this status. */
  fail(status: GrpcStatus): void {
    this.finish({ 'grpc-status': String(status.code), 'grpc-message': encodeGrpcMessage(status.details) });
  }

  /** The unary answer: headers, message and OK trailers in one go. */
  answer(msg: Wire): void {
    if (this.ended || this.gone) return;
    const frame = this.encodeOrAbort(msg);
    if (frame === undefined) return;
    this.settle(GrpcCode.OK);
    this.sendHeaders();
    this.stream.end(this.sent(frame));
  }

  /** The call has its outcome: no deadline any more, counted as handled with this code. */
  private settle(code: number): void {
    this.ended = true;
    this.clearDeadline();
    this.handled(code);
  }

  /** A message that cannot be encoded (a handler bug) ends its call with INTERNAL, as in grpc-go. */
  private encodeOrAbort(msg: Wire | Buffer): Buffer | undefined {
    try {
      return this.spec.encode(msg);
    } catch (err) {
      this.abort({ code: GrpcCode.INTERNAL, details: `grpc: error while marshaling: ${err instanceof Error ? err.message : String(err)}` });
      return undefined;
    }
  }

  private sendHeaders(): void {
    if (this.headersSent) return;
    this.headersSent = true;
    // Node submits the trailers a setImmediate after 'wantTrailers' ("so we don't do it on
    // nghttp2 stack"), so a unary answer leaves in two writes, the status one or two event-loop
    // turns after the message (measured at 1 client: p50 0.05, p99 0.5 ms). Node's API has no
    // way around it; grpc-js servers pay the same.
    this.stream.respond(RESPONSE_HEADERS, { waitForTrailers: true });
    this.stream.once('wantTrailers', () => {
      if (!this.gone) this.stream.sendTrailers(this.trailers);
    });
  }

  private finish(trailers: Record<string, string>): void {
    if (this.ended || this.gone) return;
    this.settle(Number(trailers['grpc-status']));
    if (this.headersSent) {
      this.trailers = trailers;
      this.stream.end();
    } else {
      // Trailers-only: the status goes in the one HEADERS frame.
      this.headersSent = true;
      this.stream.respond({ ...RESPONSE_HEADERS, ...trailers }, { endStream: true });
    }
  }

  /** @internal The transport ends the call (bad input, deadline, a handler that threw): the
   *  status goes to the client and the handler hears 'cancelled'. */
  abort(status: GrpcStatus): void {
    if (this.ended) return;
    this.fail(status);
    this.cancel();
  }

  /** @internal The stream closed: a call not ended by us was cancelled. */
  closed(): void {
    if (this.ended) return;
    this.settle(GrpcCode.CANCELLED);
    this.cancel();
  }

  /** @internal */
  startDeadline(ms: number): void {
    this.deadline = setTimeout(() => {
      this.deadline = undefined;
      this.abort({ code: GrpcCode.DEADLINE_EXCEEDED, details: 'context deadline exceeded' });
    }, ms);
  }

  private cancel(): void {
    if (this.cancelledFlag) return;
    this.cancelledFlag = true;
    this.ac?.abort();
    this.emit('cancelled');
  }

  private clearDeadline(): void {
    if (this.deadline !== undefined) clearTimeout(this.deadline);
    this.deadline = undefined;
  }

  /** @internal Inbound bytes; calls onMessage for each whole message. */
  data(chunk: Buffer, onMessage: (msg: Wire) => void): void {
    // After the status is sent, what the client still sends is dropped.
    if (this.ended) return;
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    while (!this.ended) {
      if (this.need < 0) {
        if (this.buffered < MESSAGE_PREFIX_BYTES) return;
        const head = this.chunks[0]!.length >= MESSAGE_PREFIX_BYTES ? this.chunks[0]! : this.flatten();
        const len = head.readUInt32BE(1);
        if (len > this.maxReceiveBytes) {
          this.abort({ code: GrpcCode.RESOURCE_EXHAUSTED, details: `grpc: received message larger than max (${len} vs. ${this.maxReceiveBytes})` });
          this.chunks = [];
          return;
        }
        this.need = MESSAGE_PREFIX_BYTES + len;
      }
      if (this.buffered < this.need) return;
      const all = this.flatten();
      const compressed = all[0] !== 0;
      let body = all.subarray(MESSAGE_PREFIX_BYTES, this.need);
      const rest = all.subarray(this.need);
      this.chunks = rest.length > 0 ? [rest] : [];
      this.buffered = rest.length;
      this.need = -1;
      if (compressed) {
        const b = this.decompress(body);
        if (b === undefined) return;
        body = b;
      }
      let msg: Wire;
      try {
        msg = this.spec.decode(body);
      } catch {
        this.abort({ code: GrpcCode.INTERNAL, details: 'grpc: error unmarshalling request' });
        return;
      }
      this.requestBytes = body.length;
      this.messages++;
      this.observer?.receivedBytes(body.length);
      if (this.spec.requestStream) this.stats?.msgReceived();
      else if (this.messages === 1) {
        this.start();
        this.stats?.msgReceived();
      }
      onMessage(msg);
    }
  }

  /** @internal Messages received so far. */
  get received(): number {
    return this.messages;
  }

  private flatten(): Buffer {
    if (this.chunks.length !== 1) this.chunks = [Buffer.concat(this.chunks, this.buffered)];
    return this.chunks[0]!;
  }

  private decompress(body: Buffer): Buffer | undefined {
    const enc = this.metadata('grpc-encoding') ?? 'identity';
    const opts = { maxOutputLength: Math.max(1, this.maxReceiveBytes) };
    try {
      if (enc === 'gzip') return zlib.gunzipSync(body, opts);
      if (enc === 'deflate') return zlib.inflateSync(body, opts);
    } catch (err) {
      if (err instanceof RangeError) {
        this.abort({ code: GrpcCode.RESOURCE_EXHAUSTED, details: `grpc: received message after decompression larger than max (${this.maxReceiveBytes})` });
      } else {
        this.abort({ code: GrpcCode.INTERNAL, details: `grpc: failed to decompress the received message: ${(err as Error).message}` });
      }
      return undefined;
    }
    this.abort({ code: GrpcCode.INTERNAL, details: `grpc: compressed flag set with grpc-encoding "${enc}"` });
    return undefined;
  }
}

/** The server: methods by path, and the HTTP/2 sessions of the sockets handed to it. */
export class GrpcHttp2Server {
  private readonly methods = new Map<string, Method>();
  private readonly h2: http2.Http2Server;
  private readonly sessions = new Set<http2.ServerHttp2Session>();
  /** Each session's socket: the session's own `socket` is a proxy that refuses destroy(), and
   *  over a rewriting stream (h2-intake.ts) it is not even the socket. */
  private readonly sockets = new WeakMap<http2.Http2Session, Socket>();
  /** The socket being handed to Node: its 'session' event comes within that call. */
  private handingOver: Socket | undefined;
  /** Sockets in the intake (h2-intake.ts), not yet a session: close() ends them. */
  private readonly intake = new Set<Socket>();
  private closing = false;

  constructor(private readonly opts: GrpcServerOptions) {
    this.h2 = http2.createServer({
      // Header blocks are bounded by nghttp2's own limits; Node's extra check would refuse large
      // metadata that grpc-go accepts.
      maxSendHeaderBlockLength: Number.MAX_SAFE_INTEGER,
      // Node's per-session memory cap (10 MB by default) refuses new streams with
      // ENHANCE_YOUR_CALM once watch streams have that much queued; each stream's own high-water
      // mark bounds what is queued instead (as grpc-js does).
      maxSessionMemory: Number.MAX_SAFE_INTEGER,
      ...(opts.maxConcurrentStreams ? { settings: { maxConcurrentStreams: opts.maxConcurrentStreams } } : {}),
    });
    this.h2.on('session', (s: http2.ServerHttp2Session) => {
      this.sessions.add(s);
      if (this.handingOver !== undefined) this.sockets.set(s, this.handingOver);
      s.on('error', () => undefined);
      s.once('close', () => this.sessions.delete(s));
      this.keepalive(s);
    });
    this.h2.on('stream', (stream, headers) => this.onStream(stream, headers));
  }

  /** Pings a session after keepaliveIntervalMs without traffic; no answer within
   *  keepaliveTimeoutMs closes it (a client that vanished without a FIN or RST). */
  private keepalive(s: http2.ServerHttp2Session): void {
    const interval = this.opts.keepaliveIntervalMs ?? 0;
    const timeout = this.opts.keepaliveTimeoutMs ?? 0;
    if (!(interval > 0 && timeout > 0)) return;
    // Destroying the session only ends its socket, which then waits for the vanished peer.
    const raw = this.sockets.get(s);
    const drop = (): void => {
      s.destroy();
      raw?.destroy();
    };
    s.setTimeout(Math.max(KEEPALIVE_INTERVAL_MIN_MS, interval), () => {
      if (s.destroyed) return;
      const deadline = setTimeout(drop, timeout);
      deadline.unref();
      const sent = s.ping((err) => {
        clearTimeout(deadline);
        if (err) drop();
      });
      if (!sent) clearTimeout(deadline);
    });
  }

  unary(path: string, spec: MethodSpec, handler: UnaryHandler): void {
    this.methods.set(path, { spec, unary: handler, stats: this.opts.observer?.method(path, 'unary') });
  }

  streaming(path: string, spec: MethodSpec, handler: StreamHandler): void {
    const type: GrpcType = spec.requestStream ? (spec.responseStream ? 'bidi_stream' : 'client_stream') : 'server_stream';
    this.methods.set(path, { spec, stream: handler, stats: this.opts.observer?.method(path, type) });
  }

  injectConnection(socket: Socket): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    // The intake reads the first request first (h2-intake.ts). It gives a client as long as
    // keepalive would: the SETTINGS go unanswered as a ping would, and an idle client is handed
    // to Node, which pings it, after an interval.
    const interval = this.opts.keepaliveIntervalMs ?? 0;
    const timeout = this.opts.keepaliveTimeoutMs ?? 0;
    const keepalive = interval > 0 && timeout > 0;
    this.intake.add(socket);
    socket.once('close', () => this.intake.delete(socket));
    takeHttp2Connection(
      socket,
      (conn) => {
        this.intake.delete(socket);
        if (this.closing) {
          conn.destroy();
          return;
        }
        this.handingOver = socket;
        try {
          this.h2.emit('connection', conn);
        } finally {
          this.handingOver = undefined;
        }
      },
      {
        maxConcurrentStreams: this.opts.maxConcurrentStreams || undefined,
        ackTimeoutMs: keepalive ? Math.max(KEEPALIVE_INTERVAL_MIN_MS, interval) + timeout : H2_INTAKE_TIMEOUT_MS,
        idleMs: keepalive ? Math.max(H2_INTAKE_TIMEOUT_MS, interval) : H2_INTAKE_TIMEOUT_MS,
      },
    );
  }

  /** GOAWAY to every session; those still open after GRPC_CLOSE_GRACE_MS are destroyed. */
  close(): Promise<void> {
    this.closing = true;
    for (const s of this.intake) s.destroy();
    if (this.sessions.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        for (const s of this.sessions) s.destroy();
      }, GRPC_CLOSE_GRACE_MS);
      let open = this.sessions.size;
      const closed = (): void => {
        if (--open > 0) return;
        clearTimeout(timer);
        resolve();
      };
      for (const s of this.sessions) {
        s.once('close', closed);
        s.close();
      }
    });
  }

  private onStream(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    stream.on('error', () => undefined);
    const path = headerString(headers[':path']) ?? '';
    const method = this.methods.get(path);
    const ct = headerString(headers['content-type']) ?? '';
    if (!ct.startsWith('application/grpc')) {
      // grpc-go answers a request that is not gRPC with HTTP 415.
      stream.respond({ ':status': 415, 'content-type': 'text/plain' }, { endStream: true });
      return;
    }
    const call = new GrpcCall(stream, headers, method?.spec ?? NO_SPEC, this.opts.maxReceiveBytes, method?.stats, this.opts.observer, this.sockets.get(stream.session!));
    stream.once('close', () => call.closed());
    if (method === undefined) {
      const slash = path.lastIndexOf('/');
      const svc = path.slice(1, slash);
      const known = [...this.methods.keys()].some((p) => p.startsWith(`/${svc}/`));
      call.fail({ code: GrpcCode.UNIMPLEMENTED, details: known ? `unknown method ${path.slice(slash + 1)} for service ${svc}` : `unknown service ${svc}` });
      return;
    }
    const enc = headerString(headers['grpc-encoding']);
    if (enc !== undefined && enc !== 'identity' && enc !== 'gzip' && enc !== 'deflate') {
      call.fail({ code: GrpcCode.UNIMPLEMENTED, details: `grpc: Decompressor is not installed for grpc-encoding "${enc}"` });
      return;
    }
    const timeout = parseGrpcTimeout(headerString(headers['grpc-timeout']));
    if (timeout !== undefined) call.startDeadline(timeout);

    if (method.spec.responseStream) stream.on('drain', () => call.emit('drain'));
    if (method.spec.requestStream) {
      // Client streaming: the handler is there before the first message.
      call.start();
      this.guard(call, () => method.stream!(call));
      stream.on('data', (chunk: Buffer) => call.data(chunk, (msg) => this.guard(call, () => call.emit('data', msg))));
      // An 'end' on a closed stream is the client's reset, not its half-close: 'close' follows
      // and cancels the call.
      stream.once('end', () => {
        if (!stream.closed && !stream.destroyed) this.guard(call, () => call.emit('end'));
      });
      return;
    }
    // One request message, then the half-close.
    stream.on('data', (chunk: Buffer) => call.data(chunk, (msg) => {
      if (call.received > 1) call.abort({ code: GrpcCode.UNIMPLEMENTED, details: 'grpc: more than one request message for a unary method' });
      else call.request = msg;
    }));
    stream.once('end', () => {
      // Ended by the transport already (bad input), or reset by the client ('end' on a closed
      // stream): no handler runs.
      if (call.done || stream.closed || stream.destroyed) return;
      if (call.received !== 1) {
        call.fail({ code: GrpcCode.UNIMPLEMENTED, details: 'grpc: a unary method needs one request message' });
        return;
      }
      if (method.stream !== undefined) {
        this.guard(call, () => method.stream!(call));
        return;
      }
      let answer: Promise<Wire>;
      try {
        answer = method.unary!(call.request, call);
      } catch (err) {
        answer = Promise.reject(err);
      }
      answer.then(
        (res) => call.answer(res),
        (err: unknown) => call.fail(this.opts.toStatus(err)),
      ).catch((err: unknown) => call.abort({ code: GrpcCode.INTERNAL, details: String(err) }));
    });
  }

  /** A handler that throws ends its own call with the error's status, not the member. */
  private guard(call: GrpcCall, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      call.abort(this.opts.toStatus(err));
    }
  }
}

const NO_SPEC: MethodSpec = {
  requestStream: false,
  responseStream: false,
  decode: () => ({}),
  encode: (v) => grpcFrame(Buffer.isBuffer(v) ? v : Buffer.alloc(0)),
};
