// v2 auth as the HTTP API sees it: reads from the local auth state, changes through raft.
import type { V2AuthBackend, V2AuthRole, V2AuthRoleInput, V2AuthUser, V2AuthUserInput } from '../api/v2/backend.js';
import { hashV2Password, type V2AuthCommand, type V2AuthResult } from '../store/v2/auth.js';
import type { RaftMember } from './member.js';

export class V2AuthBackendImpl implements V2AuthBackend {
  constructor(private readonly m: RaftMember) {}

  private get state() {
    return this.m.sm.auth;
  }

  private async run(cmd: V2AuthCommand): Promise<V2AuthResult> {
    return (await this.m.propose((id) => ({ t: 'v2auth', id, cmd }))) as V2AuthResult;
  }

  /** The proposing member hashes the password (random salt), so apply stays deterministic. */
  private putUserCmd(u: V2AuthUserInput): V2AuthCommand {
    return {
      kind: 'putUser',
      user: u.user,
      ...(u.password !== undefined && u.password !== '' ? { passwordHash: hashV2Password(u.password) } : {}),
      ...(u.roles !== undefined ? { roles: [...u.roles] } : {}),
      ...(u.grant !== undefined ? { grant: [...u.grant] } : {}),
      ...(u.revoke !== undefined ? { revoke: [...u.revoke] } : {}),
    };
  }

  enabled(): boolean {
    return this.state.enabled();
  }
  allUsers(): string[] {
    return this.state.listUsers();
  }
  getUser(name: string): V2AuthUser {
    const u = this.state.getUser(name);
    return { user: u.user, roles: u.roles };
  }
  allRoles(): string[] {
    return this.state.listRoles();
  }
  getRole(name: string): V2AuthRole {
    const r = this.state.getRole(name);
    return { role: r.role, permissions: { kv: { read: r.permissions.kv.read ?? [], write: r.permissions.kv.write ?? [] } } };
  }
  checkPassword(user: string, password: string): boolean {
    return this.state.checkPassword(user, password);
  }
  hasKeyAccess(user: string | undefined, key: string, write: boolean, recursive: boolean): boolean {
    return this.state.hasKeyPermission(user, key, write, recursive);
  }
  async createUser(u: V2AuthUserInput): Promise<V2AuthUser> {
    return (await this.createOrUpdateUser(u)).user;
  }
  async createOrUpdateUser(u: V2AuthUserInput): Promise<{ user: V2AuthUser; created: boolean }> {
    const r = await this.run(this.putUserCmd(u));
    if (r.kind !== 'user') return { user: this.getUser(u.user), created: false };
    return { user: { user: r.user.user, roles: r.user.roles }, created: r.created };
  }
  async updateUser(u: V2AuthUserInput): Promise<V2AuthUser> {
    return (await this.createOrUpdateUser(u)).user;
  }
  async deleteUser(name: string): Promise<void> {
    await this.run({ kind: 'deleteUser', user: name });
  }
  async createRole(r: V2AuthRoleInput): Promise<void> {
    await this.run({ kind: 'putRole', role: r.role, ...(r.permissions !== undefined ? { permissions: r.permissions as never } : {}) });
  }
  async updateRole(r: V2AuthRoleInput): Promise<V2AuthRole> {
    const res = await this.run({
      kind: 'putRole',
      role: r.role,
      ...(r.permissions !== undefined ? { permissions: r.permissions as never } : {}),
      ...(r.grant !== undefined ? { grant: r.grant as never } : {}),
      ...(r.revoke !== undefined ? { revoke: r.revoke as never } : {}),
    });
    return res.kind === 'role' ? { role: res.role.role, permissions: { kv: { read: res.role.permissions.kv.read ?? [], write: res.role.permissions.kv.write ?? [] } } } : this.getRole(r.role);
  }
  async deleteRole(name: string): Promise<void> {
    await this.run({ kind: 'deleteRole', role: name });
  }
  async enableAuth(): Promise<void> {
    await this.run({ kind: 'enable' });
  }
  async disableAuth(): Promise<void> {
    await this.run({ kind: 'disable' });
  }
}
