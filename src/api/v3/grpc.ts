// The v3 gRPC server: every etcdserverpb service, v3lock, v3election and grpc health, with
// messages coded by protobufjs reflection of etcd's protos, served by our gRPC-over-HTTP/2 server
// (grpc-http2.ts). The member's client port hands accepted HTTP/2 sockets to injectConnection().
import type { Socket } from 'node:net';
import protobuf from 'protobufjs';
import { V3Error, GrpcCode } from '../../store/v3error.js';
import type { AuthInfo, V3ApiOptions, V3Backend } from './backend.js';
import { big, headerWire, long, type Wire } from './convert.js';
import { observe } from './election.js';
import { GrpcHttp2Server, grpcFrame, MESSAGE_PREFIX_BYTES, type GrpcCall, type GrpcObserver, type GrpcStatus, type MethodSpec } from './grpc-http2.js';
import { service, type, type PbType } from './proto.js';
import { unaryMethods, type CallContext, type UnaryMethod } from './services.js';
import { WatchSession } from './watch.js';
import { drainedOrGone } from '../http/drain.js';

/** gRPC may carry this much more than --max-request-bytes (etcd's grpcOverheadBytes). */
export const GRPC_OVERHEAD_BYTES = 512 * 1024;
/** Keepalive requests of one stream waiting for their answer; more is a misbehaving client. */
export const KEEPALIVE_PENDING_MAX = 1024;
/** Snapshot stream chunk size (etcd sends 32 KiB blobs). */
export const SNAPSHOT_CHUNK_BYTES = 32 * 1024;
/** Transport buffer above which a watch stream reports back-pressure to the hub. */
export const WATCH_STREAM_HIGH_WATER_BYTES = 4 * 1024 * 1024;

export interface GrpcServerHandle {
  injectConnection(socket: Socket): void;
  close(): Promise<void>;
}

/** A thrown error as a gRPC status: V3Error keeps etcd's code and message. */
export function toStatus(err: unknown): GrpcStatus {
  if (err instanceof V3Error) return { code: err.code, details: err.message };
  return { code: GrpcCode.UNKNOWN, details: err instanceof Error ? err.message : String(err) };
}

function spec(requestStream: boolean, responseStream: boolean, reqT: PbType, resT: PbType): MethodSpec {
  return {
    requestStream,
    responseStream,
    decode: (b) => reqT.decode(b) as unknown as Wire,
    encode: (v) => {
      // Already encoded.
      if (Buffer.isBuffer(v)) return grpcFrame(v);
      // Encoded behind room for the frame prefix, which is filled in after: no second copy.
      const w = protobuf.Writer.create().uint32(0).fixed32(0);
      const u = resT.encode(v, w).finish();
      const frame = Buffer.from(u.buffer, u.byteOffset, u.byteLength);
      frame.writeUInt32BE(frame.length - MESSAGE_PREFIX_BYTES, 1);
      return frame;
    },
  };
}

/** etcd's first interceptors: hasleader, then learner. */
function checkLeaderAndLearner(b: V3Backend, call: GrpcCall, learnerOk: boolean): void {
  if (call.metadata('hasleader') === 'true' && !b.hasLeader()) throw new V3Error('noLeader');
  if (!learnerOk && b.isLearner()) throw new V3Error('notSupportedForLearner');
}

/** Who a call acts as (etcd's AuthInfoFromCtx): its token, from the "token" metadata or (as the
 *  gateway names it) "authorization"; without one, with --client-cert-auth, the CN of its
 *  verified client certificate. A Promise only when a token has to be looked up. */
function authOf(b: V3Backend, opts: V3ApiOptions, call: GrpcCall): Promise<AuthInfo | undefined> | AuthInfo | undefined {
  // Present but empty is still a token (an invalid one), as in etcd.
  const token = call.metadata('token') ?? call.metadata('authorization');
  if (token !== undefined) return b.authInfoFromToken(token);
  if (opts.clientCertAuth !== true) return undefined;
  // etcd ignores the certificate of its own gateway's proxied calls, which carry this header.
  if (call.metadata('grpcgateway-accept') !== undefined) return undefined;
  const cn = call.peerCommonName();
  return cn === undefined ? undefined : b.authInfoFromCommonName(cn);
}

/** etcd's interceptors: hasleader, learner, then the token. */
async function prelude(b: V3Backend, opts: V3ApiOptions, call: GrpcCall, learnerOk: boolean): Promise<AuthInfo | undefined> {
  checkLeaderAndLearner(b, call, learnerOk);
  return authOf(b, opts, call);
}

/** `observer`: the member's grpc_server_* and client byte metrics. */
export function createGrpcServer(backend: V3Backend, opts: V3ApiOptions, observer?: GrpcObserver): GrpcServerHandle {
  const server = new GrpcHttp2Server({
    maxReceiveBytes: opts.maxRequestBytes + GRPC_OVERHEAD_BYTES,
    maxConcurrentStreams: opts.maxConcurrentStreams,
    keepaliveIntervalMs: opts.keepaliveIntervalMs,
    keepaliveTimeoutMs: opts.keepaliveTimeoutMs,
    toStatus,
    observer,
  });
  const unary = new Map<string, UnaryMethod>();
  for (const m of unaryMethods(backend, opts)) unary.set(m.path, m);
  const streams = new Map<string, (call: GrpcCall) => void>([
    ['/etcdserverpb.Watch/Watch', watchImpl(backend, opts)],
    ['/etcdserverpb.Lease/LeaseKeepAlive', keepAliveImpl(backend, opts)],
    ['/etcdserverpb.Maintenance/Snapshot', snapshotImpl(backend, opts)],
    ['/v3electionpb.Election/Observe', observeImpl(backend, opts)],
    ['/grpc.health.v1.Health/Watch', healthWatchImpl()],
  ]);

  for (const svcName of ['etcdserverpb.KV', 'etcdserverpb.Watch', 'etcdserverpb.Lease', 'etcdserverpb.Cluster',
    'etcdserverpb.Maintenance', 'etcdserverpb.Auth', 'v3lockpb.Lock', 'v3electionpb.Election', 'grpc.health.v1.Health']) {
    for (const method of service(svcName).methodsArray) {
      method.resolve();
      const path = `/${svcName}/${method.name}`;
      const s = spec(!!method.requestStream, !!method.responseStream, method.resolvedRequestType!, method.resolvedResponseType!);
      const u = unary.get(path);
      const st = streams.get(path);
      if (u && !s.requestStream && !s.responseStream) server.unary(path, s, unaryImpl(backend, opts, u));
      else if (st) server.streaming(path, s, st);
      else throw new Error(`v3 gRPC: no handler for ${path}`);
    }
  }
  return {
    injectConnection: (socket) => server.injectConnection(socket),
    close: () => server.close(),
  };
}

/** A unary handler's context. The abort signal only matters to the few handlers that wait
 *  (lock, campaign): it is made when one asks for it, not for every call. */
class UnaryContext implements CallContext {
  constructor(readonly auth: AuthInfo | undefined, private readonly call: GrpcCall) {}
  get signal(): AbortSignal {
    return this.call.signal;
  }
}

function unaryImpl(b: V3Backend, opts: V3ApiOptions, m: UnaryMethod): (req: Wire, call: GrpcCall) => Promise<Wire> {
  return (req, call) => {
    if (call.requestBytes > opts.maxRequestBytes) throw new V3Error('requestTooLarge');
    checkLeaderAndLearner(b, call, m.learnerOk ? m.learnerOk(req) : false);
    // Without a token (the common case) the handler starts in this turn, with no await first.
    const auth = authOf(b, opts, call);
    if (!(auth instanceof Promise)) return m.handler(req, new UnaryContext(auth, call));
    return auth.then((a) => m.handler(req, new UnaryContext(a, call)));
  };
}

function watchImpl(b: V3Backend, opts: V3ApiOptions): (call: GrpcCall) => void {
  return (call) => {
    let session: WatchSession | undefined;
    let ended = false;
    const end = (err?: Error): void => {
      if (ended) return;
      ended = true;
      session?.close();
      if (err) call.fail(toStatus(err));
      else call.end();
    };
    const queued: Wire[] = [];
    call.on('data', (req: Wire) => {
      if (session) session.handle(req);
      else queued.push(req);
    });
    call.on('end', () => end());
    call.on('cancelled', () => end());
    call.on('drain', () => session?.drained());
    prelude(b, opts, call, false).then((auth) => {
      if (ended) return;
      session = new WatchSession(b, auth, {
        write: (res) => {
          if (ended) return true;
          call.write(res);
          return call.writableLength < WATCH_STREAM_HIGH_WATER_BYTES;
        },
        writeEncoded: (frame) => {
          if (ended) return true;
          call.writeFrame(frame);
          return call.writableLength < WATCH_STREAM_HIGH_WATER_BYTES;
        },
        encodedRoom: MESSAGE_PREFIX_BYTES,
        fail: (err) => end(err),
      }, opts.maxRequestBytes);
      for (const r of queued.splice(0)) session.handle(r);
    }, (err) => end(err));
  };
}

function keepAliveImpl(b: V3Backend, opts: V3ApiOptions): (call: GrpcCall) => void {
  return (call) => {
    let pending = 0;
    let ended = false;
    let chain: Promise<void> = Promise.resolve();
    const fail = (err: unknown): void => {
      if (ended) return;
      ended = true;
      call.fail(toStatus(err));
    };
    const ready = prelude(b, opts, call, false);
    ready.catch(fail);
    call.on('data', (req: Wire) => {
      if (ended) return;
      if (++pending > KEEPALIVE_PENDING_MAX) {
        fail(new V3Error('tooManyRequests'));
        return;
      }
      const id = big(req.ID);
      // Answers go out in request order, one renewal at a time per stream, as etcd does.
      chain = chain.then(async () => {
        await ready;
        let ttl = 0;
        try {
          ttl = await b.leaseKeepAlive(id);
        } catch (err) {
          if (!(err instanceof V3Error && err.kind === 'leaseNotFound')) throw err;
        }
        pending--;
        if (!ended) call.write({ header: headerWire(b.header(), b.header().revision), ID: long(id), TTL: ttl || undefined });
      }).catch(fail);
    });
    call.on('end', () => {
      chain.then(() => { if (!ended) { ended = true; call.end(); } }, () => undefined);
    });
    call.on('cancelled', () => { ended = true; });
  };
}

function snapshotImpl(b: V3Backend, opts: V3ApiOptions): (call: GrpcCall) => void {
  return (call) => {
    let cancelled = false;
    call.on('cancelled', () => { cancelled = true; });
    (async () => {
      const auth = await prelude(b, opts, call, false);
      const snap = await b.snapshot(auth);
      const { createHash } = await import('node:crypto');
      const sha = createHash('sha256');
      let sent = 0;
      let buf = Buffer.alloc(0);
      const flush = async (chunk: Buffer): Promise<void> => {
        sha.update(chunk);
        sent += chunk.length;
        const more = call.write({ remaining_bytes: snap.sizeBytes - sent || undefined, blob: chunk });
        if (!more && !cancelled) await drainedOrGone(call, 'cancelled');
      };
      for await (const piece of snap.chunks) {
        if (cancelled) return;
        buf = buf.length === 0 ? Buffer.from(piece) : Buffer.concat([buf, piece]);
        while (buf.length >= SNAPSHOT_CHUNK_BYTES) {
          await flush(buf.subarray(0, SNAPSHOT_CHUNK_BYTES));
          buf = buf.subarray(SNAPSHOT_CHUNK_BYTES);
        }
      }
      if (buf.length > 0) await flush(buf);
      // etcd appends the sha256 of the database so `snapshot restore` can verify it.
      call.write({ blob: sha.digest() });
      call.end();
    })().catch((err) => { if (!cancelled) call.fail(toStatus(err)); });
  };
}

function observeImpl(b: V3Backend, opts: V3ApiOptions): (call: GrpcCall) => void {
  return (call) => {
    const ac = new AbortController();
    call.on('cancelled', () => ac.abort());
    (async () => {
      const auth = await prelude(b, opts, call, false);
      await observe(b, call.request, auth, ac.signal, async (res) => {
        if (!call.write(res) && !ac.signal.aborted) await drainedOrGone(call, 'cancelled');
      });
    })().catch((err) => { if (!ac.signal.aborted) call.fail(toStatus(err)); });
  };
}

function healthWatchImpl(): (call: GrpcCall) => void {
  return (call) => {
    call.write({ status: 1 });
  };
}

export { type as protoType };
