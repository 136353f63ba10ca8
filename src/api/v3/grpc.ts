// The v3 gRPC server: every etcdserverpb service, v3lock, v3election and grpc health, with
// service definitions built from protobufjs reflection (no proto-loader). The member's client
// port hands accepted HTTP/2 sockets to injectConnection().
import type { Socket } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { V3Error, GrpcCode } from '../../store/v3error.js';
import type { AuthInfo, V3ApiOptions, V3Backend } from './backend.js';
import { big, headerWire, long, type Wire } from './convert.js';
import { observe } from './election.js';
import { service, type, type PbType } from './proto.js';
import { unaryMethods, type UnaryMethod } from './services.js';
import { WatchSession } from './watch.js';

/** gRPC may carry this much more than --max-request-bytes (etcd's grpcOverheadBytes). */
export const GRPC_OVERHEAD_BYTES = 512 * 1024;
/** Keepalive requests of one stream waiting for their answer; more is a misbehaving client. */
export const KEEPALIVE_PENDING_MAX = 1024;
/** Snapshot stream chunk size (etcd sends 32 KiB blobs). */
export const SNAPSHOT_CHUNK_BYTES = 32 * 1024;
/** Transport buffer above which a watch stream reports back-pressure to the hub. */
export const WATCH_STREAM_HIGH_WATER_BYTES = 4 * 1024 * 1024;

const SIZE = Symbol('requestBytes');

export interface GrpcServerHandle {
  readonly server: grpc.Server;
  injectConnection(socket: Socket): void;
  close(): Promise<void>;
}

/** A thrown error as a gRPC status: V3Error keeps etcd's code and message. */
export function toStatus(err: unknown): grpc.ServiceError {
  if (err instanceof V3Error) return Object.assign(new Error(err.message), { code: err.code, details: err.message, metadata: new grpc.Metadata() });
  const msg = err instanceof Error ? err.message : String(err);
  return Object.assign(new Error(msg), { code: GrpcCode.UNKNOWN, details: msg, metadata: new grpc.Metadata() });
}

function serializer(t: PbType): (v: Wire) => Buffer {
  return (v) => {
    // Already encoded (the watch stream's shared-event fast path).
    if (Buffer.isBuffer(v)) return v;
    const u = t.encode(v).finish();
    return Buffer.from(u.buffer, u.byteOffset, u.byteLength);
  };
}

function deserializer(t: PbType): (b: Buffer) => Wire {
  return (b) => {
    const m = t.decode(b) as unknown as Wire;
    m[SIZE as unknown as string] = b.length;
    return m;
  };
}

function metaString(md: grpc.Metadata, key: string): string | undefined {
  const v = md.get(key)[0];
  return v === undefined ? undefined : typeof v === 'string' ? v : v.toString('utf8');
}

/** etcd's interceptors: hasleader, learner, then the token. */
async function prelude(b: V3Backend, md: grpc.Metadata, learnerOk: boolean): Promise<AuthInfo | undefined> {
  if (metaString(md, 'hasleader') === 'true' && !b.hasLeader()) throw new V3Error('noLeader');
  if (!learnerOk && b.isLearner()) throw new V3Error('notSupportedForLearner');
  const token = metaString(md, 'token');
  return token ? b.authInfoFromToken(token) : undefined;
}

export function createGrpcServer(backend: V3Backend, opts: V3ApiOptions): GrpcServerHandle {
  const server = new grpc.Server({
    'grpc.max_receive_message_length': opts.maxRequestBytes + GRPC_OVERHEAD_BYTES,
    'grpc.max_send_message_length': -1,
    // channelz (grpc's introspection service, which tsetcd does not serve) would otherwise
    // track every call and message: a per-request cost for nothing.
    'grpc.enable_channelz': 0,
    ...(opts.maxConcurrentStreams ? { 'grpc.max_concurrent_streams': opts.maxConcurrentStreams } : {}),
  });
  const unary = new Map<string, UnaryMethod>();
  for (const m of unaryMethods(backend, opts)) unary.set(m.path, m);

  const defs = new Map<string, Record<string, grpc.MethodDefinition<Wire, Wire>>>();
  const impls = new Map<string, grpc.UntypedServiceImplementation>();
  for (const svcName of ['etcdserverpb.KV', 'etcdserverpb.Watch', 'etcdserverpb.Lease', 'etcdserverpb.Cluster',
    'etcdserverpb.Maintenance', 'etcdserverpb.Auth', 'v3lockpb.Lock', 'v3electionpb.Election', 'grpc.health.v1.Health']) {
    const svc = service(svcName);
    const def: Record<string, grpc.MethodDefinition<Wire, Wire>> = {};
    const impl: grpc.UntypedServiceImplementation = {};
    for (const method of svc.methodsArray) {
      method.resolve();
      const reqT = method.resolvedRequestType!;
      const resT = method.resolvedResponseType!;
      const path = `/${svcName}/${method.name}`;
      def[method.name] = {
        path, originalName: method.name,
        requestStream: !!method.requestStream, responseStream: !!method.responseStream,
        requestSerialize: serializer(reqT), requestDeserialize: deserializer(reqT),
        responseSerialize: serializer(resT), responseDeserialize: deserializer(resT),
      };
      const u = unary.get(path);
      if (u && !method.requestStream && !method.responseStream) impl[method.name] = unaryImpl(backend, opts, u);
    }
    defs.set(svcName, def);
    impls.set(svcName, impl);
  }
  impls.get('etcdserverpb.Watch')!.Watch = watchImpl(backend, opts);
  impls.get('etcdserverpb.Lease')!.LeaseKeepAlive = keepAliveImpl(backend);
  impls.get('etcdserverpb.Maintenance')!.Snapshot = snapshotImpl(backend);
  impls.get('v3electionpb.Election')!.Observe = observeImpl(backend);
  impls.get('grpc.health.v1.Health')!.Watch = healthWatchImpl();
  for (const [name, def] of defs) server.addService(def as grpc.ServiceDefinition, impls.get(name)!);

  const injector = server.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  return {
    server,
    injectConnection: (socket) => injector.injectConnection(socket),
    close: () => new Promise<void>((resolve) => {
      injector.destroy();
      server.tryShutdown(() => resolve());
    }),
  };
}

function unaryImpl(b: V3Backend, opts: V3ApiOptions, m: UnaryMethod): grpc.handleUnaryCall<Wire, Wire> {
  return (call, callback) => {
    // The abort signal only matters to the few handlers that wait (lock, campaign): it is made
    // when one asks for it, not for every call.
    let ac: AbortController | undefined;
    let cancelled = false;
    let done = false;
    call.on('cancelled', () => {
      if (done) return;
      cancelled = true;
      ac?.abort();
    });
    const signal = (): AbortSignal => {
      if (ac === undefined) {
        ac = new AbortController();
        if (cancelled) ac.abort();
      }
      return ac.signal;
    };
    (async () => {
      const req = call.request;
      if ((req[SIZE as unknown as string] as number) > opts.maxRequestBytes) throw new V3Error('requestTooLarge');
      const auth = await prelude(b, call.metadata, m.learnerOk ? m.learnerOk(req) : false);
      return m.handler(req, { auth, get signal() { return signal(); } });
    })().then(
      (res) => {
        done = true;
        callback(null, res);
      },
      (err) => {
        done = true;
        callback(toStatus(err));
      },
    );
  };
}

function watchImpl(b: V3Backend, opts: V3ApiOptions): grpc.handleBidiStreamingCall<Wire, Wire> {
  return (call) => {
    let session: WatchSession | undefined;
    let ended = false;
    const end = (err?: Error): void => {
      if (ended) return;
      ended = true;
      session?.close();
      if (err) call.destroy(toStatus(err));
      else call.end();
    };
    const queued: Wire[] = [];
    call.on('data', (req: Wire) => {
      if (session) session.handle(req);
      else queued.push(req);
    });
    call.on('end', () => end());
    call.on('cancelled', () => end());
    call.on('error', () => end());
    call.on('drain', () => session?.drained());
    prelude(b, call.metadata, false).then((auth) => {
      if (ended) return;
      session = new WatchSession(b, auth, {
        write: (res) => {
          if (ended) return true;
          call.write(res);
          return call.writableLength < WATCH_STREAM_HIGH_WATER_BYTES;
        },
        writeEncoded: (bytes) => {
          if (ended) return true;
          call.write(bytes as unknown as Wire);
          return call.writableLength < WATCH_STREAM_HIGH_WATER_BYTES;
        },
        fail: (err) => end(err),
      }, opts.maxRequestBytes);
      for (const r of queued.splice(0)) session.handle(r);
    }, (err) => end(err));
  };
}

function keepAliveImpl(b: V3Backend): grpc.handleBidiStreamingCall<Wire, Wire> {
  return (call) => {
    let pending = 0;
    let ended = false;
    let chain: Promise<void> = Promise.resolve();
    const fail = (err: unknown): void => {
      if (ended) return;
      ended = true;
      call.destroy(toStatus(err));
    };
    const ready = prelude(b, call.metadata, false);
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
    call.on('error', () => { ended = true; });
  };
}

function waitDrain(call: grpc.ServerWritableStream<Wire, Wire>): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      call.off('drain', done);
      call.off('cancelled', done);
      resolve();
    };
    call.on('drain', done);
    call.on('cancelled', done);
  });
}

function snapshotImpl(b: V3Backend): grpc.handleServerStreamingCall<Wire, Wire> {
  return (call) => {
    let cancelled = false;
    call.on('cancelled', () => { cancelled = true; });
    (async () => {
      const auth = await prelude(b, call.metadata, false);
      const snap = await b.snapshot(auth);
      const { createHash } = await import('node:crypto');
      const sha = createHash('sha256');
      let sent = 0;
      let buf = Buffer.alloc(0);
      const flush = async (chunk: Buffer): Promise<void> => {
        sha.update(chunk);
        sent += chunk.length;
        const more = call.write({ remaining_bytes: snap.sizeBytes - sent || undefined, blob: chunk });
        if (!more && !cancelled) await waitDrain(call);
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
    })().catch((err) => { if (!cancelled) call.destroy(toStatus(err)); });
  };
}

function observeImpl(b: V3Backend): grpc.handleServerStreamingCall<Wire, Wire> {
  return (call) => {
    const ac = new AbortController();
    call.on('cancelled', () => ac.abort());
    (async () => {
      const auth = await prelude(b, call.metadata, false);
      await observe(b, call.request, auth, ac.signal, async (res) => {
        if (!call.write(res) && !ac.signal.aborted) await waitDrain(call);
      });
    })().catch((err) => { if (!ac.signal.aborted) call.destroy(toStatus(err)); });
  };
}

function healthWatchImpl(): grpc.handleServerStreamingCall<Wire, Wire> {
  return (call) => {
    call.write({ status: 1 });
  };
}

export { type as protoType };
