import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AuthError, V2AuthStore, hashV2Password, verifyV2Password, type V2AuthCommand } from '../../src/store/v2/auth.js';

// Hashing is slow on purpose: hash once, reuse.
const H1 = hashV2Password('pw');
const H2 = hashV2Password('rpw');

function authErr(fn: () => unknown, status: number, message: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof AuthError, String(err));
    assert.equal(err.status, status);
    assert.equal(JSON.stringify(err), JSON.stringify({ message }));
    return true;
  });
}

const withRoot = () => {
  const a = new V2AuthStore();
  a.applyAuth({ kind: 'putUser', user: 'root', passwordHash: H2 });
  return a;
};

test('passwords: scrypt hash verifies only the right password, salted', () => {
  assert.equal(verifyV2Password(H1, 'pw'), true);
  assert.equal(verifyV2Password(H1, 'PW'), false);
  assert.equal(verifyV2Password('garbage', 'pw'), false);
  assert.notEqual(hashV2Password('pw'), H1);
});

test('enable: needs a root user (409), creates the guest role, then 409 already enabled; disable', () => {
  const a = new V2AuthStore();
  authErr(() => a.applyAuth({ kind: 'enable' }), 409, 'auth: No root user available, please create one');
  authErr(() => a.applyAuth({ kind: 'disable' }), 409, 'auth: already disabled');
  authErr(() => a.getRole('guest'), 404, 'auth: Role guest does not exist.');
  const r = a.applyAuth({ kind: 'putUser', user: 'root', passwordHash: H2 });
  assert.deepEqual(r, { kind: 'user', user: { user: 'root', roles: ['root'] }, created: true });
  a.applyAuth({ kind: 'enable' });
  assert.equal(a.enabled(), true);
  assert.equal(JSON.stringify(a.getRole('guest')), '{"role":"guest","permissions":{"kv":{"read":["/*"],"write":["/*"]}}}');
  authErr(() => a.applyAuth({ kind: 'enable' }), 409, 'auth: already enabled');
  authErr(() => a.applyAuth({ kind: 'deleteUser', user: 'root' }), 403, 'auth: Cannot delete root user while auth is enabled.');
  a.applyAuth({ kind: 'disable' });
  assert.equal(a.enabled(), false);
  a.applyAuth({ kind: 'deleteUser', user: 'root' });
  authErr(() => a.getUser('root'), 404, 'auth: User root does not exist.');
});

test('users: create, password-only update, grant/revoke, errors as etcd', () => {
  const a = new V2AuthStore();
  assert.deepEqual(a.applyAuth({ kind: 'putUser', user: 'bob', passwordHash: H1 }), { kind: 'user', user: { user: 'bob', roles: null }, created: true });
  assert.deepEqual(a.applyAuth({ kind: 'putUser', user: 'bob', passwordHash: hashV2Password('pw2') }), { kind: 'user', user: { user: 'bob', roles: [] }, created: false });
  assert.equal(a.checkPassword('bob', 'pw2'), true);
  assert.equal(a.checkPassword('bob', 'pw'), false);
  assert.equal(a.checkPassword('nobody', 'pw'), false);
  authErr(() => a.applyAuth({ kind: 'putUser', user: 'carl' }), 400, 'auth: Cannot create user carl with an empty password');
  authErr(() => a.applyAuth({ kind: 'putUser', user: 'carl', grant: ['x'] }), 404, 'auth: User carl does not exist.');
  const g = a.applyAuth({ kind: 'putUser', user: 'bob', grant: ['r2', 'r1'] });
  assert.deepEqual(g, { kind: 'user', user: { user: 'bob', roles: ['r1', 'r2'] }, created: false });
  authErr(() => a.applyAuth({ kind: 'putUser', user: 'bob', grant: ['r1'] }), 409, 'auth: Granting duplicate role r1 for user bob');
  authErr(() => a.applyAuth({ kind: 'putUser', user: 'bob', revoke: ['zz'] }), 409, 'auth: Revoking ungranted role zz for user bob');
  authErr(() => a.applyAuth({ kind: 'putUser', user: 'bob', grant: ['a'], revoke: ['a'] }), 400, 'auth: User not updated. Use grant/revoke/password to update the user.');
  authErr(() => a.applyAuth({ kind: 'putUser', user: 'bob', roles: ['x'], grant: ['y'] }), 400, 'User JSON contains both roles and grant/revoke');
  authErr(() => a.applyAuth({ kind: 'putUser', user: 'bob', roles: ['x'], passwordHash: H1 }), 409, 'auth: User bob already exists.');
  authErr(() => a.applyAuth({ kind: 'deleteUser', user: 'nobody' }), 404, 'auth: User nobody does not exist');
  assert.deepEqual(a.getUser('bob'), { user: 'bob', roles: ['r1', 'r2'] });
  a.applyAuth({ kind: 'putUser', user: 'al', passwordHash: H1, roles: ['r1'] });
  assert.deepEqual(a.listUsers(), ['al', 'bob']);
});

test('root user always has the root role, even after revoking it', () => {
  const a = withRoot();
  a.applyAuth({ kind: 'putUser', user: 'root', revoke: ['root'] });
  assert.deepEqual(a.getUser('root').roles, ['root']);
});

test('roles: create, grant, revoke, root protected, errors as etcd', () => {
  const a = new V2AuthStore();
  assert.equal(JSON.stringify(a.applyAuth({ kind: 'putRole', role: 'r1' })), '{"kind":"role","role":{"role":"r1","permissions":{"kv":{"read":null,"write":null}}},"created":true}');
  authErr(() => a.applyAuth({ kind: 'putRole', role: 'r1' }), 409, 'auth: Role r1 already exists.');
  const g = a.applyAuth({ kind: 'putRole', role: 'r1', grant: { kv: { read: ['/foo/*'], write: ['/foo'] } } });
  assert.equal(JSON.stringify(g), '{"kind":"role","role":{"role":"r1","permissions":{"kv":{"read":["/foo/*"],"write":["/foo"]}}},"created":false}');
  authErr(() => a.applyAuth({ kind: 'putRole', role: 'r1', grant: { kv: { read: ['/foo/*'] } } }), 409, 'auth: Granting duplicate read permission /foo/*');
  authErr(() => a.applyAuth({ kind: 'putRole', role: 'r1', revoke: { kv: { read: ['/zzz'] } } }), 400, 'auth: Role not updated. Use grant/revoke to update the role.');
  authErr(() => a.applyAuth({ kind: 'putRole', role: 'r2', revoke: { kv: { read: ['/zzz'] } } }), 404, 'auth: Role r2 does not exist.');
  authErr(() => a.applyAuth({ kind: 'putRole', role: 'root', revoke: { kv: { read: ['/zzz'] } } }), 403, 'auth: Cannot modify role root: is root role.');
  authErr(() => a.applyAuth({ kind: 'putRole', role: 'root' }), 403, 'auth: Cannot modify role root: is root role.');
  authErr(() => a.applyAuth({ kind: 'deleteRole', role: 'root' }), 403, 'auth: Cannot modify role root: is root role.');
  authErr(() => a.applyAuth({ kind: 'deleteRole', role: 'nobody' }), 404, "auth: Role nobody doesn't exist.");
  authErr(() => a.applyAuth({ kind: 'putRole', role: 'r1', permissions: { kv: { read: ['/a'] } }, grant: { kv: { read: ['/b'] } } }), 400, 'Role JSON contains both permissions and grant/revoke');
  const rv = a.applyAuth({ kind: 'putRole', role: 'r1', revoke: { kv: { write: ['/foo'] } } });
  assert.equal(JSON.stringify(rv), '{"kind":"role","role":{"role":"r1","permissions":{"kv":{"read":["/foo/*"],"write":[]}}},"created":false}');
  assert.equal(JSON.stringify(a.getRole('root')), '{"role":"root","permissions":{"kv":{"read":["/*"],"write":["/*"]}}}');
  assert.deepEqual(a.listRoles(), ['r1', 'root']);
  a.applyAuth({ kind: 'deleteRole', role: 'r1' });
  assert.deepEqual(a.listRoles(), ['root']);
});

test('key permissions: off = all, guest, exact and /prefix/* globs, recursive needs a glob, root', () => {
  const a = withRoot();
  a.applyAuth({ kind: 'putUser', user: 'bob', passwordHash: H1 });
  a.applyAuth({ kind: 'putRole', role: 'r1' });
  a.applyAuth({ kind: 'putRole', role: 'r1', grant: { kv: { read: ['/foo/*'], write: ['/foo'] } } });
  a.applyAuth({ kind: 'putUser', user: 'bob', grant: ['r1', 'ghost'] });
  assert.equal(a.hasKeyPermission(undefined, '/x', true), true, 'auth disabled: everything allowed');
  a.applyAuth({ kind: 'enable' });
  assert.equal(a.hasKeyPermission(undefined, '/x', true), true, 'default guest role has full access');
  a.applyAuth({ kind: 'putRole', role: 'guest', revoke: { kv: { write: ['/*'] } } });
  assert.equal(a.hasKeyPermission(undefined, '/x', true), false);
  assert.equal(a.hasKeyPermission(undefined, '/x', false), true);
  assert.equal(a.hasKeyPermission('bob', '/foo', true), true);
  assert.equal(a.hasKeyPermission('bob', '/foo/bar', true), false);
  assert.equal(a.hasKeyPermission('bob', '/foo/bar', false), true);
  assert.equal(a.hasKeyPermission('bob', '/foo', false), false, '/foo/* does not cover /foo');
  assert.equal(a.hasKeyPermission('bob', '/foo/', false, true), true);
  assert.equal(a.hasKeyPermission('bob', '/foo', true, true), false, 'recursive access needs a glob');
  assert.equal(a.hasKeyPermission('nobody', '/foo', false), false);
  assert.equal(a.hasKeyPermission('root', '/anything', true, true), true);
  assert.equal(a.hasRootAccess('root'), true);
  assert.equal(a.hasRootAccess('bob'), false);
  assert.equal(a.hasRootAccess(undefined), false);
  a.applyAuth({ kind: 'deleteRole', role: 'guest' });
  assert.equal(a.hasKeyPermission(undefined, '/x', false), false);
});

test('failed commands leave the state unchanged; same commands -> same save bytes; recover round trip', () => {
  const cmds: V2AuthCommand[] = [
    { kind: 'putUser', user: 'root', passwordHash: H2 },
    { kind: 'putRole', role: 'r1', grant: { kv: { read: ['/a/*'] } } }, // fails: no such role yet
    { kind: 'putRole', role: 'r1' },
    { kind: 'putRole', role: 'r1', grant: { kv: { read: ['/a/*'] } } },
    { kind: 'putRole', role: 'r0', permissions: { kv: { write: ['/w'] } } },
    { kind: 'putUser', user: 'bob', passwordHash: H1 },
    { kind: 'putUser', user: 'bob', grant: ['r1'] },
    { kind: 'putUser', user: 'bob', revoke: ['nope'] },
    { kind: 'enable' },
  ];
  const run = () => {
    const s = new V2AuthStore();
    for (const c of cmds) {
      const before = Buffer.from(s.save());
      try {
        s.applyAuth(c);
      } catch (err) {
        assert.ok(err instanceof AuthError);
        assert.deepEqual(Buffer.from(s.save()), before, `failed ${c.kind} changed the state`);
      }
    }
    return s;
  };
  const a = run();
  const b = run();
  assert.deepEqual(Buffer.from(a.save()), Buffer.from(b.save()));
  const c = V2AuthStore.recover(a.save());
  assert.deepEqual(Buffer.from(c.save()), Buffer.from(a.save()));
  assert.equal(c.enabled(), true);
  assert.deepEqual(c.getUser('bob'), { user: 'bob', roles: ['r1'] });
  assert.equal(c.checkPassword('bob', 'pw'), true);
  assert.equal(c.hasKeyPermission('bob', '/a/x', false), true);
  assert.deepEqual(c.listRoles(), ['guest', 'r0', 'r1', 'root']);
});

test('method-level commands (createUser/updateUser/createOrUpdateUser/createRole/updateRole)', () => {
  const a = new V2AuthStore();
  assert.deepEqual(a.applyAuth({ kind: 'createUser', user: 'u', passwordHash: H1, roles: ['x'] }), { kind: 'user', user: { user: 'u', roles: ['x'] }, created: true });
  authErr(() => a.applyAuth({ kind: 'createUser', user: 'u', passwordHash: H1 }), 409, 'auth: User u already exists.');
  assert.deepEqual(a.applyAuth({ kind: 'createOrUpdateUser', user: 'u', grant: ['y'] }), { kind: 'user', user: { user: 'u', roles: ['x', 'y'] }, created: false });
  assert.deepEqual(a.applyAuth({ kind: 'updateUser', user: 'u', revoke: ['x'] }), { kind: 'user', user: { user: 'u', roles: ['y'] }, created: false });
  assert.equal(a.applyAuth({ kind: 'createRole', role: 'r', permissions: { kv: { read: ['/a'], write: [] } } }).kind, 'role');
  const r = a.applyAuth({ kind: 'updateRole', role: 'r', grant: { kv: { write: ['/b/*'] } } });
  assert.equal(JSON.stringify(r), '{"kind":"role","role":{"role":"r","permissions":{"kv":{"read":["/a"],"write":["/b/*"]}}},"created":false}');
  authErr(() => a.applyAuth({ kind: 'updateRole', role: 'zz', grant: { kv: { write: ['/b'] } } }), 404, 'auth: Role zz does not exist.');
});
