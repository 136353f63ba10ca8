// /v2/auth/{enable,users,roles} (etcd v2http client_auth.go). Answers are Go json.Encoder output
// (JSON + "\n"); errors are {"message": ...} with the auth store's status.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { hasRootAccess, hasWriteRootAccess } from './access.js';
import type { V2AuthPermissions, V2AuthRole, V2AuthRoleInput, V2AuthUser, V2AuthUserInput, V2Backend } from './backend.js';
import { HttpError, isStatusError, JSON_CT, sendHttpError, sendMethodNotAllowed } from './reply.js';
import { muxCleanPath } from './form.js';

type AuthBase = 'enable' | 'users' | 'roles';

/** Go marshals a nil slice as null; the auth store's empty lists print as etcd's do for a fresh value. */
function rwJson(p: V2AuthPermissions | undefined): { kv: { read: readonly string[] | null; write: readonly string[] | null } } {
  return { kv: { read: p?.kv?.read ?? null, write: p?.kv?.write ?? null } };
}

function roleJson(r: V2AuthRole): object {
  return { role: r.role, permissions: rwJson(r.permissions) };
}

function userOutJson(u: V2AuthUser): object {
  return { user: u.user, roles: u.roles };
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}

function isPerms(v: unknown): v is V2AuthPermissions {
  if (v === null || v === undefined) return true;
  if (typeof v !== 'object') return false;
  const kv = (v as { kv?: unknown }).kv;
  if (kv === undefined || kv === null) return true;
  if (typeof kv !== 'object') return false;
  const { read, write } = kv as { read?: unknown; write?: unknown };
  return (read == null || isStringArray(read)) && (write == null || isStringArray(write));
}

function permsEmpty(p: V2AuthPermissions | undefined | null): boolean {
  return p == null || p.kv == null || ((p.kv.read?.length ?? 0) === 0 && (p.kv.write?.length ?? 0) === 0);
}

function readJson(request: FastifyRequest): Record<string, unknown> {
  const body = request.body as Buffer | undefined;
  try {
    const v: unknown = JSON.parse(body === undefined ? '' : body.toString('utf8'));
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new HttpError(400, 'Invalid JSON in request body.');
}

function parseUserInput(o: Record<string, unknown>): V2AuthUserInput {
  const { user, password, roles, grant, revoke } = o;
  if (user != null && typeof user !== 'string') throw new HttpError(400, 'Invalid JSON in request body.');
  if (password != null && typeof password !== 'string') throw new HttpError(400, 'Invalid JSON in request body.');
  for (const l of [roles, grant, revoke]) if (l != null && !isStringArray(l)) throw new HttpError(400, 'Invalid JSON in request body.');
  const out: { -readonly [K in keyof V2AuthUserInput]: V2AuthUserInput[K] } = { user: (user as string | undefined) ?? '' };
  if (typeof password === 'string' && password !== '') out.password = password;
  if (isStringArray(roles) && roles.length > 0) out.roles = roles;
  if (isStringArray(grant) && grant.length > 0) out.grant = grant;
  if (isStringArray(revoke) && revoke.length > 0) out.revoke = revoke;
  return out;
}

function parseRoleInput(o: Record<string, unknown>): V2AuthRoleInput {
  const { role, permissions, grant, revoke } = o;
  if (role != null && typeof role !== 'string') throw new HttpError(400, 'Invalid JSON in request body.');
  if (!isPerms(permissions) || !isPerms(grant) || !isPerms(revoke)) throw new HttpError(400, 'Invalid JSON in request body.');
  const out: { -readonly [K in keyof V2AuthRoleInput]: V2AuthRoleInput[K] } = { role: (role as string | undefined) ?? '' };
  if (permissions != null) out.permissions = permissions;
  if (grant != null) out.grant = grant;
  if (revoke != null) out.revoke = revoke;
  return out;
}

function sendJson(reply: FastifyReply, status: number, v: unknown): void {
  reply.code(status).header('content-type', JSON_CT).send(Buffer.from(JSON.stringify(v) + '\n'));
}

/** `sub` is the clean path after "/v2/auth" ("/enable", "/users", "/users/bob", ...). */
export async function serveAuth(backend: V2Backend, request: FastifyRequest, reply: FastifyReply, base: AuthBase, sub: string): Promise<void> {
  try {
    if (base === 'enable') return await enableDisable(backend, request, reply);
    // handleUsers/handleRoles: "/users/" is the collection, "/users/a/b" an invalid path.
    const pieces = muxCleanPath(sub).replace(/\/$/, '').split('/');
    if (pieces.length === 2) return baseList(backend, request, reply, base);
    if (pieces.length !== 3) throw new HttpError(400, 'Invalid path');
    if (base === 'users') return await forUser(backend, request, reply, pieces[2]!);
    return await forRole(backend, request, reply, pieces[2]!);
  } catch (e) {
    if (e instanceof HttpError) return sendHttpError(reply, e.status, e.message);
    if (isStatusError(e)) return sendHttpError(reply, e.status, e.message);
    return sendHttpError(reply, 500, 'Internal Server Error');
  }
}

function checkRoot(backend: V2Backend, request: FastifyRequest, reply: FastifyReply): void {
  if (!hasRootAccess(backend.auth, request.headers.authorization)) throw new HttpError(401, 'Insufficient credentials');
  reply.header('x-etcd-cluster-id', backend.clusterId).header('content-type', JSON_CT);
}

function baseList(backend: V2Backend, request: FastifyRequest, reply: FastifyReply, base: 'users' | 'roles'): void {
  if (request.method !== 'GET') return sendMethodNotAllowed(reply, 'GET');
  checkRoot(backend, request, reply);
  const auth = backend.auth;
  if (base === 'roles') {
    const roles = auth.allRoles().map((n) => roleJson(auth.getRole(n)));
    return sendJson(reply, 200, { roles: roles.length === 0 ? null : roles });
  }
  const users: object[] = [];
  for (const name of auth.allUsers()) {
    const u = auth.getUser(name);
    const roles: object[] = [];
    for (const rn of u.roles ?? []) {
      try {
        roles.push(roleJson(auth.getRole(rn)));
      } catch {
        // etcd skips roles that no longer exist in the listing
      }
    }
    users.push(roles.length === 0 ? { user: u.user } : { user: u.user, roles });
  }
  sendJson(reply, 200, { users: users.length === 0 ? null : users });
}

async function forUser(backend: V2Backend, request: FastifyRequest, reply: FastifyReply, name: string): Promise<void> {
  const m = request.method;
  if (m !== 'GET' && m !== 'PUT' && m !== 'DELETE') return sendMethodNotAllowed(reply, 'GET,PUT,DELETE');
  checkRoot(backend, request, reply);
  const auth = backend.auth;
  if (m === 'GET') {
    const u = auth.getUser(name);
    const roles = (u.roles ?? []).map((rn) => roleJson(auth.getRole(rn)));
    return sendJson(reply, 200, roles.length === 0 ? { user: u.user } : { user: u.user, roles });
  }
  if (m === 'DELETE') {
    await auth.deleteUser(name);
    return void reply.code(200).header('content-type', JSON_CT).send(Buffer.alloc(0));
  }
  const u = parseUserInput(readJson(request));
  if (u.user !== name) throw new HttpError(400, 'User JSON name does not match the name in the URL');
  let out: V2AuthUser;
  let created = false;
  if (u.grant === undefined && u.revoke === undefined) {
    if (u.roles !== undefined) out = await auth.createUser(u);
    else ({ user: out, created } = await auth.createOrUpdateUser(u));
  } else {
    if (u.roles !== undefined) throw new HttpError(400, 'User JSON contains both roles and grant/revoke');
    out = await auth.updateUser(u);
  }
  sendJson(reply, created ? 201 : 200, userOutJson(out));
}

async function forRole(backend: V2Backend, request: FastifyRequest, reply: FastifyReply, name: string): Promise<void> {
  const m = request.method;
  if (m !== 'GET' && m !== 'PUT' && m !== 'DELETE') return sendMethodNotAllowed(reply, 'GET,PUT,DELETE');
  checkRoot(backend, request, reply);
  const auth = backend.auth;
  if (m === 'GET') return sendJson(reply, 200, roleJson(auth.getRole(name)));
  if (m === 'DELETE') {
    await auth.deleteRole(name);
    return void reply.code(200).header('content-type', JSON_CT).send(Buffer.alloc(0));
  }
  const r = parseRoleInput(readJson(request));
  if (r.role !== name) throw new HttpError(400, 'Role JSON name does not match the name in the URL');
  if (permsEmpty(r.grant) && permsEmpty(r.revoke)) {
    await auth.createRole(r);
    // etcd echoes the request (nil lists as null).
    return sendJson(reply, 201, { role: r.role, permissions: rwJson(r.permissions) });
  }
  if (!permsEmpty(r.permissions)) throw new HttpError(400, 'Role JSON contains both permissions and grant/revoke');
  sendJson(reply, 200, roleJson(await auth.updateRole(r)));
}

async function enableDisable(backend: V2Backend, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const m = request.method;
  if (m !== 'GET' && m !== 'PUT' && m !== 'DELETE') return sendMethodNotAllowed(reply, 'GET,PUT,DELETE');
  if (!hasWriteRootAccess(backend.auth, m, request.headers.authorization)) throw new HttpError(401, 'Insufficient credentials');
  reply.header('x-etcd-cluster-id', backend.clusterId).header('content-type', JSON_CT);
  if (m === 'GET') return sendJson(reply, 200, { enabled: backend.auth.enabled() });
  if (m === 'PUT') await backend.auth.enableAuth();
  else await backend.auth.disableAuth();
  reply.code(200).header('content-type', JSON_CT).send(Buffer.alloc(0));
}
