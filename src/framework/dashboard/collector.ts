// What the dashboard knows about the members beyond the scheduler's state: every round it asks
// each pod's member, on its own client URL (never through the VIP), for /health (the package's
// readiness check), /metrics and the v3 Maintenance Status (through the JSON gateway), and the
// cluster's alarms once. Rounds are kept in a bounded ring; the plots are computed from it.
import { request, type ClientTls } from '../members.js';
import type { Scheduler } from '../scheduler.js';
import { addBuckets, bucketDelta, buckets, parseMetrics, quantile, scalar, type Buckets } from './prom.js';

export const SCRAPE_INTERVAL_MS_DEFAULT = 1000;
/** 10 minutes at the default interval. */
export const HISTORY_ROUNDS_MAX_DEFAULT = 600;
/** Per call; a round never takes longer than this, whatever the members do. */
export const SCRAPE_TIMEOUT_MS = 900;

const WANTED = new Set([
  'etcd_server_proposals_committed_total',
  'etcd_server_proposals_failed_total',
  'etcd_server_leader_changes_seen_total',
  'etcd_server_is_leader',
  'etcd_server_has_leader',
  'etcd_mvcc_db_total_size_in_bytes',
  'etcd_disk_backend_commit_duration_seconds_bucket',
  'etcd_disk_wal_fsync_duration_seconds_bucket',
]);

export interface MemberStatus {
  memberId: string;
  leaderId: string;
  raftTerm: number;
  raftIndex: number;
  raftAppliedIndex: number;
  dbSizeBytes: number;
  dbSizeInUseBytes: number;
  version: string;
  isLearner: boolean;
  errors: string[];
}

export interface PodSample {
  ready: boolean;
  /** Why the member could not be read (unreachable, HTTP error); undefined when it answered. */
  error?: string;
  status?: MemberStatus;
  committed?: number;
  leaderChanges?: number;
  isLeader?: boolean;
  dbBytes?: number;
  backendCommit?: Buckets;
  walFsync?: Buckets;
}

export interface Round {
  tMs: number;
  pods: Record<string, PodSample>;
  /** NOSPACE / CORRUPT alarms by member id (hex). */
  alarms: { memberId: string; alarm: string }[];
  alarmError?: string;
}

export interface Series {
  tMs: number[];
  /** Per pod: Δ proposals committed / Δt. */
  proposalsPerSec: Record<string, (number | null)[]>;
  /** Cluster-wide backend commit latency (ms) over each interval, and WAL fsync p99. */
  latencyMs: { p50: (number | null)[]; p90: (number | null)[]; p99: (number | null)[]; walP99: (number | null)[] };
  /** Leader changes seen since the dashboard started (the most any member saw per interval). */
  leaderChanges: number[];
  dbBytes: Record<string, (number | null)[]>;
}

type Json = Record<string, unknown>;

function num(v: unknown): number {
  const n = typeof v === 'string' ? Number(v) : typeof v === 'number' ? v : 0;
  return Number.isFinite(n) ? n : 0;
}

/** uint64 ids come through the gateway as decimal strings; the scheduler records hex. */
export function hexId(v: unknown): string {
  if (typeof v !== 'string' && typeof v !== 'number') return '';
  try { return BigInt(v).toString(16); } catch { return ''; }
}

function describe(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.code !== undefined && !e.message.includes(e.code) ? `${e.code} ${e.message}` : e.message;
}

export class Collector {
  private readonly rounds: Round[] = [];
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private readonly listeners = new Set<() => void>();

  constructor(private readonly s: Scheduler, readonly intervalMs = SCRAPE_INTERVAL_MS_DEFAULT, readonly roundsMax = HISTORY_ROUNDS_MAX_DEFAULT) {}

  start(): void {
    if (this.timer !== undefined) return;
    this.timer = setInterval(() => void this.round(), this.intervalMs);
    this.timer.unref();
    void this.round();
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  onRound(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  latest(): Round | undefined {
    return this.rounds[this.rounds.length - 1];
  }

  /** One round: every pod in parallel. A round still running when the next is due is not
   *  doubled: the next simply waits its turn. */
  async round(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      let tls: ClientTls;
      try { tls = this.s.clientTls(); } catch { tls = {}; }
      const pods = this.s.podNames();
      const samples = await Promise.all(pods.map((p) => this.scrape(this.s.spec(p).clientUrl, tls)));
      const r: Round = { tMs: Date.now(), pods: {}, alarms: [] };
      pods.forEach((p, i) => { r.pods[p] = samples[i]!; });
      const reachable = pods.find((p) => r.pods[p]!.error === undefined);
      if (reachable !== undefined) {
        try {
          const body = await this.post(this.s.spec(reachable).clientUrl, '/v3/maintenance/alarm', { action: 'GET' }, tls);
          const list = Array.isArray(body.alarms) ? (body.alarms as Json[]) : [];
          r.alarms = list.map((a) => ({ memberId: hexId(a.memberID), alarm: String(a.alarm ?? 'NOSPACE') })).filter((a) => a.alarm !== 'NONE');
        } catch (err) {
          r.alarmError = describe(err);
        }
      }
      this.rounds.push(r);
      while (this.rounds.length > this.roundsMax) this.rounds.shift();
    } finally {
      this.running = false;
    }
    for (const fn of this.listeners) {
      try { fn(); } catch { /* a listener's failure is its own */ }
    }
  }

  private async post(url: string, path: string, body: unknown, tls: ClientTls): Promise<Json> {
    const r = await request(`${url}${path}`, { method: 'POST', body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' }, timeoutMs: SCRAPE_TIMEOUT_MS, tls });
    if (r.status !== 200) throw new Error(`POST ${path}: HTTP ${r.status} ${r.body.trim().slice(0, 200)}`);
    return JSON.parse(r.body) as Json;
  }

  private async scrape(url: string, tls: ClientTls): Promise<PodSample> {
    const [health, metrics, status] = await Promise.allSettled([
      request(`${url}/health`, { timeoutMs: SCRAPE_TIMEOUT_MS, tls }),
      request(`${url}/metrics`, { timeoutMs: SCRAPE_TIMEOUT_MS, tls }),
      this.post(url, '/v3/maintenance/status', {}, tls),
    ]);
    const out: PodSample = { ready: health.status === 'fulfilled' && health.value.body.includes('true') };
    const errors: string[] = [];
    if (health.status === 'rejected') errors.push(`unreachable at ${url}: ${describe(health.reason)}`);
    if (metrics.status === 'fulfilled' && metrics.value.status === 200) {
      try {
        const m = parseMetrics(metrics.value.body, WANTED);
        out.committed = scalar(m, 'etcd_server_proposals_committed_total');
        out.leaderChanges = scalar(m, 'etcd_server_leader_changes_seen_total');
        const lead = scalar(m, 'etcd_server_is_leader');
        out.isLeader = lead === undefined ? undefined : lead > 0;
        out.dbBytes = scalar(m, 'etcd_mvcc_db_total_size_in_bytes');
        out.backendCommit = buckets(m, 'etcd_disk_backend_commit_duration_seconds');
        out.walFsync = buckets(m, 'etcd_disk_wal_fsync_duration_seconds');
      } catch (err) {
        errors.push(`/metrics: ${describe(err)}`);
      }
    } else if (metrics.status === 'fulfilled') errors.push(`/metrics: HTTP ${metrics.value.status}`);
    else if (health.status !== 'rejected') errors.push(`/metrics: ${describe(metrics.reason)}`);
    if (status.status === 'fulfilled') {
      const b = status.value;
      const h = (b.header ?? {}) as Json;
      out.status = {
        memberId: hexId(h.member_id),
        leaderId: hexId(b.leader),
        raftTerm: num(b.raftTerm),
        raftIndex: num(b.raftIndex),
        raftAppliedIndex: num(b.raftAppliedIndex),
        dbSizeBytes: num(b.dbSize),
        dbSizeInUseBytes: num(b.dbSizeInUse),
        version: typeof b.version === 'string' ? b.version : '',
        isLearner: b.isLearner === true,
        errors: Array.isArray(b.errors) ? b.errors.map(String) : [],
      };
    } else if (health.status !== 'rejected') errors.push(`status: ${describe(status.reason)}`);
    if (errors.length > 0) out.error = errors.join('; ');
    return out;
  }

  /** The plots, from consecutive rounds. */
  series(pods: readonly string[]): Series {
    const rs = this.rounds;
    const s: Series = { tMs: [], proposalsPerSec: {}, latencyMs: { p50: [], p90: [], p99: [], walP99: [] }, leaderChanges: [], dbBytes: {} };
    for (const p of pods) { s.proposalsPerSec[p] = []; s.dbBytes[p] = []; }
    let changes = 0;
    for (let i = 1; i < rs.length; i++) {
      const a = rs[i - 1]!;
      const b = rs[i]!;
      const dtSec = (b.tMs - a.tMs) / 1000;
      s.tMs.push(b.tMs);
      let commit: Buckets | undefined;
      let wal: Buckets | undefined;
      let changed = 0;
      for (const p of pods) {
        const x = a.pods[p];
        const y = b.pods[p];
        const ok = x?.committed !== undefined && y?.committed !== undefined && y.committed >= x.committed && dtSec > 0;
        s.proposalsPerSec[p]!.push(ok ? (y.committed! - x.committed!) / dtSec : null);
        s.dbBytes[p]!.push(y?.dbBytes ?? null);
        if (x?.leaderChanges !== undefined && y?.leaderChanges !== undefined && y.leaderChanges > x.leaderChanges) changed = Math.max(changed, y.leaderChanges - x.leaderChanges);
        if (x?.backendCommit !== undefined && y?.backendCommit !== undefined) {
          const d = bucketDelta(y.backendCommit, x.backendCommit);
          if (d !== undefined) commit = addBuckets(commit, d);
        }
        if (x?.walFsync !== undefined && y?.walFsync !== undefined) {
          const d = bucketDelta(y.walFsync, x.walFsync);
          if (d !== undefined) wal = addBuckets(wal, d);
        }
      }
      changes += changed;
      s.leaderChanges.push(changes);
      const ms = (q: number, bk: Buckets | undefined): number | null => { const v = bk === undefined ? undefined : quantile(q, bk); return v === undefined ? null : v * 1000; };
      s.latencyMs.p50.push(ms(0.5, commit));
      s.latencyMs.p90.push(ms(0.9, commit));
      s.latencyMs.p99.push(ms(0.99, commit));
      s.latencyMs.walP99.push(ms(0.99, wal));
    }
    return s;
  }
}
