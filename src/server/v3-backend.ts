// The member as the v3 API sees it (src/api/v3/backend.ts): reads from the local stores (after a
// ReadIndex barrier unless serializable), writes through raft, leader-only work (lease renewals,
// TimeToLive, learner promotion) forwarded to the leader over the peer port.
import { randomBytes } from 'node:crypto';
import type {
  AlarmAction, AlarmMember, AlarmType as ApiAlarmType, AuthInfo, LeaseTimeToLive, Permission, SnapshotData,
  V3Backend, V3Header, V3Member, V3Status, WatchCreate, WatchSink, WatchStream, WithRevision,
} from '../api/v3/backend.js';
import type {
  Bytes, CompactionRequest, DeleteRangeRequest, DeleteRangeResponse, LeaseId, PutRequest, PutResponse,
  RangeRequest, RangeResponse, RequestOp, TxnRequest, TxnResponse,
} from '../store/mvcc/types.js';
import { WatchCreateError, type WatchFilter } from '../store/mvcc/index.js';
import { hashPasswordAsync } from '../store/auth/index.js';
import { V3Error } from '../store/v3error.js';
import { formatId, memberIdOf } from '../api/config/index.js';
import type { RaftMember } from './member.js';
import type { V3Request, V3Result, AlarmType } from './v3.js';
import { encodeContext } from './command.js';
import { ServerError } from './errors.js';
import { nowMs } from './clock.js';
import type { Member } from './membership.js';
import type { PeerTransport } from '../api/peer/transport.js';
import { mayAddMember, mayRemoveMember } from './reconfig.js';
import type { JwtTokens } from '../store/auth/jwt.js';
import { grpcErrorText } from '../api/v3/gateway.js';

export const SERVER_VERSION = '3.4.23';

/** How long a forwarded leader-only request may take. */
export const LEADER_FORWARD_TIMEOUT_MS = 5000;
/** A learner may be promoted once its log is within this fraction of the leader's (etcd: 90%). */
export const LEARNER_READY_PERCENT = 0.9;
/** Snapshot images are whole pages of this size, as etcdctl expects of a bbolt file. */
export const SNAPSHOT_PAGE_BYTES = 512;
/** etcd's --max-learners in 3.4: one. */
export const LEARNERS_MAX = 1;

function hexToBig(id: string): bigint {
  return id === '' ? 0n : BigInt('0x' + id);
}

function bigToHex(id: bigint): string {
  return formatId(id);
}

/** Errors of the member itself, in the v3 table's words. */
function v3ErrorOf(err: unknown): unknown {
  if (err instanceof ServerError) {
    switch (err.kind) {
      case 'timeout': return new V3Error('timeout');
      case 'leaderLost': return new V3Error('timeoutDueToLeaderFail');
      case 'noLeader': return new V3Error('noLeader');
      case 'stopped': return new V3Error('stopped');
      case 'tooManyRequests': return new V3Error('tooManyRequests');
      case 'notStarted': return new V3Error('memberNotEnoughStarted');
      case 'memberExists': return new V3Error('memberExist');
      case 'peerUrlExists': return new V3Error('peerURLExist');
      case 'memberNotFound': return new V3Error('memberNotFound');
      case 'memberRemoved': return new V3Error('memberNotFound');
      case 'unhealthy': return new V3Error('unhealthy');
      default: return err;
    }
  }
  return err;
}

export interface LeaderForwarder {
  /** Runs a leader-only operation on the current leader (over the peer port). */
  forward(op: string, args: Record<string, unknown>): Promise<unknown>;
}

export class MemberV3Backend implements V3Backend {
  constructor(
    private readonly m: RaftMember,
    private readonly opts: { token: string; quotaBackendBytes: number; maxTxnOps: number; jwt?: JwtTokens },
    private readonly leader: LeaderForwarder,
    private readonly transport: () => PeerTransport,
  ) {}

  private get v3() {
    return this.m.sm.v3;
  }

  header(): V3Header {
    return {
      clusterId: hexToBig(this.m.sm.membership.clusterId),
      memberId: hexToBig(this.m.id),
      revision: this.v3.mvcc.currentRevision(),
      raftTerm: this.m.term,
    };
  }

  hasLeader(): boolean {
    return this.m.lead !== '';
  }

  isLearner(): boolean {
    return this.m.sm.membership.get(this.m.id)?.isLearner === true;
  }

  async authInfoFromToken(token: string): Promise<AuthInfo | undefined> {
    const auth = this.v3.auth;
    if (!auth.isEnabled()) return undefined;
    if (this.opts.jwt !== undefined) {
      // Checked here, not through raft: any member holding the key verifies the signature.
      const c = this.opts.jwt.info(token, Date.now());
      if (c === undefined) throw new V3Error('invalidAuthToken');
      return { username: c.username, revision: c.revision };
    }
    const u = auth.userFromToken(token, nowMs());
    if (u === undefined) throw new V3Error('invalidAuthToken');
    return { username: u.user, revision: u.revision };
  }

  authInfoFromCommonName(cn: string): AuthInfo | undefined {
    const auth = this.v3.auth;
    if (!auth.isEnabled()) return undefined;
    return { username: cn, revision: auth.revision() };
  }

  // ---- permission checks (etcd's authApplierV3 / checkTxnReqsPermission) --------------------

  private user(auth: AuthInfo | undefined): string | undefined {
    if (!this.v3.auth.isEnabled()) return undefined;
    if (auth === undefined || auth.username === '') throw new V3Error('userEmpty');
    // etcd's isOpPermitted: a JWT issued before the last auth change (its revision claim) is
    // refused. (Simple tokens and certificate CNs stand for the current revision, which etcd
    // reads after the read barrier; ours was read before it, so they are not checked here.)
    if (this.opts.jwt !== undefined && auth.revision < this.v3.auth.revision()) throw new V3Error('authOldRevision');
    return auth.username;
  }

  private checkRead(auth: AuthInfo | undefined, key: Bytes, rangeEnd: Bytes | undefined): void {
    const u = this.user(auth);
    if (u !== undefined && !this.v3.auth.isRangePermitted(u, key, rangeEnd)) throw new V3Error('permissionDenied');
  }

  private checkPut(auth: AuthInfo | undefined, key: Bytes): void {
    const u = this.user(auth);
    if (u !== undefined && !this.v3.auth.isPutPermitted(u, key)) throw new V3Error('permissionDenied');
  }

  private checkDelete(auth: AuthInfo | undefined, key: Bytes, rangeEnd: Bytes | undefined): void {
    const u = this.user(auth);
    if (u !== undefined && !this.v3.auth.isDeleteRangePermitted(u, key, rangeEnd)) throw new V3Error('permissionDenied');
  }

  private checkAdmin(auth: AuthInfo | undefined): void {
    const u = this.user(auth);
    if (u !== undefined && !this.v3.auth.isAdminPermitted(u)) throw new V3Error('permissionDenied');
  }

  private checkTxnPerms(auth: AuthInfo | undefined, req: TxnRequest): void {
    if (!this.v3.auth.isEnabled()) return;
    for (const c of req.compare ?? []) this.checkRead(auth, c.key, c.rangeEnd);
    const ops = (list: RequestOp[] | undefined): void => {
      for (const op of list ?? []) {
        if ('requestRange' in op) this.checkRead(auth, op.requestRange.key, op.requestRange.rangeEnd);
        else if ('requestPut' in op) this.checkPut(auth, op.requestPut.key);
        else if ('requestDeleteRange' in op) this.checkDelete(auth, op.requestDeleteRange.key, op.requestDeleteRange.rangeEnd);
        else this.checkTxnPerms(auth, op.requestTxn);
      }
    };
    ops(req.success);
    ops(req.failure);
  }

  private static txnHasPut(req: TxnRequest): boolean {
    for (const list of [req.success, req.failure]) {
      for (const op of list ?? []) {
        if ('requestPut' in op) return true;
        if ('requestTxn' in op && MemberV3Backend.txnHasPut(op.requestTxn)) return true;
      }
    }
    return false;
  }

  /** NOSPACE: puts, txns with puts and lease grants are refused until the alarm is disarmed. */
  private checkQuota(): void {
    if (this.v3.hasAlarm('NOSPACE')) throw new V3Error('noSpace');
  }

  private async propose(req: V3Request, auth?: AuthInfo): Promise<V3Result> {
    try {
      return (await this.m.propose((id) => ({ t: 'v3', id, req, ...(auth ? { user: auth.username, authRev: auth.revision } : {}) }))) as V3Result;
    } catch (err) {
      throw v3ErrorOf(err);
    }
  }

  private async barrier(): Promise<void> {
    try {
      await this.m.linearizableBarrier();
    } catch (err) {
      throw v3ErrorOf(err);
    }
  }

  // ---- KV --------------------------------------------------------------------------------

  async range(req: RangeRequest, auth: AuthInfo | undefined): Promise<WithRevision<RangeResponse>> {
    this.checkRead(auth, req.key, req.rangeEnd);
    if (req.serializable !== true) await this.barrier();
    const resp = this.v3.mvcc.range(req);
    return { ...resp, revision: this.v3.mvcc.currentRevision() };
  }

  async put(req: PutRequest, auth: AuthInfo | undefined): Promise<WithRevision<PutResponse>> {
    this.checkPut(auth, req.key);
    this.checkQuota();
    const r = await this.propose({ op: 'put', req }, auth);
    if (r.kind !== 'put') throw new Error('put: unexpected apply result');
    return { ...r.resp, revision: r.revision };
  }

  async deleteRange(req: DeleteRangeRequest, auth: AuthInfo | undefined): Promise<WithRevision<DeleteRangeResponse>> {
    this.checkDelete(auth, req.key, req.rangeEnd);
    const r = await this.propose({ op: 'deleteRange', req }, auth);
    if (r.kind !== 'deleteRange') throw new Error('deleteRange: unexpected apply result');
    return { ...r.resp, revision: r.revision };
  }

  async txn(req: TxnRequest, auth: AuthInfo | undefined): Promise<WithRevision<TxnResponse>> {
    this.checkTxnPerms(auth, req);
    if (MemberV3Backend.txnHasPut(req)) this.checkQuota();
    const r = await this.propose({ op: 'txn', req }, auth);
    if (r.kind !== 'txn') throw new Error('txn: unexpected apply result');
    return { ...r.resp, revision: r.revision };
  }

  async compact(req: CompactionRequest, auth: AuthInfo | undefined): Promise<{ readonly revision: number }> {
    this.checkAdmin(auth);
    // etcd refuses a compacted or future revision before proposing too.
    const mvcc = this.v3.mvcc;
    if (req.revision <= mvcc.compactRevision()) throw new V3Error('compacted');
    if (req.revision > mvcc.currentRevision()) throw new V3Error('futureRev');
    const r = await this.propose({ op: 'compact', req }, auth);
    if (req.physical === true) await this.v3.backend.commit();
    return { revision: r.revision };
  }

  // ---- watch -------------------------------------------------------------------------------

  newWatchStream(sink: WatchSink): WatchStream {
    const hub = this.v3.mvcc.watchHub;
    const stream = hub.newStream((r) => sink.send({
      watchId: r.watchId,
      ...(r.created ? { created: true } : {}),
      ...(r.canceled ? { canceled: true } : {}),
      ...(r.compactRevision !== undefined ? { compactRevision: r.compactRevision } : {}),
      ...(r.cancelReason !== undefined ? { cancelReason: r.cancelReason } : {}),
      events: r.events,
      revision: r.revision,
    }));
    const refuse = (reason: string): void => {
      sink.send({ watchId: -1, created: true, canceled: true, cancelReason: reason, events: [], revision: this.v3.mvcc.currentRevision() });
    };
    return {
      watch: (req: WatchCreate, auth: AuthInfo | undefined) => {
        try {
          this.checkRead(auth, req.key, req.rangeEnd);
        } catch (err) {
          // etcd's reason is the gRPC status error's text, code included.
          refuse(grpcErrorText(err));
          return;
        }
        const filters: WatchFilter[] = [];
        if (req.noPut) filters.push('NOPUT');
        if (req.noDelete) filters.push('NODELETE');
        try {
          stream.watch({
            key: req.key,
            ...(req.rangeEnd !== undefined ? { rangeEnd: req.rangeEnd } : {}),
            ...(req.startRevision !== undefined ? { startRevision: req.startRevision } : {}),
            prevKv: req.prevKv === true,
            filters,
            progressNotify: req.progressNotify === true,
            ...(req.watchId !== undefined ? { watchId: req.watchId } : {}),
          });
        } catch (err) {
          if (err instanceof WatchCreateError) refuse(err.message);
          else throw err;
        }
      },
      cancel: (id) => void stream.cancel(id),
      requestProgress: () => stream.requestProgress(),
      drained: () => stream.resume(),
      close: () => stream.close(),
    };
  }

  // ---- lease -------------------------------------------------------------------------------

  async leaseGrant(ttlSec: number, id: LeaseId, _auth: AuthInfo | undefined): Promise<{ readonly id: LeaseId; readonly ttl: number }> {
    this.checkQuota();
    // etcd picks a positive 63-bit id when the client gives none.
    let leaseId = id;
    while (leaseId === 0n) leaseId = randomBytes(8).readBigInt64BE() & 0x7fffffffffffffffn;
    const r = await this.propose({ op: 'leaseGrant', id: leaseId, ttl: ttlSec });
    if (r.kind !== 'leaseGrant') throw new Error('leaseGrant: unexpected apply result');
    return { id: r.id, ttl: r.ttl };
  }

  async leaseRevoke(id: LeaseId, _auth: AuthInfo | undefined): Promise<void> {
    if (this.v3.lessor.lookup(id) === undefined) throw new V3Error('leaseNotFound');
    await this.propose({ op: 'leaseRevoke', id });
  }

  async leaseKeepAlive(id: LeaseId): Promise<number> {
    if (this.m.isLeader()) return this.v3.lessor.renew(id, nowMs());
    return (await this.leader.forward('leaseRenew', { id: id.toString() })) as number;
  }

  async leaseTimeToLive(id: LeaseId, keys: boolean, _auth: AuthInfo | undefined): Promise<LeaseTimeToLive> {
    if (this.m.isLeader()) return this.v3.lessor.timeToLive(id, keys, nowMs());
    const r = (await this.leader.forward('leaseTimeToLive', { id: id.toString(), keys })) as { ttl: number; grantedTtl: number; keys: string[] };
    return { id, ttl: r.ttl, grantedTtl: r.grantedTtl, keys: r.keys.map((k) => Buffer.from(k, 'base64')) };
  }

  async leaseLeases(_auth: AuthInfo | undefined): Promise<readonly LeaseId[]> {
    return this.v3.lessor.leases();
  }

  /** The leader side of the forwarded lease calls (see server.ts's peer HTTP). */
  async serveLeaderOp(op: string, args: Record<string, unknown>): Promise<unknown> {
    if (!this.m.isLeader()) throw new V3Error('notLeader');
    switch (op) {
      case 'leaseRenew':
        return this.v3.lessor.renew(BigInt(args.id as string), nowMs());
      case 'leaseTimeToLive': {
        const t = this.v3.lessor.timeToLive(BigInt(args.id as string), args.keys === true, nowMs());
        return { ttl: t.ttl, grantedTtl: t.grantedTtl, keys: t.keys.map((k) => Buffer.from(k).toString('base64')) };
      }
      case 'memberPromote':
        await this.promoteOnLeader(String(args.id));
        return this.memberListNow().map((m) => ({ ...m, id: m.id.toString() }));
      default:
        throw new Error(`unknown leader operation ${op}`);
    }
  }

  // ---- cluster -----------------------------------------------------------------------------

  private toV3Member(m: Member): V3Member {
    return { id: hexToBig(m.id), name: m.name, peerUrls: m.peerUrls, clientUrls: m.clientUrls, isLearner: m.isLearner };
  }

  private memberListNow(): V3Member[] {
    return this.m.members().map((x) => this.toV3Member(x));
  }

  async memberAdd(peerUrls: readonly string[], isLearner: boolean, auth: AuthInfo | undefined): Promise<{ readonly member: V3Member; readonly members: readonly V3Member[] }> {
    this.checkAdmin(auth);
    const ms = this.m.sm.membership;
    let urls: URL[];
    try {
      urls = peerUrls.map((u) => new URL(u));
    } catch {
      throw new V3Error('memberBadURLs');
    }
    if (urls.length === 0) throw new V3Error('memberBadURLs');
    for (const u of peerUrls) if (ms.hasPeerUrl(u) !== undefined) throw new V3Error('peerURLExist');
    if (isLearner && ms.list().filter((x) => x.isLearner).length >= LEARNERS_MAX) throw new V3Error('tooManyLearners');
    const id = formatId(memberIdOf(urls, this.opts.token, Math.floor(nowMs() / 1000)));
    if (ms.get(id) !== undefined) throw new V3Error('memberExist');
    try {
      mayAddMember(this.m, this.transport(), isLearner);
    } catch (err) {
      throw v3ErrorOf(err);
    }
    try {
      await this.m.proposeConfChange({ type: isLearner ? 'addLearner' : 'addNode', nodeId: id, context: encodeContext({ peerUrls: [...peerUrls], name: '', isLearner }) });
    } catch (err) {
      throw v3ErrorOf(err);
    }
    return { member: { id: hexToBig(id), name: '', peerUrls, clientUrls: [], isLearner }, members: this.memberListNow() };
  }

  async memberRemove(id: bigint, auth: AuthInfo | undefined): Promise<readonly V3Member[]> {
    this.checkAdmin(auth);
    const hex = bigToHex(id);
    if (this.m.sm.membership.get(hex) === undefined) throw new V3Error('memberNotFound');
    try {
      mayRemoveMember(this.m, this.transport(), hex);
      await this.m.proposeConfChange({ type: 'removeNode', nodeId: hex, context: new Uint8Array(0) });
    } catch (err) {
      throw v3ErrorOf(err);
    }
    return this.memberListNow();
  }

  async memberUpdate(id: bigint, peerUrls: readonly string[], auth: AuthInfo | undefined): Promise<readonly V3Member[]> {
    this.checkAdmin(auth);
    const hex = bigToHex(id);
    const ms = this.m.sm.membership;
    if (ms.get(hex) === undefined) throw new V3Error('memberNotFound');
    for (const u of peerUrls) {
      const other = ms.hasPeerUrl(u);
      if (other !== undefined && other.id !== hex) throw new V3Error('peerURLExist');
    }
    try {
      await this.m.updatePeerUrls(hex, [...peerUrls]);
    } catch (err) {
      throw v3ErrorOf(err);
    }
    return this.memberListNow();
  }

  async memberList(_auth: AuthInfo | undefined): Promise<readonly V3Member[]> {
    return this.memberListNow();
  }

  async memberPromote(id: bigint, auth: AuthInfo | undefined): Promise<readonly V3Member[]> {
    this.checkAdmin(auth);
    const hex = bigToHex(id);
    const mem = this.m.sm.membership.get(hex);
    if (mem === undefined) throw new V3Error('memberNotFound');
    if (!mem.isLearner) throw new V3Error('memberNotLearner');
    if (this.m.isLeader()) {
      await this.promoteOnLeader(hex);
      return this.memberListNow();
    }
    const list = (await this.leader.forward('memberPromote', { id: hex })) as Array<{ id: string } & Omit<V3Member, 'id'>>;
    return list.map((x) => ({ ...x, id: BigInt(x.id) }));
  }

  private async promoteOnLeader(hex: string): Promise<void> {
    const mem = this.m.sm.membership.get(hex);
    if (mem === undefined) throw new V3Error('memberNotFound');
    if (!mem.isLearner) throw new V3Error('memberNotLearner');
    const st = this.m.node.status();
    const pr = st.progress?.[hex];
    if (pr === undefined || pr.match < st.commit * LEARNER_READY_PERCENT) throw new V3Error('learnerNotReady');
    try {
      await this.m.proposeConfChange({ type: 'addNode', nodeId: hex, context: encodeContext({ peerUrls: mem.peerUrls, name: mem.name, isLearner: false }) });
    } catch (err) {
      throw v3ErrorOf(err);
    }
  }

  // ---- maintenance -------------------------------------------------------------------------

  async status(_auth: AuthInfo | undefined): Promise<V3Status> {
    const st = this.m.node.status();
    const dbSize = await this.v3.backend.sizeBytes();
    return {
      version: SERVER_VERSION,
      dbSize,
      leader: hexToBig(this.m.lead),
      raftIndex: st.commit,
      raftTerm: st.term,
      raftAppliedIndex: this.m.appliedIndex,
      errors: [...this.v3.alarms].filter((a) => a.startsWith(this.m.id + '/')).map((a) => `memberID:${BigInt('0x' + this.m.id).toString()} alarm:${a.split('/')[1]} `),
      dbSizeInUse: dbSize,
      isLearner: this.isLearner(),
    };
  }

  async alarm(action: AlarmAction, memberId: bigint, alarm: ApiAlarmType, auth: AuthInfo | undefined): Promise<readonly AlarmMember[]> {
    this.checkAdmin(auth);
    const list = (): AlarmMember[] =>
      [...this.v3.alarms]
        .map((a) => { const [mid, al] = a.split('/'); return { memberId: hexToBig(mid!), alarm: al as ApiAlarmType }; })
        .filter((a) => (memberId === 0n || a.memberId === memberId) && (alarm === 'NONE' || a.alarm === alarm));
    if (action === 'GET') return list();
    if (alarm === 'NONE') return [];
    const affected = list();
    const targets = memberId === 0n ? (action === 'DEACTIVATE' ? affected.map((a) => a.memberId) : [hexToBig(this.m.id)]) : [memberId];
    for (const t of targets) await this.propose({ op: 'alarm', action, memberId: bigToHex(t), alarm: alarm as AlarmType });
    return action === 'DEACTIVATE' ? affected : targets.map((t) => ({ memberId: t, alarm }));
  }

  async defragment(auth: AuthInfo | undefined): Promise<void> {
    this.checkAdmin(auth);
    await this.v3.backend.compactRange();
  }

  async hash(auth: AuthInfo | undefined): Promise<number> {
    this.checkAdmin(auth);
    return this.v3.mvcc.hash();
  }

  async hashKV(revision: number, auth: AuthInfo | undefined): Promise<{ readonly hash: number; readonly compactRevision: number }> {
    this.checkAdmin(auth);
    const r = this.v3.mvcc.hashKV(revision);
    return { hash: r.hash, compactRevision: r.compactRevision };
  }

  async snapshot(auth: AuthInfo | undefined): Promise<SnapshotData> {
    this.checkAdmin(auth);
    // etcdctl checks that the image is whole 512-byte pages (a bbolt file) followed by the
    // sha256 the API appends; our image is length-prefixed and zero-padded to that shape.
    const state = this.v3.saveSnapshot();
    const data = Buffer.alloc(Math.ceil((state.length + 8) / SNAPSHOT_PAGE_BYTES) * SNAPSHOT_PAGE_BYTES);
    data.writeBigUInt64BE(BigInt(state.length), 0);
    data.set(state, 8);
    return {
      sizeBytes: data.length,
      chunks: (async function* () {
        yield data;
      })(),
    };
  }

  async moveLeader(targetId: bigint, auth: AuthInfo | undefined): Promise<void> {
    this.checkAdmin(auth);
    if (!this.m.isLeader()) throw new V3Error('notLeader');
    const hex = bigToHex(targetId);
    const mem = this.m.sm.membership.get(hex);
    if (mem === undefined || mem.isLearner) throw new V3Error('badLeaderTransferee');
    if (hex === this.m.id) return;
    this.m.node.transferLeader(hex);
    this.m.schedule();
    const deadline = Date.now() + this.m.opts.electionMs * 2;
    while (Date.now() < deadline) {
      if (this.m.lead === hex) return;
      await new Promise((r) => setTimeout(r, this.m.opts.heartbeatMs / 2));
    }
    throw new V3Error('timeoutDueToLeaderFail');
  }

  // ---- auth --------------------------------------------------------------------------------

  async authEnable(_auth: AuthInfo | undefined): Promise<void> {
    await this.propose({ op: 'authEnable' });
  }

  async authDisable(auth: AuthInfo | undefined): Promise<void> {
    this.checkAdmin(auth);
    await this.propose({ op: 'authDisable' });
  }

  async authenticate(name: string, password: string): Promise<string> {
    const auth = this.v3.auth;
    // As etcd: a linearizable read first, so that a member behind the leader does not refuse a
    // user (or accept a password) that a write the client already saw has changed.
    await this.barrier();
    const revision = await auth.checkPassword(name, password);
    if (this.opts.jwt !== undefined) return this.opts.jwt.assign(name, revision, Date.now());
    // Replicated so that any member accepts the token (etcd assigns simple tokens via raft).
    const token = auth.newToken();
    await this.propose({ op: 'authToken', user: name, token });
    return token;
  }

  async userAdd(name: string, password: string, noPassword: boolean, auth: AuthInfo | undefined): Promise<void> {
    this.checkAdmin(auth);
    if (name === '') throw new V3Error('userEmpty');
    const hash = noPassword ? undefined : await hashPasswordAsync(password);
    await this.propose({ op: 'userAdd', name, hash, noPassword }, auth);
  }

  async userGet(name: string, auth: AuthInfo | undefined): Promise<readonly string[]> {
    // A user may read itself; everything else needs root.
    if (!(auth !== undefined && auth.username === name)) this.checkAdmin(auth);
    return this.v3.auth.userGet(name).roles;
  }

  async userList(auth: AuthInfo | undefined): Promise<readonly string[]> {
    this.checkAdmin(auth);
    return this.v3.auth.userList();
  }

  async userDelete(name: string, auth: AuthInfo | undefined): Promise<void> {
    this.checkAdmin(auth);
    await this.propose({ op: 'userDelete', name }, auth);
  }

  async userChangePassword(name: string, password: string, auth: AuthInfo | undefined): Promise<void> {
    this.checkAdmin(auth);
    const hash = await hashPasswordAsync(password);
    await this.propose({ op: 'userChangePassword', name, hash }, auth);
  }

  async userGrantRole(user: string, role: string, auth: AuthInfo | undefined): Promise<void> {
    this.checkAdmin(auth);
    await this.propose({ op: 'userGrantRole', user, role }, auth);
  }

  async userRevokeRole(user: string, role: string, auth: AuthInfo | undefined): Promise<void> {
    this.checkAdmin(auth);
    await this.propose({ op: 'userRevokeRole', user, role }, auth);
  }

  async roleAdd(name: string, auth: AuthInfo | undefined): Promise<void> {
    this.checkAdmin(auth);
    if (name === '') throw new V3Error('roleEmpty');
    await this.propose({ op: 'roleAdd', name }, auth);
  }

  async roleGet(role: string, auth: AuthInfo | undefined): Promise<readonly Permission[]> {
    this.checkAdmin(auth);
    return this.v3.auth.roleGet(role).perm.map((p) => ({ permType: p.permType, key: p.key, rangeEnd: p.rangeEnd ?? new Uint8Array(0) }));
  }

  async roleList(auth: AuthInfo | undefined): Promise<readonly string[]> {
    this.checkAdmin(auth);
    return this.v3.auth.roleList();
  }

  async roleDelete(role: string, auth: AuthInfo | undefined): Promise<void> {
    this.checkAdmin(auth);
    await this.propose({ op: 'roleDelete', name: role }, auth);
  }

  async roleGrantPermission(role: string, perm: Permission, auth: AuthInfo | undefined): Promise<void> {
    this.checkAdmin(auth);
    await this.propose({ op: 'roleGrantPermission', role, perm: { permType: perm.permType, key: perm.key, ...(perm.rangeEnd.length > 0 ? { rangeEnd: perm.rangeEnd } : {}) } }, auth);
  }

  async roleRevokePermission(role: string, key: Bytes, rangeEnd: Bytes, auth: AuthInfo | undefined): Promise<void> {
    this.checkAdmin(auth);
    await this.propose({ op: 'roleRevokePermission', role, key, ...(rangeEnd.length > 0 ? { rangeEnd } : {}) }, auth);
  }
}
