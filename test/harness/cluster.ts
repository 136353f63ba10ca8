// Real-process cluster harness: starts N members of real etcd or of tsetcd with the same etcd
// flags, on loopback, each with its own temp data dir and log file. Tests and benchmarks use it
// to run the very same scenario against both implementations.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, openSync, closeSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MEMBER_ENV, MEMBER_NODE_FLAGS } from '../../src/server/runtime.js';

export type Impl = 'etcd' | 'tsetcd';

export interface StartOptions {
  impl: Impl;
  size: 1 | 3 | 5;
  /** Client port of member i is basePort+2i, its peer port basePort+2i+1. */
  basePort: number;
  token?: string;
  /** Extra etcd flags appended to every member's command line. */
  extraFlags?: string[];
  env?: Record<string, string>;
  snapshotCount?: number;
  heartbeatIntervalMs?: number;
  electionTimeoutMs?: number;
  /** Default true: v2 is what these tests exercise. */
  enableV2?: boolean;
  /** Wait for every member's /health; default true. */
  waitReady?: boolean;
  waitReadyTimeoutMs?: number;
}

export interface Member {
  name: string;
  clientUrl: string;
  peerUrl: string;
  dataDir: string;
  logFile: string;
  /** PID of the running process, or 0 when the member is down. */
  pid: number;
}

/** The repo root, found from this compiled file (dist/test/harness/cluster.js) or its source. */
export const repoRoot: string = (() => {
  const here = fileURLToPath(new URL('.', import.meta.url));
  const up = here.includes('/dist/') ? '../../../' : '../../';
  return fileURLToPath(new URL(up, import.meta.url));
})();

export const ETCD_BIN = process.env.ETCD_BIN ?? '/usr/bin/etcd';
export const ETCDCTL_BIN = process.env.ETCDCTL_BIN ?? '/usr/bin/etcdctl';

/** The command that runs one member of the given implementation, and the environment it adds
 *  to the caller's. */
export function implCommand(impl: Impl): { cmd: string; args: string[]; env: Readonly<Record<string, string>> } {
  switch (impl) {
    case 'etcd':
      return { cmd: ETCD_BIN, args: [], env: {} };
    case 'tsetcd':
      // A member starts as the framework starts it (MEMBER_NODE_FLAGS, MEMBER_ENV);
      // TSETCD_NODE_ARGS adds node flags (e.g. --cpu-prof for profiling).
      return { cmd: process.execPath, args: [...MEMBER_NODE_FLAGS, ...(process.env.TSETCD_NODE_ARGS ?? '').split(' ').filter((a) => a !== ''), join(repoRoot, 'bin', 'tsetcd.js')], env: MEMBER_ENV };
    default: {
      const never: never = impl;
      throw new Error(`unknown impl ${String(never)}`);
    }
  }
}

// Every child and temp dir this process created, so a crash or early exit leaves nothing behind.
const liveChildren = new Set<ChildProcess>();
const liveTempDirs = new Set<string>();
let exitHookInstalled = false;
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  const cleanup = (): void => {
    for (const c of liveChildren) {
      try {
        if (c.pid !== undefined) process.kill(c.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
    liveChildren.clear();
    for (const d of liveTempDirs) {
      try {
        rmSync(d, { recursive: true, force: true });
      } catch {
        /* best effort */
      }
    }
    liveTempDirs.clear();
  };
  process.on('exit', cleanup);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      cleanup();
      process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1));
    });
  }
}

/** Registers a child started outside the harness (e.g. a watch process) for the exit hook. */
export function trackChild(c: ChildProcess): void {
  installExitHook();
  liveChildren.add(c);
  c.once('exit', () => liveChildren.delete(c));
}

export function tailFile(path: string, lines = 40): string {
  try {
    const all = readFileSync(path, 'utf8').split('\n');
    return all.slice(-lines).join('\n');
  } catch (e) {
    return `(no log: ${(e as Error).message})`;
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** GET with a hard timeout; never throws, returns status 0 on a connection failure. */
export async function getText(url: string, timeoutMs = 1000, headers?: Record<string, string>): Promise<{ status: number; text: string }> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), headers });
    return { status: res.status, text: await res.text() };
  } catch {
    return { status: 0, text: '' };
  }
}

export class Cluster {
  readonly members: Member[];
  readonly opts: StartOptions;
  readonly tempDir: string;
  private readonly procs: (ChildProcess | undefined)[];
  private readonly exits: (Promise<void> | undefined)[];

  constructor(opts: StartOptions) {
    installExitHook();
    this.opts = opts;
    this.tempDir = mkdtempSync(join(tmpdir(), `tsetcd-h-${opts.impl}-`));
    liveTempDirs.add(this.tempDir);
    this.members = [];
    for (let i = 0; i < opts.size; i++) {
      const name = `m${i}`;
      this.members.push({
        name,
        clientUrl: `http://127.0.0.1:${opts.basePort + 2 * i}`,
        peerUrl: `http://127.0.0.1:${opts.basePort + 2 * i + 1}`,
        dataDir: join(this.tempDir, `${name}.etcd`),
        logFile: join(this.tempDir, `${name}.log`),
        pid: 0,
      });
    }
    this.procs = new Array(opts.size).fill(undefined);
    this.exits = new Array(opts.size).fill(undefined);
  }

  clientUrls(): string[] {
    return this.members.map((m) => m.clientUrl);
  }

  /** The etcd flags of member i, identical for both implementations. */
  flags(i: number): string[] {
    const o = this.opts;
    const m = this.members[i]!;
    const initialCluster = this.members.map((x) => `${x.name}=${x.peerUrl}`).join(',');
    const f = [
      '--name', m.name,
      '--data-dir', m.dataDir,
      '--listen-client-urls', m.clientUrl,
      '--advertise-client-urls', m.clientUrl,
      '--listen-peer-urls', m.peerUrl,
      '--initial-advertise-peer-urls', m.peerUrl,
      '--initial-cluster', initialCluster,
      '--initial-cluster-state', 'new',
      '--initial-cluster-token', o.token ?? `tok-${o.basePort}`,
      '--heartbeat-interval', String(o.heartbeatIntervalMs ?? 100),
      '--election-timeout', String(o.electionTimeoutMs ?? 1000),
    ];
    if (o.enableV2 ?? true) f.push('--enable-v2=true');
    if (o.snapshotCount !== undefined) f.push('--snapshot-count', String(o.snapshotCount));
    if (o.extraFlags) f.push(...o.extraFlags);
    return f;
  }

  /** Starts (or restarts) the process of member i with its flags. */
  spawnMember(i: number): void {
    if (this.procs[i]) throw new Error(`member ${i} is already running (pid ${this.members[i]!.pid})`);
    const { cmd, args, env: implEnv } = implCommand(this.opts.impl);
    const m = this.members[i]!;
    const fd = openSync(m.logFile, 'a');
    const env: Record<string, string | undefined> = { ...process.env, ...implEnv, ...this.opts.env };
    // Inherited ETCD_* / ETCDCTL_* variables would silently change the member's configuration.
    for (const k of Object.keys(env)) if (k.startsWith('ETCD_') && !(this.opts.env && k in this.opts.env)) delete env[k];
    const child = spawn(cmd, [...args, ...this.flags(i)], { stdio: ['ignore', fd, fd], env, cwd: this.tempDir });
    closeSync(fd);
    if (child.pid === undefined) throw new Error(`could not start ${cmd}`);
    trackChild(child);
    this.procs[i] = child;
    m.pid = child.pid;
    this.exits[i] = new Promise<void>((resolve) => {
      child.once('exit', () => {
        if (this.procs[i] === child) {
          this.procs[i] = undefined;
          m.pid = 0;
        }
        resolve();
      });
    });
  }

  isRunning(i: number): boolean {
    return this.procs[i] !== undefined;
  }

  /** SIGKILL member i and wait for the process to be gone. */
  async kill9(i: number): Promise<void> {
    await this.signalAndWait(i, 'SIGKILL', 5000);
  }

  /** SIGTERM member i and wait for it to exit (SIGKILL after timeoutMs). */
  async stop(i: number, timeoutMs = 10000): Promise<void> {
    await this.signalAndWait(i, 'SIGTERM', timeoutMs);
  }

  /** SIGSTOP / SIGCONT: freezes a member without closing its sockets (a crude partition). */
  pause(i: number): void {
    const p = this.procs[i];
    if (p?.pid) process.kill(p.pid, 'SIGSTOP');
  }
  resume(i: number): void {
    const p = this.procs[i];
    if (p?.pid) process.kill(p.pid, 'SIGCONT');
  }

  private async signalAndWait(i: number, sig: NodeJS.Signals, timeoutMs: number): Promise<void> {
    const p = this.procs[i];
    const exited = this.exits[i];
    if (!p || !exited) return;
    try {
      if (p.pid) process.kill(p.pid, 'SIGCONT');
      p.kill(sig);
    } catch {
      /* already gone */
    }
    const timedOut = await Promise.race([exited.then(() => false), sleep(timeoutMs).then(() => true)]);
    if (timedOut) {
      p.kill('SIGKILL');
      await exited;
    }
  }

  /** Restarts member i with the same flags and data dir. */
  async restart(i: number, waitReadyTimeoutMs?: number): Promise<void> {
    if (this.procs[i]) await this.stop(i);
    this.spawnMember(i);
    if (waitReadyTimeoutMs !== undefined) await this.waitReady(i, waitReadyTimeoutMs);
  }

  /** Waits until GET /health answers 200 with "health":"true" on member i (or all members). */
  async waitReady(which: number | 'all' = 'all', timeoutMs = 20000): Promise<void> {
    const idx = which === 'all' ? this.members.map((_, i) => i) : [which];
    const deadline = Date.now() + timeoutMs;
    await Promise.all(
      idx.map(async (i) => {
        const m = this.members[i]!;
        let last = '';
        while (Date.now() < deadline) {
          if (!this.procs[i]) {
            throw new Error(`member ${m.name} (${this.opts.impl}) exited while waiting for /health\n--- ${m.logFile} ---\n${tailFile(m.logFile)}`);
          }
          const r = await getText(`${m.clientUrl}/health`, Math.min(1000, Math.max(50, deadline - Date.now())));
          last = `${r.status} ${r.text.trim()}`;
          if (r.status === 200 && /"health"\s*:\s*"true"/.test(r.text)) return;
          await sleep(100);
        }
        throw new Error(
          `member ${m.name} (${this.opts.impl}) not healthy within ${timeoutMs} ms (last: ${last || 'no answer'})\n--- ${m.logFile} ---\n${tailFile(m.logFile)}`,
        );
      }),
    );
  }

  /** Index of the current leader as seen by /v2/stats/self on the running members, or -1. */
  async leaderIndex(): Promise<number> {
    for (let i = 0; i < this.members.length; i++) {
      if (!this.procs[i]) continue;
      const r = await getText(`${this.members[i]!.clientUrl}/v2/stats/self`, 1000);
      if (r.status !== 200) continue;
      try {
        if ((JSON.parse(r.text) as { state?: string }).state === 'StateLeader') return i;
      } catch {
        /* not JSON */
      }
    }
    return -1;
  }

  /** Polls leaderIndex() until a leader is known. */
  async waitLeader(timeoutMs = 10000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const l = await this.leaderIndex();
      if (l >= 0) return l;
      await sleep(100);
    }
    throw new Error(`no leader within ${timeoutMs} ms\n${this.logTails()}`);
  }

  logTails(lines = 15): string {
    return this.members.map((m) => `--- ${m.name} ${m.logFile} ---\n${tailFile(m.logFile, lines)}`).join('\n');
  }

  /** Kills every member and removes the temp dir. Safe to call twice. */
  async destroy(): Promise<void> {
    // With node flags (profiling), let members exit normally so they write their profiles.
    if (process.env.TSETCD_NODE_ARGS) await Promise.all(this.members.map((_, i) => this.signalAndWait(i, 'SIGTERM', 5000)));
    await Promise.all(this.members.map((_, i) => this.signalAndWait(i, 'SIGKILL', 5000)));
    if (process.env.HARNESS_KEEP_TMP !== '1') rmSync(this.tempDir, { recursive: true, force: true });
    liveTempDirs.delete(this.tempDir);
  }
}

/** Starts a cluster and (by default) waits until every member reports healthy. */
export async function startCluster(opts: StartOptions): Promise<Cluster> {
  const c = new Cluster(opts);
  try {
    for (let i = 0; i < opts.size; i++) c.spawnMember(i);
    if (opts.waitReady ?? true) await c.waitReady('all', opts.waitReadyTimeoutMs ?? 30000);
  } catch (e) {
    await c.destroy();
    throw e;
  }
  return c;
}

/** Which implementations a test should run, from an env var: etcd | tsetcd | both. */
export function implsFromEnv(varName: string, dflt: 'etcd' | 'tsetcd' | 'both'): Impl[] {
  const v = (process.env[varName] ?? dflt).trim();
  if (v === 'both') return ['etcd', 'tsetcd'];
  if (v === 'etcd' || v === 'tsetcd') return [v];
  throw new Error(`${varName} must be etcd, tsetcd or both, not ${JSON.stringify(v)}`);
}

/** True when the tsetcd member binary exists (built), so tests can skip it with a reason otherwise. */
export function tsetcdAvailable(): boolean {
  return existsSync(join(repoRoot, 'dist', 'src', 'cli.js'));
}

/** Runs fn against a fresh cluster; a failure carries the members' log tails; the cluster is
 *  destroyed whatever happens. */
export async function withCluster(opts: StartOptions, fn: (c: Cluster) => Promise<void>, logLines = 15): Promise<void> {
  const c = await startCluster(opts);
  try {
    await fn(c);
  } catch (err) {
    throw new Error(`${(err as Error).message}\n--- member logs ---\n${c.logTails(logLines)}`);
  } finally {
    await c.destroy();
  }
}
