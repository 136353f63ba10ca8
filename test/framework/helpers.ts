// Test helpers for the framework: run `tsetcd <verb>` against a service living in a temp
// TSETCD_HOME, and make sure every process it started is stopped (by pid) and the temp dir is
// removed, even when the test fails.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import http from 'node:http';
import { killStrays } from '../../src/framework/proc.js';

export const BIN = fileURLToPath(new URL('../../../bin/tsetcd.js', import.meta.url));

export interface CliResult { code: number; stdout: string; stderr: string }

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class TestService {
  readonly home = mkdtempSync(join(tmpdir(), 'tsetcd-fw-'));
  constructor(readonly name = 'etcd') {}

  get root(): string { return join(this.home, this.name); }

  cli(args: string[], timeoutMs = 60_000): Promise<CliResult> {
    return new Promise((resolve, reject) => {
      const env = { ...process.env, TSETCD_HOME: this.home };
      const c = spawn(process.execPath, [BIN, ...args, ...(this.name !== 'etcd' && !args.includes('install') && !args.includes('--config') ? ['--name', this.name] : [])], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      c.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const t = setTimeout(() => { c.kill('SIGKILL'); reject(new Error(`tsetcd ${args.join(' ')}: timeout`)); }, timeoutMs);
      c.on('exit', (code) => { clearTimeout(t); resolve({ code: code ?? -1, stdout, stderr }); });
    });
  }

  async ok(args: string[]): Promise<string> {
    const r = await this.cli(args);
    if (r.code !== 0) throw new Error(`tsetcd ${args.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
    return r.stdout;
  }

  async json<T>(args: string[]): Promise<T> {
    return JSON.parse(await this.ok(args)) as T;
  }

  writeOptions(o: unknown): string {
    const f = join(this.home, `options-${Date.now()}-${Math.random().toString(36).slice(2)}.json`);
    writeFileSync(f, JSON.stringify(o));
    return f;
  }

  state(): StateLike {
    return JSON.parse(readFileSync(join(this.root, 'scheduler', 'state.json'), 'utf8')) as StateLike;
  }

  apiInfo(): { url: string; pid: number } {
    return JSON.parse(readFileSync(join(this.root, 'scheduler', 'api.json'), 'utf8')) as { url: string; pid: number };
  }

  async api(path: string, method = 'GET'): Promise<{ status: number; body: unknown }> {
    const r = await httpReq(`${this.apiInfo().url}${path}`, { method });
    let body: unknown = r.body;
    try { body = JSON.parse(r.body); } catch { /* text */ }
    return { status: r.status, body };
  }

  /** Wait until GET /v1/plans/deploy answers 200 (COMPLETE). */
  async waitDeploy(timeoutMs = 90_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    while (Date.now() < deadline) {
      try {
        const r = await this.api('/v1/plans/deploy');
        if (r.status === 200) return;
        last = r.body;
      } catch (err) { last = (err as Error).message; }
      await sleep(300);
    }
    throw new Error(`deploy plan not COMPLETE after ${timeoutMs} ms: ${JSON.stringify(last)}`);
  }

  async waitFor(what: string, pred: () => Promise<boolean> | boolean, timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      try { if (await pred()) return; } catch { /* not yet */ }
      await sleep(250);
    }
    throw new Error(`timed out waiting for ${what}`);
  }

  taskPid(pod: string): number {
    return this.state().pods[pod]?.task?.pid ?? 0;
  }

  /** Kill everything this service started (by pid) and remove the temp home. */
  async destroy(): Promise<void> {
    let s: StateLike | undefined;
    try { s = this.state(); } catch { s = undefined; }
    const pids: number[] = [];
    try { pids.push(this.apiInfo().pid); } catch { /* never started */ }
    if (s !== undefined) {
      if (s.vip !== undefined) pids.push(s.vip.pid);
      for (const p of Object.values(s.pods)) if (p.task !== undefined) pids.push(p.task.pid);
    }
    for (const pid of pids) {
      try {
        // Only our own processes: check the command line mentions this service's home or our binary.
        const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        const env = readFileSync(`/proc/${pid}/environ`, 'utf8');
        if (cmd.includes(this.home) || env.includes(this.home)) process.kill(pid, 'SIGKILL');
      } catch { /* gone */ }
    }
    // And every process tagged with this service's directory, recorded or not.
    await killStrays(`${this.root}/`, undefined, true);
    if (process.env.TSETCD_FW_KEEP === undefined) rmSync(this.home, { recursive: true, force: true });
    else process.stderr.write(`kept ${this.home}\n`);
  }
}

export interface StateLike {
  configId: number;
  deployed: boolean;
  vip?: { pid: number };
  pods: Record<string, { index: number; goal: string; memberId?: string; task?: { pid: number; kind: string; configHash: string }; join?: { addedId?: string } }>;
}

export function httpReq(url: string, opts: { method?: string; body?: string; headers?: Record<string, string>; timeoutMs?: number } = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: opts.method ?? 'GET', headers: opts.headers, timeout: opts.timeoutMs ?? 5000, agent: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout ${url}`)));
    req.on('error', reject);
    if (opts.body !== undefined) req.write(opts.body);
    req.end();
  });
}

export interface V2Member { id: string; name: string; peerURLs: string[]; clientURLs: string[] }

export async function v2Members(clientUrl: string): Promise<V2Member[]> {
  const r = await httpReq(`${clientUrl}/v2/members`);
  return (JSON.parse(r.body) as { members: V2Member[] }).members;
}

export async function healthy(clientUrl: string): Promise<boolean> {
  try { return (await httpReq(`${clientUrl}/health`, { timeoutMs: 1500 })).body.includes('true'); } catch { return false; }
}

export function runEtcdctl(args: string[], timeoutMs = 15_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.env.ETCDCTL_BIN ?? '/usr/bin/etcdctl', args, { env: { ...process.env, ETCDCTL_API: '2' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const t = setTimeout(() => { c.kill('SIGKILL'); reject(new Error('etcdctl timeout')); }, timeoutMs);
    c.on('exit', (code) => { clearTimeout(t); resolve({ code: code ?? -1, stdout, stderr }); });
  });
}

export function curl(args: string[], timeoutMs = 15_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const c = spawn('curl', ['-sS', '--max-time', '10', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const t = setTimeout(() => { c.kill('SIGKILL'); reject(new Error('curl timeout')); }, timeoutMs);
    c.on('exit', (code) => { clearTimeout(t); resolve({ code: code ?? -1, stdout, stderr }); });
  });
}
