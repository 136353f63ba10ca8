// v3 gRPC benchmark, tsetcd next to real etcd in the same run: both 3-member clusters are up,
// each phase is run on one while the other idles, and which goes first alternates.
// Usage: node dist/bench/v3.js [--seconds 5] [--clients 1,16,64,256] [--impl both|etcd|tsetcd]
//          [--ops put,range-linearizable,range-serializable,txn,watch] [--keys 10000]
//          [--target spread|leader] [--clients-per-conn 16] [--warmup 5] [--rounds 1]
// --rounds N: every phase N times per implementation (AB BA AB ...), medians reported.
// Ops: put = Put of a 256-byte value over --keys keys; range-linearizable / range-serializable =
// single-key Range of those keys (populated first); txn = If(mod_revision(k) > 0) Then(Put k);
// watch = N watch streams on one prefix spread over the members, one writer putting under it
// back to back; req/s is events delivered per second, p50/p99 the delay from put to event.
// Warm-up: before an op's measured phases, --warmup seconds of the same op at the largest client
// count, not measured (both implementations): what is compared is the steady state of a
// long-running server, not the first seconds of V8's JIT compiling the hot paths.
// Connections: one HTTP/2 connection per --clients-per-conn clients (at least one per member),
// spread over the 3 members starting with the leader (--target spread), or all to the leader.
// The same for both implementations. The load generator is a separate node process (raw
// grpc-js, requests encoded up front); its CPU use is reported. Each member's RSS (VmRSS) and
// peak RSS (VmHWM) are read from /proc at the end of the run.
import { eachFlag, membersCpuMs, runMain } from './common.js';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startCluster, trackChild, type Cluster, type Impl } from '../test/harness/cluster.js';
import type { LoadConfig, LoadResult } from './v3-load.js';

const ALL_OPS = ['put', 'range-linearizable', 'range-serializable', 'txn', 'watch'] as const;
type Op = (typeof ALL_OPS)[number];

interface Args {
  seconds: number;
  clients: number[];
  impls: Impl[];
  ops: Op[];
  keys: number;
  target: 'spread' | 'leader';
  clientsPerChannel: number;
  warmup: number;
  rounds: number;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { seconds: 5, clients: [1, 16, 64, 256], impls: ['tsetcd', 'etcd'], ops: [...ALL_OPS], keys: 10000, target: 'spread', clientsPerChannel: 16, warmup: 5, rounds: 1 };
  eachFlag(argv, (f, need) => {
    if (f === '--seconds') a.seconds = Number(need());
    else if (f === '--clients') a.clients = need().split(',').map(Number);
    else if (f === '--impl') {
      const x = need();
      if (x !== 'both' && x !== 'etcd' && x !== 'tsetcd') throw new Error('--impl is both, etcd or tsetcd');
      a.impls = x === 'both' ? ['tsetcd', 'etcd'] : [x];
    } else if (f === '--ops') {
      const ops = need().split(',');
      for (const o of ops) if (!(ALL_OPS as readonly string[]).includes(o)) throw new Error(`unknown op ${o} (ops: ${ALL_OPS.join(',')})`);
      a.ops = ops as Op[];
    } else if (f === '--keys') a.keys = Number(need());
    else if (f === '--target') {
      const x = need();
      if (x !== 'spread' && x !== 'leader') throw new Error('--target is spread or leader');
      a.target = x;
    } else if (f === '--clients-per-conn') a.clientsPerChannel = Number(need());
    else if (f === '--warmup') a.warmup = Number(need());
    else if (f === '--rounds') a.rounds = Number(need());
    else throw new Error(`unknown flag ${f}`);
  });
  if (!(a.seconds > 0) || a.clients.some((c) => !(c >= 1)) || !(a.keys >= 1) || !(a.clientsPerChannel >= 1) || !(a.warmup >= 0) || !(Number.isInteger(a.rounds) && a.rounds >= 1)) throw new Error('bad arguments');
  return a;
}

const LOAD_JS = fileURLToPath(new URL('./v3-load.js', import.meta.url));
/** Beyond --seconds a phase may take this long (connecting, watch creation, drain, 10 s call timeouts). */
const PHASE_SLACK_S = 40;
const POPULATE_TIMEOUT_S = 120;

function runLoad(cfg: LoadConfig, timeoutS: number): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [LOAD_JS, JSON.stringify(cfg)], { stdio: ['ignore', 'pipe', 'inherit'] });
    trackChild(child);
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutS * 1000);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`load generator (${cfg.op}, ${cfg.clients} clients) exited ${code ?? signal}`));
      resolve(JSON.parse(out) as LoadResult);
    });
  });
}

interface Row {
  op: Op;
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

interface MemberMem {
  impl: Impl;
  name: string;
  leader: boolean;
  rssMb: number;
  peakMb: number;
  /** VmRSS once both clusters were up, before any load: the per-process fixed cost. */
  idleMb: number;
}

/** VmRSS and VmHWM (peak) of a process from /proc, in MiB. */
function memOf(pid: number): { rssMb: number; peakMb: number } {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(s)?.[1] ?? NaN);
    return { rssMb: kb('VmRSS') / 1024, peakMb: kb('VmHWM') / 1024 };
  } catch {
    return { rssMb: NaN, peakMb: NaN };
  }
}

function hostPort(url: string): string {
  const u = new URL(url);
  return `${u.hostname}:${u.port}`;
}

/** One implementation's cluster, kept up for the whole run. */
interface Side {
  readonly impl: Impl;
  readonly c: Cluster;
  readonly leader: number;
  readonly base: { endpoints: string[]; seconds: number; keys: number; valueBytes: number; keyPrefix: string; clientsPerChannel: number };
  populated: boolean;
}

async function startSide(impl: Impl, a: Args, basePort: number): Promise<Side> {
  const extraFlags = (process.env.BENCH_EXTRA_FLAGS ?? '').split(' ').filter((f) => f !== '');
  const c: Cluster = await startCluster({ impl, size: 3, basePort, waitReadyTimeoutMs: 30000, extraFlags });
  try {
    const leader = await c.waitLeader();
    // The leader first: a single client, and the watch writer, always talk to the leader.
    const order = [0, 1, 2].map((j) => (leader + j) % 3);
    const endpoints = a.target === 'leader' ? [hostPort(c.members[leader]!.clientUrl)] : order.map((i) => hostPort(c.members[i]!.clientUrl));
    return { impl, c, leader, base: { endpoints, seconds: a.seconds, keys: a.keys, valueBytes: 256, keyPrefix: 'bench/k', clientsPerChannel: a.clientsPerChannel }, populated: false };
  } catch (e) {
    await c.destroy();
    throw e;
  }
}

const opConfig = (side: Side, op: Op, clients: number): LoadConfig => ({ ...side.base, op, clients, ...(op === 'watch' ? { keyPrefix: 'bench/w/' } : {}) });

/** Before an op's phases: the keys it reads (populated once), then --warmup s of it, unmeasured. */
async function prepare(side: Side, op: Op, a: Args): Promise<void> {
  if (!side.populated && (op === 'range-linearizable' || op === 'range-serializable' || op === 'txn')) {
    // Every key the range and txn phases touch exists, so neither counts misses.
    const p = await runLoad({ ...side.base, op: 'populate', clients: 64 }, POPULATE_TIMEOUT_S);
    if (p.errors > 0) throw new Error(`populate: ${p.errors} errors (${p.firstError})`);
    side.populated = true;
  }
  if (a.warmup > 0) {
    await runLoad({ ...opConfig(side, op, Math.max(...a.clients)), seconds: a.warmup }, a.warmup + PHASE_SLACK_S).catch((e: Error) =>
      process.stderr.write(`${side.impl} ${op} warm-up: ${e.message}\n`),
    );
  }
}

async function measure(side: Side, op: Op, clients: number, a: Args): Promise<Row> {
  let r: LoadResult;
  let cpuMs: number;
  try {
    ({ result: r, cpuMs } = await membersCpuMs(side.c.members.map((m) => m.pid), () => runLoad(opConfig(side, op, clients), a.seconds + PHASE_SLACK_S)));
  } catch (e) {
    process.stderr.write(`${side.impl} ${op} c=${clients}: ${(e as Error).message}\n`);
    return { op, clients, impl: side.impl, rps: NaN, p50: NaN, p99: NaN, errors: NaN, loadCpu: NaN, memberCpuUs: NaN };
  }
  const loadCpu = (r.cpuUserMs + r.cpuSystemMs) / r.wallMs;
  const rps = r.requests / (r.wallMs / 1000);
  const watchNote = op === 'watch' ? `, writer ${(r.writerPuts! / (r.wallMs / 1000)).toFixed(0)} puts/s, events ${r.eventsReceived}/${r.eventsExpected}` : '';
  process.stderr.write(
    `${side.impl} ${op} c=${clients} (${r.channels} conns): ${rps.toFixed(0)} ${op === 'watch' ? 'events' : 'req'}/s${watchNote}, p99 ${r.latencyMsP99.toFixed(2)} ms, errors ${r.errors}${r.firstError ? ` (${r.firstError})` : ''}, load-gen CPU ${(loadCpu * 100).toFixed(0)}%\n`,
  );
  return { op, clients, impl: side.impl, rps, p50: r.latencyMsP50, p99: r.latencyMsP99, errors: r.errors, loadCpu, memberCpuUs: (cpuMs * 1000) / r.requests };
}

/** Each figure's median over a phase's rounds (errors: their sum). */
function medianRow(rows: Row[]): Row {
  const med = (k: 'rps' | 'p50' | 'p99' | 'loadCpu' | 'memberCpuUs'): number => {
    const v = rows.map((r) => r[k]).filter(Number.isFinite).sort((x, y) => x - y);
    if (v.length === 0) return NaN;
    const m = v.length >> 1;
    return v.length % 2 === 1 ? v[m]! : (v[m - 1]! + v[m]!) / 2;
  };
  return { ...rows[0]!, rps: med('rps'), p50: med('p50'), p99: med('p99'), loadCpu: med('loadCpu'), memberCpuUs: med('memberCpuUs'), errors: rows.reduce((s, r) => s + r.errors, 0) };
}

async function main(): Promise<void> {
  const a = parseArgs(process.argv.slice(2));
  const rows: Row[] = [];
  const mem: MemberMem[] = [];
  const basePorts: Record<Impl, number> = { tsetcd: 25500, etcd: 25600 };
  // Both clusters stay up the whole run (one idles while the other is measured), and the phases
  // alternate which goes first (AB, BA, AB, ...): this VM's speed drifts by tens of percent
  // within minutes, and measuring one implementation after the other turned that into ratios.
  const sides: Side[] = [];
  try {
    for (const impl of a.impls) {
      try {
        sides.push(await startSide(impl, a, basePorts[impl]));
      } catch (e) {
        process.stderr.write(`${impl}: benchmark failed: ${(e as Error).message.split('\n').slice(0, 12).join('\n')}\n`);
      }
    }
    const idleMb = new Map<number, number>();
    for (const side of sides) for (const m of side.c.members) idleMb.set(m.pid, memOf(m.pid).rssMb);
    let phase = 0;
    for (const op of a.ops) {
      const ready: Side[] = [];
      for (const side of sides) {
        try {
          await prepare(side, op, a);
          ready.push(side);
        } catch (e) {
          process.stderr.write(`${side.impl} ${op}: ${(e as Error).message}\n`);
        }
      }
      for (const clients of a.clients) {
        const samples = new Map<Impl, Row[]>(ready.map((s) => [s.impl, []]));
        for (let round = 0; round < a.rounds; round++) {
          for (const side of phase++ % 2 === 0 ? ready : [...ready].reverse()) samples.get(side.impl)!.push(await measure(side, op, clients, a));
        }
        for (const side of ready) rows.push(medianRow(samples.get(side.impl)!));
      }
    }
    for (const side of sides) side.c.members.forEach((m, i) => mem.push({ impl: side.impl, name: m.name, leader: i === side.leader, ...memOf(m.pid), idleMb: idleMb.get(m.pid) ?? NaN }));
  } finally {
    for (const side of sides) await side.c.destroy();
  }
  const f = (n: number, d = 1): string => (Number.isFinite(n) ? n.toFixed(d) : '-');
  const lines = [
    `v3 benchmark: 3 members each, ${a.target === 'leader' ? 'all connections to the leader' : `connections spread over the 3 members, leader first (writes to followers are forwarded)`}, ` +
      `1 HTTP/2 conn per ${a.clientsPerChannel} clients, ${a.seconds} s per phase after ${a.warmup} s of warm-up per op, ${a.keys} keys, 256-byte values`,
    `both clusters up side by side, phases alternating which goes first; ${a.rounds} round(s) per phase${a.rounds > 1 ? ', medians shown' : ''}`,
    'watch: req/s = events delivered/s to N watchers (one writer, to the leader), p50/p99 = put sent -> event received',
    'member-CPU = the 3 members\' CPU time (user + system) per request (for watch: per delivered event), in µs',
    'op                 clients impl      req/s   p50 ms   p99 ms   errors  member-CPU  loadgen-CPU  tsetcd/etcd',
  ];
  for (const op of a.ops) {
    for (const clients of a.clients) {
      for (const r of rows.filter((x) => x.op === op && x.clients === clients)) {
        const other = rows.find((x) => x.op === r.op && x.clients === r.clients && x.impl === 'etcd');
        const ratio = r.impl === 'tsetcd' && other ? f(r.rps / other.rps, 2) : '';
        const sat = r.loadCpu > 0.9 ? ' SATURATED' : '';
        lines.push(
          `${r.op.padEnd(18)} ${String(r.clients).padStart(7)} ${r.impl.padEnd(7)} ${f(r.rps, 0).padStart(8)} ${f(r.p50, 2).padStart(8)} ${f(r.p99, 2).padStart(8)} ` +
            `${String(r.errors).padStart(8)} ${(f(r.memberCpuUs, 0) + ' µs').padStart(11)} ${(f(r.loadCpu * 100, 0) + '%').padStart(11)}${sat}  ${ratio}`,
        );
      }
    }
  }
  lines.push('', 'member RSS at the end of the run (MiB; peak = VmHWM; idle = before any load)', 'member impl      role        RSS    peak    idle');
  for (const m of mem) lines.push(`${m.name.padEnd(6)} ${m.impl.padEnd(7)} ${(m.leader ? 'leader' : 'follower').padEnd(8)} ${f(m.rssMb).padStart(7)} ${f(m.peakMb).padStart(7)} ${f(m.idleMb).padStart(7)}`);
  const sum = (impl: Impl, k: 'rssMb' | 'peakMb' | 'idleMb'): number => mem.filter((m) => m.impl === impl).reduce((s, m) => s + m[k], 0);
  if (mem.some((m) => m.impl === 'tsetcd') && mem.some((m) => m.impl === 'etcd')) {
    const total = (k: 'rssMb' | 'peakMb' | 'idleMb', what: string): string =>
      `${what} tsetcd ${f(sum('tsetcd', k))} MiB, etcd ${f(sum('etcd', k))} MiB, tsetcd/etcd ${f(sum('tsetcd', k) / sum('etcd', k), 2)}`;
    lines.push(`total RSS ${total('rssMb', 'at the end')}; ${total('peakMb', 'peak')}; ${total('idleMb', 'idle')}`);
  }
  process.stdout.write(lines.join('\n') + '\n');
  if (rows.some((r) => r.loadCpu > 0.9)) process.stdout.write('note: the load generator used > 90% of one CPU in a phase marked SATURATED; its figures are a lower bound.\n');
}

runMain('bench/v3', main);
