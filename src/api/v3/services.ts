// Every unary v3 method as one table: the gRPC server and the JSON gateway both dispatch through
// it, so a method behaves the same on both (validation, header, error mapping).
import { V3Error } from '../../store/v3error.js';
import type { AuthInfo, V3ApiOptions, V3Backend } from './backend.js';
import {
  big, bytes, deleteFromWire, deleteRespWire, headerWire, long, memberWire, num, permFromWire,
  permWire, putFromWire, putRespWire, rangeFromWire, rangeRespWire, txnFromWire, txnRespWire, ubig,
  type Wire,
} from './convert.js';
import { checkDelete, checkPut, checkRange, checkTxn } from './validate.js';
import { electionHandlers } from './election.js';
import { lockHandlers } from './lock.js';

export interface CallContext {
  readonly auth: AuthInfo | undefined;
  /** Aborted when the client goes away (used by the blocking Lock/Campaign calls). */
  readonly signal: AbortSignal;
}

export type UnaryHandler = (req: Wire, ctx: CallContext) => Promise<Wire>;

export interface UnaryMethod {
  /** `/etcdserverpb.KV/Range` */
  readonly path: string;
  readonly requestType: string;
  readonly responseType: string;
  readonly handler: UnaryHandler;
  /** Learners serve only these (etcd: Status and serializable Range). */
  readonly learnerOk?: (req: Wire) => boolean;
}

const ALARM_ACTIONS = ['GET', 'ACTIVATE', 'DEACTIVATE'] as const;
const ALARM_TYPES = ['NONE', 'NOSPACE', 'CORRUPT'] as const;

export function unaryMethods(b: V3Backend, opts: V3ApiOptions): UnaryMethod[] {
  const hdr = (revision?: number): Wire => {
    const h = b.header();
    return headerWire(h, revision === undefined ? h.revision : revision);
  };
  /** Cluster responses carry no revision (etcd's cluster server header). */
  const clusterHdr = (): Wire => headerWire(b.header(), 0);
  const m: UnaryMethod[] = [];
  const add = (svc: string, name: string, req: string, res: string, handler: UnaryHandler, learnerOk?: (req: Wire) => boolean): void => {
    const pkg = svc.slice(0, svc.lastIndexOf('.'));
    m.push({ path: `/${svc}/${name}`, requestType: req.includes('.') ? req : `${pkg}.${req}`, responseType: res.includes('.') ? res : `${pkg}.${res}`, handler, learnerOk });
  };

  // ---- KV ----
  const KV = 'etcdserverpb.KV';
  add(KV, 'Range', 'RangeRequest', 'RangeResponse', async (w, c) => {
    const r = rangeFromWire(w);
    checkRange(r);
    const res = await b.range(r, c.auth);
    return rangeRespWire(res, hdr(res.revision));
  }, (w) => !!w.serializable);
  add(KV, 'Put', 'PutRequest', 'PutResponse', async (w, c) => {
    const r = putFromWire(w);
    checkPut(r);
    const res = await b.put(r, c.auth);
    return putRespWire(res, hdr(res.revision));
  });
  add(KV, 'DeleteRange', 'DeleteRangeRequest', 'DeleteRangeResponse', async (w, c) => {
    const r = deleteFromWire(w);
    checkDelete(r);
    const res = await b.deleteRange(r, c.auth);
    return deleteRespWire(res, hdr(res.revision));
  });
  add(KV, 'Txn', 'TxnRequest', 'TxnResponse', async (w, c) => {
    const r = txnFromWire(w);
    checkTxn(r, opts.maxTxnOps);
    const res = await b.txn(r, c.auth);
    return txnRespWire(res, hdr(res.revision), res.revision);
  });
  add(KV, 'Compact', 'CompactionRequest', 'CompactionResponse', async (w, c) => {
    const res = await b.compact({ revision: num(w.revision), physical: !!w.physical }, c.auth);
    return { header: hdr(res.revision) };
  });

  // ---- Lease ----
  const L = 'etcdserverpb.Lease';
  add(L, 'LeaseGrant', 'LeaseGrantRequest', 'LeaseGrantResponse', async (w, c) => {
    const res = await b.leaseGrant(num(w.TTL), big(w.ID), c.auth);
    return { header: hdr(), ID: long(res.id), TTL: res.ttl || undefined };
  });
  add(L, 'LeaseRevoke', 'LeaseRevokeRequest', 'LeaseRevokeResponse', async (w, c) => {
    await b.leaseRevoke(big(w.ID), c.auth);
    return { header: hdr() };
  });
  add(L, 'LeaseTimeToLive', 'LeaseTimeToLiveRequest', 'LeaseTimeToLiveResponse', async (w, c) => {
    const id = big(w.ID);
    try {
      const res = await b.leaseTimeToLive(id, !!w.keys, c.auth);
      return { header: hdr(), ID: long(res.id), TTL: res.ttl || undefined, grantedTTL: res.grantedTtl || undefined, keys: res.keys.slice() };
    } catch (err) {
      // etcd answers an unknown lease with TTL -1, not an error.
      if (err instanceof V3Error && err.kind === 'leaseNotFound') return { header: hdr(), ID: long(id), TTL: -1 };
      throw err;
    }
  });
  add(L, 'LeaseLeases', 'LeaseLeasesRequest', 'LeaseLeasesResponse', async (_w, c) => {
    const ids = await b.leaseLeases(c.auth);
    return { header: hdr(), leases: ids.map((id) => ({ ID: long(id) })) };
  });

  // ---- Cluster ----
  const CL = 'etcdserverpb.Cluster';
  add(CL, 'MemberAdd', 'MemberAddRequest', 'MemberAddResponse', async (w, c) => {
    const res = await b.memberAdd((w.peerURLs ?? []) as string[], !!w.isLearner, c.auth);
    return { header: clusterHdr(), member: memberWire(res.member), members: res.members.map(memberWire) };
  });
  add(CL, 'MemberRemove', 'MemberRemoveRequest', 'MemberRemoveResponse', async (w, c) => {
    const ms = await b.memberRemove(ubig(w.ID), c.auth);
    return { header: clusterHdr(), members: ms.map(memberWire) };
  });
  add(CL, 'MemberUpdate', 'MemberUpdateRequest', 'MemberUpdateResponse', async (w, c) => {
    const ms = await b.memberUpdate(ubig(w.ID), (w.peerURLs ?? []) as string[], c.auth);
    return { header: clusterHdr(), members: ms.map(memberWire) };
  });
  add(CL, 'MemberList', 'MemberListRequest', 'MemberListResponse', async (_w, c) => {
    const ms = await b.memberList(c.auth);
    return { header: clusterHdr(), members: ms.map(memberWire) };
  });
  add(CL, 'MemberPromote', 'MemberPromoteRequest', 'MemberPromoteResponse', async (w, c) => {
    const ms = await b.memberPromote(ubig(w.ID), c.auth);
    return { header: clusterHdr(), members: ms.map(memberWire) };
  });

  // ---- Maintenance ----
  const MT = 'etcdserverpb.Maintenance';
  add(MT, 'Alarm', 'AlarmRequest', 'AlarmResponse', async (w, c) => {
    const action = ALARM_ACTIONS[w.action ?? 0] ?? 'GET';
    const alarm = ALARM_TYPES[w.alarm ?? 0] ?? 'NONE';
    const alarms = await b.alarm(action, ubig(w.memberID), alarm, c.auth);
    // etcd's alarm response has no header.
    return { alarms: alarms.map((a) => ({ memberID: long(a.memberId, true), alarm: ALARM_TYPES.indexOf(a.alarm) || undefined })) };
  });
  add(MT, 'Status', 'StatusRequest', 'StatusResponse', async (_w, c) => {
    const s = await b.status(c.auth);
    return {
      header: hdr(), version: s.version, dbSize: s.dbSize || undefined, leader: long(s.leader, true),
      raftIndex: s.raftIndex || undefined, raftTerm: s.raftTerm || undefined, raftAppliedIndex: s.raftAppliedIndex || undefined,
      errors: s.errors.slice(), dbSizeInUse: s.dbSizeInUse || undefined, isLearner: s.isLearner || undefined,
    };
  }, () => true);
  add(MT, 'Defragment', 'DefragmentRequest', 'DefragmentResponse', async (_w, c) => {
    await b.defragment(c.auth);
    return { header: hdr() };
  });
  add(MT, 'Hash', 'HashRequest', 'HashResponse', async (_w, c) => {
    const h = await b.hash(c.auth);
    return { header: hdr(), hash: h >>> 0 };
  });
  add(MT, 'HashKV', 'HashKVRequest', 'HashKVResponse', async (w, c) => {
    const h = await b.hashKV(num(w.revision), c.auth);
    return { header: hdr(), hash: h.hash >>> 0, compact_revision: h.compactRevision || undefined };
  });
  add(MT, 'MoveLeader', 'MoveLeaderRequest', 'MoveLeaderResponse', async (w, c) => {
    await b.moveLeader(ubig(w.targetID), c.auth);
    return { header: hdr() };
  });

  // ---- Auth ----
  const A = 'etcdserverpb.Auth';
  const authOp = (name: string, req: string, res: string, fn: (w: Wire, auth: AuthInfo | undefined) => Promise<Wire | void>): void => {
    add(A, name, req, res, async (w, c) => {
      const extra = await fn(w, c.auth);
      return { header: hdr(), ...(extra ?? {}) };
    });
  };
  const str = (v: unknown): string => (typeof v === 'string' ? v : '');
  authOp('AuthEnable', 'AuthEnableRequest', 'AuthEnableResponse', (_w, a) => b.authEnable(a));
  authOp('AuthDisable', 'AuthDisableRequest', 'AuthDisableResponse', (_w, a) => b.authDisable(a));
  authOp('Authenticate', 'AuthenticateRequest', 'AuthenticateResponse', async (w) => ({ token: await b.authenticate(str(w.name), str(w.password)) }));
  authOp('UserAdd', 'AuthUserAddRequest', 'AuthUserAddResponse', (w, a) => b.userAdd(str(w.name), str(w.password), !!w.options?.no_password, a));
  authOp('UserGet', 'AuthUserGetRequest', 'AuthUserGetResponse', async (w, a) => ({ roles: (await b.userGet(str(w.name), a)).slice() }));
  authOp('UserList', 'AuthUserListRequest', 'AuthUserListResponse', async (_w, a) => ({ users: (await b.userList(a)).slice() }));
  authOp('UserDelete', 'AuthUserDeleteRequest', 'AuthUserDeleteResponse', (w, a) => b.userDelete(str(w.name), a));
  authOp('UserChangePassword', 'AuthUserChangePasswordRequest', 'AuthUserChangePasswordResponse', (w, a) => b.userChangePassword(str(w.name), str(w.password), a));
  authOp('UserGrantRole', 'AuthUserGrantRoleRequest', 'AuthUserGrantRoleResponse', (w, a) => b.userGrantRole(str(w.user), str(w.role), a));
  authOp('UserRevokeRole', 'AuthUserRevokeRoleRequest', 'AuthUserRevokeRoleResponse', (w, a) => b.userRevokeRole(str(w.name), str(w.role), a));
  authOp('RoleAdd', 'AuthRoleAddRequest', 'AuthRoleAddResponse', (w, a) => b.roleAdd(str(w.name), a));
  authOp('RoleGet', 'AuthRoleGetRequest', 'AuthRoleGetResponse', async (w, a) => ({ perm: (await b.roleGet(str(w.role), a)).map(permWire) }));
  authOp('RoleList', 'AuthRoleListRequest', 'AuthRoleListResponse', async (_w, a) => ({ roles: (await b.roleList(a)).slice() }));
  authOp('RoleDelete', 'AuthRoleDeleteRequest', 'AuthRoleDeleteResponse', (w, a) => b.roleDelete(str(w.role), a));
  authOp('RoleGrantPermission', 'AuthRoleGrantPermissionRequest', 'AuthRoleGrantPermissionResponse', (w, a) => b.roleGrantPermission(str(w.name), permFromWire(w.perm), a));
  authOp('RoleRevokePermission', 'AuthRoleRevokePermissionRequest', 'AuthRoleRevokePermissionResponse', (w, a) => b.roleRevokePermission(str(w.role), bytes(w.key), bytes(w.range_end), a));

  // ---- Lock / Election ----
  const lock = lockHandlers(b);
  add('v3lockpb.Lock', 'Lock', 'LockRequest', 'LockResponse', lock.lock);
  add('v3lockpb.Lock', 'Unlock', 'UnlockRequest', 'UnlockResponse', lock.unlock);
  const el = electionHandlers(b);
  add('v3electionpb.Election', 'Campaign', 'CampaignRequest', 'CampaignResponse', el.campaign);
  add('v3electionpb.Election', 'Proclaim', 'ProclaimRequest', 'ProclaimResponse', el.proclaim);
  add('v3electionpb.Election', 'Leader', 'LeaderRequest', 'LeaderResponse', el.leader);
  add('v3electionpb.Election', 'Resign', 'ResignRequest', 'ResignResponse', el.resign);

  // ---- Health ----
  add('grpc.health.v1.Health', 'Check', 'HealthCheckRequest', 'HealthCheckResponse', async () => ({ status: 1 }), () => true);
  return m;
}
