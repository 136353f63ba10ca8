// The load generator of bench/v2.ts, run as its own process so it does not share a CPU budget
// (event loop) with the parent. Input: one JSON argument. Output: one JSON line on stdout.
import type { LoadResultBase } from './common.js';
import http from 'node:http';

export interface LoadConfig {
  op: 'set' | 'get';
  endpoints: string[];
  clients: number;
  seconds: number;
  keys: number;
  valueBytes: number;
  keyPrefix: string;
}

export interface LoadResult extends LoadResultBase {
}

async function run(cfg: LoadConfig): Promise<LoadResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: cfg.clients });
  const targets = cfg.endpoints.map((e) => {
    const u = new URL(e);
    return { host: u.hostname, port: Number(u.port) };
  });
  const value = 'v'.repeat(cfg.valueBytes);
  const body = Buffer.from(`value=${value}`);
  const latencies: number[] = [];
  let requests = 0;
  let errors = 0;
  let firstError: string | undefined;
  let seq = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const endAt = t0 + cfg.seconds * 1000;

  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const n = seq++;
      const target = targets[n % targets.length]!; // round-robin over the members
      const path = `/v2/keys/${cfg.keyPrefix}${n % cfg.keys}`;
      const start = performance.now();
      const req = http.request(
        {
          host: target.host,
          port: target.port,
          path,
          method: cfg.op === 'set' ? 'PUT' : 'GET',
          agent,
          headers: cfg.op === 'set' ? { 'content-type': 'application/x-www-form-urlencoded', 'content-length': body.length } : {},
        },
        (res) => {
          res.on('data', () => {});
          res.on('end', () => {
            const ok = res.statusCode === 200 || res.statusCode === 201;
            if (ok) {
              requests++;
              latencies.push(performance.now() - start);
            } else {
              errors++;
              firstError ??= `HTTP ${res.statusCode}`;
            }
            resolve();
          });
        },
      );
      req.setTimeout(10000, () => req.destroy(new Error('timeout')));
      req.on('error', (e) => {
        errors++;
        firstError ??= e.message;
        resolve();
      });
      if (cfg.op === 'set') req.write(body);
      req.end();
    });

  const loop = async (): Promise<void> => {
    while (performance.now() < endAt) await one();
  };
  await Promise.all(Array.from({ length: cfg.clients }, loop));
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const pct = (p: number): number => (latencies.length === 0 ? NaN : latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))]!);
  return { requests, errors, firstError, wallMs, cpuUserMs: cpu.user / 1000, cpuSystemMs: cpu.system / 1000, latencyMsP50: pct(0.5), latencyMsP99: pct(0.99) };
}

if (process.argv[2]) {
  run(JSON.parse(process.argv[2]) as LoadConfig).then(
    (r) => process.stdout.write(JSON.stringify(r) + '\n'),
    (e: Error) => {
      process.stderr.write(`load: ${e.message}\n`);
      process.exit(1);
    },
  );
}
