// Processes the scheduler owns: pods' tasks and the VIP. They are started detached (own session,
// output to files) so that they outlive a scheduler that is killed -9; a restarted scheduler
// adopts them by pid + start time (a reused pid is never mistaken for ours).
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';

/** Field 22 of /proc/<pid>/stat (start time in clock ticks), or undefined if the pid is gone or a zombie. */
export function procStartTicks(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (rest[0] === 'Z' || rest[0] === 'X') return undefined;
    return rest[19];
  } catch {
    return undefined;
  }
}

export function isAlive(pid: number, startTicks: string): boolean {
  return pid > 0 && procStartTicks(pid) === startTicks;
}

/** Children started by this process: their exit is observed directly (and they get reaped). */
const exited = new Map<number, number | null>();

export interface Spawned {
  pid: number;
  startTicks: string;
  child: ChildProcess;
}

export function spawnDetached(cmd: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; logFile: string }): Spawned {
  const out = openSync(opts.logFile, 'a');
  try {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, detached: true, stdio: ['ignore', out, out] });
    if (child.pid === undefined) throw new Error(`could not start ${cmd}`);
    const pid = child.pid;
    child.on('exit', (code) => exited.set(pid, code));
    child.on('error', () => exited.set(pid, -1));
    child.unref();
    const startTicks = procStartTicks(pid) ?? '?';
    return { pid, startTicks, child };
  } finally {
    closeSync(out);
  }
}

/** Send a signal to a process we own (checked by start time). */
export function signal(pid: number, startTicks: string, sig: NodeJS.Signals): boolean {
  if (!isAlive(pid, startTicks)) return false;
  try {
    process.kill(pid, sig);
    return true;
  } catch {
    return false;
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** SIGTERM (a leading member hands leadership over first), then SIGKILL after graceMs. */
export async function stopProcess(pid: number, startTicks: string, graceMs: number): Promise<void> {
  if (!signal(pid, startTicks, 'SIGTERM')) return;
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isAlive(pid, startTicks)) return;
    await sleep(50);
  }
  signal(pid, startTicks, 'SIGKILL');
  for (let i = 0; i < 100 && isAlive(pid, startTicks); i++) await sleep(20);
}

/** The environment variable that tags every process the framework starts with its owner
 *  (a pod's sandbox or the service's VIP), so strays can be found even when their pid was
 *  never recorded (a scheduler killed between spawn and saving its state). */
export const OWNER_ENV = 'TSETCD_FRAMEWORK_OWNER';

/** Pids of live processes tagged with `owner` (or, with prefix, with an owner under it). */
export function findOwned(owner: string, prefix = false): number[] {
  const out: number[] = [];
  let entries: string[];
  try { entries = readdirSync('/proc'); } catch { return out; }
  for (const e of entries) {
    if (!/^\d+$/.test(e)) continue;
    const pid = Number(e);
    if (pid === process.pid) continue;
    try {
      const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
      const tag = env.find((v) => v.startsWith(`${OWNER_ENV}=`));
      if (tag === undefined) continue;
      const val = tag.slice(OWNER_ENV.length + 1);
      if ((prefix ? val.startsWith(owner) : val === owner) && procStartTicks(pid) !== undefined) out.push(pid);
    } catch { /* gone or not ours to read */ }
  }
  return out;
}

/** SIGKILL every process tagged with `owner` except `keep`; returns the pids killed. */
export async function killStrays(owner: string, keep?: { pid: number }, prefix = false): Promise<number[]> {
  const pids = findOwned(owner, prefix).filter((p) => p !== keep?.pid);
  for (const pid of pids) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
  for (let i = 0; i < 100 && pids.some((p) => procStartTicks(p) !== undefined); i++) await sleep(20);
  return pids;
}
