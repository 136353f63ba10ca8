// /v2/auth and its effect on /v2/keys and /v2/members, with the in-test auth state.
// Bodies marked "etcd 3.4.23" were captured from a real etcd 3.4.23 --enable-v2 on loopback.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { startApp } from './v2fake.js';

let app: FastifyInstance;
before(async () => {
  ({ app } = await startApp());
});
after(async () => {
  await app.close();
});

const basic = (u: string, p: string): Record<string, string> => ({ authorization: 'Basic ' + Buffer.from(`${u}:${p}`).toString('base64') });
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

describe('v2 auth', () => {
  it('GET /v2/auth/enable is false; users null; roles lists root (etcd 3.4.23)', async () => {
    const e = await app.inject({ method: 'GET', url: '/v2/auth/enable' });
    assert.equal(e.headers['content-type'], 'application/json');
    assert.equal(e.headers['x-etcd-cluster-id'], '31f33c6577b4c440');
    assert.equal(e.body, '{"enabled":false}\n');
    assert.equal((await app.inject({ method: 'GET', url: '/v2/auth/users' })).body, '{"users":null}\n');
    assert.equal((await app.inject({ method: 'GET', url: '/v2/auth/roles' })).body, '{"roles":[{"role":"root","permissions":{"kv":{"read":["/*"],"write":["/*"]}}}]}\n');
    assert.equal((await app.inject({ method: 'GET', url: '/v2/auth/roles/root' })).body, '{"role":"root","permissions":{"kv":{"read":["/*"],"write":["/*"]}}}\n');
  });

  it('errors: missing user 404, enable without root 409, disable twice 409, POST 405 (etcd 3.4.23)', async () => {
    const u = await app.inject({ method: 'GET', url: '/v2/auth/users/nobody' });
    assert.equal(u.statusCode, 404);
    assert.equal(u.body, '{"message":"auth: User nobody does not exist."}');
    const en = await app.inject({ method: 'PUT', url: '/v2/auth/enable' });
    assert.equal(en.statusCode, 409);
    assert.equal(en.body, '{"message":"auth: No root user available, please create one"}');
    const dis = await app.inject({ method: 'DELETE', url: '/v2/auth/enable' });
    assert.equal(dis.statusCode, 409);
    assert.equal(dis.body, '{"message":"auth: already disabled"}');
    const post = await app.inject({ method: 'POST', url: '/v2/auth/enable' });
    assert.equal(post.statusCode, 405);
    assert.equal(post.headers.allow, 'GET,PUT,DELETE');
    const head = await app.inject({ method: 'HEAD', url: '/v2/auth/users' });
    assert.equal(head.statusCode, 405);
    assert.equal(head.headers.allow, 'GET');
  });

  it('PUT users: create 201, update 200, bad JSON, name mismatch, roles+grant, invalid path (etcd 3.4.23)', async () => {
    const c = await app.inject({ method: 'PUT', url: '/v2/auth/users/root', payload: '{"user":"root","password":"pw"}' });
    assert.equal(c.statusCode, 201);
    assert.equal(c.body, '{"user":"root","roles":["root"]}\n');
    const u = await app.inject({ method: 'PUT', url: '/v2/auth/users/root', payload: '{"user":"root","password":"pw"}' });
    assert.equal(u.statusCode, 200);
    const mm = await app.inject({ method: 'PUT', url: '/v2/auth/users/bob', payload: '{"user":"bobx","password":"pw"}' });
    assert.equal(mm.statusCode, 400);
    assert.equal(mm.body, '{"message":"User JSON name does not match the name in the URL"}');
    const bad = await app.inject({ method: 'PUT', url: '/v2/auth/users/bob', payload: '{bad' });
    assert.equal(bad.body, '{"message":"Invalid JSON in request body."}');
    const both = await app.inject({ method: 'PUT', url: '/v2/auth/users/bob', payload: '{"user":"bob","roles":["e"],"grant":["e"]}' });
    assert.equal(both.body, '{"message":"User JSON contains both roles and grant/revoke"}');
    const nb = await app.inject({ method: 'PUT', url: '/v2/auth/users/nr', payload: '{"user":"nr","password":"x"}' });
    assert.equal(nb.body, '{"user":"nr","roles":null}\n');
    const path = await app.inject({ method: 'GET', url: '/v2/auth/users/a/b' });
    assert.equal(path.statusCode, 400);
    assert.equal(path.body, '{"message":"Invalid path"}');
    assert.equal(path.headers['x-etcd-cluster-id'], undefined);
  });

  it('PUT roles: create echoes the request with null lists; duplicate 409; grant/revoke; both 400 (etcd 3.4.23)', async () => {
    const e = await app.inject({ method: 'PUT', url: '/v2/auth/roles/e', payload: '{"role":"e"}' });
    assert.equal(e.statusCode, 201);
    assert.equal(e.body, '{"role":"e","permissions":{"kv":{"read":null,"write":null}}}\n');
    const r1 = await app.inject({ method: 'PUT', url: '/v2/auth/roles/r1', payload: '{"role":"r1","permissions":{"kv":{"read":["/foo/*"],"write":["/foo/*"]}}}' });
    assert.equal(r1.statusCode, 201);
    assert.equal(r1.body, '{"role":"r1","permissions":{"kv":{"read":["/foo/*"],"write":["/foo/*"]}}}\n');
    const dup = await app.inject({ method: 'PUT', url: '/v2/auth/roles/r1', payload: '{"role":"r1","permissions":{"kv":{"read":["/foo/*"]}}}' });
    assert.equal(dup.statusCode, 409);
    assert.equal(dup.body, '{"message":"auth: Role r1 already exists."}');
    const g = await app.inject({ method: 'PUT', url: '/v2/auth/roles/e', payload: '{"role":"e","grant":{"kv":{"read":["/a"]}}}' });
    assert.equal(g.statusCode, 200);
    assert.equal(g.body, '{"role":"e","permissions":{"kv":{"read":["/a"],"write":[]}}}\n');
    const both = await app.inject({ method: 'PUT', url: '/v2/auth/roles/e', payload: '{"role":"e","grant":{"kv":{"read":["/a"]}},"permissions":{"kv":{"read":["/b"]}}}' });
    assert.equal(both.body, '{"message":"Role JSON contains both permissions and grant/revoke"}');
    const mm = await app.inject({ method: 'PUT', url: '/v2/auth/roles/e', payload: '{"role":"x"}' });
    assert.equal(mm.body, '{"message":"Role JSON name does not match the name in the URL"}');
    const grant = await app.inject({ method: 'PUT', url: '/v2/auth/users/bob', payload: '{"user":"bob","password":"pw"}' });
    assert.equal(grant.statusCode, 201);
    const gr = await app.inject({ method: 'PUT', url: '/v2/auth/users/bob', payload: '{"user":"bob","grant":["r1"]}' });
    assert.equal(gr.body, '{"user":"bob","roles":["r1"]}\n');
    const dupg = await app.inject({ method: 'PUT', url: '/v2/auth/users/bob', payload: '{"user":"bob","grant":["r1"]}' });
    assert.equal(dupg.statusCode, 409);
    assert.equal(dupg.body, '{"message":"auth: Granting duplicate role r1 for user bob"}');
  });

  it('enabled: keys need credentials per role; guest rules; 110 body (etcd 3.4.23)', async () => {
    const on = await app.inject({ method: 'PUT', url: '/v2/auth/enable' });
    assert.equal(on.statusCode, 200);
    assert.equal(on.body, '');
    // guest has full access by default
    assert.equal((await app.inject({ method: 'PUT', url: '/v2/keys/g', headers: FORM, payload: 'value=1' })).statusCode, 201);
    // wrong password: 110
    const bad = await app.inject({ method: 'GET', url: '/v2/keys/g', headers: basic('root', 'bad') });
    assert.equal(bad.statusCode, 401);
    assert.equal(bad.headers['x-etcd-index'], '0');
    assert.equal(bad.headers['x-etcd-cluster-id'], '31f33c6577b4c440');
    assert.equal(bad.body, '{"errorCode":110,"message":"The request requires user authentication","cause":"Insufficient credentials","index":0}\n');
    // bob may write under /foo/ only
    assert.equal((await app.inject({ method: 'PUT', url: '/v2/keys/foo/x', headers: { ...FORM, ...basic('bob', 'pw') }, payload: 'value=1' })).statusCode, 201);
    assert.equal((await app.inject({ method: 'PUT', url: '/v2/keys/other', headers: { ...FORM, ...basic('bob', 'pw') }, payload: 'value=1' })).statusCode, 401);
    // revoke guest: anonymous access ends
    const rv = await app.inject({ method: 'PUT', url: '/v2/auth/roles/guest', headers: basic('root', 'pw'), payload: '{"role":"guest","revoke":{"kv":{"read":["/*"],"write":["/*"]}}}' });
    assert.equal(rv.body, '{"role":"guest","permissions":{"kv":{"read":[],"write":[]}}}\n');
    assert.equal((await app.inject({ method: 'GET', url: '/v2/keys/g' })).statusCode, 401);
    assert.equal((await app.inject({ method: 'GET', url: '/v2/keys/g', headers: basic('root', 'pw') })).statusCode, 200);
  });

  it('enabled: auth and member writes need root; {"message":"Insufficient credentials"} (etcd 3.4.23)', async () => {
    const roles = await app.inject({ method: 'GET', url: '/v2/auth/roles' });
    assert.equal(roles.statusCode, 401);
    assert.equal(roles.body, '{"message":"Insufficient credentials"}');
    assert.equal(roles.headers['x-etcd-cluster-id'], undefined);
    assert.equal((await app.inject({ method: 'GET', url: '/v2/auth/roles', headers: basic('root', 'pw') })).statusCode, 200);
    const mem = await app.inject({ method: 'POST', url: '/v2/members', headers: { 'content-type': 'application/json', ...basic('bob', 'pw') }, payload: '{}' });
    assert.equal(mem.statusCode, 401);
    assert.equal(mem.body, '{"message":"Insufficient credentials"}');
    assert.equal((await app.inject({ method: 'GET', url: '/v2/members' })).statusCode, 200);
    const delRoot = await app.inject({ method: 'DELETE', url: '/v2/auth/users/root', headers: basic('root', 'pw') });
    assert.equal(delRoot.statusCode, 403);
    assert.equal(delRoot.body, '{"message":"auth: Cannot delete root user while auth is enabled."}');
    assert.equal((await app.inject({ method: 'DELETE', url: '/v2/auth/enable', headers: basic('bob', 'pw') })).statusCode, 401);
    const off = await app.inject({ method: 'DELETE', url: '/v2/auth/enable', headers: basic('root', 'pw') });
    assert.equal(off.statusCode, 200);
    const delRole = await app.inject({ method: 'DELETE', url: '/v2/auth/roles/root' });
    assert.equal(delRole.statusCode, 403);
    assert.equal(delRole.body, '{"message":"auth: Cannot modify role root: is root role."}');
    const delUser = await app.inject({ method: 'DELETE', url: '/v2/auth/users/bob' });
    assert.equal(delUser.statusCode, 200);
    assert.equal(delUser.body, '');
  });
});
