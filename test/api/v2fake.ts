// An in-test V2Backend: the real V2Store with writes applied synchronously, a fixed membership and a
// small in-memory v2 auth state. Only for unit tests of src/api/v2 and src/api/http.
import Fastify, { type FastifyInstance } from 'fastify';
import { V2Store } from '../../src/store/v2/store.js';
import type { V2Event, V2Request } from '../../src/store/v2/types.js';
import type { V2AuthBackend, V2AuthRole, V2AuthRoleInput, V2AuthUser, V2AuthUserInput, V2Backend, V2Member } from '../../src/api/v2/backend.js';
import { registerClientHttp, type ClientHttpOptions } from '../../src/api/http/client.js';

class AuthError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function globMatch(pattern: string, key: string, recursive: boolean): boolean {
  if (pattern.endsWith('*')) {
    const prefix = pattern.slice(0, -1);
    return key.startsWith(prefix) || (recursive && prefix.startsWith(key));
  }
  return pattern === key;
}

export class FakeAuth implements V2AuthBackend {
  on = false;
  readonly users = new Map<string, { password: string; roles: string[] }>();
  readonly roles = new Map<string, { read: string[]; write: string[] }>([['root', { read: ['/*'], write: ['/*'] }]]);
  enabled(): boolean {
    return this.on;
  }
  allUsers(): string[] {
    return [...this.users.keys()].sort();
  }
  getUser(name: string): V2AuthUser {
    const u = this.users.get(name);
    if (u === undefined) throw new AuthError(404, `auth: User ${name} does not exist.`);
    return { user: name, roles: [...u.roles] };
  }
  allRoles(): string[] {
    return [...this.roles.keys()].sort();
  }
  getRole(name: string): V2AuthRole {
    const r = this.roles.get(name);
    if (r === undefined) throw new AuthError(404, `auth: Role ${name} does not exist.`);
    return { role: name, permissions: { kv: { read: [...r.read], write: [...r.write] } } };
  }
  checkPassword(user: string, password: string): boolean {
    return this.users.get(user)?.password === password;
  }
  hasKeyAccess(user: string | undefined, key: string, write: boolean, recursive: boolean): boolean {
    const roleNames = user === undefined ? ['guest'] : (this.users.get(user)?.roles ?? []);
    for (const rn of roleNames) {
      const r = this.roles.get(rn);
      if (r === undefined) continue;
      if ((write ? r.write : r.read).some((p) => globMatch(p, key, recursive))) return true;
    }
    return false;
  }
  async createUser(u: V2AuthUserInput): Promise<V2AuthUser> {
    if (this.users.has(u.user)) throw new AuthError(409, `auth: User ${u.user} already exists.`);
    this.users.set(u.user, { password: u.password ?? '', roles: [...(u.roles ?? [])] });
    return this.getUser(u.user);
  }
  async createOrUpdateUser(u: V2AuthUserInput): Promise<{ user: V2AuthUser; created: boolean }> {
    const existing = this.users.get(u.user);
    if (existing !== undefined) {
      if (u.password !== undefined) existing.password = u.password;
      return { user: this.getUser(u.user), created: false };
    }
    if (u.password === undefined) throw new AuthError(400, `auth: Cannot create user ${u.user} with an empty password`);
    const roles = u.user === 'root' ? ['root'] : [];
    this.users.set(u.user, { password: u.password, roles });
    // etcd answers a user created without roles with a nil slice (null); an update prints [].
    return { user: roles.length === 0 ? { user: u.user, roles: null } : this.getUser(u.user), created: true };
  }
  async updateUser(u: V2AuthUserInput): Promise<V2AuthUser> {
    const e = this.users.get(u.user);
    if (e === undefined) throw new AuthError(404, `auth: User ${u.user} does not exist.`);
    for (const g of u.grant ?? []) {
      if (e.roles.includes(g)) throw new AuthError(409, `auth: Granting duplicate role ${g} for user ${u.user}`);
      e.roles.push(g);
    }
    for (const r of u.revoke ?? []) {
      if (!e.roles.includes(r)) throw new AuthError(409, `auth: Revoking ungranted role ${r} for user ${u.user}`);
      e.roles = e.roles.filter((x) => x !== r);
    }
    return this.getUser(u.user);
  }
  async deleteUser(name: string): Promise<void> {
    if (this.on && name === 'root') throw new AuthError(403, 'auth: Cannot delete root user while auth is enabled.');
    if (!this.users.delete(name)) throw new AuthError(404, `auth: User ${name} does not exist`);
  }
  async createRole(r: V2AuthRoleInput): Promise<void> {
    if (this.roles.has(r.role)) throw new AuthError(409, `auth: Role ${r.role} already exists.`);
    this.roles.set(r.role, { read: [...(r.permissions?.kv.read ?? [])], write: [...(r.permissions?.kv.write ?? [])] });
  }
  async updateRole(r: V2AuthRoleInput): Promise<V2AuthRole> {
    const e = this.roles.get(r.role);
    if (e === undefined) throw new AuthError(404, `auth: Role ${r.role} does not exist.`);
    e.read.push(...(r.grant?.kv.read ?? []));
    e.write.push(...(r.grant?.kv.write ?? []));
    const rr = r.revoke?.kv.read ?? [];
    const rw = r.revoke?.kv.write ?? [];
    e.read = e.read.filter((x) => !rr.includes(x));
    e.write = e.write.filter((x) => !rw.includes(x));
    return this.getRole(r.role);
  }
  async deleteRole(name: string): Promise<void> {
    if (name === 'root') throw new AuthError(403, 'auth: Cannot modify role root: is root role.');
    if (!this.roles.delete(name)) throw new AuthError(404, `auth: Role ${name} doesn't exist.`);
  }
  async enableAuth(): Promise<void> {
    if (this.on) throw new AuthError(409, 'auth: already enabled');
    if (!this.users.has('root')) throw new AuthError(409, 'auth: No root user available, please create one');
    if (!this.roles.has('guest')) this.roles.set('guest', { read: ['/*'], write: ['/*'] });
    this.on = true;
  }
  async disableAuth(): Promise<void> {
    if (!this.on) throw new AuthError(409, 'auth: already disabled');
    this.on = false;
  }
}

class MemberErr extends Error {
  constructor(readonly kind: string) {
    super(kind);
  }
}

export class FakeBackend implements V2Backend {
  readonly clusterId = '31f33c6577b4c440';
  readonly memberId = 'e9aa06881b74bca1';
  clock = Date.UTC(2026, 0, 1);
  readonly store = new V2Store({ nowMs: () => this.clock });
  readonly auth = new FakeAuth();
  raft = 5;
  leader: string | undefined = 'e9aa06881b74bca1';
  isLeader = true;
  healthy = true;
  /** When set, write() rejects with this error (a timeout, say). */
  failWrites: Error | undefined;
  lastWrite: V2Request | undefined;
  readonly memberList: V2Member[] = [
    { id: 'e9aa06881b74bca1', name: 'default', peerUrls: ['http://127.0.0.1:23871'], clientUrls: ['http://127.0.0.1:23870'] },
  ];
  readonly removed = new Set<string>();
  raftIndex(): number {
    return this.raft;
  }
  raftTerm(): number {
    return 2;
  }
  nowMs(): number {
    return this.clock;
  }
  async write(req: V2Request): Promise<V2Event> {
    this.lastWrite = req;
    if (this.failWrites !== undefined) throw this.failWrites;
    this.raft++;
    return this.store.apply(req);
  }
  members(): readonly V2Member[] {
    return this.memberList;
  }
  leaderId(): string | undefined {
    return this.leader;
  }
  async addMember(peerUrls: string[]): Promise<V2Member> {
    if (this.memberList.some((m) => m.peerUrls.some((u) => peerUrls.includes(u)))) throw new MemberErr('peerUrlExists');
    const m: V2Member = { id: '0a0b0c0d0e0f1011', name: '', peerUrls, clientUrls: [] };
    this.memberList.push(m);
    return m;
  }
  async removeMember(id: string): Promise<void> {
    if (this.removed.has(id)) throw new MemberErr('memberRemoved');
    const i = this.memberList.findIndex((m) => m.id === id);
    if (i === -1) throw new MemberErr('memberNotFound');
    this.memberList.splice(i, 1);
    this.removed.add(id);
  }
  async updateMember(id: string, peerUrls: string[]): Promise<void> {
    const m = this.memberList.find((x) => x.id === id);
    if (m === undefined) throw new MemberErr('memberNotFound');
    this.memberList[this.memberList.indexOf(m)] = { ...m, peerUrls };
  }
  selfStats(): object {
    return { name: 'default', id: this.memberId, state: 'StateLeader' };
  }
  leaderStats(): object | undefined {
    return this.isLeader ? { leader: this.memberId, followers: {} } : undefined;
  }
  async health(): Promise<boolean> {
    return this.healthy;
  }
  clusterVersion(): string {
    return '3.4.0';
  }
}

export async function startApp(
  opts: Partial<ClientHttpOptions> = {},
): Promise<{ app: FastifyInstance; backend: FakeBackend; url: string }> {
  const backend = new FakeBackend();
  const app = Fastify({ logger: false });
  registerClientHttp(app, backend, { enableV2: true, corsOrigins: ['*'], hostWhitelist: [], ...opts });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return { app, backend, url };
}
