// The scheduler: owns one service. It keeps its state durable (state.ts), runs the deploy plan
// (install, and every accepted update after it), launches pods as member processes, health- and
// readiness-checks them, relaunches failed tasks in place (recovery), replaces pods (remove the
// old member, add the new one, start it as existing: recorded step by step, so it resumes), and
// pauses pods for manual repair. The HTTP API (api.ts) and the CLI drive it.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { addMember, checkHealth, listMembers, removeMember, type ClientTls, type MemberInfo } from './members.js';
import { checkUpdate, mergeUserOptions, resolveOptions, type Options, type UserOptions } from './options.js';
import { newPlan, planJson, type PlanState, type StepState, type Status } from './plan.js';
import { configHash, memberConfigEnv, nodeArgs, podName, podSpec, SLEEPER_ARGS, TSETCD_BIN, type PodSpec } from './pod.js';
import { isAlive, killStrays, OWNER_ENV, signal, sleep, spawnDetached, stopProcess, type Spawned } from './proc.js';
import { saveState, writeFileAtomic, type PodRecord, type SchedulerState, type ServicePaths } from './state.js';
import { autoTlsDaysLeft, caFiles, ensureCa, ensureMemberCert, expireAutoTlsFixtures, RENEW_BEFORE_DAYS } from './tls.js';
import type { VipConfig } from './vip.js';

/** The SDK's health check, scaled to one machine: first check after the grace period, then
 *  every interval; this many consecutive failures kill the task and recovery relaunches it. */
export const HEALTH_INTERVAL_MS = 2000;
export const HEALTH_GRACE_MS = 60_000;
export const HEALTH_FAILURES_MAX = 15;
/** How long a launched member has to pass its readiness check before the step is retried. */
export const READY_TIMEOUT_MS = 120_000;
/** Before SIGKILL: a leading member hands leadership over on SIGTERM. */
export const STOP_GRACE_MS = 10_000;
export const STEP_RETRY_DELAY_MS = 2000;
const TICK_MS = 250;

export function initialState(user: UserOptions, options: Options): SchedulerState {
  const pods: Record<string, PodRecord> = {};
  const names: string[] = [];
  for (let i = 0; i < options.node.count; i++) {
    names.push(podName(i));
    pods[podName(i)] = { index: i, goal: 'RUNNING' };
  }
  // Serial deploy bootstraps etcd-0 alone and adds the others one by one (a serial deploy of
  // all initial members would deadlock: none is healthy before a quorum runs).
  const initialMembers = options.service.deploy_strategy === 'serial' ? [names[0]!] : names;
  return { version: 1, userOptions: user, options, configId: 1, initialMembers, deployed: false, pods, deploy: newPlan('deploy', names, options.service.deploy_strategy, 1), configErrors: [] };
}

interface PodRuntime {
  busy: string | undefined;
  healthy: boolean;
  failures: number;
  nextCheckMs: number;
  lastCheckMs: number;
  stepRetryAtMs: number;
  force: boolean;
  /** A user command asked the running operation to give up (checked between its steps). */
  cancel: boolean;
}

export class Scheduler {
  readonly state: SchedulerState;
  private readonly rt = new Map<string, PodRuntime>();
  private readonly recoverySteps = new Map<string, StepState>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private vipChild: Spawned | undefined;

  constructor(readonly paths: ServicePaths, state: SchedulerState, readonly log: Logger) {
    this.state = state;
  }

  get options(): Options {
    return this.state.options;
  }

  save(): void {
    saveState(this.paths, this.state);
  }

  runtime(pod: string): PodRuntime {
    let r = this.rt.get(pod);
    if (r === undefined) {
      r = { busy: undefined, healthy: false, failures: 0, nextCheckMs: 0, lastCheckMs: 0, stepRetryAtMs: 0, force: false, cancel: false };
      this.rt.set(pod, r);
    }
    return r;
  }

  spec(pod: string): PodSpec {
    const rec = this.state.pods[pod];
    if (rec === undefined) throw new Error(`unknown pod ${pod}`);
    return podSpec(this.options, this.paths, rec.index);
  }

  podNames(): string[] {
    return Object.values(this.state.pods).sort((a, b) => a.index - b.index).map((r) => podName(r.index));
  }

  clientTls(): ClientTls {
    if (this.options.etcd.tls_enabled && !this.options.etcd.use_auto_tls) return { ca: readFileSync(caFiles(this.paths.tlsDir).cert) };
    return {};
  }

  taskAlive(pod: string): boolean {
    const t = this.state.pods[pod]?.task;
    return t !== undefined && isAlive(t.pid, t.startTicks);
  }

  async start(): Promise<void> {
    if (this.options.etcd.tls_enabled && !this.options.etcd.use_auto_tls) await ensureCa(this.paths.tlsDir, this.options.service.name);
    for (const pod of this.podNames()) {
      const rec = this.state.pods[pod]!;
      if (rec.task !== undefined) this.log.info({ pod, pid: rec.task.pid, alive: this.taskAlive(pod) }, 'adopting task');
      this.runtime(pod).nextCheckMs = Date.now();
    }
    this.ensureVip();
    this.timer = setInterval(() => this.tick(), TICK_MS);
  }

  async shutdown(opts: { killTasks: boolean }): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    if (!opts.killTasks) return;
    const vip = this.state.vip;
    if (vip !== undefined) await stopProcess(vip.pid, vip.startTicks, 2000);
    await Promise.all(this.podNames().map(async (pod) => {
      const t = this.state.pods[pod]!.task;
      if (t !== undefined) await stopProcess(t.pid, t.startTicks, STOP_GRACE_MS);
    }));
  }

  // ---------------------------------------------------------------- VIP

  vipConfig(): VipConfig {
    const o = this.options;
    return {
      host: o.service.vip_address,
      port: o.etcd.client_port,
      backends: this.podNames().map((pod) => {
        const s = this.spec(pod);
        return { host: s.address, port: o.etcd.client_port, healthUrl: s.clientUrl };
      }),
    };
  }

  ensureVip(): void {
    const cfg = this.vipConfig();
    let old: VipConfig | undefined;
    try { old = JSON.parse(readFileSync(this.paths.vipFile, 'utf8')) as VipConfig; } catch { old = undefined; }
    if (JSON.stringify(old) !== JSON.stringify(cfg)) writeFileAtomic(this.paths.vipFile, JSON.stringify(cfg, null, 1) + '\n');
    const v = this.state.vip;
    const alive = v !== undefined && isAlive(v.pid, v.startTicks);
    const moved = old !== undefined && (old.host !== cfg.host || old.port !== cfg.port);
    if (alive && moved) signal(v.pid, v.startTicks, 'SIGKILL');
    if (!alive || moved) {
      void killStrays(this.paths.vipFile, undefined);
      const s = spawnDetached(process.execPath, [TSETCD_BIN, 'scheduler', 'vip', this.paths.vipFile], { cwd: this.paths.root, env: { ...process.env, [OWNER_ENV]: this.paths.vipFile }, logFile: this.paths.vipLog });
      this.vipChild = s;
      this.state.vip = { pid: s.pid, startTicks: s.startTicks };
      this.save();
      this.log.info({ pid: s.pid, vip: `${cfg.host}:${cfg.port}` }, 'VIP started');
    }
  }

  // ---------------------------------------------------------------- the loop

  private tick(): void {
    if (this.stopped) return;
    try {
      this.healthChecks();
      this.driveDeploy();
      this.recover();
      const v = this.state.vip;
      if (v === undefined || !isAlive(v.pid, v.startTicks)) this.ensureVip();
    } catch (err) {
      this.log.error({ error: (err as Error).message }, 'tick failed');
    }
  }

  private healthChecks(): void {
    const now = Date.now();
    for (const pod of this.podNames()) {
      const rec = this.state.pods[pod]!;
      const r = this.runtime(pod);
      if (now < r.nextCheckMs) continue;
      r.nextCheckMs = now + HEALTH_INTERVAL_MS;
      if (rec.task === undefined || rec.task.kind !== 'member' || !this.taskAlive(pod)) {
        r.healthy = false;
        r.failures = 0;
        continue;
      }
      const t = rec.task;
      void checkHealth(this.spec(pod).clientUrl, this.clientTls()).then((ok) => {
        r.healthy = ok;
        r.lastCheckMs = Date.now();
        if (ok) { r.failures = 0; return; }
        // No health check on a paused pod (a sleeper) or inside the grace period.
        if (rec.task !== t || Date.now() - t.launchedAtMs < HEALTH_GRACE_MS || r.busy !== undefined) return;
        r.failures++;
        if (r.failures >= HEALTH_FAILURES_MAX) {
          this.log.warn({ pod, failures: r.failures }, 'health check failed too often: killing the task');
          r.failures = 0;
          signal(t.pid, t.startTicks, 'SIGKILL');
        }
      });
    }
  }

  /** Recovery: a task that died (or was killed as unhealthy) is relaunched in place. */
  private recover(): void {
    for (const pod of this.podNames()) {
      const rec = this.state.pods[pod]!;
      const r = this.runtime(pod);
      if (r.busy !== undefined) continue;
      const step = this.deployStep(pod);
      if (step !== undefined && step.status !== 'COMPLETE') continue; // the plan owns it
      if (this.taskAlive(pod)) {
        // Auto-TLS: relaunch before the self-signed certificate lapses (etcd never renews it).
        // One pod at a time, and only while every other pod is healthy.
        const othersOk = this.podNames().every((p) => p === pod || (this.runtime(p).busy === undefined && this.runtime(p).healthy));
        if (rec.goal === 'RUNNING' && this.options.etcd.use_auto_tls && rec.task!.kind === 'member' && othersOk && this.autoTlsDue(pod)) {
          this.startOp(pod, 'recovery', async () => { await this.stopTask(pod); await this.ensureRunning(pod); }, true);
        }
        continue;
      }
      if (rec.task !== undefined) this.log.warn({ pod, kind: rec.task.kind, pid: rec.task.pid }, 'task is not running: relaunching in place');
      this.startOp(pod, 'recovery', () => this.ensureRunning(pod), true);
    }
  }

  private autoTlsDue(pod: string): boolean {
    const days = autoTlsDaysLeft(this.spec(pod).dataDir);
    return days !== undefined && days < RENEW_BEFORE_DAYS;
  }

  private deployStep(pod: string): StepState | undefined {
    for (const ph of this.state.deploy.phases) for (const s of ph.steps) if (s.pod === pod) return s;
    return undefined;
  }

  private driveDeploy(): void {
    const plan = this.state.deploy;
    if (plan.interrupted) return;
    const now = Date.now();
    for (const phase of plan.phases) {
      const runnable = phase.steps.filter((s) => s.status !== 'COMPLETE');
      if (runnable.length === 0) continue;
      const candidates = phase.strategy === 'serial' ? [runnable[0]!] : runnable;
      for (const step of candidates) {
        if (step.status === 'WAITING') continue;
        const r = this.runtime(step.pod);
        if (r.busy !== undefined || now < r.stepRetryAtMs) continue;
        this.runStep(plan, step);
      }
      return; // phases run serially (plan strategy serial)
    }
    if (!this.state.deployed) {
      this.state.deployed = true;
      this.save();
      this.log.info({}, 'deploy plan complete');
    }
  }

  private runStep(plan: PlanState, step: StepState): void {
    const pod = step.pod;
    const r = this.runtime(pod);
    const force = r.force;
    step.status = 'PREPARED';
    step.message = '';
    this.startOp(pod, `deploy ${step.name}`, async () => {
      if (force) await this.stopTask(pod);
      r.force = false;
      step.status = 'STARTING';
      const res = await this.ensureRunning(pod);
      if (this.state.deploy !== plan) return;
      if (res === 'paused') {
        step.status = 'STARTING';
        step.message = 'pod is paused (debug pod resume to continue)';
        r.stepRetryAtMs = Date.now() + STEP_RETRY_DELAY_MS;
        return;
      }
      step.status = 'COMPLETE';
      step.message = '';
      this.save();
    }, false, (err) => {
      if (this.state.deploy !== plan) return;
      step.status = 'PENDING';
      step.message = `retrying: ${err.message}`;
      r.stepRetryAtMs = Date.now() + STEP_RETRY_DELAY_MS;
    });
  }

  /** Run an operation that owns the pod until it ends. */
  startOp(pod: string, label: string, fn: () => Promise<unknown>, recovery = false, onError?: (err: Error) => void): boolean {
    const r = this.runtime(pod);
    if (r.busy !== undefined) return false;
    r.busy = label;
    let rstep: StepState | undefined;
    if (recovery) {
      rstep = { id: `${pod}-recovery-${Date.now()}`, name: `${pod}:[node]`, pod, status: 'STARTING', message: '' };
      this.recoverySteps.set(pod, rstep);
    }
    void (async () => {
      try {
        await fn();
        this.state.pods[pod]!.lastError = undefined;
        if (rstep !== undefined) rstep.status = 'COMPLETE';
      } catch (err) {
        const e = err as Error;
        this.log.warn({ pod, op: label, error: e.message }, 'operation failed');
        const rec = this.state.pods[pod];
        if (rec !== undefined) rec.lastError = `${label}: ${e.message}`;
        if (rstep !== undefined) { rstep.status = 'ERROR'; rstep.message = e.message; }
        onError?.(e);
        if (recovery) await sleep(STEP_RETRY_DELAY_MS);
      } finally {
        r.busy = undefined;
        r.cancel = false;
        if (!this.stopped) this.save();
      }
    })();
    return true;
  }

  // ---------------------------------------------------------------- pod operations

  private async stopTask(pod: string): Promise<void> {
    const rec = this.state.pods[pod]!;
    const t = rec.task;
    if (t === undefined) return;
    await stopProcess(t.pid, t.startTicks, t.kind === 'member' ? STOP_GRACE_MS : 2000);
    if (rec.task === t) rec.task = undefined;
    this.runtime(pod).healthy = false;
    this.save();
  }

  private initialCluster(members: readonly MemberInfo[] | undefined, self: PodSpec): string {
    const entries = new Map<string, string>();
    if (members === undefined) {
      for (const pod of this.podNames()) { const s = this.spec(pod); entries.set(s.taskName, s.peerUrl); }
    } else {
      const byPeer = new Map(this.podNames().map((p) => { const s = this.spec(p); return [s.peerUrl, s.taskName] as const; }));
      for (const m of members) {
        const url = m.peerURLs[0];
        if (url === undefined) continue;
        entries.set(byPeer.get(url) ?? (m.name !== '' ? m.name : `member-${m.id}`), url);
      }
    }
    entries.set(self.taskName, self.peerUrl);
    return [...entries].map(([n, u]) => `${n}=${u}`).join(',');
  }

  private async launchMember(pod: string, clusterState: 'new' | 'existing', initialCluster: string): Promise<void> {
    const o = this.options;
    const s = this.spec(pod);
    mkdirSync(s.dataDir, { recursive: true, mode: 0o700 });
    if (o.etcd.tls_enabled && !o.etcd.use_auto_tls) {
      await ensureCa(this.paths.tlsDir, o.service.name);
      await ensureMemberCert(this.paths.tlsDir, s.sandbox, [s.address, o.service.vip_address, `${s.taskName}.${o.service.name}`, 'localhost'], s.taskName);
    }
    if (o.etcd.use_auto_tls) {
      const dropped = expireAutoTlsFixtures(s.dataDir);
      if (dropped.length > 0) this.log.info({ pod, dropped }, 'auto-TLS certificates close to expiry: the member makes new ones');
    }
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('ETCD_') && !k.startsWith('ETCDCTL_')) env[k] = v;
    Object.assign(env, memberConfigEnv(o, this.paths, s), {
      ETCD_INITIAL_CLUSTER: initialCluster,
      ETCD_INITIAL_CLUSTER_STATE: clusterState,
      TASK_NAME: s.taskName,
      POD_INSTANCE_INDEX: String(s.index),
      FRAMEWORK_NAME: o.service.name,
      MESOS_SANDBOX: s.sandbox,
    });
    env[OWNER_ENV] = s.sandbox;
    await this.killStraysOf(pod);
    const sp = spawnDetached(process.execPath, nodeArgs(o), { cwd: s.sandbox, env, logFile: s.logFile });
    const rec = this.state.pods[pod]!;
    rec.task = { kind: 'member', pid: sp.pid, startTicks: sp.startTicks, configHash: configHash(o, this.paths, s), launchedAtMs: Date.now() };
    const r = this.runtime(pod);
    r.healthy = false;
    r.failures = 0;
    r.nextCheckMs = Date.now() + 500;
    this.save();
    this.log.info({ pod, pid: sp.pid, state: clusterState }, 'launched member');
  }

  /** A task of this pod that the state does not know (its launcher died before recording it)
   *  would hold the pod's address: stop it before launching another. */
  private async killStraysOf(pod: string): Promise<void> {
    const t = this.state.pods[pod]!.task;
    const killed = await killStrays(this.spec(pod).sandbox, t !== undefined && isAlive(t.pid, t.startTicks) ? t : undefined);
    if (killed.length > 0) this.log.warn({ pod, pids: killed }, 'stopped unrecorded tasks of this pod');
  }

  private async launchSleeper(pod: string): Promise<void> {
    const s = this.spec(pod);
    mkdirSync(s.sandbox, { recursive: true });
    await this.killStraysOf(pod);
    const sp = spawnDetached(process.execPath, SLEEPER_ARGS, { cwd: s.sandbox, env: { PATH: process.env.PATH ?? '', [OWNER_ENV]: s.sandbox }, logFile: s.logFile });
    this.state.pods[pod]!.task = { kind: 'sleeper', pid: sp.pid, startTicks: sp.startTicks, configHash: '', launchedAtMs: Date.now() };
    this.save();
    this.log.info({ pod, pid: sp.pid }, 'launched sleeper (pod paused)');
  }

  private async waitReady(pod: string, timeoutMs = READY_TIMEOUT_MS): Promise<void> {
    const s = this.spec(pod);
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.stopped) throw new Error('scheduler stopping');
      this.checkCancel(pod);
      if (!this.taskAlive(pod)) throw new Error(`member exited (see ${s.logFile})`);
      if (await checkHealth(s.clientUrl, this.clientTls(), 1000)) {
        this.runtime(pod).healthy = true;
        return;
      }
      await sleep(250);
    }
    throw new Error(`not ready after ${timeoutMs} ms`);
  }

  private checkCancel(pod: string): void {
    if (this.runtime(pod).cancel) throw new Error('cancelled by a user command');
  }

  /** User commands (restart, replace, pause, resume) win over a running step or recovery:
   *  ask it to stop at its next check and wait for it, bounded. */
  async preempt(pod: string, timeoutMs = 20_000): Promise<void> {
    const r = this.runtime(pod);
    if (r.busy === undefined) return;
    this.log.info({ pod, op: r.busy }, 'cancelling the running operation for a user command');
    r.cancel = true;
    const deadline = Date.now() + timeoutMs;
    while (r.busy !== undefined && Date.now() < deadline) await sleep(50);
  }

  private writeMarker(s: PodSpec): void {
    writeFileSync(s.marker, `${new Date().toISOString()}\n`);
  }

  /** Any member of the cluster other than `except` that answers the members API. */
  private async clusterMembers(except: string): Promise<{ via: string; members: MemberInfo[] }> {
    const errors: string[] = [];
    for (const pod of this.podNames()) {
      if (pod === except || !this.taskAlive(pod) || this.state.pods[pod]!.task!.kind !== 'member') continue;
      const url = this.spec(pod).clientUrl;
      try {
        return { via: url, members: await listMembers(url, this.clientTls()) };
      } catch (err) {
        errors.push((err as Error).message);
      }
    }
    throw new Error(`no running member answers the members API${errors.length > 0 ? `: ${errors.join('; ')}` : ''}`);
  }

  /** True only when a running member answers and its membership lacks `id`. */
  private async removedFromCluster(pod: string, id: string): Promise<boolean> {
    try {
      const { members } = await this.clusterMembers(pod);
      return !members.some((m) => m.id === id);
    } catch {
      return false;
    }
  }

  private async recordMemberId(pod: string): Promise<void> {
    const s = this.spec(pod);
    try {
      const ms = await listMembers(s.clientUrl, this.clientTls());
      const me = ms.find((m) => m.name === s.taskName || m.peerURLs.includes(s.peerUrl));
      if (me !== undefined && this.state.pods[pod]!.memberId !== me.id) {
        this.state.pods[pod]!.memberId = me.id;
        this.save();
      }
    } catch { /* recorded on the next successful launch */ }
  }

  /**
   * Bring the pod to its goal with the target configuration. Returns 'paused' for a paused pod.
   * Decision (the marker decides, as in the package, but the scheduler does the membership):
   *   marker present                   -> (re)start the member in place;
   *   no marker, initial member before the first deploy completed -> bootstrap (state=new);
   *   otherwise                        -> join: remove the old member, add this one, start as existing.
   */
  async ensureRunning(pod: string): Promise<'running' | 'paused'> {
    const rec = this.state.pods[pod]!;
    const s = this.spec(pod);
    if (rec.goal === 'PAUSED') {
      if (this.taskAlive(pod) && rec.task!.kind === 'sleeper') return 'paused';
      await this.stopTask(pod);
      await this.launchSleeper(pod);
      return 'paused';
    }
    if (this.taskAlive(pod) && rec.task!.kind === 'sleeper') await this.stopTask(pod);
    const marker = existsSync(s.marker);
    if (!marker && (rec.join !== undefined || this.state.deployed || !this.state.initialMembers.includes(pod))) {
      await this.join(pod);
      return 'running';
    }
    if (marker && rec.memberId !== undefined && !this.taskAlive(pod) && (await this.removedFromCluster(pod, rec.memberId))) {
      // Its member was removed (by hand, or by a replace the pod never finished): starting the
      // old data would only be refused by the cluster; rejoin as a new member instead.
      this.log.warn({ pod, id: rec.memberId }, 'member is no longer in the cluster: rejoining as a new member');
      rec.join = {};
      this.save();
      await this.join(pod);
      return 'running';
    }
    const target = configHash(this.options, this.paths, s);
    if (this.taskAlive(pod) && rec.task!.configHash !== target) await this.stopTask(pod);
    if (!this.taskAlive(pod)) {
      if (marker) await this.launchMember(pod, 'existing', this.initialCluster(undefined, s));
      else {
        const initial = this.state.initialMembers.map((p) => { const x = this.spec(p); return `${x.taskName}=${x.peerUrl}`; }).join(',');
        await this.launchMember(pod, 'new', initial);
      }
    }
    await this.waitReady(pod);
    if (!marker) this.writeMarker(s);
    await this.recordMemberId(pod);
    return 'running';
  }

  /** Make this pod a new member of the running cluster. Every membership change is recorded
   *  before the next one, so this can be interrupted anywhere and simply run again. */
  private async join(pod: string): Promise<void> {
    const rec = this.state.pods[pod]!;
    const s = this.spec(pod);
    rec.join ??= {};
    this.save();
    const { via, members } = await this.clusterMembers(pod);
    const mine = members.filter((m) => m.peerURLs.includes(s.peerUrl) || m.name === s.taskName);
    let added = rec.join.addedId === undefined ? undefined : mine.find((m) => m.id === rec.join!.addedId);
    for (const m of mine) {
      if (m === added) continue;
      if (added === undefined && m.name === '' && m.peerURLs.includes(s.peerUrl)) {
        // Added by an interrupted attempt and never started: adopt it rather than add another.
        added = m;
        rec.join = { addedId: m.id, wiped: false };
        this.save();
        this.log.info({ pod, id: m.id }, 'adopting unstarted member');
        continue;
      }
      this.log.info({ pod, id: m.id, name: m.name }, 'member remove (old member of this pod)');
      await removeMember(via, m.id, this.clientTls());
    }
    this.checkCancel(pod);
    if (added === undefined) {
      if (this.taskAlive(pod)) await this.stopTask(pod);
      const m = await addMember(via, s.peerUrl, this.clientTls());
      rec.join = { addedId: m.id, wiped: false };
      this.save();
      this.log.info({ pod, id: m.id, peerUrl: s.peerUrl }, 'member add');
    }
    if (rec.join.wiped !== true) {
      if (this.taskAlive(pod)) await this.stopTask(pod);
      // A data dir of any earlier member would be refused (or worse, believed): start empty.
      rmSync(s.dataDir, { recursive: true, force: true });
      mkdirSync(s.dataDir, { recursive: true, mode: 0o700 });
      rec.join.wiped = true;
      this.save();
    }
    if (!this.taskAlive(pod)) {
      const now = (await this.clusterMembers(pod)).members;
      await this.launchMember(pod, 'existing', this.initialCluster(now, s));
    }
    await this.waitReady(pod);
    const after = (await this.clusterMembers(pod)).members;
    const me = after.find((m) => m.id === rec.join!.addedId);
    if (me === undefined || me.name !== s.taskName) throw new Error(`member ${rec.join.addedId} has not joined as ${s.taskName} yet`);
    this.writeMarker(s);
    rec.memberId = me.id;
    rec.join = undefined;
    this.save();
    this.log.info({ pod, id: me.id }, 'member joined');
  }

  // ---------------------------------------------------------------- user commands

  /** pod restart: kill and relaunch in place, keeping the sandbox. */
  podRestart(pod: string): boolean {
    return this.startOp(pod, 'restart', async () => { await this.stopTask(pod); await this.ensureRunning(pod); });
  }

  /** pod replace: discard the sandbox; the pod becomes a new member in place of the old one. */
  podReplace(pod: string): boolean {
    return this.startOp(pod, 'replace', async () => {
      const rec = this.state.pods[pod]!;
      rec.goal = 'RUNNING';
      rec.join = {};
      this.save();
      // SIGTERM first: a leading member hands leadership over, so removing it is quick.
      await this.stopTask(pod);
      await this.killStraysOf(pod);
      rmSync(this.spec(pod).sandbox, { recursive: true, force: true });
      this.save();
      await this.ensureRunning(pod);
    });
  }

  podPause(pod: string): boolean {
    return this.startOp(pod, 'pause', async () => {
      this.state.pods[pod]!.goal = 'PAUSED';
      this.save();
      await this.stopTask(pod);
      await this.ensureRunning(pod);
    });
  }

  podResume(pod: string): boolean {
    return this.startOp(pod, 'resume', async () => {
      this.state.pods[pod]!.goal = 'RUNNING';
      this.save();
      await this.ensureRunning(pod);
    });
  }

  markerPresent(pod: string): boolean {
    return existsSync(this.spec(pod).marker);
  }

  taskStatus(pod: string): string {
    const rec = this.state.pods[pod]!;
    const r = this.runtime(pod);
    const alive = this.taskAlive(pod);
    if (rec.goal === 'PAUSED') return alive && rec.task!.kind === 'sleeper' ? 'PAUSED' : 'PAUSING';
    if (!alive) return rec.task === undefined && r.busy === undefined ? (this.deployStep(pod)?.status === 'PENDING' ? 'PENDING' : 'KILLED') : r.busy !== undefined ? 'STARTING' : 'FAILED';
    if (rec.task!.kind === 'sleeper') return 'STARTING';
    return r.healthy ? 'RUNNING' : 'STARTING';
  }

  /** update start: validate, then roll the new target out through a new deploy plan. */
  update(user: UserOptions, replace: boolean): { errors: string[]; configId: number } {
    const merged = replace ? user : mergeUserOptions(this.state.userOptions, user);
    const r = resolveOptions(merged);
    const errors = r.options === undefined ? r.errors : checkUpdate(this.options, r.options);
    if (errors.length > 0 || r.options === undefined) {
      this.state.configErrors = errors;
      this.save();
      this.log.warn({ errors }, 'configuration rejected; the target stays as it was');
      return { errors, configId: this.state.configId };
    }
    const next = r.options;
    this.state.userOptions = merged;
    this.state.options = next;
    this.state.configId++;
    this.state.configErrors = [];
    for (let i = 0; i < next.node.count; i++) this.state.pods[podName(i)] ??= { index: i, goal: 'RUNNING' };
    this.state.deploy = newPlan('deploy', this.podNames(), this.state.deployed ? next.service.update_strategy : next.service.deploy_strategy, this.state.configId);
    this.log.level = pinoLevel(next.service.log_level);
    this.save();
    this.ensureVip();
    this.log.info({ configId: this.state.configId }, 'configuration accepted; rolling it out');
    return { errors: [], configId: this.state.configId };
  }

  // ---------------------------------------------------------------- plans

  plan(name: string): { body: Record<string, unknown> } | undefined {
    if (name === 'deploy') return { body: planJson(this.state.deploy, this.state.configErrors) };
    if (name === 'recovery') {
      const steps = [...this.recoverySteps.values()].filter((s) => s.status !== 'COMPLETE' || true);
      const plan: PlanState = { name: 'recovery', strategy: 'serial', interrupted: false, configId: this.state.configId, phases: steps.length === 0 ? [] : [{ id: 'recovery', name: 'permanent-node-failure-recovery', strategy: 'serial', steps }] };
      return { body: planJson(plan, []) };
    }
    return undefined;
  }

  private selectSteps(phase?: string, step?: string): StepState[] {
    const out: StepState[] = [];
    for (const ph of this.state.deploy.phases) {
      if (phase !== undefined && ph.name !== phase && ph.id !== phase) continue;
      for (const s of ph.steps) if (step === undefined || s.name === step || s.id === step || s.pod === step) out.push(s);
    }
    if (out.length === 0) throw new Error(`no such ${step !== undefined ? `step '${step}'` : `phase '${phase}'`}`);
    return out;
  }

  planCommand(cmd: 'interrupt' | 'continue' | 'restart' | 'forceComplete' | 'start' | 'stop', phase?: string, step?: string): void {
    const plan = this.state.deploy;
    const setStatus = (ss: StepState[], from: Status[] | undefined, to: Status): void => { for (const s of ss) if (from === undefined || from.includes(s.status)) s.status = to; };
    switch (cmd) {
      case 'interrupt':
        if (phase === undefined) plan.interrupted = true;
        setStatus(this.selectSteps(phase), ['PENDING'], 'WAITING');
        break;
      case 'continue':
        plan.interrupted = false;
        setStatus(this.selectSteps(phase), ['WAITING'], 'PENDING');
        break;
      case 'restart':
      case 'start': {
        const ss = this.selectSteps(phase, step);
        for (const s of ss) { s.status = 'PENDING'; s.message = ''; this.runtime(s.pod).force = true; }
        if (cmd === 'start') plan.interrupted = false;
        break;
      }
      case 'stop':
        plan.interrupted = true;
        setStatus(this.selectSteps(), ['PENDING', 'ERROR'], 'WAITING');
        break;
      case 'forceComplete':
        setStatus(this.selectSteps(phase, step), undefined, 'COMPLETE');
        break;
      default: {
        const never: never = cmd;
        throw new Error(`unknown plan command ${String(never)}`);
      }
    }
    this.save();
  }
}

export function pinoLevel(l: string): string {
  switch (l) {
    case 'OFF': return 'silent';
    case 'FATAL': return 'fatal';
    case 'ERROR': return 'error';
    case 'WARN': return 'warn';
    case 'INFO': return 'info';
    case 'DEBUG': return 'debug';
    default: return 'trace';
  }
}
