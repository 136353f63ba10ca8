// etcd 3.4's v2 auth (etcdserver/api/v2auth/auth.go plus the request rules of v2http's
// client_auth.go) as a deterministic state machine. Commands are applied in log order on every
// member; the proposing member hashes passwords first (hashV2Password) and puts only the hash in
// the command, so applying never depends on randomness or the clock.
//
// Snapshot: this state is saved separately from the keys store (V2AuthStore.save / recover).

import assert from 'node:assert/strict';
import { randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';

export const ROOT_ROLE = 'root';
export const GUEST_ROLE = 'guest';
const ROOT_USER = 'root';
const SNAPSHOT_VERSION = 1;

/** An etcd v2 auth error: HTTP status and the body {"message": "..."}. */
export class AuthError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
    this.name = 'AuthError';
  }
  toJSON(): { message: string } {
    return { message: this.message };
  }
}

/** etcd's authErr: messages carry the "auth: " prefix. */
function authErr(status: number, msg: string): AuthError {
  return new AuthError(status, 'auth: ' + msg);
}

/** null where etcd's Go slice is nil (printed as null), [] where it is empty. */
export interface V2RWPermission {
  read: string[] | null;
  write: string[] | null;
}
export interface V2Permissions {
  kv: V2RWPermission;
}
export interface V2Role {
  role: string;
  permissions: V2Permissions;
}
/** A stored user: password is the hash. */
export interface V2User {
  user: string;
  password: string;
  roles: string[] | null;
}
/** A user as answered (no password), field order as etcd's. */
export interface V2UserOut {
  user: string;
  roles: string[] | null;
}

/** grant/revoke: a given object is Go's non-nil pointer, even when its lists are empty. */
export interface V2PermissionsInput {
  kv: { read?: string[] | null; write?: string[] | null };
}

export type V2AuthCommand =
  | { kind: 'enable' }
  | { kind: 'disable' }
  /** PUT /v2/auth/users/<user>: create when roles are given, create-or-update when only a password is,
   *  update when grant/revoke are. passwordHash from hashV2Password, absent when no password was sent. */
  | { kind: 'putUser'; user: string; passwordHash?: string; roles?: string[]; grant?: string[]; revoke?: string[] }
  | { kind: 'deleteUser'; user: string }
  /** PUT /v2/auth/roles/<role>: create when there is no grant/revoke, else update. */
  | { kind: 'putRole'; role: string; permissions?: V2PermissionsInput; grant?: V2PermissionsInput; revoke?: V2PermissionsInput }
  | { kind: 'deleteRole'; role: string }
  // The v2auth.Store methods one by one, for a caller that already made the handler's choice:
  | { kind: 'createUser'; user: string; passwordHash?: string; roles?: string[] }
  | { kind: 'createOrUpdateUser'; user: string; passwordHash?: string; roles?: string[]; grant?: string[]; revoke?: string[] }
  | { kind: 'updateUser'; user: string; passwordHash?: string; grant?: string[]; revoke?: string[] }
  | { kind: 'createRole'; role: string; permissions?: V2PermissionsInput }
  | { kind: 'updateRole'; role: string; grant?: V2PermissionsInput; revoke?: V2PermissionsInput };

export type V2AuthResult =
  | { kind: 'ok' }
  /** created: the HTTP layer answers 201 (etcd answers 200 when the user was created with roles). */
  | { kind: 'user'; user: V2UserOut; created: boolean }
  | { kind: 'role'; role: V2Role; created: boolean };

const fullAccess = (): V2Permissions => ({ kv: { read: ['/*'], write: ['/*'] } });
const rootRole = (): V2Role => ({ role: ROOT_ROLE, permissions: fullAccess() });

// ---- passwords (the proposer hashes; every member compares) ----

const SCRYPT_KEY_BYTES = 32;
const SCRYPT_SALT_BYTES = 16;
const SCRYPT_COST_N = 16384;

/** A salted scrypt hash, `scrypt$<N>$<salt b64>$<hash b64>`. Random salt: call once, on the proposing member. */
export function hashV2Password(password: string): string {
  const salt = randomBytes(SCRYPT_SALT_BYTES);
  const key = scryptSync(password, salt, SCRYPT_KEY_BYTES, { N: SCRYPT_COST_N });
  return `scrypt$${SCRYPT_COST_N}$${salt.toString('base64')}$${key.toString('base64')}`;
}

export function verifyV2Password(hash: string, password: string): boolean {
  const parts = hash.split('$');
  if (parts.length !== 4 || parts[0] !== 'scrypt') return false;
  const n = Number(parts[1]);
  if (!Number.isInteger(n) || n < 2) return false;
  const expect = Buffer.from(parts[3]!, 'base64');
  const got = scryptSync(password, Buffer.from(parts[2]!, 'base64'), expect.length, { N: n });
  return expect.length > 0 && timingSafeEqual(expect, got);
}

// ---- matching (v2auth simpleMatch / prefixMatch) ----

function simpleMatch(pattern: string, key: string): boolean {
  if (pattern.endsWith('*')) return key.startsWith(pattern.slice(0, -1));
  return key === pattern;
}

function prefixMatch(pattern: string, key: string): boolean {
  return pattern.endsWith('*') && key.startsWith(pattern.slice(0, -1));
}

function roleHasAccess(r: V2Role, key: string, write: boolean, recursive: boolean): boolean {
  if (r.role === ROOT_ROLE) return true;
  const list = (write ? r.permissions.kv.write : r.permissions.kv.read) ?? [];
  return list.some((pat) => (recursive ? prefixMatch(pat, key) : simpleMatch(pat, key)));
}

// ---- set helpers with Go's nil/empty distinction ----

function sameList(a: readonly string[] | null, b: readonly string[] | null): boolean {
  if (a === null || b === null) return a === b;
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

const sorted = (s: Set<string>): string[] => [...s].sort();

function grantList(cur: readonly string[] | null, add: readonly string[] | null | undefined, what: string): string[] {
  const set = new Set(cur ?? []);
  for (const p of add ?? []) {
    if (set.has(p)) throw authErr(409, `Granting duplicate ${what} permission ${p}`);
    set.add(p);
  }
  return sorted(set);
}

function revokeList(cur: readonly string[] | null, del: readonly string[] | null | undefined): string[] {
  const set = new Set(cur ?? []);
  for (const p of del ?? []) set.delete(p); // etcd only logs a revoke of something not granted
  return sorted(set);
}

const permsEmpty = (p: V2PermissionsInput | undefined): boolean =>
  p === undefined || ((p.kv.read ?? []).length === 0 && (p.kv.write ?? []).length === 0);

function withRootRole(u: V2User): V2User {
  if (u.user !== ROOT_USER || (u.roles ?? []).includes(ROOT_ROLE)) return u;
  return { ...u, roles: [...(u.roles ?? []), ROOT_ROLE] };
}

const userOut = (u: V2User): V2UserOut => ({ user: u.user, roles: u.roles === null ? null : [...u.roles] });
const cloneRole = (r: V2Role): V2Role => ({
  role: r.role,
  permissions: { kv: { read: r.permissions.kv.read === null ? null : [...r.permissions.kv.read], write: r.permissions.kv.write === null ? null : [...r.permissions.kv.write] } },
});

interface SnapshotRec {
  version: number;
  enabled: boolean;
  users: V2User[];
  roles: V2Role[];
}

export class V2AuthStore {
  private enabledFlag = false;
  private readonly users = new Map<string, V2User>();
  /** Stored roles; `root` is built in and never stored. */
  private readonly roles = new Map<string, V2Role>();

  // ---- reads ----

  enabled(): boolean {
    return this.enabledFlag;
  }

  /** The user as etcd answers it (root always has the root role). Throws 404. */
  getUser(name: string): V2UserOut {
    return userOut(this.user(name));
  }

  /** Sorted user names. */
  listUsers(): string[] {
    return [...this.users.keys()].sort();
  }

  /** Throws 404; `root` is the built-in full-access role. */
  getRole(name: string): V2Role {
    return cloneRole(this.role(name));
  }

  /** Sorted role names, always including root. */
  listRoles(): string[] {
    return [ROOT_ROLE, ...this.roles.keys()].sort();
  }

  checkPassword(user: string, password: string): boolean {
    const u = this.users.get(user);
    return u !== undefined && verifyV2Password(u.password, password);
  }

  /** v2http hasKeyPrefixAccess after the password was checked: true when auth is off; user undefined = guest
   *  (guest never gets recursive prefix matching, as etcd). recursive: the request had recursive=true. */
  hasKeyPermission(user: string | undefined, key: string, write: boolean, recursive = false): boolean {
    if (!this.enabledFlag) return true;
    if (user === undefined) {
      const guest = this.roles.get(GUEST_ROLE);
      return guest !== undefined && roleHasAccess(guest, key, write, false);
    }
    const u = this.users.get(user);
    if (u === undefined) return false;
    for (const r of withRootRole(u).roles ?? []) {
      const role = r === ROOT_ROLE ? rootRole() : this.roles.get(r);
      if (role !== undefined && roleHasAccess(role, key, write, recursive)) return true;
    }
    return false;
  }

  /** v2http hasRootAccess after the password was checked: true when auth is off. */
  hasRootAccess(user: string | undefined): boolean {
    if (!this.enabledFlag) return true;
    if (user === undefined) return false;
    const u = this.users.get(user);
    return u !== undefined && (withRootRole(u).roles ?? []).includes(ROOT_ROLE);
  }

  // ---- replicated commands ----

  /** Deterministic; throws AuthError (state unchanged) when etcd would answer an error. */
  applyAuth(cmd: V2AuthCommand): V2AuthResult {
    switch (cmd.kind) {
      case 'enable':
        if (this.enabledFlag) throw authErr(409, 'already enabled');
        if (!this.users.has(ROOT_USER)) throw authErr(409, 'No root user available, please create one');
        if (!this.roles.has(GUEST_ROLE)) this.roles.set(GUEST_ROLE, { role: GUEST_ROLE, permissions: fullAccess() });
        this.enabledFlag = true;
        return { kind: 'ok' };
      case 'disable':
        if (!this.enabledFlag) throw authErr(409, 'already disabled');
        this.enabledFlag = false;
        return { kind: 'ok' };
      case 'putUser':
        return this.putUser(cmd);
      case 'deleteUser':
        if (this.enabledFlag && cmd.user === ROOT_USER) throw authErr(403, 'Cannot delete root user while auth is enabled.');
        if (!this.users.delete(cmd.user)) throw authErr(404, `User ${cmd.user} does not exist`);
        return { kind: 'ok' };
      case 'putRole':
        return this.putRole(cmd);
      case 'createUser':
        return { kind: 'user', user: this.createUser(cmd), created: true };
      case 'createOrUpdateUser':
        if (this.users.has(cmd.user)) return { kind: 'user', user: this.updateUser(cmd), created: false };
        return { kind: 'user', user: this.createUser(cmd), created: true };
      case 'updateUser':
        return { kind: 'user', user: this.updateUser(cmd), created: false };
      case 'createRole':
        return { kind: 'role', role: this.createRole(cmd), created: true };
      case 'updateRole':
        return { kind: 'role', role: this.updateRole(cmd), created: false };
      case 'deleteRole':
        if (cmd.role === ROOT_ROLE) throw authErr(403, `Cannot modify role ${ROOT_ROLE}: is root role.`);
        if (!this.roles.delete(cmd.role)) throw authErr(404, `Role ${cmd.role} doesn't exist.`);
        return { kind: 'ok' };
      default: {
        const never: never = cmd;
        throw new Error(`v2 auth: unknown command ${JSON.stringify(never)}`);
      }
    }
  }

  private putUser(cmd: Extract<V2AuthCommand, { kind: 'putUser' }>): V2AuthResult {
    const roles = cmd.roles ?? [];
    if ((cmd.grant ?? []).length === 0 && (cmd.revoke ?? []).length === 0) {
      if (roles.length !== 0) return { kind: 'user', user: this.createUser(cmd), created: false };
      if (this.users.has(cmd.user)) return { kind: 'user', user: this.updateUser(cmd), created: false };
      return { kind: 'user', user: this.createUser(cmd), created: true };
    }
    if (roles.length !== 0) throw new AuthError(400, 'User JSON contains both roles and grant/revoke');
    return { kind: 'user', user: this.updateUser(cmd), created: false };
  }

  private createUser(cmd: { user: string; passwordHash?: string; roles?: string[] }): V2UserOut {
    let u: V2User = { user: cmd.user, password: cmd.passwordHash ?? '', roles: cmd.roles === undefined ? null : [...cmd.roles] };
    u = withRootRole(u);
    if (u.password === '') throw authErr(400, `Cannot create user ${u.user} with an empty password`);
    if (this.users.has(u.user)) throw authErr(409, `User ${u.user} already exists.`);
    this.users.set(u.user, u);
    return userOut(u);
  }

  private updateUser(cmd: { user: string; passwordHash?: string; grant?: string[]; revoke?: string[] }): V2UserOut {
    const old = this.user(cmd.user);
    const set = new Set(old.roles ?? []);
    for (const g of cmd.grant ?? []) {
      if (set.has(g)) throw authErr(409, `Granting duplicate role ${g} for user ${cmd.user}`);
      set.add(g);
    }
    for (const r of cmd.revoke ?? []) {
      if (!set.has(r)) throw authErr(409, `Revoking ungranted role ${r} for user ${cmd.user}`);
      set.delete(r);
    }
    const next: V2User = {
      user: old.user,
      password: cmd.passwordHash !== undefined && cmd.passwordHash !== '' ? cmd.passwordHash : old.password,
      roles: sorted(set),
    };
    if (next.password === old.password && sameList(next.roles, old.roles)) {
      throw authErr(400, 'User not updated. Use grant/revoke/password to update the user.');
    }
    this.users.set(next.user, next);
    return userOut(next);
  }

  private putRole(cmd: Extract<V2AuthCommand, { kind: 'putRole' }>): V2AuthResult {
    if (permsEmpty(cmd.grant) && permsEmpty(cmd.revoke)) return { kind: 'role', role: this.createRole(cmd), created: true };
    if (!permsEmpty(cmd.permissions)) throw new AuthError(400, 'Role JSON contains both permissions and grant/revoke');
    return { kind: 'role', role: this.updateRole(cmd), created: false };
  }

  private createRole(cmd: { role: string; permissions?: V2PermissionsInput }): V2Role {
    if (cmd.role === ROOT_ROLE) throw authErr(403, `Cannot modify role ${ROOT_ROLE}: is root role.`);
    if (this.roles.has(cmd.role)) throw authErr(409, `Role ${cmd.role} already exists.`);
    const kv = cmd.permissions?.kv;
    const r: V2Role = { role: cmd.role, permissions: { kv: { read: kv?.read == null ? null : [...kv.read], write: kv?.write == null ? null : [...kv.write] } } };
    this.roles.set(r.role, r);
    return cloneRole(r);
  }

  private updateRole(cmd: { role: string; grant?: V2PermissionsInput; revoke?: V2PermissionsInput }): V2Role {
    if (cmd.role === ROOT_ROLE) throw authErr(403, `Cannot modify role ${ROOT_ROLE}: is root role.`);
    const old = this.role(cmd.role);
    let kv: V2RWPermission = old.permissions.kv;
    if (cmd.grant !== undefined) {
      kv = { read: grantList(kv.read, cmd.grant.kv.read, 'read'), write: grantList(kv.write, cmd.grant.kv.write, 'write') };
    }
    if (cmd.revoke !== undefined) {
      kv = { read: revokeList(kv.read, cmd.revoke.kv.read), write: revokeList(kv.write, cmd.revoke.kv.write) };
    }
    if (sameList(kv.read, old.permissions.kv.read) && sameList(kv.write, old.permissions.kv.write)) {
      throw authErr(400, 'Role not updated. Use grant/revoke to update the role.');
    }
    const next: V2Role = { role: old.role, permissions: { kv } };
    this.roles.set(next.role, next);
    return cloneRole(next);
  }

  private user(name: string): V2User {
    const u = this.users.get(name);
    if (u === undefined) throw authErr(404, `User ${name} does not exist.`);
    return withRootRole(u);
  }

  private role(name: string): V2Role {
    if (name === ROOT_ROLE) return rootRole();
    const r = this.roles.get(name);
    if (r === undefined) throw authErr(404, `Role ${name} does not exist.`);
    return r;
  }

  // ---- snapshot (separate from V2Store's) ----

  /** Canonical bytes: users and roles sorted by name. */
  save(): Uint8Array {
    const byName = <T>(m: Map<string, T>): T[] => [...m.keys()].sort().map((k) => m.get(k)!);
    const snap: SnapshotRec = { version: SNAPSHOT_VERSION, enabled: this.enabledFlag, users: byName(this.users), roles: byName(this.roles) };
    return new TextEncoder().encode(JSON.stringify(snap));
  }

  static recover(data: Uint8Array): V2AuthStore {
    const snap = JSON.parse(new TextDecoder().decode(data)) as SnapshotRec;
    assert.equal(snap.version, SNAPSHOT_VERSION, 'v2 auth snapshot: unknown version');
    const s = new V2AuthStore();
    s.enabledFlag = snap.enabled === true;
    for (const u of snap.users) {
      assert.ok(typeof u.user === 'string' && typeof u.password === 'string', 'v2 auth snapshot: bad user');
      s.users.set(u.user, { user: u.user, password: u.password, roles: u.roles });
    }
    for (const r of snap.roles) {
      assert.ok(typeof r.role === 'string' && r.role !== ROOT_ROLE, 'v2 auth snapshot: bad role');
      s.roles.set(r.role, cloneRole(r));
    }
    assert.ok(!s.enabledFlag || s.users.has(ROOT_USER), 'v2 auth snapshot: enabled without a root user');
    return s;
  }
}
