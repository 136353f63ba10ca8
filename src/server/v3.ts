// The v3 half of the replicated state: MVCC, leases, auth and alarms on one level backend, and
// the applier that runs v3 commands from the log (etcd's applierV3). Deterministic: whatever
// depends on time or randomness (lease ids, password hashes, tokens) is decided by the proposer.
import { join } from 'node:path';
import { Packr } from 'msgpackr';
import { Backend } from '../store/backend.js';
import { Mvcc } from '../store/mvcc/index.js';
import type {
  CompactionRequest, DeleteRangeRequest, DeleteRangeResponse, LeaseId, PutRequest, PutResponse,
  TxnRequest, TxnResponse,
} from '../store/mvcc/types.js';
import { Lessor } from '../store/lease/index.js';
import { AuthStore, type PermType } from '../store/auth/index.js';
import { V3Error } from '../store/v3error.js';
import { nowMs } from './clock.js';

const packr = new Packr({ useRecords: false, moreTypes: false });

export type AlarmType = 'NOSPACE' | 'CORRUPT';

/** A v3 request as it travels through the log. `user`/`authRev` carry the caller's identity for
 *  the permission check at apply time (etcd checks there too, against the auth revision). */
export type V3Request =
  | { op: 'put'; req: PutRequest }
  | { op: 'deleteRange'; req: DeleteRangeRequest }
  | { op: 'txn'; req: TxnRequest }
  | { op: 'compact'; req: CompactionRequest }
  | { op: 'leaseGrant'; id: LeaseId; ttl: number }
  | { op: 'leaseRevoke'; id: LeaseId }
  | { op: 'leaseCheckpoint'; checkpoints: Array<{ id: LeaseId; remainingTtlS: number }> }
  | { op: 'alarm'; action: 'ACTIVATE' | 'DEACTIVATE'; memberId: string; alarm: AlarmType }
  | { op: 'authEnable' }
  | { op: 'authDisable' }
  | { op: 'authToken'; user: string; token: string }
  | { op: 'userAdd'; name: string; hash: string | undefined; noPassword: boolean }
  | { op: 'userDelete'; name: string }
  | { op: 'userChangePassword'; name: string; hash: string }
  | { op: 'userGrantRole'; user: string; role: string }
  | { op: 'userRevokeRole'; user: string; role: string }
  | { op: 'roleAdd'; name: string }
  | { op: 'roleDelete'; name: string }
  | { op: 'roleGrantPermission'; role: string; perm: { permType: PermType; key: Uint8Array; rangeEnd?: Uint8Array } }
  | { op: 'roleRevokePermission'; role: string; key: Uint8Array; rangeEnd?: Uint8Array };

export interface V3Caller {
  readonly user?: string;
  readonly authRev?: number;
}

/** What applying a v3 request returns to the proposer (with the revision for the header). */
export type V3Result =
  | { kind: 'put'; resp: PutResponse; revision: number }
  | { kind: 'deleteRange'; resp: DeleteRangeResponse; revision: number }
  | { kind: 'txn'; resp: TxnResponse; revision: number }
  | { kind: 'compact'; revision: number }
  | { kind: 'leaseGrant'; id: LeaseId; ttl: number; revision: number }
  | { kind: 'ok'; revision: number };

interface V3SnapshotData {
  readonly cindex: number;
  readonly cterm: number;
  readonly mvcc: Uint8Array;
  readonly lease: Uint8Array;
  readonly auth: Uint8Array;
  readonly alarms: string[];
}

export interface V3Options {
  readonly minLeaseTtlS: number;
  readonly authTokenTtlS: number;
}

export class V3State {
  backend: Backend;
  mvcc: Mvcc;
  lessor: Lessor;
  auth: AuthStore;
  /** Active alarms, "memberId/ALARM". */
  readonly alarms = new Set<string>();

  private constructor(backend: Backend, mvcc: Mvcc, lessor: Lessor, auth: AuthStore, private readonly opts: V3Options) {
    this.backend = backend;
    this.mvcc = mvcc;
    this.lessor = lessor;
    this.auth = auth;
  }

  static async open(memberDir: string, opts: V3Options): Promise<V3State> {
    const backend = await Backend.open(join(memberDir, 'v3'));
    // The lessor first: the MVCC store re-attaches every leased key to it while it loads.
    const lessor = await Lessor.open(backend, { minTtlS: opts.minLeaseTtlS });
    const mvcc = await Mvcc.open(backend, { leases: lessor.hooks() });
    const auth = await AuthStore.open(backend, { tokenTtlS: opts.authTokenTtlS });
    const st = new V3State(backend, mvcc, lessor, auth, opts);
    for (const [k] of await backend.loadBucket('alarm')) st.alarms.add(k.toString('latin1'));
    return st;
  }

  /** Raft index whose effects the backend already holds: entries at or below it are not
   *  applied to the v3 state again after a restart or a snapshot install. */
  consistentIndex(): number {
    return this.backend.consistentIndex();
  }

  private checkAuthRev(c: V3Caller): void {
    if (c.authRev !== undefined && this.auth.isEnabled() && c.authRev < this.auth.revision()) throw new V3Error('authOldRevision');
  }

  /** Applies one v3 request at raft index `index`. Throws a V3Error for the proposer; the state
   *  is then unchanged (MVCC undoes a failed write transaction). */
  apply(r: V3Request, caller: V3Caller): V3Result {
    switch (r.op) {
      case 'put': {
        this.checkAuthRev(caller);
        // etcd checks the lease of a plain Put before anything else (inside a txn, later).
        if (r.req.lease !== undefined && r.req.lease !== 0n && this.lessor.lookup(r.req.lease) === undefined) throw new V3Error('leaseNotFound');
        const resp = this.mvcc.put(r.req);
        return { kind: 'put', resp, revision: this.mvcc.currentRevision() };
      }
      case 'deleteRange': {
        this.checkAuthRev(caller);
        const resp = this.mvcc.deleteRange(r.req);
        return { kind: 'deleteRange', resp, revision: this.mvcc.currentRevision() };
      }
      case 'txn': {
        this.checkAuthRev(caller);
        const resp = this.mvcc.txn(r.req);
        return { kind: 'txn', resp, revision: this.mvcc.currentRevision() };
      }
      case 'compact':
        this.mvcc.compact(r.req.revision);
        return { kind: 'compact', revision: this.mvcc.currentRevision() };
      case 'leaseGrant': {
        const g = this.lessor.grant(r.id, r.ttl);
        return { kind: 'leaseGrant', id: g.id, ttl: g.ttl, revision: this.mvcc.currentRevision() };
      }
      case 'leaseRevoke': {
        const keys = this.lessor.revoke(r.id);
        // Every key of the lease goes in one revision, as etcd deletes them in one txn.
        if (keys.length > 0) this.mvcc.write((t) => { for (const key of keys) t.deleteRange({ key }); });
        return { kind: 'ok', revision: this.mvcc.currentRevision() };
      }
      case 'leaseCheckpoint':
        for (const c of r.checkpoints) this.lessor.checkpoint(c.id, c.remainingTtlS);
        return { kind: 'ok', revision: this.mvcc.currentRevision() };
      case 'alarm': {
        const key = `${r.memberId}/${r.alarm}`;
        if (r.action === 'ACTIVATE') {
          this.alarms.add(key);
          this.backend.put('alarm', Buffer.from(key, 'latin1'), Buffer.alloc(0));
        } else {
          this.alarms.delete(key);
          this.backend.del('alarm', Buffer.from(key, 'latin1'));
        }
        return { kind: 'ok', revision: this.mvcc.currentRevision() };
      }
      case 'authEnable':
        this.auth.authEnable();
        break;
      case 'authDisable':
        this.auth.authDisable();
        break;
      case 'authToken':
        this.auth.adoptToken(r.token, r.user, nowMs());
        break;
      case 'userAdd':
        this.auth.userAdd(r.name, r.hash, { noPassword: r.noPassword });
        break;
      case 'userDelete':
        this.auth.userDelete(r.name);
        break;
      case 'userChangePassword':
        this.auth.userChangePassword(r.name, r.hash);
        break;
      case 'userGrantRole':
        this.auth.userGrantRole(r.user, r.role);
        break;
      case 'userRevokeRole':
        this.auth.userRevokeRole(r.user, r.role);
        break;
      case 'roleAdd':
        this.auth.roleAdd(r.name);
        break;
      case 'roleDelete':
        this.auth.roleDelete(r.name);
        break;
      case 'roleGrantPermission':
        this.auth.roleGrantPermission(r.role, r.perm);
        break;
      case 'roleRevokePermission':
        this.auth.roleRevokePermission(r.role, r.key, r.rangeEnd);
        break;
      default: {
        const never: never = r;
        throw new Error(`unknown v3 request ${(never as { op: string }).op}`);
      }
    }
    return { kind: 'ok', revision: this.mvcc.currentRevision() };
  }

  hasAlarm(alarm: AlarmType): boolean {
    for (const a of this.alarms) if (a.endsWith(`/${alarm}`)) return true;
    return false;
  }

  /** The whole v3 state, for a follower too far behind (sent inside a raft snapshot). */
  saveSnapshot(): Uint8Array {
    const d: V3SnapshotData = {
      cindex: this.backend.consistentIndex(),
      cterm: this.backend.consistentTerm(),
      mvcc: this.mvcc.saveSnapshot(),
      lease: this.lessor.saveSnapshot(),
      auth: this.auth.saveSnapshot(),
      alarms: [...this.alarms].sort(),
    };
    return packr.pack(d);
  }

  /** Replaces the state with a snapshot's; returns the snapshot's consistent index. Watchers of
   *  the old store end (the hub re-syncs or cancels them). */
  /** The consistent index a v3 snapshot (from saveSnapshot) was taken at. */
  snapshotConsistentIndex(data: Uint8Array): number {
    return (packr.unpack(data) as V3SnapshotData).cindex;
  }

  async restore(data: Uint8Array): Promise<number> {
    const d = packr.unpack(data) as V3SnapshotData;
    await this.backend.clearBucket('alarm');
    const lessor = await Lessor.restoreSnapshot(d.lease, this.backend, { minTtlS: this.opts.minLeaseTtlS });
    this.mvcc.setLeaseHooks(lessor.hooks());
    await this.mvcc.restore(d.mvcc);
    const auth = await AuthStore.restoreSnapshot(d.auth, this.backend, { tokenTtlS: this.opts.authTokenTtlS });
    this.lessor = lessor;
    this.auth = auth;
    this.alarms.clear();
    for (const a of d.alarms) {
      this.alarms.add(a);
      this.backend.put('alarm', Buffer.from(a, 'latin1'), Buffer.alloc(0));
    }
    // A follower gets a snapshot only when it is behind it, so the snapshot's consistent index is
    // never below ours; if it were, entries would be skipped: stop rather than diverge.
    if (d.cindex < this.backend.consistentIndex()) {
      throw new Error(`v3 snapshot at consistent index ${d.cindex} is older than the local state (${this.backend.consistentIndex()})`);
    }
    this.backend.setConsistentIndex(d.cindex, d.cterm);
    await this.backend.commit();
    return d.cindex;
  }

  async close(): Promise<void> {
    await this.backend.close();
  }
}
