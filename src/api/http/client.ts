// The HTTP/1.1 side of the client port that is not gRPC or the gateway: the v2 API (/v2/...), /version,
// /health, CORS and the host whitelist, and Go ServeMux's behaviour for everything else (clean-path
// redirects, "404 page not found"). One place assembles it: registerClientHttp.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { V2Backend } from '../v2/backend.js';
import { V2_FORM_BODY_BYTES_MAX, muxCleanPath, unescapePath } from '../v2/form.js';
import { serveKeys, type KeysContext } from '../v2/keys.js';
import { serveMachines, serveMembers } from '../v2/members.js';
import { serveStats } from '../v2/stats.js';
import { serveAuth } from '../v2/auth.js';
import { sendCleanPathRedirect, sendGoError, sendHttpError, sendMethodNotAllowed, sendNotFound, sendV2Error, JSON_CT, TEXT_CT } from '../v2/reply.js';
import { V2Error } from '../../store/v2/errors.js';

/** Every body on these routes is read whole into memory; this is the most we read. Go's form limit
 *  (10 MiB) is what etcd answers for /v2/keys (210 "http: POST too large"); JSON bodies (members, auth)
 *  get the same bound and a 400. */
export const CLIENT_HTTP_BODY_BYTES_MAX = V2_FORM_BODY_BYTES_MAX;

export const ETCD_SERVER_VERSION = '3.4.23';

export interface ClientHttpOptions {
  /** --enable-v2: without it every /v2/... path answers 404 page not found. */
  readonly enableV2: boolean;
  /** --cors: allowed origins; ['*'] (or empty) allows every origin. */
  readonly corsOrigins: readonly string[];
  /** --host-whitelist: allowed Host names; empty or containing '*' allows all. */
  readonly hostWhitelist: readonly string[];
  /** Register the Go-mux style not-found handler on `app` (default true). */
  readonly notFoundHandler?: boolean;
}

interface Ctx extends KeysContext {
  readonly backend: V2Backend;
  readonly enableV2: boolean;
}

const ALL_METHODS = ['GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'PATCH', 'OPTIONS'] as const;


function rawBodyParser(_req: FastifyRequest, body: Buffer, done: (err: Error | null, body?: Buffer) => void): void {
  done(null, body);
}

/** Registers the client HTTP routes on `app` (call before app.ready()). */
export function registerClientHttp(app: FastifyInstance, backend: V2Backend, opts: ClientHttpOptions): void {
  const ctx: Ctx = { backend, enableV2: opts.enableV2 };
  const corsAll = opts.corsOrigins.length === 0 || opts.corsOrigins.includes('*');
  const corsSet = new Set(opts.corsOrigins);
  const hostAllowed = hostWhitelistCheck(opts.hostWhitelist);

  // CORS on every answer (etcd wraps the whole client handler); OPTIONS stops here with 200.
  app.addHook('onRequest', (request, reply, done) => {
    const host = request.headers.host ?? '';
    if (!hostAllowed(host, (request.raw.socket as { encrypted?: boolean }).encrypted === true)) {
      sendGoError(reply, 421, misdirectedText(host));
      return;
    }
    if (corsAll) reply.header('access-control-allow-origin', '*');
    else {
      const origin = request.headers.origin;
      if (origin !== undefined && corsSet.has(origin)) reply.header('access-control-allow-origin', origin);
    }
    reply.header('access-control-allow-methods', 'POST, GET, OPTIONS, PUT, DELETE');
    reply.header('access-control-allow-headers', 'accept, content-type, authorization');
    if (request.method === 'OPTIONS') {
      reply.code(200).send();
      return;
    }
    done();
  });

  app.register(async (inst) => {
    // Bodies are read raw (any content type) and parsed per endpoint, as etcd's handlers do.
    inst.removeAllContentTypeParsers();
    inst.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: CLIENT_HTTP_BODY_BYTES_MAX }, rawBodyParser);
    inst.setErrorHandler((err: { code?: string; statusCode?: number }, request, reply) => {
      if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
        reply.header('connection', 'close');
        const path = (request.url.split('?')[0] ?? '');
        if (path === '/v2/keys' || path.startsWith('/v2/keys/')) {
          reply.header('x-etcd-cluster-id', backend.clusterId);
          return sendV2Error(reply, new V2Error(210, 'http: POST too large', 0));
        }
        return sendHttpError(reply, 400, 'http: request body too large');
      }
      if (typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
        return sendGoError(reply, 400, '400 Bad Request');
      }
      request.log.error({ err }, 'client http handler failed');
      return sendHttpError(reply, 500, 'Internal Server Error');
    });
    inst.route({ method: [...ALL_METHODS], url: '/v2/*', handler: (request, reply) => dispatchV2(ctx, request, reply) });
    inst.route({ method: [...ALL_METHODS], url: '/version', handler: (request, reply) => serveVersion(ctx, request, reply) });
    inst.route({ method: [...ALL_METHODS], url: '/health', handler: (request, reply) => serveHealth(ctx, request, reply) });
  });

  if (opts.notFoundHandler !== false) {
    app.setNotFoundHandler((request, reply) => {
      const { path, query, bad } = splitRequestUrl(request.url);
      if (bad) return sendGoError(reply, 400, '400 Bad Request');
      const clean = muxCleanPath(path);
      if (clean !== path) return sendCleanPathRedirect(reply, request.method, clean, query);
      sendNotFound(reply);
    });
  }
}

/** --host-whitelist as a check of a request's Host header (the gateway's WebSockets are checked
 *  with it too). As in etcd it guards plain HTTP only: any HTTPS request is allowed. */
export function hostWhitelistCheck(whitelist: readonly string[]): (host: string, encrypted: boolean) => boolean {
  if (whitelist.length === 0 || whitelist.includes('*')) return () => true;
  const hostSet = new Set(whitelist);
  return (host, encrypted) => encrypted || hostSet.has(hostOnly(host));
}

/** etcd's 421 body for a Host not whitelisted (before http.Error's final newline). */
function misdirectedText(host: string): string {
  return `
etcd received your request, but the Host header was unrecognized.

To fix this, choose one of the following options:
- Enable TLS, then any HTTPS request will be allowed.
- Add the hostname you want to use to the whitelist in settings.
  - e.g. etcd --host-whitelist ${JSON.stringify(hostOnly(host))}

This requirement has been added to help prevent "DNS Rebinding" attacks (CVE-2018-5702).
`;
}

function hostOnly(host: string): string {
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    return end === -1 ? host : host.slice(1, end);
  }
  const colon = host.lastIndexOf(':');
  return colon === -1 ? host : host.slice(0, colon);
}

/** The decoded path (Go's r.URL.Path) and the raw query. */
function splitRequestUrl(url: string): { path: string; query: string; bad: boolean } {
  const q = url.indexOf('?');
  const rawPath = q === -1 ? url : url.slice(0, q);
  const query = q === -1 ? '' : url.slice(q + 1);
  const path = unescapePath(rawPath);
  if (typeof path !== 'string') return { path: rawPath, query, bad: true };
  return { path, query, bad: false };
}

async function dispatchV2(ctx: Ctx, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const { path, query, bad } = splitRequestUrl(request.url);
  if (bad) return sendGoError(reply, 400, '400 Bad Request');
  const clean = muxCleanPath(path);
  if (clean !== path) return sendCleanPathRedirect(reply, request.method, clean, query);
  if (!ctx.enableV2) return sendNotFound(reply);
  const b = ctx.backend;
  if (path === '/v2/keys' || path.startsWith('/v2/keys/')) {
    return serveKeys(ctx, request, reply, path.slice(8), query, false);
  }
  if (path === '/v2/members' || path.startsWith('/v2/members/')) return serveMembers(b, request, reply, path.slice(11));
  if (path === '/v2/machines') return serveMachines(b, request, reply);
  if (path === '/v2/stats/store') return serveStats(b, request, reply, 'store');
  if (path === '/v2/stats/self') return serveStats(b, request, reply, 'self');
  if (path === '/v2/stats/leader') return serveStats(b, request, reply, 'leader');
  if (path === '/v2/auth/enable') return serveAuth(b, request, reply, 'enable', '/enable');
  if (path === '/v2/auth/users' || path.startsWith('/v2/auth/users/')) return serveAuth(b, request, reply, 'users', path.slice(8));
  if (path === '/v2/auth/roles' || path.startsWith('/v2/auth/roles/')) return serveAuth(b, request, reply, 'roles', path.slice(8));
  sendNotFound(reply);
}

function serveVersion(ctx: Ctx, request: FastifyRequest, reply: FastifyReply): void {
  if (request.method !== 'GET') return sendMethodNotAllowed(reply, 'GET');
  const cv = ctx.backend.clusterVersion();
  reply
    .code(200)
    .header('content-type', JSON_CT)
    .send(Buffer.from(JSON.stringify({ etcdserver: ETCD_SERVER_VERSION, etcdcluster: cv === '' ? 'not_decided' : cv })));
}

async function serveHealth(ctx: Ctx, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  if (request.method !== 'GET') return sendMethodNotAllowed(reply, 'GET');
  const excluded: string[] = [];
  const { query } = splitRequestUrl(request.url);
  for (const part of query.split('&')) {
    if (part.startsWith('exclude=')) excluded.push(decodeURIComponent(part.slice(8)));
  }
  let ok = false;
  try {
    ok = await ctx.backend.health(excluded);
  } catch {
    ok = false;
  }
  // etcd: 200 with the JSON and no Content-Type (Go sniffs text/plain); 503 through http.Error.
  if (ok) return void reply.code(200).header('content-type', TEXT_CT).send('{"health":"true"}');
  sendGoError(reply, 503, '{"health":"false"}');
}
