// What the v3 API (gRPC services, the JSON gateway, v3lock and v3election) needs from the member.
// The member implements V3Backend; the API layer never reaches into raft or the stores directly.
//
// Conventions:
// - Requests and responses are src/store/mvcc/types.ts shapes (camelCase, int64 revisions as
//   number, lease ids as bigint); member ids and cluster ids are bigint (uint64).
// - Every method rejects with a V3Error (src/store/v3error.ts) for anything etcd reports with an
//   rpctypes error; the API turns it into the gRPC status / gateway JSON error. Any other error
//   becomes UNKNOWN with its message.
// - `auth` is what authInfoFromToken() returned for the request's token (undefined: no token).
//   The backend does the permission checks (it knows whether auth is enabled).
// - Methods marked "header revision" return the revision etcd puts in ResponseHeader.revision
//   for that call (the store revision the read saw, or the revision the write created).
import type {
  Bytes, CompactionRequest, DeleteRangeRequest, DeleteRangeResponse, LeaseId, MvccEvent, PutRequest,
  PutResponse, RangeRequest, RangeResponse, TxnRequest, TxnResponse,
} from '../../store/mvcc/types.js';

export interface AuthInfo {
  readonly username: string;
  /** The auth store revision the token was issued at (etcd's AuthInfo.Revision). */
  readonly revision: number;
}

export interface V3Header {
  readonly clusterId: bigint;
  readonly memberId: bigint;
  /** The current store revision (used where a call has no revision of its own). */
  readonly revision: number;
  readonly raftTerm: number;
}

/** A response together with its header revision. */
export type WithRevision<T> = T & { readonly revision: number };

export interface V3Member {
  readonly id: bigint;
  /** Empty until the member has started and published itself. */
  readonly name: string;
  readonly peerUrls: readonly string[];
  readonly clientUrls: readonly string[];
  readonly isLearner: boolean;
}

export interface V3Status {
  readonly version: string;
  readonly dbSize: number;
  /** 0n when no leader is known. */
  readonly leader: bigint;
  readonly raftIndex: number;
  readonly raftTerm: number;
  readonly raftAppliedIndex: number;
  readonly errors: readonly string[];
  readonly dbSizeInUse: number;
  readonly isLearner: boolean;
}

export type AlarmType = 'NONE' | 'NOSPACE' | 'CORRUPT';
export type AlarmAction = 'GET' | 'ACTIVATE' | 'DEACTIVATE';
export interface AlarmMember {
  readonly memberId: bigint;
  readonly alarm: AlarmType;
}

export type PermissionType = 'READ' | 'WRITE' | 'READWRITE';
export interface Permission {
  readonly permType: PermissionType;
  readonly key: Bytes;
  /** Empty: the single key `key`. */
  readonly rangeEnd: Bytes;
}

export interface LeaseTimeToLive {
  readonly id: LeaseId;
  /** Remaining seconds; -1 when the lease does not exist or has expired. */
  readonly ttl: number;
  readonly grantedTtl: number;
  /** Attached keys, only when asked for. */
  readonly keys: readonly Bytes[];
}

export interface WatchCreate {
  readonly key: Bytes;
  readonly rangeEnd?: Bytes;
  /** 0 = from the next revision. */
  readonly startRevision?: number;
  readonly progressNotify?: boolean;
  readonly noPut?: boolean;
  readonly noDelete?: boolean;
  readonly prevKv?: boolean;
  /** Client-chosen id; 0 = the hub picks one. */
  readonly watchId?: number;
}

/** One response of a watch stream, as the hub produces it (the API adds the header). */
export interface WatchHubResponse {
  /** -1 for the stream-wide progress reply and for a failed create. */
  readonly watchId: number;
  readonly created?: boolean;
  readonly canceled?: boolean;
  readonly compactRevision?: number;
  readonly cancelReason?: string;
  readonly events: readonly MvccEvent[];
  /** Header revision: for events the revision of the last event, for progress the current one. */
  readonly revision: number;
}

/**
 * The receiving end the API gives the hub for one client watch stream.
 * send() returns false when the client's transport buffer is above its high-water mark: the hub
 * should hold further events for this stream (slow watcher) until the API calls
 * WatchStream.drained(). The hub must never call send() after close().
 */
export interface WatchSink {
  send(resp: WatchHubResponse): boolean;
}

/** One client watch stream (many watchers) inside the MVCC watch hub. */
export interface WatchStream {
  /**
   * Creates a watcher. The hub answers EVERY call with exactly one `created: true` response, in
   * call order, before any event of that watcher: on success with the watcher's id, on failure
   * (permission denied, duplicate watch id, bad range) with `canceled: true`, watchId -1 and
   * cancelReason (etcd's message). A start revision that is compacted: created, then a
   * `canceled` response with compactRevision set.
   */
  watch(req: WatchCreate, auth: AuthInfo | undefined): void;
  /** Cancels a watcher; the hub answers with `canceled: true` for that id (nothing if unknown). */
  cancel(watchId: number): void;
  /** Answers with a progress notification: watchId -1, no events, revision = current. */
  requestProgress(): void;
  /** The transport buffer drained below its low-water mark: resume sending. */
  drained(): void;
  /** The client stream ended; drop every watcher of it. */
  close(): void;
}

export interface SnapshotData {
  /** Total size of the database image in bytes (before the 32-byte sha256 trailer the API adds). */
  readonly sizeBytes: number;
  /** The database image, in chunks of any size. */
  readonly chunks: AsyncIterable<Uint8Array>;
}

export interface V3Backend {
  header(): V3Header;
  /** False while this member knows of no leader (used for the `hasleader` metadata). */
  hasLeader(): boolean;
  isLearner(): boolean;

  /** Token from the `token` metadata / `Authorization` header. Rejects invalidAuthToken when unknown/expired. */
  authInfoFromToken(token: string): Promise<AuthInfo | undefined>;
  /** With --client-cert-auth, a request without a token acts as the user its verified client
   *  certificate names in its CN (etcd's AuthInfoFromTLS); undefined while auth is off. */
  authInfoFromCommonName(cn: string): AuthInfo | undefined;

  // KV. Range is linearizable unless req.serializable; writes go through raft. Header revision.
  range(req: RangeRequest, auth: AuthInfo | undefined): Promise<WithRevision<RangeResponse>>;
  put(req: PutRequest, auth: AuthInfo | undefined): Promise<WithRevision<PutResponse>>;
  deleteRange(req: DeleteRangeRequest, auth: AuthInfo | undefined): Promise<WithRevision<DeleteRangeResponse>>;
  /** revision: the txn's revision (the API derives the nested headers' revisions from it). */
  txn(req: TxnRequest, auth: AuthInfo | undefined): Promise<WithRevision<TxnResponse>>;
  compact(req: CompactionRequest, auth: AuthInfo | undefined): Promise<{ readonly revision: number }>;

  // Watch: the hub.
  newWatchStream(sink: WatchSink): WatchStream;

  // Lease. ids are int64 (bigint); id 0n in grant = the server picks.
  leaseGrant(ttlSec: number, id: LeaseId, auth: AuthInfo | undefined): Promise<{ readonly id: LeaseId; readonly ttl: number }>;
  leaseRevoke(id: LeaseId, auth: AuthInfo | undefined): Promise<void>;
  /** Renews the lease; resolves to the new TTL; rejects leaseNotFound when it does not exist. */
  leaseKeepAlive(id: LeaseId): Promise<number>;
  leaseTimeToLive(id: LeaseId, keys: boolean, auth: AuthInfo | undefined): Promise<LeaseTimeToLive>;
  leaseLeases(auth: AuthInfo | undefined): Promise<readonly LeaseId[]>;

  // Cluster.
  memberAdd(peerUrls: readonly string[], isLearner: boolean, auth: AuthInfo | undefined): Promise<{ readonly member: V3Member; readonly members: readonly V3Member[] }>;
  memberRemove(id: bigint, auth: AuthInfo | undefined): Promise<readonly V3Member[]>;
  memberUpdate(id: bigint, peerUrls: readonly string[], auth: AuthInfo | undefined): Promise<readonly V3Member[]>;
  memberList(auth: AuthInfo | undefined): Promise<readonly V3Member[]>;
  memberPromote(id: bigint, auth: AuthInfo | undefined): Promise<readonly V3Member[]>;

  // Maintenance.
  status(auth: AuthInfo | undefined): Promise<V3Status>;
  /** memberId 0n = every member. Resolves to the matching/affected alarms. */
  alarm(action: AlarmAction, memberId: bigint, alarm: AlarmType, auth: AuthInfo | undefined): Promise<readonly AlarmMember[]>;
  defragment(auth: AuthInfo | undefined): Promise<void>;
  /** Hash of the whole backend (uint32). */
  hash(auth: AuthInfo | undefined): Promise<number>;
  /** revision 0 = latest. */
  hashKV(revision: number, auth: AuthInfo | undefined): Promise<{ readonly hash: number; readonly compactRevision: number }>;
  snapshot(auth: AuthInfo | undefined): Promise<SnapshotData>;
  moveLeader(targetId: bigint, auth: AuthInfo | undefined): Promise<void>;

  // Auth.
  authEnable(auth: AuthInfo | undefined): Promise<void>;
  authDisable(auth: AuthInfo | undefined): Promise<void>;
  /** Rejects authFailed / authNotEnabled. */
  authenticate(name: string, password: string): Promise<string>;
  userAdd(name: string, password: string, noPassword: boolean, auth: AuthInfo | undefined): Promise<void>;
  /** Resolves to the user's roles. */
  userGet(name: string, auth: AuthInfo | undefined): Promise<readonly string[]>;
  userList(auth: AuthInfo | undefined): Promise<readonly string[]>;
  userDelete(name: string, auth: AuthInfo | undefined): Promise<void>;
  userChangePassword(name: string, password: string, auth: AuthInfo | undefined): Promise<void>;
  userGrantRole(user: string, role: string, auth: AuthInfo | undefined): Promise<void>;
  userRevokeRole(user: string, role: string, auth: AuthInfo | undefined): Promise<void>;
  roleAdd(name: string, auth: AuthInfo | undefined): Promise<void>;
  roleGet(role: string, auth: AuthInfo | undefined): Promise<readonly Permission[]>;
  roleList(auth: AuthInfo | undefined): Promise<readonly string[]>;
  roleDelete(role: string, auth: AuthInfo | undefined): Promise<void>;
  roleGrantPermission(role: string, perm: Permission, auth: AuthInfo | undefined): Promise<void>;
  roleRevokePermission(role: string, key: Bytes, rangeEnd: Bytes, auth: AuthInfo | undefined): Promise<void>;
}

/** Limits of the v3 API, from the member's flags. */
export interface V3ApiOptions {
  /** --max-request-bytes (1.5 MiB by default). gRPC accepts this + 512 KiB of overhead. */
  readonly maxRequestBytes: number;
  /** --max-txn-ops (128 by default). */
  readonly maxTxnOps: number;
  /** --max-concurrent-streams (etcd's default: unlimited). */
  readonly maxConcurrentStreams?: number;
  /** --grpc-keepalive-interval and --grpc-keepalive-timeout (gRPC only). */
  readonly keepaliveIntervalMs?: number;
  readonly keepaliveTimeoutMs?: number;
  /** --client-cert-auth on an https:// client URL: gRPC requests without a token are
   *  authenticated by their client certificate's CN. */
  readonly clientCertAuth?: boolean;
}
