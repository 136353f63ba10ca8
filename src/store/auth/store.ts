// The v3 auth store (etcd's auth/store.go): users, roles, key-range permissions, the enabled flag
// and the auth revision, plus this member's simple tokens.
//
// Replicated methods (authEnable ... roleRevokePermission) are applied from the raft log on every
// member in the same order: no clock, no randomness (password hashes arrive pre-computed). Each
// successful change bumps the auth revision exactly where etcd does (every user/role change and
// authDisable; not authEnable, not a no-op grant of a role the user already has). Requests that
// were permission-checked at an older auth revision are refused by the applier (authOldRevision).
//
// Persistence: bucket 'authUsers' (name -> user JSON), 'authRoles' (name -> role JSON), 'auth'
// ('enabled' -> 0/1, 'revision' -> u64 BE). Tokens are local and never persisted.
import { V3Error } from '../v3error.js';
import type { Backend } from '../backend.js';
import type { Bytes } from '../mvcc/types.js';
import { mergePerms, permits, type MergedPerms, type Permission, type PermType } from './perms.js';
import { SimpleTokens } from './tokens.js';
import { verifyPassword } from './password.js';

export { hashPassword, hashPasswordAsync } from './password.js';
export type { Permission, PermType } from './perms.js';

export const AUTH_USERS_BUCKET = 'authUsers';
export const AUTH_ROLES_BUCKET = 'authRoles';
export const AUTH_BUCKET = 'auth';
export const ROOT_USER = 'root';
export const ROOT_ROLE = 'root';
/** etcd's default --auth-token-ttl. */
export const DEFAULT_AUTH_TOKEN_TTL_S = 300;

const ENABLED_KEY = Buffer.from('enabled');
const REVISION_KEY = Buffer.from('revision');
const SNAPSHOT_VERSION = 1;
const PERM_TYPES: readonly PermType[] = ['READ', 'WRITE', 'READWRITE'];

export interface AuthStoreOptions {
  /** Simple tokens expire after this many seconds without use. */
  tokenTtlS: number;
}

interface User {
  name: string;
  /** undefined for a --no-password user. */
  passwordHash: string | undefined;
  noPassword: boolean;
  /** Sorted, unique. */
  roles: string[];
}

interface Role {
  name: string;
  /** Sorted by key (etcd keeps KeyPermission sorted); (key, rangeEnd) unique. */
  perms: Permission[];
}

// ---- on-disk / snapshot records (JSON; keys base64) ----
interface UserRecord {
  name: string;
  passwordHash?: string;
  noPassword: boolean;
  roles: string[];
}
interface PermRecord {
  permType: PermType;
  key: string;
  rangeEnd: string;
}
interface RoleRecord {
  name: string;
  perms: PermRecord[];
}
interface SnapshotRecord {
  v: number;
  enabled: boolean;
  revision: number;
  users: UserRecord[];
  roles: RoleRecord[];
}

function b64(b: Bytes): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
}

function sameBytes(a: Bytes, b: Bytes): boolean {
  return Buffer.compare(a, b) === 0;
}

function userToRecord(u: User): UserRecord {
  const r: UserRecord = { name: u.name, noPassword: u.noPassword, roles: u.roles };
  if (u.passwordHash !== undefined) r.passwordHash = u.passwordHash;
  return r;
}

function roleToRecord(r: Role): RoleRecord {
  return { name: r.name, perms: r.perms.map((p) => ({ permType: p.permType, key: b64(p.key), rangeEnd: b64(p.rangeEnd) })) };
}

function isStringArray(x: unknown): x is string[] {
  return Array.isArray(x) && x.every((s) => typeof s === 'string');
}

function userFromRecord(x: unknown): User {
  const r = x as Partial<UserRecord> | null;
  if (r === null || typeof r !== 'object' || typeof r.name !== 'string' || r.name.length === 0 || typeof r.noPassword !== 'boolean'
    || !isStringArray(r.roles) || (r.passwordHash !== undefined && typeof r.passwordHash !== 'string')) {
    throw new Error('auth: corrupt user record');
  }
  if (!r.noPassword && r.passwordHash === undefined) throw new Error(`auth: user ${r.name} has no password hash`);
  return { name: r.name, passwordHash: r.passwordHash, noPassword: r.noPassword, roles: [...new Set(r.roles)].sort(compareUtf8) };
}

function roleFromRecord(x: unknown): Role {
  const r = x as Partial<RoleRecord> | null;
  if (r === null || typeof r !== 'object' || typeof r.name !== 'string' || r.name.length === 0 || !Array.isArray(r.perms)) {
    throw new Error('auth: corrupt role record');
  }
  const perms = r.perms.map((p: Partial<PermRecord>) => {
    if (p === null || typeof p !== 'object' || !PERM_TYPES.includes(p.permType as PermType) || typeof p.key !== 'string' || typeof p.rangeEnd !== 'string') {
      throw new Error(`auth: corrupt permission in role ${r.name}`);
    }
    return { permType: p.permType as PermType, key: Buffer.from(p.key, 'base64'), rangeEnd: Buffer.from(p.rangeEnd, 'base64') };
  });
  return { name: r.name, perms };
}

function parseJson(v: Uint8Array, what: string): unknown {
  try {
    return JSON.parse(Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('utf8'));
  } catch {
    throw new Error(`auth: corrupt ${what} (not JSON)`);
  }
}

function u64(n: number): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}

export class AuthStore {
  private enabled = false;
  private rev = 0;
  private readonly users = new Map<string, User>();
  private readonly roles = new Map<string, Role>();
  /** Merged permissions per user, dropped whenever users or roles change. */
  private permCache = new Map<string, MergedPerms>();
  private readonly tokens: SimpleTokens;

  private constructor(
    private readonly backend: Backend,
    opts: AuthStoreOptions,
  ) {
    if (!(opts.tokenTtlS > 0)) throw new Error(`auth: bad tokenTtlS ${opts.tokenTtlS}`);
    this.tokens = new SimpleTokens(opts.tokenTtlS * 1000);
  }

  static async open(backend: Backend, opts: AuthStoreOptions): Promise<AuthStore> {
    const as = new AuthStore(backend, opts);
    for (const [k, v] of await backend.loadBucket(AUTH_USERS_BUCKET)) {
      const u = userFromRecord(parseJson(v, 'user record'));
      if (u.name !== k.toString('utf8')) throw new Error(`auth: user record ${u.name} under key ${k.toString('utf8')}`);
      as.users.set(u.name, u);
    }
    for (const [k, v] of await backend.loadBucket(AUTH_ROLES_BUCKET)) {
      const r = roleFromRecord(parseJson(v, 'role record'));
      if (r.name !== k.toString('utf8')) throw new Error(`auth: role record ${r.name} under key ${k.toString('utf8')}`);
      as.roles.set(r.name, r);
    }
    for (const [k, v] of await backend.loadBucket(AUTH_BUCKET)) {
      if (k.equals(ENABLED_KEY)) {
        if (v.length !== 1 || v[0]! > 1) throw new Error('auth: corrupt enabled flag');
        as.enabled = v[0] === 1;
      } else if (k.equals(REVISION_KEY)) {
        if (v.length !== 8) throw new Error('auth: corrupt revision');
        as.rev = Number(v.readBigUInt64BE(0));
      }
    }
    return as;
  }

  // ------------------------------------------------------------------ replicated (apply)

  /** AuthEnable: needs user root holding role root. Enabling twice is a no-op. Does not bump the
   *  revision (as etcd). */
  authEnable(): void {
    if (this.enabled) return;
    const root = this.users.get(ROOT_USER);
    if (root === undefined) throw new V3Error('rootUserNotExist');
    if (!root.roles.includes(ROOT_ROLE)) throw new V3Error('rootRoleNotExist');
    this.enabled = true;
    this.backend.put(AUTH_BUCKET, ENABLED_KEY, Buffer.from([1]));
    this.permCache.clear();
  }

  /** AuthDisable: drops every token; disabling twice is a no-op. */
  authDisable(): void {
    if (!this.enabled) return;
    this.enabled = false;
    this.backend.put(AUTH_BUCKET, ENABLED_KEY, Buffer.from([0]));
    this.commitRevision();
    this.tokens.clear();
  }

  /** UserAdd. passwordHash comes from hashPassword() on the proposer; undefined iff noPassword. */
  userAdd(name: string, passwordHash: string | undefined, opts: { noPassword?: boolean }): void {
    const noPassword = opts.noPassword === true;
    if (name.length === 0) throw new V3Error('userEmpty');
    if (!noPassword && passwordHash === undefined) throw new Error('auth: userAdd without a password hash');
    if (this.users.has(name)) throw new V3Error('userAlreadyExist');
    this.putUser({ name, passwordHash: noPassword ? undefined : passwordHash, noPassword, roles: [] });
    this.commitRevision();
  }

  /** UserDelete: root cannot be deleted while auth is enabled. Drops the user's tokens. */
  userDelete(name: string): void {
    if (this.enabled && name === ROOT_USER) throw new V3Error('invalidAuthMgmt');
    if (!this.users.has(name)) throw new V3Error('userNotFound');
    this.users.delete(name);
    this.backend.del(AUTH_USERS_BUCKET, Buffer.from(name, 'utf8'));
    this.commitRevision();
    this.permCache.delete(name);
    this.tokens.invalidateUser(name);
  }

  /** UserChangePassword. Drops the user's tokens. A --no-password user keeps that option (as
   *  etcd: it still cannot authenticate). */
  userChangePassword(name: string, passwordHash: string): void {
    const u = this.users.get(name);
    if (u === undefined) throw new V3Error('userNotFound');
    this.putUser({ ...u, passwordHash });
    this.commitRevision();
    this.tokens.invalidateUser(name);
  }

  /** UserGrantRole. Role "root" need not exist as a role. Granting a role twice is a no-op. */
  userGrantRole(user: string, role: string): void {
    const u = this.users.get(user);
    if (u === undefined) throw new V3Error('userNotFound');
    if (role !== ROOT_ROLE && !this.roles.has(role)) throw new V3Error('roleNotFound');
    if (u.roles.includes(role)) return;
    this.putUser({ ...u, roles: [...u.roles, role].sort(compareUtf8) });
    this.permCache.delete(user);
    this.commitRevision();
  }

  /** UserRevokeRole: root keeps role root while auth is enabled. */
  userRevokeRole(user: string, role: string): void {
    if (this.enabled && user === ROOT_USER && role === ROOT_ROLE) throw new V3Error('invalidAuthMgmt');
    const u = this.users.get(user);
    if (u === undefined) throw new V3Error('userNotFound');
    if (!u.roles.includes(role)) throw new V3Error('roleNotGranted');
    this.putUser({ ...u, roles: u.roles.filter((r) => r !== role) });
    this.permCache.delete(user);
    this.commitRevision();
  }

  roleAdd(name: string): void {
    if (name.length === 0) throw new V3Error('roleEmpty');
    if (this.roles.has(name)) throw new V3Error('roleAlreadyExist');
    this.putRole({ name, perms: [] });
    this.commitRevision();
  }

  /** RoleDelete: also revoked from every user holding it. Role root stays while auth is on. */
  roleDelete(name: string): void {
    if (this.enabled && name === ROOT_ROLE) throw new V3Error('invalidAuthMgmt');
    if (!this.roles.has(name)) throw new V3Error('roleNotFound');
    this.roles.delete(name);
    this.backend.del(AUTH_ROLES_BUCKET, Buffer.from(name, 'utf8'));
    for (const u of [...this.users.values()]) {
      if (u.roles.includes(name)) this.putUser({ ...u, roles: u.roles.filter((r) => r !== name) });
    }
    this.permCache.clear();
    this.commitRevision();
  }

  /** RoleGrantPermission: the same (key, rangeEnd) again updates its type; otherwise inserted
   *  in key order. */
  roleGrantPermission(role: string, perm: { permType: PermType; key: Bytes; rangeEnd?: Bytes }): void {
    if (!PERM_TYPES.includes(perm.permType)) throw new Error(`auth: bad permission type ${String(perm.permType)}`);
    const r = this.roles.get(role);
    if (r === undefined) throw new V3Error('roleNotFound');
    const p: Permission = { permType: perm.permType, key: Buffer.from(perm.key), rangeEnd: Buffer.from(perm.rangeEnd ?? new Uint8Array(0)) };
    const perms = r.perms.map((x) => ({ ...x }));
    const same = perms.find((x) => sameBytes(x.key, p.key) && sameBytes(x.rangeEnd, p.rangeEnd));
    if (same !== undefined) same.permType = p.permType;
    else {
      perms.push(p);
      perms.sort((a, b) => Buffer.compare(a.key, b.key)); // stable: equal keys keep grant order
    }
    this.putRole({ name: role, perms });
    this.permCache.clear();
    this.commitRevision();
  }

  /** RoleRevokePermission: exact (key, rangeEnd) match, else permissionNotGranted. */
  roleRevokePermission(role: string, key: Bytes, rangeEnd: Bytes | undefined): void {
    const r = this.roles.get(role);
    if (r === undefined) throw new V3Error('roleNotFound');
    const end = rangeEnd ?? new Uint8Array(0);
    const perms = r.perms.filter((x) => !(sameBytes(x.key, key) && sameBytes(x.rangeEnd, end)));
    if (perms.length === r.perms.length) throw new V3Error('permissionNotGranted');
    this.putRole({ name: role, perms });
    this.permCache.clear();
    this.commitRevision();
  }

  // ------------------------------------------------------------------ reads

  isEnabled(): boolean {
    return this.enabled;
  }

  /** The auth revision: bumped by each change of users, roles or permissions. */
  revision(): number {
    return this.rev;
  }

  userGet(name: string): { roles: string[] } {
    const u = this.users.get(name);
    if (u === undefined) throw new V3Error('userNotFound');
    return { roles: [...u.roles] };
  }

  userList(): string[] {
    return [...this.users.keys()].sort(compareUtf8);
  }

  roleGet(name: string): { perm: Permission[] } {
    const r = this.roles.get(name);
    if (r === undefined) throw new V3Error('roleNotFound');
    return { perm: r.perms.map((p) => ({ permType: p.permType, key: Buffer.from(p.key), rangeEnd: Buffer.from(p.rangeEnd) })) };
  }

  roleList(): string[] {
    return [...this.roles.keys()].sort(compareUtf8);
  }

  /** Whether `name` holds role root (etcd's HasRole(user, "root")). */
  hasRootRole(name: string): boolean {
    return this.users.get(name)?.roles.includes(ROOT_ROLE) === true;
  }

  // ------------------------------------------------------------------ local tokens

  /** Authenticate: checks the password (scrypt, off the event loop) and issues a simple token
   *  "<16 letters>.<auth revision>" valid on this member. authNotEnabled when auth is off;
   *  authFailed for an unknown user or a wrong password; noPasswordUser for a --no-password
   *  user (etcd's text, gRPC Unknown). */
  async authenticate(name: string, password: string, nowMs: number): Promise<string> {
    if (!this.enabled) throw new V3Error('authNotEnabled');
    const u = this.users.get(name);
    if (u === undefined) throw new V3Error('authFailed');
    if (u.noPassword || u.passwordHash === undefined) throw new V3Error('noPasswordUser');
    const hash = u.passwordHash;
    const ok = await verifyPassword(password, hash);
    if (!ok) throw new V3Error('authFailed');
    // The store may have changed while hashing: only issue a token for the password just checked.
    if (!this.enabled) throw new V3Error('authNotEnabled');
    if (this.users.get(name)?.passwordHash !== hash) throw new V3Error('authFailed');
    return this.tokens.assign(name, this.rev, nowMs);
  }

  /** Checks a password like authenticate() without issuing a token: the member then replicates
   *  a token it generated (newToken) so that every member accepts it. */
  async checkPassword(name: string, password: string): Promise<number> {
    if (!this.enabled) throw new V3Error('authNotEnabled');
    const u = this.users.get(name);
    if (u === undefined) throw new V3Error('authFailed');
    if (u.noPassword || u.passwordHash === undefined) throw new V3Error('noPasswordUser');
    const hash = u.passwordHash;
    if (!(await verifyPassword(password, hash))) throw new V3Error('authFailed');
    // As in authenticate(): the password may have changed while hashing. The revision returned
    // is the one the password was found valid at (a JWT carries it).
    if (!this.enabled) throw new V3Error('authNotEnabled');
    if (this.users.get(name)?.passwordHash !== hash) throw new V3Error('authFailed');
    return this.rev;
  }

  /** A token to replicate for a user who passed checkPassword ("<16 letters>.<revision>"). */
  newToken(): string {
    return SimpleTokens.generate(this.rev);
  }

  /** Applies a replicated token assignment (every member, in log order). */
  adoptToken(token: string, user: string, nowMs: number): void {
    if (!this.enabled || !this.users.has(user)) return;
    this.tokens.adopt(token, user, nowMs);
  }

  /** The user of a live token (its TTL is refreshed) and the current auth revision, the revision
   *  the request is checked at (etcd's AuthInfo). undefined when unknown, expired, or auth is off. */
  userFromToken(token: string, nowMs: number): { user: string; revision: number } | undefined {
    if (!this.enabled) return undefined;
    const user = this.tokens.use(token, nowMs);
    if (user === undefined) return undefined;
    return { user, revision: this.rev };
  }

  // ------------------------------------------------------------------ permission checks
  // All true while auth is disabled; false for an unknown user; true for a user with role root.

  isRangePermitted(user: string, key: Bytes, rangeEnd: Bytes | undefined): boolean {
    return this.isOpPermitted(user, 'READ', key, rangeEnd);
  }

  isPutPermitted(user: string, key: Bytes): boolean {
    return this.isOpPermitted(user, 'WRITE', key, undefined);
  }

  isDeleteRangePermitted(user: string, key: Bytes, rangeEnd: Bytes | undefined): boolean {
    return this.isOpPermitted(user, 'WRITE', key, rangeEnd);
  }

  /** Admin operations (auth/user/role management, member changes, alarms, defrag...). etcd
   *  answers userNotFound for an unknown user and permissionDenied for a user without role root. */
  isAdminPermitted(user: string): boolean {
    if (!this.enabled) return true;
    return this.hasRootRole(user);
  }

  // ------------------------------------------------------------------ snapshots

  saveSnapshot(): Uint8Array {
    const snap: SnapshotRecord = {
      v: SNAPSHOT_VERSION,
      enabled: this.enabled,
      revision: this.rev,
      users: this.userList().map((n) => userToRecord(this.users.get(n) as User)),
      roles: this.roleList().map((n) => roleToRecord(this.roles.get(n) as Role)),
    };
    return Buffer.from(JSON.stringify(snap), 'utf8');
  }

  /** Replaces the three auth buckets with the snapshot's content (staged; the member commits).
   *  The new store has no tokens. */
  static async restoreSnapshot(data: Uint8Array, backend: Backend, opts: AuthStoreOptions): Promise<AuthStore> {
    const s = parseJson(data, 'auth snapshot') as Partial<SnapshotRecord> | null;
    if (s === null || typeof s !== 'object' || s.v !== SNAPSHOT_VERSION || typeof s.enabled !== 'boolean'
      || !Number.isSafeInteger(s.revision) || (s.revision as number) < 0 || !Array.isArray(s.users) || !Array.isArray(s.roles)) {
      throw new Error('auth: not an auth snapshot');
    }
    const as = new AuthStore(backend, opts);
    for (const x of s.users) {
      const u = userFromRecord(x);
      if (as.users.has(u.name)) throw new Error(`auth: duplicate user ${u.name} in snapshot`);
      as.users.set(u.name, u);
    }
    for (const x of s.roles) {
      const r = roleFromRecord(x);
      if (as.roles.has(r.name)) throw new Error(`auth: duplicate role ${r.name} in snapshot`);
      as.roles.set(r.name, r);
    }
    as.enabled = s.enabled;
    as.rev = s.revision as number;
    await backend.clearBucket(AUTH_USERS_BUCKET);
    await backend.clearBucket(AUTH_ROLES_BUCKET);
    await backend.clearBucket(AUTH_BUCKET);
    for (const u of as.users.values()) as.putUser(u);
    for (const r of as.roles.values()) as.putRole(r);
    backend.put(AUTH_BUCKET, ENABLED_KEY, Buffer.from([as.enabled ? 1 : 0]));
    backend.put(AUTH_BUCKET, REVISION_KEY, u64(as.rev));
    return as;
  }

  // ------------------------------------------------------------------ internals

  private isOpPermitted(user: string, kind: 'READ' | 'WRITE', key: Bytes, rangeEnd: Bytes | undefined): boolean {
    if (!this.enabled) return true;
    const u = this.users.get(user);
    if (u === undefined) return false;
    if (u.roles.includes(ROOT_ROLE)) return true;
    let merged = this.permCache.get(user);
    if (merged === undefined) {
      const perms: Permission[] = [];
      for (const rn of u.roles) perms.push(...(this.roles.get(rn)?.perms ?? []));
      merged = mergePerms(perms);
      this.permCache.set(user, merged);
    }
    return permits(merged, kind, key, rangeEnd);
  }

  private commitRevision(): void {
    this.rev += 1;
    this.backend.put(AUTH_BUCKET, REVISION_KEY, u64(this.rev));
  }

  private putUser(u: User): void {
    if (!u.noPassword && u.passwordHash === undefined) throw new Error(`auth: user ${u.name} without a password hash`);
    this.users.set(u.name, u);
    this.backend.put(AUTH_USERS_BUCKET, Buffer.from(u.name, 'utf8'), Buffer.from(JSON.stringify(userToRecord(u)), 'utf8'));
  }

  private putRole(r: Role): void {
    this.roles.set(r.name, r);
    this.backend.put(AUTH_ROLES_BUCKET, Buffer.from(r.name, 'utf8'), Buffer.from(JSON.stringify(roleToRecord(r)), 'utf8'));
  }
}

/** Go sorts strings by bytes (UTF-8), not UTF-16 code units. */
function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}
