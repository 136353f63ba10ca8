// Serving /metrics: on the client port (a fastify route) and on --listen-metrics-urls (a small
// standalone HTTP server with /metrics and /health, like etcd's metrics listener).
import http from 'node:http';
import https from 'node:https';
import type tls from 'node:tls';
import type { FastifyInstance } from 'fastify';
import type { MemberMetrics } from './index.js';

const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
/** Methods /metrics answers (Go's promhttp handler serves any method; OPTIONS is the client
 *  port's CORS preflight). */
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH'] as const;

/** GET /metrics on a fastify app (the client port). Call before app.ready(). */
export function registerMetricsRoute(app: FastifyInstance, metrics: MemberMetrics): void {
  app.route({
    method: [...METHODS],
    url: '/metrics',
    handler: async (_request, reply) => {
      const body = await metrics.scrape();
      return reply.code(200).header('content-type', CONTENT_TYPE).send(body);
    },
  });
}

export interface MetricsServerOptions {
  readonly metrics: MemberMetrics;
  /** /health: true for {"health":"true"} (200), false for {"health":"false"} (503). */
  readonly health: () => boolean | Promise<boolean>;
  /** Certificate and key for https: URLs. */
  readonly tls?: tls.SecureContextOptions;
}

export interface MetricsServer {
  /** The bound addresses, in the order of the URLs (port 0 resolved). */
  readonly addresses: ReadonlyArray<{ readonly host: string; readonly port: number }>;
  close(): Promise<void>;
}

/** etcd's answer for a path the metrics listener does not serve (Go's ServeMux). */
const NOT_FOUND = '404 page not found\n';

function handler(opts: MetricsServerOptions): http.RequestListener {
  return (req, res) => {
    const q = (req.url ?? '/').indexOf('?');
    const path = q === -1 ? (req.url ?? '/') : (req.url ?? '/').slice(0, q);
    if (path === '/metrics') {
      opts.metrics.scrape().then(
        (body) => {
          res.writeHead(200, { 'Content-Type': CONTENT_TYPE, 'Content-Length': Buffer.byteLength(body) });
          res.end(req.method === 'HEAD' ? undefined : body);
        },
        (err: unknown) => {
          const msg = `An error has occurred while serving metrics:\n\n${String(err)}\n`;
          res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
          res.end(msg);
        },
      );
      return;
    }
    if (path === '/health') {
      Promise.resolve()
        .then(() => opts.health())
        .catch(() => false)
        .then((ok) => {
          opts.metrics.onHealthCheck(ok);
          const body = ok ? '{"health":"true"}' : '{"health":"false"}';
          res.writeHead(ok ? 200 : 503, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': body.length });
          res.end(body);
        });
      return;
    }
    res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' });
    res.end(NOT_FOUND);
  };
}

/** Listens on every --listen-metrics-urls URL (http: or https:) and serves /metrics and /health. */
export async function createMetricsServer(urls: readonly URL[], opts: MetricsServerOptions): Promise<MetricsServer> {
  const servers: http.Server[] = [];
  const addresses: Array<{ host: string; port: number }> = [];
  const close = (): Promise<void> =>
    Promise.all(
      servers.map(
        (s) =>
          new Promise<void>((resolve) => {
            s.close(() => resolve());
            s.closeAllConnections();
          }),
      ),
    ).then(() => undefined);
  try {
    for (const url of urls) {
      let server: http.Server;
      if (url.protocol === 'https:') {
        if (opts.tls === undefined) throw new Error(`metrics URL ${url.href}: https needs a certificate`);
        server = https.createServer(opts.tls, handler(opts));
      } else if (url.protocol === 'http:') {
        server = http.createServer(handler(opts));
      } else {
        throw new Error(`metrics URL ${url.href}: scheme must be http or https`);
      }
      servers.push(server);
      const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host: host === 'localhost' ? '127.0.0.1' : host, port: Number(url.port || (url.protocol === 'https:' ? 443 : 80)) }, () => {
          server.off('error', reject);
          resolve();
        });
      });
      const a = server.address();
      addresses.push(typeof a === 'object' && a !== null ? { host: a.address, port: a.port } : { host, port: Number(url.port) });
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { addresses, close };
}
