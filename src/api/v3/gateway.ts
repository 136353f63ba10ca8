// etcd 3.4's grpc-gateway: the v3 API as JSON over HTTP/1.1 POST on the client port
// (/v3/... and the /v3beta/... alias). Unary calls dispatch through the same method table as
// gRPC; streams answer newline-separated {"result":{...}} objects.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { V3Error, GrpcCode } from '../../store/v3error.js';
import { GRPC_CODE_NAMES } from '../metrics/grpc-methods.js';
import type { AuthInfo, V3ApiOptions, V3Backend } from './backend.js';
import { big, headerWire, long, type Wire } from './convert.js';
import { observe } from './election.js';
import { GRPC_OVERHEAD_BYTES, SNAPSHOT_CHUNK_BYTES } from './grpc.js';
import { fromJson, toJson } from './json.js';
import { type, type PbType } from './proto.js';
import { unaryMethods, type UnaryMethod } from './services.js';
import { WatchSession } from './watch.js';

/** gRPC method path of each unary gateway route (etcd 3.4's google.api.http bindings). */
export const UNARY_ROUTES: Readonly<Record<string, string>> = {
  '/v3/kv/range': '/etcdserverpb.KV/Range',
  '/v3/kv/put': '/etcdserverpb.KV/Put',
  '/v3/kv/deleterange': '/etcdserverpb.KV/DeleteRange',
  '/v3/kv/txn': '/etcdserverpb.KV/Txn',
  '/v3/kv/compaction': '/etcdserverpb.KV/Compact',
  '/v3/lease/grant': '/etcdserverpb.Lease/LeaseGrant',
  '/v3/lease/revoke': '/etcdserverpb.Lease/LeaseRevoke',
  '/v3/kv/lease/revoke': '/etcdserverpb.Lease/LeaseRevoke',
  '/v3/lease/timetolive': '/etcdserverpb.Lease/LeaseTimeToLive',
  '/v3/kv/lease/timetolive': '/etcdserverpb.Lease/LeaseTimeToLive',
  '/v3/lease/leases': '/etcdserverpb.Lease/LeaseLeases',
  '/v3/kv/lease/leases': '/etcdserverpb.Lease/LeaseLeases',
  '/v3/cluster/member/add': '/etcdserverpb.Cluster/MemberAdd',
  '/v3/cluster/member/remove': '/etcdserverpb.Cluster/MemberRemove',
  '/v3/cluster/member/update': '/etcdserverpb.Cluster/MemberUpdate',
  '/v3/cluster/member/list': '/etcdserverpb.Cluster/MemberList',
  '/v3/cluster/member/promote': '/etcdserverpb.Cluster/MemberPromote',
  '/v3/maintenance/alarm': '/etcdserverpb.Maintenance/Alarm',
  '/v3/maintenance/status': '/etcdserverpb.Maintenance/Status',
  '/v3/maintenance/defragment': '/etcdserverpb.Maintenance/Defragment',
  // Hash and HashKV are both bound to this path in 3.4; Hash is what answers.
  '/v3/maintenance/hash': '/etcdserverpb.Maintenance/Hash',
  '/v3/maintenance/transfer-leadership': '/etcdserverpb.Maintenance/MoveLeader',
  '/v3/auth/enable': '/etcdserverpb.Auth/AuthEnable',
  '/v3/auth/disable': '/etcdserverpb.Auth/AuthDisable',
  '/v3/auth/authenticate': '/etcdserverpb.Auth/Authenticate',
  '/v3/auth/user/add': '/etcdserverpb.Auth/UserAdd',
  '/v3/auth/user/get': '/etcdserverpb.Auth/UserGet',
  '/v3/auth/user/list': '/etcdserverpb.Auth/UserList',
  '/v3/auth/user/delete': '/etcdserverpb.Auth/UserDelete',
  '/v3/auth/user/changepw': '/etcdserverpb.Auth/UserChangePassword',
  '/v3/auth/user/grant': '/etcdserverpb.Auth/UserGrantRole',
  '/v3/auth/user/revoke': '/etcdserverpb.Auth/UserRevokeRole',
  '/v3/auth/role/add': '/etcdserverpb.Auth/RoleAdd',
  '/v3/auth/role/get': '/etcdserverpb.Auth/RoleGet',
  '/v3/auth/role/list': '/etcdserverpb.Auth/RoleList',
  '/v3/auth/role/delete': '/etcdserverpb.Auth/RoleDelete',
  '/v3/auth/role/grant': '/etcdserverpb.Auth/RoleGrantPermission',
  '/v3/auth/role/revoke': '/etcdserverpb.Auth/RoleRevokePermission',
  '/v3/lock/lock': '/v3lockpb.Lock/Lock',
  '/v3/lock/unlock': '/v3lockpb.Lock/Unlock',
  '/v3/election/campaign': '/v3electionpb.Election/Campaign',
  '/v3/election/proclaim': '/v3electionpb.Election/Proclaim',
  '/v3/election/leader': '/v3electionpb.Election/Leader',
  '/v3/election/resign': '/v3electionpb.Election/Resign',
};

/** grpc-gateway's HTTP status for a gRPC code (runtime.HTTPStatusFromCode). */
export function httpStatusOf(code: number): number {
  switch (code) {
    case GrpcCode.OK: return 200;
    case GrpcCode.CANCELLED: return 408;
    case GrpcCode.INVALID_ARGUMENT: case GrpcCode.OUT_OF_RANGE: return 400;
    case GrpcCode.DEADLINE_EXCEEDED: return 504;
    case GrpcCode.NOT_FOUND: return 404;
    case GrpcCode.ALREADY_EXISTS: case GrpcCode.ABORTED: return 409;
    case GrpcCode.PERMISSION_DENIED: return 403;
    case GrpcCode.UNAUTHENTICATED: return 401;
    case GrpcCode.RESOURCE_EXHAUSTED: return 429;
    case GrpcCode.FAILED_PRECONDITION: return 412;
    case GrpcCode.UNIMPLEMENTED: return 501;
    case GrpcCode.UNAVAILABLE: return 503;
    default: return 500;
  }
}

export function codeAndMessage(err: unknown): [number, string] {
  if (err instanceof V3Error) return [err.code, err.message];
  return [GrpcCode.UNKNOWN, err instanceof Error ? err.message : String(err)];
}

/** grpc-go's text for a status error, what etcd puts in a refused watch's cancel_reason
 *  (`rpc error: code = PermissionDenied desc = etcdserver: permission denied`). */
export function grpcErrorText(err: unknown): string {
  const [code, message] = codeAndMessage(err);
  return `rpc error: code = ${GRPC_CODE_NAMES[code] ?? `Code(${code})`} desc = ${message}`;
}

function sendError(reply: FastifyReply, err: unknown): FastifyReply {
  const [code, message] = codeAndMessage(err);
  return reply.code(httpStatusOf(code)).header('content-type', 'application/json')
    .send(JSON.stringify({ error: message, message, code }));
}

function parseBody(body: unknown): unknown {
  const text = Buffer.isBuffer(body) ? body.toString('utf8') : typeof body === 'string' ? body : '';
  if (text.trim() === '') return {};
  return JSON.parse(text);
}

class BadJson extends Error {}

export function registerGateway(app: FastifyInstance, backend: V3Backend, opts: V3ApiOptions): void {
  const methods = new Map<string, UnaryMethod>();
  for (const m of unaryMethods(backend, opts)) methods.set(m.path, m);
  const bodyLimit = opts.maxRequestBytes + GRPC_OVERHEAD_BYTES;

  const authOf = async (req: FastifyRequest, learnerOk: boolean): Promise<AuthInfo | undefined> => {
    if (!learnerOk && backend.isLearner()) throw new V3Error('notSupportedForLearner');
    const token = req.headers.authorization;
    return token ? backend.authInfoFromToken(token) : undefined;
  };
  const decode = (t: PbType, body: unknown): Wire => {
    let json: unknown;
    try {
      json = parseBody(body);
    } catch (err) {
      throw new BadJson((err as Error).message);
    }
    try {
      return fromJson(t, json);
    } catch (err) {
      throw new BadJson((err as Error).message);
    }
  };
  const fail = (reply: FastifyReply, err: unknown): FastifyReply =>
    err instanceof BadJson
      ? reply.code(400).header('content-type', 'application/json').send(JSON.stringify({ error: err.message, message: err.message, code: GrpcCode.INVALID_ARGUMENT }))
      : sendError(reply, err);

  app.register(async (scope) => {
    // Bodies are JSON whatever the content type says (curl -d sends form-urlencoded).
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit }, (_req, body, done) => done(null, body));

    const route = (path: string, handler: (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>): void => {
      for (const p of [path, path.replace(/^\/v3\//, '/v3beta/')]) scope.post(p, { bodyLimit }, handler);
    };

    for (const [path, grpcPath] of Object.entries(UNARY_ROUTES)) {
      const m = methods.get(grpcPath)!;
      const reqT = type(m.requestType);
      const resT = type(m.responseType);
      route(path, async (req, reply) => {
        const ac = new AbortController();
        req.raw.on('close', () => { if (!reply.sent) ac.abort(); });
        try {
          const w = decode(reqT, req.body);
          const auth = await authOf(req, m.learnerOk ? m.learnerOk(w) : false);
          const res = await m.handler(w, { auth, signal: ac.signal });
          return reply.header('content-type', 'application/json').send(JSON.stringify(toJson(resT, res)));
        } catch (err) {
          return fail(reply, err);
        }
      });
    }

    // ---- streams: {"result":...} lines ----
    const stream = (reply: FastifyReply): { write(t: PbType, w: Wire): boolean; error(err: unknown): void; end(): void } => {
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, { 'content-type': 'application/json' });
      return {
        write: (t, w) => res.write(JSON.stringify({ result: toJson(t, w) }) + '\n'),
        error: (err) => {
          const [code, message] = codeAndMessage(err);
          res.end(JSON.stringify({ error: { grpc_code: code, http_code: httpStatusOf(code), message, http_status: '' } }) + '\n');
        },
        end: () => res.end(),
      };
    };

    const WatchReqT = type('etcdserverpb.WatchRequest');
    const WatchResT = type('etcdserverpb.WatchResponse');
    route('/v3/watch', async (req, reply) => {
      let w: Wire;
      let auth: AuthInfo | undefined;
      try {
        w = decode(WatchReqT, req.body);
        auth = await authOf(req, false);
      } catch (err) {
        return fail(reply, err);
      }
      const out = stream(reply);
      let closed = false;
      const session = new WatchSession(backend, auth, {
        write: (res) => (closed ? true : out.write(WatchResT, res)),
        fail: (err) => { if (!closed) { closed = true; session.close(); out.error(err); } },
      }, opts.maxRequestBytes);
      reply.raw.on('drain', () => session.drained());
      reply.raw.on('close', () => { closed = true; session.close(); });
      session.handle(w);
    });

    const KaReqT = type('etcdserverpb.LeaseKeepAliveRequest');
    const KaResT = type('etcdserverpb.LeaseKeepAliveResponse');
    route('/v3/lease/keepalive', async (req, reply) => {
      try {
        const w = decode(KaReqT, req.body);
        await authOf(req, false);
        const id = big(w.ID);
        let ttl = 0;
        try {
          ttl = await backend.leaseKeepAlive(id);
        } catch (err) {
          if (!(err instanceof V3Error && err.kind === 'leaseNotFound')) throw err;
        }
        const out = stream(reply);
        out.write(KaResT, { header: headerWire(backend.header(), backend.header().revision), ID: long(id), TTL: ttl || undefined });
        out.end();
      } catch (err) {
        return fail(reply, err);
      }
    });

    const SnapResT = type('etcdserverpb.SnapshotResponse');
    route('/v3/maintenance/snapshot', async (req, reply) => {
      let snap;
      try {
        const auth = await authOf(req, false);
        snap = await backend.snapshot(auth);
      } catch (err) {
        return fail(reply, err);
      }
      const out = stream(reply);
      const { createHash } = await import('node:crypto');
      const sha = createHash('sha256');
      let sent = 0;
      try {
        for await (const piece of snap.chunks) {
          for (let off = 0; off < piece.length; off += SNAPSHOT_CHUNK_BYTES) {
            const chunk = piece.subarray(off, off + SNAPSHOT_CHUNK_BYTES);
            sha.update(chunk);
            sent += chunk.length;
            out.write(SnapResT, { remaining_bytes: snap.sizeBytes - sent || undefined, blob: chunk });
          }
        }
        out.write(SnapResT, { blob: sha.digest() });
        out.end();
      } catch (err) {
        out.error(err);
      }
    });

    const LeaderReqT = type('v3electionpb.LeaderRequest');
    const LeaderResT = type('v3electionpb.LeaderResponse');
    route('/v3/election/observe', async (req, reply) => {
      let w: Wire;
      let auth: AuthInfo | undefined;
      try {
        w = decode(LeaderReqT, req.body);
        auth = await authOf(req, false);
      } catch (err) {
        return fail(reply, err);
      }
      const out = stream(reply);
      const ac = new AbortController();
      reply.raw.on('close', () => ac.abort());
      observe(backend, w, auth, ac.signal, async (res) => { out.write(LeaderResT, res); })
        .catch((err) => { if (!ac.signal.aborted) out.error(err); });
    });
  });
}
