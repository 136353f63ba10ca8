// The VIP: an L4 TCP load balancer on one address in front of the healthy members' client
// ports (the stand-in for api.<svc>.l4lb.thisdcos.directory). It runs as its own process, so it
// keeps serving while the scheduler restarts; it checks its backends itself (GET /health whose
// body contains `true`) and re-reads its configuration file when the scheduler rewrites it.
import net from 'node:net';
import { readFileSync, statSync } from 'node:fs';
import pino from 'pino';
import { checkHealth } from './members.js';

export interface VipConfig {
  host: string;
  port: number;
  backends: { host: string; port: number; healthUrl: string }[];
}

/** Bounds: connections held at once; how many backends one connection tries. */
export const VIP_CONNECTIONS_MAX = 4096;
export const VIP_BACKEND_TRIES_MAX = 5;
export const VIP_HEALTH_INTERVAL_MS = 1000;
const CONNECT_TIMEOUT_MS = 2000;

export async function runVip(configFile: string): Promise<void> {
  const log = pino({ base: { component: 'vip' } });
  let cfg = JSON.parse(readFileSync(configFile, 'utf8')) as VipConfig;
  let mtimeMs = statSync(configFile).mtimeMs;
  let healthy: { host: string; port: number }[] = [];
  let rr = 0;

  const checkAll = async (): Promise<void> => {
    try {
      const m = statSync(configFile).mtimeMs;
      if (m !== mtimeMs) {
        mtimeMs = m;
        cfg = JSON.parse(readFileSync(configFile, 'utf8')) as VipConfig;
      }
    } catch { /* keep the last good configuration */ }
    const results = await Promise.all(cfg.backends.map(async (b) => ((await checkHealth(b.healthUrl, {}, 900)) ? b : undefined)));
    const next = results.filter((b): b is VipConfig['backends'][number] => b !== undefined).map((b) => ({ host: b.host, port: b.port }));
    if (next.map((b) => b.host).join() !== healthy.map((b) => b.host).join()) log.info({ healthy: next.map((b) => `${b.host}:${b.port}`) }, 'backends changed');
    healthy = next;
  };
  await checkAll();
  const timer = setInterval(() => void checkAll(), VIP_HEALTH_INTERVAL_MS);

  const server = net.createServer((client) => {
    client.on('error', () => client.destroy());
    const tryBackend = (attempt: number): void => {
      // With no healthy backend, fall back to every backend: better a try than a refusal.
      const pool = healthy.length > 0 ? healthy : cfg.backends;
      if (pool.length === 0 || attempt >= Math.min(VIP_BACKEND_TRIES_MAX, pool.length)) {
        client.destroy();
        return;
      }
      const b = pool[rr++ % pool.length]!;
      const upstream = net.connect({ host: b.host, port: b.port });
      upstream.setTimeout(CONNECT_TIMEOUT_MS, () => upstream.destroy(new Error('connect timeout')));
      let connected = false;
      upstream.once('connect', () => {
        connected = true;
        upstream.setTimeout(0);
        client.pipe(upstream);
        upstream.pipe(client);
      });
      upstream.on('error', () => {
        if (!connected && !client.destroyed) tryBackend(attempt + 1);
        else client.destroy();
      });
      upstream.on('close', () => { if (connected) client.destroy(); });
      client.on('close', () => upstream.destroy());
    };
    tryBackend(0);
  });
  server.maxConnections = VIP_CONNECTIONS_MAX;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(cfg.port, cfg.host, () => resolve());
  });
  log.info({ address: `${cfg.host}:${cfg.port}` }, 'VIP listening');
  const stop = (): void => {
    clearInterval(timer);
    server.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
