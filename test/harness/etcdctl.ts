// Runs Debian's etcdctl (v2 or v3 API) with a timeout and returns what a user would see.
import { spawn } from 'node:child_process';
import { ETCDCTL_BIN, trackChild } from './cluster.js';

export interface EtcdctlOptions {
  api: 2 | 3;
  endpoints: string[];
  /** Written to stdin, then stdin is closed (etcdctl user add reads the password from a tty or stdin). */
  input?: string;
  timeoutMs?: number;
  env?: Record<string, string>;
}

export interface EtcdctlResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export function etcdctl(args: string[], opts: EtcdctlOptions): Promise<EtcdctlResult> {
  const env: Record<string, string | undefined> = { ...process.env, ...opts.env, ETCDCTL_API: String(opts.api) };
  for (const k of Object.keys(env)) if (k.startsWith('ETCDCTL_') && k !== 'ETCDCTL_API' && !(opts.env && k in opts.env)) delete env[k];
  const child = spawn(ETCDCTL_BIN, [`--endpoints=${opts.endpoints.join(',')}`, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  trackChild(child);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdin.on('error', () => {});
  if (opts.input !== undefined) child.stdin.end(opts.input);
  else child.stdin.end();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, opts.timeoutMs ?? 15000);
  return new Promise((resolve) => {
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}

/** A long-running etcdctl (watch, exec-watch): resolves `firstOutput` once stdout matches. */
export function etcdctlBackground(args: string[], opts: EtcdctlOptions) {
  const env: Record<string, string | undefined> = { ...process.env, ...opts.env, ETCDCTL_API: String(opts.api) };
  for (const k of Object.keys(env)) if (k.startsWith('ETCDCTL_') && k !== 'ETCDCTL_API' && !(opts.env && k in opts.env)) delete env[k];
  const child = spawn(ETCDCTL_BIN, [`--endpoints=${opts.endpoints.join(',')}`, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  trackChild(child);
  let stdout = '';
  let stderr = '';
  const waiters: { re: RegExp; resolve: (s: string) => void }[] = [];
  const check = (): void => {
    for (let i = waiters.length - 1; i >= 0; i--) {
      if (waiters[i]!.re.test(stdout)) {
        waiters[i]!.resolve(stdout);
        waiters.splice(i, 1);
      }
    }
  };
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    stdout += d;
    check();
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal })),
  );
  return {
    child,
    get stdout() {
      return stdout;
    },
    get stderr() {
      return stderr;
    },
    closed,
    /** Waits until stdout matches re, or rejects after timeoutMs with what was seen. */
    waitFor(re: RegExp, timeoutMs = 10000): Promise<string> {
      if (re.test(stdout)) return Promise.resolve(stdout);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`etcdctl ${args.join(' ')}: no ${re} within ${timeoutMs} ms; stdout=${JSON.stringify(stdout)} stderr=${JSON.stringify(stderr)}`)), timeoutMs);
        waiters.push({ re, resolve: (s) => { clearTimeout(t); resolve(s); } });
        closed.then(() => { clearTimeout(t); if (!re.test(stdout)) reject(new Error(`etcdctl exited before ${re}; stdout=${JSON.stringify(stdout)} stderr=${JSON.stringify(stderr)}`)); });
      });
    },
    kill(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
      try { child.kill('SIGKILL'); } catch { /* gone */ }
      return closed;
    },
  };
}
