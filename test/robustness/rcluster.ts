// A tsetcd cluster for fault injection: real member processes on loopback whose peer traffic
// goes through per-member PeerProxy instances (so any directed link can be cut, delayed or
// made lossy), with process faults (kill -9, SIGSTOP, SIGTERM), membership changes (remove +
// add a fresh member in the same slot) and a clock offset on restart.
//
// Ports, from basePort: member slot i has client port base+10i, real peer port base+10i+1,
// peer proxy base+10i+2. Slots 0..size-1.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, openSync, closeSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { implCommand, trackChild, getText, sleep, tailFile } from '../harness/cluster.js';
import { memberIdOf, formatId } from '../../src/api/config/ids.js';
import { PeerProxy, LinkTable } from './netproxy.js';

export interface RClusterOptions {
  size: 3 | 5;
  basePort: number;
  snapshotCount?: number;
  heartbeatIntervalMs?: number;
  electionTimeoutMs?: number;
  extraFlags?: string[];
  env?: Record<string, string>;
}

export interface Slot {
  index: number;
  /** Bumped by remove + add: the member in this slot is a new one with a fresh data dir. */
  generation: number;
  name: string;
  id: string;
  clientUrl: string;
  peerListenPort: number;
  proxyPort: number;
  dataDir: string;
  logFile: string;
  proc?: ChildProcess;
  exited?: Promise<void>;
  paused: boolean;
  /** Part of the cluster's membership (false between remove and add). */
  isMember: boolean;
  clockOffsetMs: number;
}

export class RCluster {
  readonly slots: Slot[] = [];
  readonly links = new LinkTable();
  readonly proxies: PeerProxy[] = [];
  readonly tempDir: string;
  readonly token: string;

  constructor(readonly opts: RClusterOptions) {
    this.tempDir = mkdtempSync(join(tmpdir(), 'tsetcd-robust-'));
    this.token = `robust-${opts.basePort}`;
    for (let i = 0; i < opts.size; i++) {
      const proxyPort = opts.basePort + 10 * i + 2;
      const name = `m${i}`;
      this.slots.push({
        index: i,
        generation: 0,
        name,
        id: formatId(memberIdOf([new URL(`http://127.0.0.1:${proxyPort}`)], this.token)),
        clientUrl: `http://127.0.0.1:${opts.basePort + 10 * i}`,
        peerListenPort: opts.basePort + 10 * i + 1,
        proxyPort,
        dataDir: join(this.tempDir, `${name}.etcd`),
        logFile: join(this.tempDir, `${name}.log`),
        paused: false,
        isMember: true,
        clockOffsetMs: 0,
      });
    }
  }

  peerUrl(s: Slot): string {
    return `http://127.0.0.1:${s.proxyPort}`;
  }

  async start(): Promise<void> {
    for (const s of this.slots) {
      const p = new PeerProxy(s.proxyPort, s.peerListenPort, (fromId) => this.links.get(fromId, this.slots[s.index]!.id));
      await p.listen();
      this.proxies.push(p);
    }
    for (const s of this.slots) this.spawn(s, 'new');
    await this.waitHealthy(30000);
  }

  private flags(s: Slot, state: 'new' | 'existing'): string[] {
    const o = this.opts;
    const cluster = this.slots.filter((x) => x.isMember).map((x) => `${x.name}=${this.peerUrl(x)}`).join(',');
    return [
      '--name', s.name,
      '--data-dir', s.dataDir,
      '--listen-client-urls', s.clientUrl,
      '--advertise-client-urls', s.clientUrl,
      '--listen-peer-urls', `http://127.0.0.1:${s.peerListenPort}`,
      '--initial-advertise-peer-urls', this.peerUrl(s),
      '--initial-cluster', cluster,
      '--initial-cluster-state', state,
      '--initial-cluster-token', this.token,
      '--heartbeat-interval', String(o.heartbeatIntervalMs ?? 100),
      '--election-timeout', String(o.electionTimeoutMs ?? 1000),
      '--enable-v2=true',
      '--snapshot-count', String(o.snapshotCount ?? 200),
      ...(o.extraFlags ?? []),
    ];
  }

  /** Starts the process of slot s (its data dir decides whether it is new). */
  spawn(s: Slot, state: 'new' | 'existing' = 'new'): void {
    if (s.proc) throw new Error(`${s.name} already running`);
    const { cmd, args, env: implEnv } = implCommand('tsetcd');
    const fd = openSync(s.logFile, 'a');
    const env: Record<string, string | undefined> = { ...process.env, ...implEnv, ...this.opts.env, TSETCD_CLOCK_OFFSET_MS: String(s.clockOffsetMs) };
    for (const k of Object.keys(env)) if (k.startsWith('ETCD_')) delete env[k];
    const child = spawn(cmd, [...args, ...this.flags(s, state)], { stdio: ['ignore', fd, fd], env, cwd: this.tempDir });
    closeSync(fd);
    trackChild(child);
    s.proc = child;
    s.paused = false;
    s.exited = new Promise((resolve) => {
      child.once('exit', () => {
        if (s.proc === child) {
          s.proc = undefined;
          s.paused = false;
        }
        resolve();
      });
    });
  }

  running(): Slot[] {
    return this.slots.filter((s) => s.proc !== undefined);
  }

  async signal(s: Slot, sig: NodeJS.Signals, waitMs = 8000): Promise<void> {
    const p = s.proc;
    if (!p || !s.exited) return;
    try {
      process.kill(p.pid!, 'SIGCONT');
      process.kill(p.pid!, sig);
    } catch {
      /* gone */
    }
    const timedOut = await Promise.race([s.exited.then(() => false), sleep(waitMs).then(() => true)]);
    if (timedOut) {
      try {
        process.kill(p.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
      await s.exited;
    }
  }

  kill9(s: Slot): Promise<void> {
    return this.signal(s, 'SIGKILL');
  }

  pause(s: Slot): void {
    if (s.proc?.pid) {
      process.kill(s.proc.pid, 'SIGSTOP');
      s.paused = true;
    }
  }

  resume(s: Slot): void {
    if (s.proc?.pid) {
      process.kill(s.proc.pid, 'SIGCONT');
      s.paused = false;
    }
  }

  /** Index of the slot whose member says it leads (among running, unpaused ones), or -1. */
  async leader(): Promise<number> {
    for (const s of this.slots) {
      if (!s.proc || s.paused) continue;
      const r = await getText(`${s.clientUrl}/v2/stats/self`, 500);
      try {
        if (r.status === 200 && (JSON.parse(r.text) as { state?: string }).state === 'StateLeader') return s.index;
      } catch {
        /* not JSON */
      }
    }
    return -1;
  }

  async waitHealthy(timeoutMs: number, which: Slot[] = this.slots.filter((s) => s.isMember)): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (const s of which) {
      for (;;) {
        if (!s.proc) throw new Error(`${s.name} is not running\n${tailFile(s.logFile)}`);
        const r = await getText(`${s.clientUrl}/health`, 1000);
        if (r.status === 200 && /"health"\s*:\s*"true"/.test(r.text)) break;
        if (Date.now() > deadline) throw new Error(`${s.name} not healthy in ${timeoutMs} ms: ${r.status} ${r.text}\n${tailFile(s.logFile)}`);
        await sleep(200);
      }
    }
  }

  /** Changes link rules; connections of changed links are reset so rules apply at frame edges. */
  setLinks(change: (t: LinkTable) => void): void {
    change(this.links);
    for (const p of this.proxies) p.reset();
  }

  heal(): void {
    this.setLinks((t) => t.clear());
  }

  /** Removes slot s's member through another member's v2 members API, stops and wipes it. */
  async removeMember(s: Slot, via: Slot): Promise<boolean> {
    const r = await fetch(`${via.clientUrl}/v2/members/${s.id}`, { method: 'DELETE', signal: AbortSignal.timeout(5000) }).catch(() => undefined);
    if (!r || r.status !== 204) return false;
    s.isMember = false;
    await this.kill9(s);
    rmSync(s.dataDir, { recursive: true, force: true });
    return true;
  }

  /** Adds a fresh member in slot s (new name, new data dir) and starts it. */
  async addMember(s: Slot, via: Slot): Promise<boolean> {
    const r = await fetch(`${via.clientUrl}/v2/members`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ peerURLs: [this.peerUrl(s)] }),
      signal: AbortSignal.timeout(5000),
    }).catch(() => undefined);
    if (!r || r.status !== 201) return false;
    const body = (await r.json()) as { id: string };
    s.generation++;
    s.name = `m${s.index}g${s.generation}`;
    s.id = body.id.padStart(16, '0');
    s.dataDir = join(this.tempDir, `${s.name}.etcd`);
    s.logFile = join(this.tempDir, `${s.name}.log`);
    mkdirSync(this.tempDir, { recursive: true });
    s.isMember = true;
    this.spawn(s, 'existing');
    return true;
  }

  logTails(lines = 20): string {
    return this.slots.map((s) => `--- ${s.name} ---\n${tailFile(s.logFile, lines)}`).join('\n');
  }

  async destroy(keep = process.env.ROBUST_KEEP_TMP === '1'): Promise<void> {
    await Promise.all(this.slots.map((s) => this.kill9(s)));
    await Promise.all(this.proxies.map((p) => p.close()));
    if (!keep) rmSync(this.tempDir, { recursive: true, force: true });
  }
}
