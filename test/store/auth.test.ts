// The v3 auth store: every user/role operation and its etcd error (texts as etcd 3.4.23 returns
// them through etcdctl and the gateway), enable rules, revisions, simple tokens, permission checks
// over keys, prefixes and ranges, persistence in the level backend and snapshots.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Backend } from '../../src/store/backend.js';
import { AuthStore, hashPassword, AUTH_TOKENS_MAX } from '../../src/store/auth/index.js';
import { V3Error } from '../../src/store/v3error.js';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'tsetcd-auth-'));
  dirs.push(d);
  return d;
}

const OPTS = { tokenTtlS: 300 };
const b = (s: string) => Buffer.from(s);
const ZERO = Buffer.from([0]);
// Hashing is deliberately slow: compute the few hashes the tests need once.
const ROOT_PW = hashPassword('rootpw');
const ALICE_PW = hashPassword('pw');

function err(kind: string, message: string) {
  return (e: unknown) => e instanceof V3Error && e.kind === kind && e.message === message;
}

async function open(): Promise<{ be: Backend; as: AuthStore; dir: string }> {
  const dir = await tempDir();
  const be = await Backend.open(dir);
  return { be, as: await AuthStore.open(be, OPTS), dir };
}

/** root (with role root) and alice, auth enabled. */
function withRoot(as: AuthStore): void {
  as.userAdd('root', ROOT_PW, {});
  as.userGrantRole('root', 'root');
  as.userAdd('alice', ALICE_PW, {});
  as.authEnable();
}

test('users: add, get, list, delete, errors as etcd', async () => {
  const { be, as } = await open();
  as.userAdd('bob', undefined, { noPassword: true });
  as.userAdd('alice', ALICE_PW, {});
  assert.throws(() => as.userAdd('alice', ALICE_PW, {}), err('userAlreadyExist', 'etcdserver: user name already exists'));
  assert.throws(() => as.userAdd('', ALICE_PW, {}), err('userEmpty', 'etcdserver: user name is empty'));
  assert.deepEqual(as.userList(), ['alice', 'bob']);
  assert.deepEqual(as.userGet('alice'), { roles: [] });
  assert.throws(() => as.userGet('nope'), err('userNotFound', 'etcdserver: user name not found'));
  assert.throws(() => as.userDelete('nope'), err('userNotFound', 'etcdserver: user name not found'));
  assert.throws(() => as.userChangePassword('nope', ALICE_PW), err('userNotFound', 'etcdserver: user name not found'));
  as.userDelete('bob');
  assert.deepEqual(as.userList(), ['alice']);
  await be.close();
});

test('roles: add, get, list, delete (revoked from users), grant/revoke role errors as etcd', async () => {
  const { be, as } = await open();
  as.userAdd('alice', ALICE_PW, {});
  assert.throws(() => as.roleGet('nope'), err('roleNotFound', 'etcdserver: role name not found'));
  assert.throws(() => as.userGrantRole('alice', 'nope'), err('roleNotFound', 'etcdserver: role name not found'));
  assert.throws(() => as.userGrantRole('nope', 'r1'), err('userNotFound', 'etcdserver: user name not found'));
  assert.throws(() => as.roleAdd(''), err('roleEmpty', 'etcdserver: role name is empty'));
  assert.throws(() => as.roleDelete('nope'), err('roleNotFound', 'etcdserver: role name not found'));
  assert.throws(() => as.userRevokeRole('alice', 'r1'), err('roleNotGranted', 'etcdserver: role is not granted to the user'));
  as.userGrantRole('alice', 'root'); // role root need not exist as a role
  assert.throws(() => as.roleGet('root'), err('roleNotFound', 'etcdserver: role name not found'));
  as.roleAdd('root');
  as.roleAdd('r1');
  assert.throws(() => as.roleAdd('r1'), err('roleAlreadyExist', 'etcdserver: role name already exists'));
  assert.deepEqual(as.roleGet('root'), { perm: [] });
  as.userGrantRole('alice', 'r1');
  as.userGrantRole('alice', 'r1'); // twice: no error
  assert.deepEqual(as.userGet('alice'), { roles: ['r1', 'root'] });
  assert.deepEqual(as.roleList(), ['r1', 'root']);
  as.roleDelete('r1');
  assert.deepEqual(as.userGet('alice'), { roles: ['root'] });
  as.userRevokeRole('alice', 'root');
  assert.deepEqual(as.userGet('alice'), { roles: [] });
  await be.close();
});

test('permissions: sorted by key, same key+range updates the type, revoke needs the exact range', async () => {
  const { be, as } = await open();
  as.roleAdd('r1');
  assert.throws(() => as.roleGrantPermission('nope', { permType: 'READ', key: b('a') }), err('roleNotFound', 'etcdserver: role name not found'));
  assert.throws(() => as.roleRevokePermission('nope', b('a'), undefined), err('roleNotFound', 'etcdserver: role name not found'));
  assert.throws(() => as.roleRevokePermission('r1', b('foo'), undefined), err('permissionNotGranted', 'etcdserver: permission is not granted to the role'));
  as.roleGrantPermission('r1', { permType: 'READ', key: b('foo') });
  as.roleGrantPermission('r1', { permType: 'READWRITE', key: b('a'), rangeEnd: b('c') });
  as.roleGrantPermission('r1', { permType: 'WRITE', key: b('p/'), rangeEnd: b('p0') });
  as.roleGrantPermission('r1', { permType: 'READ', key: b('z'), rangeEnd: ZERO });
  as.roleGrantPermission('r1', { permType: 'WRITE', key: b('foo') }); // updates foo
  assert.deepEqual(as.roleGet('r1').perm.map((p) => [p.permType, p.key.toString(), Buffer.from(p.rangeEnd).toString('hex')]), [
    ['READWRITE', 'a', '63'],
    ['WRITE', 'foo', ''],
    ['WRITE', 'p/', '7030'],
    ['READ', 'z', '00'],
  ]);
  assert.throws(() => as.roleRevokePermission('r1', b('a'), undefined), err('permissionNotGranted', 'etcdserver: permission is not granted to the role'));
  as.roleRevokePermission('r1', b('a'), b('c'));
  assert.equal(as.roleGet('r1').perm.length, 3);
  await be.close();
});

test('enable needs user root with role root; root is protected while enabled; disable is allowed', async () => {
  const { be, as } = await open();
  assert.throws(() => as.authEnable(), err('rootUserNotExist', 'etcdserver: root user does not exist'));
  as.userAdd('root', ROOT_PW, {});
  assert.throws(() => as.authEnable(), err('rootRoleNotExist', 'etcdserver: root user does not have root role'));
  as.userGrantRole('root', 'root');
  assert.equal(as.isEnabled(), false);
  as.authEnable();
  assert.equal(as.isEnabled(), true);
  as.authEnable(); // no-op
  assert.throws(() => as.userDelete('root'), err('invalidAuthMgmt', 'etcdserver: invalid auth management'));
  assert.throws(() => as.userRevokeRole('root', 'root'), err('invalidAuthMgmt', 'etcdserver: invalid auth management'));
  as.roleAdd('root');
  assert.throws(() => as.roleDelete('root'), err('invalidAuthMgmt', 'etcdserver: invalid auth management'));
  as.authDisable();
  assert.equal(as.isEnabled(), false);
  as.userRevokeRole('root', 'root');
  as.roleDelete('root');
  as.userDelete('root');
  assert.deepEqual(as.userList(), []);
  await be.close();
});

test('the auth revision is bumped by each change, not by enable or by no-ops or failures', async () => {
  const { be, as } = await open();
  const steps: Array<[() => void, number]> = [
    [() => as.userAdd('root', ROOT_PW, {}), 1],
    [() => as.userGrantRole('root', 'root'), 1],
    [() => as.userGrantRole('root', 'root'), 0],
    [() => as.roleAdd('r'), 1],
    [() => as.roleGrantPermission('r', { permType: 'READ', key: b('k') }), 1],
    [() => as.roleRevokePermission('r', b('k'), undefined), 1],
    [() => as.userAdd('u', ALICE_PW, {}), 1],
    [() => as.userGrantRole('u', 'r'), 1],
    [() => as.userRevokeRole('u', 'r'), 1],
    [() => as.userChangePassword('u', ROOT_PW), 1],
    [() => as.roleDelete('r'), 1],
    [() => as.authEnable(), 0],
    [() => as.authDisable(), 1],
    [() => as.authDisable(), 0],
    [() => as.userDelete('u'), 1],
  ];
  let rev = as.revision();
  assert.equal(rev, 0);
  for (const [step, bump] of steps) {
    step();
    assert.equal(as.revision(), rev + bump, step.toString());
    rev = as.revision();
  }
  assert.throws(() => as.userDelete('u'));
  assert.equal(as.revision(), rev);
  await be.close();
});

test('authenticate: simple tokens, wrong password, unknown user, no-password user, auth off', async () => {
  const { be, as } = await open();
  as.userAdd('bob', undefined, { noPassword: true });
  await assert.rejects(as.authenticate('alice', 'pw', 0), err('authNotEnabled', 'etcdserver: authentication is not enabled'));
  withRoot(as);
  const token = await as.authenticate('alice', 'pw', 0);
  assert.match(token, new RegExp(`^[a-zA-Z]{16}\\.${as.revision()}$`));
  assert.notEqual(await as.authenticate('alice', 'pw', 0), token);
  assert.deepEqual(as.userFromToken(token, 1_000), { user: 'alice', revision: as.revision() });
  await assert.rejects(as.authenticate('alice', 'bad', 0), err('authFailed', 'etcdserver: authentication failed, invalid user ID or password'));
  await assert.rejects(as.authenticate('nobody', 'x', 0), err('authFailed', 'etcdserver: authentication failed, invalid user ID or password'));
  await assert.rejects(as.authenticate('bob', '', 0), (e: unknown) =>
    e instanceof V3Error && e.code === 2 && e.message === 'auth: authentication failed, password was given for no password user');
  assert.equal(as.userFromToken('nosuch.1', 0), undefined);
  await be.close();
});

test('tokens expire after the TTL of disuse, are refreshed on use, dropped on password change, delete and disable', async () => {
  const { be, as } = await open();
  withRoot(as);
  const t = await as.authenticate('alice', 'pw', 0);
  assert.equal(as.userFromToken(t, 299_999)?.user, 'alice'); // refreshed: now valid until 599_999
  assert.equal(as.userFromToken(t, 599_998)?.user, 'alice');
  assert.equal(as.userFromToken(t, 599_998 + 300_000), undefined);
  assert.equal(as.userFromToken(t, 0), undefined, 'an expired token stays gone');

  const t2 = await as.authenticate('alice', 'pw', 0);
  const r = await as.authenticate('root', 'rootpw', 0);
  as.userChangePassword('alice', ROOT_PW);
  assert.equal(as.userFromToken(t2, 1), undefined);
  assert.equal(as.userFromToken(r, 1)?.user, 'root');
  await assert.rejects(as.authenticate('alice', 'pw', 0), err('authFailed', 'etcdserver: authentication failed, invalid user ID or password'));
  const t3 = await as.authenticate('alice', 'rootpw', 0);
  as.userDelete('alice');
  assert.equal(as.userFromToken(t3, 1), undefined);
  as.authDisable();
  assert.equal(as.userFromToken(r, 1), undefined);
  as.authEnable();
  assert.equal(as.userFromToken(r, 1), undefined, 'tokens do not come back after re-enabling');
  assert.ok(AUTH_TOKENS_MAX > 0);
  await be.close();
});

test('permission checks: single keys, prefixes, open ranges, union coverage of a range', async () => {
  const { be, as } = await open();
  withRoot(as);
  as.userAdd('nobody', ALICE_PW, {});
  as.roleAdd('r1');
  as.roleAdd('r2');
  as.roleGrantPermission('r1', { permType: 'READ', key: b('foo') });
  as.roleGrantPermission('r1', { permType: 'READ', key: b('a'), rangeEnd: b('c') });
  as.roleGrantPermission('r2', { permType: 'READ', key: b('c'), rangeEnd: b('e') });
  as.roleGrantPermission('r2', { permType: 'READWRITE', key: b('p/'), rangeEnd: b('p0') }); // prefix p/
  as.roleGrantPermission('r2', { permType: 'WRITE', key: b('z'), rangeEnd: ZERO }); // from z
  as.userGrantRole('alice', 'r1');
  as.userGrantRole('alice', 'r2');

  // single keys
  assert.equal(as.isRangePermitted('alice', b('foo'), undefined), true);
  assert.equal(as.isRangePermitted('alice', b('foo0'), undefined), false);
  assert.equal(as.isPutPermitted('alice', b('foo')), false);
  assert.equal(as.isPutPermitted('alice', b('p/x')), true);
  assert.equal(as.isPutPermitted('alice', b('p0')), false);
  assert.equal(as.isPutPermitted('alice', b('zzz')), true);
  assert.equal(as.isPutPermitted('alice', b('y')), false);
  // ranges: [a,e) is covered only by the union of r1 and r2
  assert.equal(as.isRangePermitted('alice', b('a'), b('e')), true);
  assert.equal(as.isRangePermitted('alice', b('b'), b('d')), true);
  assert.equal(as.isRangePermitted('alice', b('a'), b('e\0')), false);
  assert.equal(as.isRangePermitted('alice', b('0'), b('b')), false);
  as.userRevokeRole('alice', 'r2');
  assert.equal(as.isRangePermitted('alice', b('a'), b('e')), false, 'a gap at [c,e)');
  assert.equal(as.isRangePermitted('alice', b('a'), b('c')), true);
  as.userGrantRole('alice', 'r2');
  // prefix range and "\0" (from key) semantics
  assert.equal(as.isRangePermitted('alice', b('p/'), b('p0')), true);
  assert.equal(as.isDeleteRangePermitted('alice', b('p/a'), b('p/b')), true);
  assert.equal(as.isDeleteRangePermitted('alice', b('p'), b('p0')), false);
  assert.equal(as.isDeleteRangePermitted('alice', b('z'), ZERO), true);
  assert.equal(as.isDeleteRangePermitted('alice', b('y'), ZERO), false);
  assert.equal(as.isRangePermitted('alice', b('z'), ZERO), false);
  // a single-key permission covers exactly [key, key\0)
  assert.equal(as.isRangePermitted('alice', b('foo'), b('foo\0')), true);
  assert.equal(as.isRangePermitted('alice', b('foo'), b('fop')), false);
  // root role: everything; unknown user or no roles: nothing; admin only for root
  assert.equal(as.isRangePermitted('root', ZERO, ZERO), true);
  assert.equal(as.isDeleteRangePermitted('root', b('any'), ZERO), true);
  assert.equal(as.isRangePermitted('nobody', b('foo'), undefined), false);
  assert.equal(as.isRangePermitted('ghost', b('foo'), undefined), false);
  assert.equal(as.isAdminPermitted('root'), true);
  assert.equal(as.isAdminPermitted('alice'), false);
  // a permission change is seen at once (no stale cache)
  as.roleRevokePermission('r1', b('foo'), undefined);
  assert.equal(as.isRangePermitted('alice', b('foo'), undefined), false);
  as.roleDelete('r2');
  assert.equal(as.isPutPermitted('alice', b('p/x')), false);
  // auth off: everything is permitted
  as.authDisable();
  assert.equal(as.isPutPermitted('ghost', b('x')), true);
  assert.equal(as.isAdminPermitted('ghost'), true);
  await be.close();
});

test('state persists in the auth buckets and survives a reopen (tokens do not)', async () => {
  const { be, as, dir } = await open();
  withRoot(as);
  as.userAdd('bob', undefined, { noPassword: true });
  as.roleAdd('r1');
  as.roleGrantPermission('r1', { permType: 'READWRITE', key: b('k'), rangeEnd: b('l') });
  as.userGrantRole('alice', 'r1');
  const token = await as.authenticate('alice', 'pw', 0);
  const rev = as.revision();
  be.setConsistentIndex(5, 1);
  await be.commit();
  await be.close();

  const be2 = await Backend.open(dir);
  const as2 = await AuthStore.open(be2, OPTS);
  assert.equal(as2.isEnabled(), true);
  assert.equal(as2.revision(), rev);
  assert.deepEqual(as2.userList(), ['alice', 'bob', 'root']);
  assert.deepEqual(as2.userGet('alice'), { roles: ['r1'] });
  assert.deepEqual(as2.roleGet('r1').perm.map((p) => [p.permType, Buffer.from(p.key).toString(), Buffer.from(p.rangeEnd).toString()]), [['READWRITE', 'k', 'l']]);
  assert.equal(as2.isPutPermitted('alice', b('kk')), true);
  assert.equal(as2.userFromToken(token, 1), undefined);
  assert.match(await as2.authenticate('alice', 'pw', 0), /^[a-zA-Z]{16}\.\d+$/);
  await assert.rejects(as2.authenticate('bob', 'x', 0), (e: unknown) => e instanceof V3Error && e.kind === 'noPasswordUser');
  await be2.close();
});

test('snapshot round trip replaces users, roles, flag and revision', async () => {
  const { be, as } = await open();
  withRoot(as);
  as.roleAdd('r1');
  as.roleGrantPermission('r1', { permType: 'READ', key: b('a'), rangeEnd: ZERO });
  as.userGrantRole('alice', 'r1');
  const snap = as.saveSnapshot();
  assert.deepEqual(Buffer.from(as.saveSnapshot()), Buffer.from(snap), 'deterministic');

  const other = await open();
  other.as.userAdd('stale', ALICE_PW, {});
  other.as.roleAdd('stale');
  await other.be.commit();
  const restored = await AuthStore.restoreSnapshot(snap, other.be, OPTS);
  assert.equal(restored.isEnabled(), true);
  assert.equal(restored.revision(), as.revision());
  assert.deepEqual(restored.userList(), ['alice', 'root']);
  assert.deepEqual(restored.roleList(), ['r1']);
  assert.equal(restored.isRangePermitted('alice', b('b'), ZERO), true);
  await other.be.commit();
  await other.be.close();
  const be3 = await Backend.open(other.dir);
  const reopened = await AuthStore.open(be3, OPTS);
  assert.deepEqual(reopened.userList(), ['alice', 'root']);
  assert.deepEqual(reopened.roleList(), ['r1']);
  assert.equal(reopened.revision(), as.revision());
  assert.match(await reopened.authenticate('alice', 'pw', 0), /\./);
  await be3.close();
  await assert.rejects(AuthStore.restoreSnapshot(Buffer.from('{}'), be, OPTS), /not an auth snapshot/);
  await be.close();
});
