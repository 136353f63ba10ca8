// What the v2 HTTP API needs from the member server. The member server implements V2Backend;
// the API layer never reaches into raft, the WAL or the member directly.
import type { V2Store } from '../../store/v2/store.js';
import type { V2Event, V2Request } from '../../store/v2/types.js';

/** A member as /v2/members prints it (ids are 16-digit lower-case hex). */
export interface V2Member {
  readonly id: string;
  readonly name: string;
  readonly peerUrls: readonly string[];
  readonly clientUrls: readonly string[];
}

/** A v2 auth user as the API prints it (never with the password). */
export interface V2AuthUser {
  readonly user: string;
  /** null where etcd's Go slice is nil (printed as null), [] where it is empty. */
  readonly roles: readonly string[] | null;
}

export interface V2AuthPermissions {
  readonly kv: { readonly read: readonly string[]; readonly write: readonly string[] };
}

export interface V2AuthRole {
  readonly role: string;
  readonly permissions: V2AuthPermissions;
}

/** A user as sent in PUT /v2/auth/users/<name> (etcd's v2auth.User JSON). */
export interface V2AuthUserInput {
  readonly user: string;
  readonly password?: string;
  readonly roles?: readonly string[];
  readonly grant?: readonly string[];
  readonly revoke?: readonly string[];
}

/** A role as sent in PUT /v2/auth/roles/<name>. */
export interface V2AuthRoleInput {
  readonly role: string;
  readonly permissions?: V2AuthPermissions;
  readonly grant?: V2AuthPermissions;
  readonly revoke?: V2AuthPermissions;
}

/**
 * The v2 auth state (etcd's v2auth.Store). Reads are local; writes go through raft.
 * Every method throws (or rejects with) an error carrying `status` (the HTTP status) and `message`
 * (etcd's text, e.g. "auth: User bob does not exist."); the API answers {"message": ...}.
 */
export interface V2AuthBackend {
  enabled(): boolean;
  /** Sorted user names. */
  allUsers(): string[];
  getUser(name: string): V2AuthUser;
  /** Sorted role names (root, and guest once it exists). */
  allRoles(): string[];
  getRole(name: string): V2AuthRole;
  checkPassword(user: string, password: string): boolean;
  /** Key access for a user (undefined = unauthenticated, i.e. the guest role). `recursive` asks for the
   *  whole subtree (etcd's HasRecursiveAccess). */
  hasKeyAccess(user: string | undefined, key: string, write: boolean, recursive: boolean): boolean;
  createUser(u: V2AuthUserInput): Promise<V2AuthUser>;
  createOrUpdateUser(u: V2AuthUserInput): Promise<{ user: V2AuthUser; created: boolean }>;
  updateUser(u: V2AuthUserInput): Promise<V2AuthUser>;
  deleteUser(name: string): Promise<void>;
  createRole(r: V2AuthRoleInput): Promise<void>;
  updateRole(r: V2AuthRoleInput): Promise<V2AuthRole>;
  deleteRole(name: string): Promise<void>;
  enableAuth(): Promise<void>;
  disableAuth(): Promise<void>;
}

export interface V2Backend {
  /** 16-digit hex, X-Etcd-Cluster-ID. */
  readonly clusterId: string;
  readonly memberId: string;
  /** Applied raft index and current term (X-Raft-Index, X-Raft-Term). */
  raftIndex(): number;
  raftTerm(): number;
  /** The local v2 store: plain GETs and watches. */
  readonly store: V2Store;
  /** A v2 write (PUT/POST/DELETE) or QGET through raft; resolves with this member's apply result.
   *  Rejects with V2Error (store errors) or any other Error (timeout, no leader, stopped: the API answers
   *  300 Raft Internal Error with the error's message as cause, as etcd does). */
  write(req: V2Request): Promise<V2Event>;
  /** Wall clock, Unix ms: absolute expirations are decided here (nowMs + ttl*1000). */
  nowMs(): number;

  members(): readonly V2Member[];
  /** Undefined while there is no leader. */
  leaderId(): string | undefined;
  /** Reject with ServerError (src/server/errors.ts) kinds memberExists / peerUrlExists / memberNotFound /
   *  memberRemoved, or any Error (answered 500 "Internal Server Error"). */
  addMember(peerUrls: string[]): Promise<V2Member>;
  removeMember(id: string): Promise<void>;
  updateMember(id: string, peerUrls: string[]): Promise<void>;

  /** /v2/stats/self object (etcd key order). */
  selfStats(): object;
  /** /v2/stats/leader object; undefined on a follower (403). */
  leaderStats(): object | undefined;
  /** /health: false on any alarm not excluded, no leader, or a failed quorum read. */
  health(excludedAlarms: readonly string[]): Promise<boolean>;
  /** Decided cluster version ("3.4.0"), '' until decided. */
  clusterVersion(): string;

  readonly auth: V2AuthBackend;
}
