// The member as the v2 HTTP API sees it (src/api/v2/backend.ts): reads from the local store,
// writes and quorum reads through raft, membership changes as raft conf changes.
import { nowMs } from './clock.js';
import type { V2Backend, V2Member, V2AuthBackend } from '../api/v2/backend.js';
import type { V2Store } from '../store/v2/store.js';
import type { V2Event, V2Request } from '../store/v2/types.js';
import type { RaftMember } from './member.js';
import { formatId, memberIdOf } from '../api/config/index.js';
import { encodeContext } from './command.js';
import { ServerError } from './errors.js';
import { mayAddMember, mayRemoveMember } from './reconfig.js';
import type { PeerTransport } from '../api/peer/transport.js';
import { V2AuthBackendImpl } from './v2-auth-backend.js';

/** /health's quorum read must answer within this, or the member reports unhealthy (etcd: 1 s). */
export const HEALTH_QUORUM_READ_TIMEOUT_MS = 1000;

export class MemberV2Backend implements V2Backend {
  readonly auth: V2AuthBackend;
  constructor(
    private readonly m: RaftMember,
    private readonly transport: () => PeerTransport,
    private readonly token: string,
  ) {
    this.auth = new V2AuthBackendImpl(m);
  }

  get clusterId(): string {
    return this.m.sm.membership.clusterId;
  }
  get memberId(): string {
    return this.m.id;
  }
  get store(): V2Store {
    return this.m.sm.v2;
  }
  raftIndex(): number {
    return this.m.appliedIndex;
  }
  raftTerm(): number {
    return this.m.term;
  }
  nowMs(): number {
    return nowMs();
  }

  async write(req: V2Request): Promise<V2Event> {
    if (req.method === 'QGET') {
      await this.m.linearizableBarrier();
      return this.m.sm.v2.get(req.path, req.recursive === true, req.sorted === true);
    }
    return (await this.m.propose((id) => ({ t: 'v2', id, req }))) as V2Event;
  }

  members(): readonly V2Member[] {
    return this.m.members().map((x) => ({ id: x.id, name: x.name, peerUrls: x.peerUrls, clientUrls: x.clientUrls }));
  }

  leaderId(): string | undefined {
    return this.m.lead === '' ? undefined : this.m.lead;
  }

  async addMember(peerUrls: string[]): Promise<V2Member> {
    const ms = this.m.sm.membership;
    for (const u of peerUrls) if (ms.hasPeerUrl(u) !== undefined) throw new ServerError('peerUrlExists');
    const id = formatId(memberIdOf(peerUrls.map((u) => new URL(u)), this.token, Math.floor(Date.now() / 1000)));
    if (ms.get(id) !== undefined) throw new ServerError('memberExists');
    mayAddMember(this.m, this.transport(), false);
    await this.m.proposeConfChange({ type: 'addNode', nodeId: id, context: encodeContext({ peerUrls, name: '', isLearner: false }) });
    return { id, name: '', peerUrls, clientUrls: [] };
  }

  async removeMember(id: string): Promise<void> {
    const ms = this.m.sm.membership;
    if (ms.isRemoved(id)) throw new ServerError('memberRemoved');
    if (ms.get(id) === undefined) throw new ServerError('memberNotFound');
    mayRemoveMember(this.m, this.transport(), id);
    await this.m.proposeConfChange({ type: 'removeNode', nodeId: id, context: new Uint8Array(0) });
  }

  async updateMember(id: string, peerUrls: string[]): Promise<void> {
    const ms = this.m.sm.membership;
    if (ms.isRemoved(id)) throw new ServerError('memberRemoved');
    if (ms.get(id) === undefined) throw new ServerError('memberNotFound');
    for (const u of peerUrls) {
      const other = ms.hasPeerUrl(u);
      if (other !== undefined && other.id !== id) throw new ServerError('peerUrlExists');
    }
    await this.m.updatePeerUrls(id, peerUrls);
  }

  /** Peer traffic totals a second ago, for etcd's package and bandwidth rates. */
  private rateBase = { atMs: Date.now(), sent: 0, sentBytes: 0, recv: 0, recvBytes: 0 };
  private rateNow = { sentPerS: 0, sentBytesPerS: 0, recvPerS: 0, recvBytesPerS: 0 };

  private peerTotals(): { sent: number; sentBytes: number; recv: number; recvBytes: number } {
    let sent = 0, sentBytes = 0, recv = 0, recvBytes = 0;
    for (const s of Object.values(this.transport().stats())) {
      sent += s.sentMessages;
      sentBytes += s.sentBytes;
      recv += s.receivedMessages;
      recvBytes += s.receivedBytes;
    }
    return { sent, sentBytes, recv, recvBytes };
  }

  private updateRates(): ReturnType<MemberV2Backend['peerTotals']> {
    const t = this.peerTotals();
    const now = Date.now();
    const dt = (now - this.rateBase.atMs) / 1000;
    if (dt >= 1) {
      this.rateNow = {
        sentPerS: (t.sent - this.rateBase.sent) / dt,
        sentBytesPerS: (t.sentBytes - this.rateBase.sentBytes) / dt,
        recvPerS: (t.recv - this.rateBase.recv) / dt,
        recvBytesPerS: (t.recvBytes - this.rateBase.recvBytes) / dt,
      };
      this.rateBase = { atMs: now, ...t };
    }
    return t;
  }

  /** etcd's ServerStats JSON: the leader counts what it sends, a follower what it receives;
   *  rates are omitted when zero (Go omitempty). */
  selfStats(): object {
    const t = this.updateRates();
    const leader = this.m.isLeader();
    const r = this.rateNow;
    const out: Record<string, unknown> = {
      name: this.m.opts.name,
      id: this.m.id,
      state: leader ? 'StateLeader' : 'StateFollower',
      startTime: this.m.startTime.toISOString(),
      leaderInfo: {
        leader: this.m.lead,
        uptime: goDuration(Date.now() - this.m.leaderSince.getTime()),
        startTime: this.m.leaderSince.toISOString(),
      },
      recvAppendRequestCnt: leader ? 0 : t.recv,
    };
    if (!leader && r.recvPerS > 0) {
      out.recvPkgRate = r.recvPerS;
      out.recvBandwidthRate = r.recvBytesPerS;
    }
    out.sendAppendRequestCnt = leader ? t.sent : 0;
    if (leader && r.sentPerS > 0) {
      out.sendPkgRate = r.sentPerS;
      out.sendBandwidthRate = r.sentBytesPerS;
    }
    return out;
  }

  leaderStats(): object | undefined {
    if (!this.m.isLeader()) return undefined;
    const t = this.transport();
    const followers: Record<string, object> = {};
    const stats = t.stats();
    for (const mem of this.m.members()) {
      if (mem.id === this.m.id) continue;
      const s = stats[mem.id];
      const rttS = (s?.rttMs ?? 0) / 1000;
      followers[mem.id] = {
        latency: { current: rttS, average: rttS, standardDeviation: 0, minimum: rttS, maximum: rttS },
        counts: { fail: s?.failures ?? 0, success: s?.sentMessages ?? 0 },
      };
    }
    return { leader: this.m.id, followers };
  }

  async health(excluded: readonly string[]): Promise<boolean> {
    // Any active alarm makes the member unhealthy unless the caller excludes it (?exclude=NOSPACE).
    for (const a of this.m.sm.v3.alarms) if (!excluded.includes(a.split('/')[1]!)) return false;
    if (this.m.lead === '') return false;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.m.linearizableBarrier(),
        new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('timeout')), HEALTH_QUORUM_READ_TIMEOUT_MS))),
      ]);
      return true;
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  clusterVersion(): string {
    return this.m.sm.membership.clusterVersion;
  }
}

/** Go's time.Duration String(), as etcd prints uptime ("1h2m3.456789s"). */
export function goDuration(ms: number): string {
  if (ms < 1000) return `${(ms).toFixed(6).replace(/\.?0+$/, '')}ms`;
  let s = ms / 1000;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  const sec = s.toFixed(9).replace(/\.?0+$/, '');
  return `${h > 0 ? `${h}h` : ''}${h > 0 || m > 0 ? `${m}m` : ''}${sec}s`;
}
