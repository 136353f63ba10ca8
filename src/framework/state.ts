// The scheduler's durable state: target configuration, plan progress, and each pod's task and
// member id. One JSON file per service, replaced atomically (write, fsync, rename, fsync dir),
// so a kill -9 at any moment leaves either the old or the new state, never a torn one.
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Options, UserOptions } from './options.js';
import type { PlanState } from './plan.js';

export const STATE_VERSION = 1;

/** The process a pod currently runs: the member, or the sleeper of a paused pod. */
export interface TaskRecord {
  kind: 'member' | 'sleeper';
  pid: number;
  /** /proc/<pid>/stat start time, so a reused pid is never mistaken for our task. */
  startTicks: string;
  /** Hash of the rendered member configuration it was launched with. */
  configHash: string;
  launchedAtMs: number;
}

/** Progress of a join (replace, scale-out, rejoin): each membership change is recorded as it
 *  is made, so an interrupted join resumes instead of repeating or losing it. */
export interface JoinRecord {
  /** The id the cluster gave the member this pod is becoming, once added. */
  addedId?: string;
  /** The data dir was emptied for addedId. */
  wiped?: boolean;
}

export interface PodRecord {
  index: number;
  goal: 'RUNNING' | 'PAUSED';
  /** The member id this pod holds in the cluster (hex), once known. */
  memberId?: string;
  task?: TaskRecord;
  join?: JoinRecord;
  /** Why the last launch or step failed, shown by pod status/info. */
  lastError?: string;
}

export interface SchedulerState {
  version: number;
  userOptions: UserOptions;
  options: Options;
  /** Bumped on every accepted configuration. */
  configId: number;
  /** Pods that bootstrapped the cluster together (state=new). */
  initialMembers: string[];
  /** The first deploy plan completed: from now on a pod without a marker joins. */
  deployed: boolean;
  pods: Record<string, PodRecord>;
  deploy: PlanState;
  /** Errors of the last rejected configuration (plan status deploy answers 417 with them). */
  configErrors: string[];
  vip?: { pid: number; startTicks: string };
}

export function tsetcdHome(stateDir: string | undefined): string {
  return stateDir ?? process.env.TSETCD_HOME ?? join(homedir(), '.tsetcd');
}

export interface ServicePaths {
  root: string;
  schedulerDir: string;
  stateFile: string;
  apiFile: string;
  schedulerLog: string;
  podsDir: string;
  tlsDir: string;
  vipFile: string;
  vipLog: string;
}

export function servicePaths(home: string, name: string): ServicePaths {
  const root = join(home, name);
  const schedulerDir = join(root, 'scheduler');
  return {
    root,
    schedulerDir,
    stateFile: join(schedulerDir, 'state.json'),
    apiFile: join(schedulerDir, 'api.json'),
    schedulerLog: join(schedulerDir, 'scheduler.log'),
    podsDir: join(root, 'pods'),
    tlsDir: join(root, 'tls'),
    vipFile: join(root, 'vip', 'vip.json'),
    vipLog: join(root, 'vip', 'vip.log'),
  };
}

export function sandboxDir(p: ServicePaths, pod: string): string {
  return join(p.podsDir, pod);
}

/** Write a file so that readers see the old or the new content, never a mix, even after kill -9. */
export function writeFileAtomic(path: string, data: string | Buffer, mode = 0o644): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w', mode);
  try {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
  const dfd = openSync(dirname(path), 'r');
  try { fsyncSync(dfd); } finally { closeSync(dfd); }
}

export function loadState(p: ServicePaths): SchedulerState | undefined {
  if (!existsSync(p.stateFile)) return undefined;
  const s = JSON.parse(readFileSync(p.stateFile, 'utf8')) as SchedulerState;
  if (s.version !== STATE_VERSION) throw new Error(`${p.stateFile}: state version ${s.version}, this tsetcd knows ${STATE_VERSION}`);
  return s;
}

export function saveState(p: ServicePaths, s: SchedulerState): void {
  writeFileAtomic(p.stateFile, JSON.stringify(s, null, 1) + '\n');
}
