// --client-cert-auth with v3 auth on: a request without a token is the user named by its client
// certificate's CN (etcd's AuthInfoFromTLS), driven by real etcdctl against one TLS member of
// real etcd and of tsetcd, with the same assertions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createCa, issueCert } from '../../src/api/tls/certs.js';
import type { Impl } from '../harness/cluster.js';
import { spawnTlsMember, tempDir } from './helpers.js';

const ETCDCTL = '/usr/bin/etcdctl';
const haveEtcd = spawnSync('/usr/bin/etcd', ['--version']).status === 0 && spawnSync(ETCDCTL, ['version']).status === 0;
/** A watch that is not refused would run until killed. */
const ETCDCTL_TIMEOUT_MS = 10_000;
const PORTS: Record<Impl, [number, number]> = { etcd: [30160, 30161], tsetcd: [30162, 30163] };

for (const impl of ['etcd', 'tsetcd'] as const) {
  test(`${impl}: with --client-cert-auth a request without a token acts as its certificate's CN`, { timeout: 60_000, skip: !haveEtcd && 'etcd not installed' }, async () => {
    const dir = await tempDir();
    const ca = await createCa('tsetcd test CA', 30);
    const server = await dir.pair('server', await issueCert(ca, { sans: ['127.0.0.1'], days: 10, usage: 'both' }));
    const certOf = async (cn: string) => dir.pair(cn, await issueCert(ca, { sans: [], subject: cn, days: 10, usage: 'client' }));
    const [root, alice, bob] = [await certOf('root'), await certOf('alice'), await certOf('bob')];
    const caFile = await dir.file('ca.pem', ca.certPem);
    const [clientPort, peerPort] = PORTS[impl];
    const member = spawnTlsMember(impl, { name: 'cn', dir: dir.path, clientPort, peerPort, server, flags: ['--trusted-ca-file', caFile, '--client-cert-auth'] });
    const ctl = (cert: { certFile: string; keyFile: string }, a: string[]): Promise<{ code: number; out: string }> =>
      new Promise((resolve) => {
        const c = spawn(ETCDCTL, ['--endpoints', `https://127.0.0.1:${clientPort}`, '--cacert', caFile, '--cert', cert.certFile, '--key', cert.keyFile,
          '--dial-timeout', '2s', '--command-timeout', '4s', ...a], { env: { ...process.env, ETCDCTL_API: '3' }, timeout: ETCDCTL_TIMEOUT_MS });
        let out = '';
        c.stdout.on('data', (d: Buffer) => (out += d.toString()));
        c.stderr.on('data', (d: Buffer) => (out += d.toString()));
        c.on('close', (code) => resolve({ code: code ?? 1, out }));
      });
    const ok = async (cert: { certFile: string; keyFile: string }, a: string[], want?: RegExp): Promise<string> => {
      const r = await ctl(cert, a);
      assert.equal(r.code, 0, `etcdctl ${a.join(' ')}: ${r.out}`);
      if (want) assert.match(r.out, want, `etcdctl ${a.join(' ')}`);
      return r.out;
    };
    const denied = async (cert: { certFile: string; keyFile: string }, a: string[], want: RegExp): Promise<void> => {
      const r = await ctl(cert, a);
      assert.notEqual(r.code, 0, `etcdctl ${a.join(' ')} should fail: ${r.out}`);
      assert.match(r.out, want, `etcdctl ${a.join(' ')}`);
    };
    try {
      let up = 1;
      for (let i = 0; i < 60 && up !== 0; i++) {
        up = (await ctl(root, ['endpoint', 'health'])).code;
        if (up !== 0) await new Promise((r) => setTimeout(r, 250));
      }
      assert.equal(up, 0, `the member came up; its log ends:\n${member.log()}`);
      await ok(root, ['put', 'a/1', 'before']);
      await ok(root, ['role', 'add', 'root']);
      await ok(root, ['user', 'add', 'root:rootpw', '--interactive=false']);
      await ok(root, ['user', 'grant-role', 'root', 'root']);
      await ok(root, ['role', 'add', 'a-writer']);
      await ok(root, ['role', 'grant-permission', 'a-writer', 'readwrite', 'a/', '--prefix=true']);
      await ok(root, ['user', 'add', 'alice:alicepw', '--interactive=false']);
      await ok(root, ['user', 'grant-role', 'alice', 'a-writer']);
      await ok(root, ['auth', 'enable'], /^Authentication Enabled\n$/);

      // No --user: the certificate's CN is the user.
      await ok(alice, ['put', 'a/1', 'by-alice'], /^OK\n$/);
      await ok(alice, ['get', 'a/1', '--print-value-only'], /^by-alice\n$/);
      await denied(alice, ['put', 'b/1', 'x'], /permission denied/);
      await denied(alice, ['user', 'list'], /permission denied/);
      await ok(root, ['user', 'list'], /^alice\nroot\n$/);
      await ok(root, ['put', 'b/1', 'by-root'], /^OK\n$/);
      // A CN that names no user gets nothing.
      await denied(bob, ['get', 'a/1'], /permission denied/);
      // A token wins over the certificate: alice's certificate, root's password.
      await ok(alice, ['--user', 'root:rootpw', 'user', 'list'], /^alice\nroot\n$/);
      await denied(root, ['--user', 'alice:alicepw', 'user', 'list'], /permission denied/);
      // A watch is checked the same way.
      await denied(alice, ['watch', 'b/1', '--rev', '1'], /permission denied/);
      await ok(alice, ['get', 'a/', '--prefix', '--rev', '2', '--print-value-only'], /^before\n$/);
    } finally {
      await member.stop();
      await dir.remove();
    }
  });
}
