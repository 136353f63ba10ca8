// --auth-token jwt: the same steps against one member of real etcd and of tsetcd. The tokens are
// real RS256 JWTs with etcd's claims, any holder of the key verifies them, they outlive a
// restart, and a token from before an auth change is refused as old. Bad options stop the
// member at start, as in etcd. Unit checks of the other algorithms are in
// test/store/jwt.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, verify } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { implCommand, withCluster, type Impl } from '../harness/cluster.js';

const haveEtcd = spawnSync('/usr/bin/etcd', ['--version']).status === 0 && spawnSync('/usr/bin/etcdctl', ['version']).status === 0;
const BASE: Record<Impl, number> = { etcd: 26380, tsetcd: 26390 };
const TTL_S = 60;

for (const impl of ['etcd', 'tsetcd'] as const) {
  test(`${impl}: --auth-token jwt issues RS256 tokens that any key holder verifies, that outlive a restart and that an auth change makes old`, { timeout: 90_000, skip: !haveEtcd && 'etcd not installed' }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tsetcd-jwt-'));
    try {
      const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const priv = join(dir, 'priv.pem');
      const pub = join(dir, 'pub.pem');
      writeFileSync(priv, privateKey.export({ type: 'pkcs8', format: 'pem' }));
      writeFileSync(pub, publicKey.export({ type: 'spki', format: 'pem' }));
      const option = `jwt,pub-key=${pub},priv-key=${priv},sign-method=RS256,ttl=${TTL_S}s`;
      await withCluster({ impl, size: 1, basePort: BASE[impl], extraFlags: ['--auth-token', option] }, async (c) => {
        const url = c.members[0]!.clientUrl;
        const post = async (path: string, body: unknown, token?: string): Promise<{ status: number; json: Record<string, unknown> }> => {
          const res = await fetch(`${url}${path}`, { method: 'POST', body: JSON.stringify(body), headers: token ? { authorization: token } : {} });
          return { status: res.status, json: (await res.json()) as Record<string, unknown> };
        };
        for (const [p, b] of [
          ['/v3/auth/role/add', { name: 'root' }],
          ['/v3/auth/user/add', { name: 'root', password: 'rootpw' }],
          ['/v3/auth/user/grant', { user: 'root', role: 'root' }],
          ['/v3/auth/enable', {}],
        ] as const) assert.equal((await post(p, b)).status, 200, p);
        const login = async (): Promise<string> => {
          const r = await post('/v3/auth/authenticate', { name: 'root', password: 'rootpw' });
          assert.equal(r.status, 200, JSON.stringify(r.json));
          return r.json.token as string;
        };
        const t1 = await login();
        const [h, claims, sig] = t1.split('.') as [string, string, string];
        assert.deepEqual(JSON.parse(Buffer.from(h, 'base64url').toString()), { alg: 'RS256', typ: 'JWT' });
        const cl = JSON.parse(Buffer.from(claims, 'base64url').toString()) as { exp: number; revision: number; username: string };
        assert.deepEqual(Object.keys(cl), ['exp', 'revision', 'username']);
        assert.equal(cl.username, 'root');
        assert.ok(Math.abs(cl.exp - Date.now() / 1000 - TTL_S) < 10, `exp ${cl.exp} is about ${TTL_S} s from now`);
        assert.ok(verify('sha256', Buffer.from(`${h}.${claims}`), publicKey, Buffer.from(sig, 'base64url')), 'signed with the configured key');

        assert.equal((await post('/v3/kv/put', { key: b64('k'), value: b64('v1') }, t1)).status, 200);
        // A signature that is not the key's.
        const forged = `${h}.${claims}.${Buffer.from(sig, 'base64url').reverse().toString('base64url')}`;
        const bad = await post('/v3/kv/put', { key: b64('k'), value: b64('x') }, forged);
        assert.equal(bad.status, 401);
        assert.equal(bad.json.error, 'etcdserver: invalid auth token');
        // An auth change: the older token is refused as old, a new one works.
        assert.equal((await post('/v3/auth/user/add', { name: 'bob', password: 'bobpw' }, t1)).status, 200);
        const old = await post('/v3/kv/put', { key: b64('k'), value: b64('x') }, t1);
        assert.equal(old.json.error, 'etcdserver: revision of auth store is old', JSON.stringify(old.json));
        const t2 = await login();
        // The token outlives a restart of the member that issued it.
        await c.restart(0, 20_000);
        assert.equal((await post('/v3/kv/put', { key: b64('k'), value: b64('v2') }, t2)).status, 200);
        const got = await post('/v3/kv/range', { key: b64('k') }, t2);
        assert.equal(Buffer.from(((got.json.kvs as Array<{ value: string }>)[0]!).value, 'base64').toString(), 'v2');
      });

      // Options the member cannot use stop it at start.
      const { cmd, args, env } = implCommand(impl);
      for (const [opt, why] of [
        [`jwt,pub-key=${pub},priv-key=${priv}`, /invalid auth signature method/],
        [`jwt,pub-key=${pub},priv-key=${priv},sign-method=ES256`, /key is not a valid ECDSA private key/],
        [`jwt,pub-key=${join(dir, 'nope.pem')},priv-key=${priv},sign-method=RS256`, /no such file or directory/],
        // Not key=value, or a key twice: refused before any option is looked at.
        [`jwt,pub-key=${pub},priv-key=${priv},sign-method=RS256,foo`, /auth: invalid auth options/],
        [`jwt,pub-key=${pub},priv-key=${priv},sign-method=RS256,sign-method=RS256`, /auth: invalid auth options/],
      ] as const) {
        const p = BASE[impl] + 5;
        const r = spawnSync(cmd, [...args, '--name', 'j', '--data-dir', join(dir, `bad-${impl}`), '--listen-client-urls', `http://127.0.0.1:${p}`,
          '--advertise-client-urls', `http://127.0.0.1:${p}`, '--listen-peer-urls', `http://127.0.0.1:${p + 1}`,
          '--initial-advertise-peer-urls', `http://127.0.0.1:${p + 1}`, '--initial-cluster', `j=http://127.0.0.1:${p + 1}`, '--auth-token', opt],
        { env: { ...process.env, ...env }, timeout: 20_000, encoding: 'utf8' });
        assert.notEqual(r.status, 0, `${opt}: exits (status ${r.status}, signal ${r.signal})`);
        assert.match(r.stdout + r.stderr, why, opt);
        rmSync(join(dir, `bad-${impl}`), { recursive: true, force: true });
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

function b64(s: string): string {
  return Buffer.from(s).toString('base64');
}
