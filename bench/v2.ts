// v2 HTTP benchmark, tsetcd next to real etcd in the same run (one cluster at a time).
// Usage: node dist/bench/v2.js [--seconds 10] [--clients 1,64] [--impl both|etcd|tsetcd] [--warmup 5]
//                              [--target roundrobin|leader] [--keys 1000]
// Each impl: a 3-member cluster (--enable-v2) on loopback; `set` = PUT of a 256-byte value over
// --keys distinct keys, `get` = GET (default, non-quorum) of the same keys. The load generator
// is a separate node process (keep-alive agent, maxSockets = clients); its CPU use is reported.
// Before each op's measured phases, --warmup seconds of it at the largest client count, not
// measured (both implementations): the comparison is of steady states, not of V8's JIT warm-up.
import { eachFlag, membersCpuMs, runMain } from './common.js';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startCluster, trackChild, type Impl } from '../test/harness/cluster.js';
import type { LoadConfig, LoadResult } from './v2-load.js';

interface Args {
  seconds: number;
  clients: number[];
  impls: Impl[];
  target: 'roundrobin' | 'leader';
  keys: number;
  warmup: number;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { seconds: 10, clients: [1, 64], impls: ['tsetcd', 'etcd'], target: 'roundrobin', keys: 1000, warmup: 5 };
  eachFlag(argv, (f, need) => {
    if (f === '--seconds') a.seconds = Number(need());
    else if (f === '--clients') a.clients = need().split(',').map(Number);
    else if (f === '--impl') {
      const x = need();
      a.impls = x === 'both' ? ['tsetcd', 'etcd'] : [x as Impl];
    } else if (f === '--target') a.target = need() as Args['target'];
    else if (f === '--keys') a.keys = Number(need());
    else if (f === '--warmup') a.warmup = Number(need());
    else throw new Error(`unknown flag ${f}`);
  });
  if (!(a.seconds > 0) || a.clients.some((c) => !(c >= 1)) || !(a.keys >= 1) || !(a.warmup >= 0)) throw new Error('bad arguments');
  return a;
}

const LOAD_JS = fileURLToPath(new URL('./v2-load.js', import.meta.url));

function runLoad(cfg: LoadConfig): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [LOAD_JS, JSON.stringify(cfg)], { stdio: ['ignore', 'pipe', 'inherit'] });
    trackChild(child);
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    // every phase is bounded: seconds + 20 s for in-flight requests (each has a 10 s timeout)
    const timer = setTimeout(() => child.kill('SIGKILL'), (cfg.seconds + 20) * 1000);
    child.once('close', (code) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`load generator exited ${code}`));
      resolve(JSON.parse(out) as LoadResult);
    });
  });
}

/** Makes sure every key the get phase reads exists (a 404 would count as an error). */
async function populate(url: string, keys: number): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < keys) {
      const i = next++;
      const r = await fetch(`${url}/v2/keys/bench/k${i}`, { method: 'PUT', body: new URLSearchParams({ value: 'v'.repeat(256) }), signal: AbortSignal.timeout(10000) });
      await r.text();
      if (r.status >= 300) throw new Error(`populate k${i}: ${r.status}`);
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
}

interface Row {
  op: string;
  clients: number;
  impl: Impl;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  loadCpu: number;
  /** The three members' CPU time per request, in µs. */
  memberCpuUs: number;
}

async function benchImpl(impl: Impl, a: Args, basePort: number): Promise<Row[]> {
  // BENCH_EXTRA_FLAGS: extra member flags for both implementations (e.g. --unsafe-no-fsync for an experiment).
  const extraFlags = (process.env.BENCH_EXTRA_FLAGS ?? '').split(' ').filter((f) => f !== '');
  const c = await startCluster({ impl, size: 3, basePort, waitReadyTimeoutMs: 30000, extraFlags });
  const rows: Row[] = [];
  try {
    const leader = await c.waitLeader();
    const endpoints = a.target === 'leader' ? [c.members[leader]!.clientUrl] : c.clientUrls();
    for (const op of ['set', 'get'] as const) {
      if (op === 'get') await populate(endpoints[0]!, a.keys);
      if (a.warmup > 0) await runLoad({ op, endpoints, clients: Math.max(...a.clients), seconds: a.warmup, keys: a.keys, valueBytes: 256, keyPrefix: 'bench/k' });
      for (const clients of a.clients) {
        const { result: r, cpuMs } = await membersCpuMs(c.members.map((m) => m.pid), () =>
          runLoad({ op, endpoints, clients, seconds: a.seconds, keys: a.keys, valueBytes: 256, keyPrefix: 'bench/k' }),
        );
        const loadCpu = (r.cpuUserMs + r.cpuSystemMs) / r.wallMs;
        rows.push({ op, clients, impl, rps: r.requests / (r.wallMs / 1000), p50: r.latencyMsP50, p99: r.latencyMsP99, errors: r.errors, loadCpu, memberCpuUs: (cpuMs * 1000) / r.requests });
        process.stderr.write(`${impl} ${op} c=${clients}: ${(r.requests / (r.wallMs / 1000)).toFixed(0)} req/s, errors ${r.errors}${r.firstError ? ` (${r.firstError})` : ''}, load-gen CPU ${(loadCpu * 100).toFixed(0)}%\n`);
      }
    }
  } finally {
    await c.destroy();
  }
  return rows;
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const rows: Row[] = [];
  const base: Record<Impl, number> = { tsetcd: 25000, etcd: 25100 };
  for (const impl of a.impls) {
    try {
      rows.push(...(await benchImpl(impl, a, base[impl])));
    } catch (e) {
      process.stderr.write(`${impl}: benchmark failed: ${(e as Error).message.split('\n').slice(0, 12).join('\n')}\n`);
    }
  }
  const f = (n: number, d = 1): string => (Number.isFinite(n) ? n.toFixed(d) : '-');
  const lines = [
    `v2 benchmark: 3 members each, ${a.target === 'leader' ? 'all requests to the leader' : 'requests round-robin over the 3 members (writes to followers are forwarded)'}, ${a.seconds} s per phase after ${a.warmup} s of warm-up per op, ${a.keys} keys, 256-byte values`,
    'member-CPU = the 3 members\' CPU time (user + system) per request, in µs',
    'op   clients impl     req/s      p50 ms   p99 ms   errors  member-CPU  loadgen-CPU  tsetcd/etcd',
  ];
  for (const r of rows) {
    const other = rows.find((x) => x.op === r.op && x.clients === r.clients && x.impl === 'etcd');
    const ratio = r.impl === 'tsetcd' && other ? f(r.rps / other.rps, 2) : '';
    const sat = r.loadCpu > 0.9 ? ' SATURATED' : '';
    lines.push(`${r.op.padEnd(4)} ${String(r.clients).padStart(7)} ${r.impl.padEnd(8)} ${f(r.rps, 0).padStart(8)} ${f(r.p50, 2).padStart(8)} ${f(r.p99, 2).padStart(8)} ${String(r.errors).padStart(8)} ${(f(r.memberCpuUs, 0) + ' µs').padStart(11)} ${(f(r.loadCpu * 100, 0) + '%').padStart(11)}${sat}  ${ratio}`);
  }
  process.stdout.write(lines.join('\n') + '\n');
  if (rows.some((r) => r.loadCpu > 0.9)) process.stdout.write('note: the load generator used > 90% of one CPU in a phase marked SATURATED; its figures are a lower bound.\n');
}

runMain('bench/v2', main);
