// Certificates from src/api/tls/certs.ts, checked the way their users will check them: Node's
// TLS client verifying chains and SANs, and (when installed) Go's etcd and etcdctl.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import tls from 'node:tls';
import { join } from 'node:path';
import { certExpiry, certInfo, createCa, issueCert, selfSignedCert } from '../../src/api/tls/certs.js';
import { closeServer, listenLoopback, tempDir, T } from './helpers.js';

const DAY_MS = 86_400_000;

/** A TLS echo server with `pair`; returns its port. */
async function echoServer(pair: { certPem: string; keyPem: string }): Promise<{ port: number; server: tls.Server }> {
  const server = tls.createServer({ cert: pair.certPem, key: pair.keyPem }, (s) => s.pipe(s));
  return { port: await listenLoopback(server), server };
}

/** Connects, says hello, and resolves with the echo or rejects with the TLS error. */
function hello(opts: tls.ConnectionOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect(opts, () => s.end('hello'));
    let got = '';
    s.on('data', (c: Buffer) => (got += c.toString()));
    s.on('end', () => resolve(got));
    s.on('error', reject);
  });
}

test('an issued server certificate is trusted through its CA, for its IP and DNS SANs', T, async () => {
  const ca = await createCa('tsetcd test CA', 30);
  const leaf = await issueCert(ca, { sans: ['127.0.0.1', 'localhost', '::1'], days: 10, usage: 'server' });
  const { port, server } = await echoServer(leaf);
  try {
    assert.equal(await hello({ host: '127.0.0.1', port, ca: ca.certPem }), 'hello');
    assert.equal(await hello({ host: '127.0.0.1', port, servername: 'localhost', ca: ca.certPem }), 'hello');
    // A name the certificate does not carry is refused by the hostname check.
    await assert.rejects(hello({ host: '127.0.0.1', port, servername: 'example.com', ca: ca.certPem }), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' });
  } finally {
    await closeServer(server);
  }
});

test('a client that trusts another CA (or none) refuses the certificate', T, async () => {
  const ca = await createCa('tsetcd test CA', 30);
  const other = await createCa('some other CA', 30);
  const leaf = await issueCert(ca, { sans: ['127.0.0.1'], days: 10, usage: 'server' });
  const { port, server } = await echoServer(leaf);
  try {
    await assert.rejects(hello({ host: '127.0.0.1', port, ca: other.certPem }), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
    await assert.rejects(hello({ host: '127.0.0.1', port }), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
  } finally {
    await closeServer(server);
  }
});

test('certificate fields: CA flag, key usages, validity, SANs, expiry', T, async () => {
  const ca = await createCa({ commonName: 'tsetcd CA', organization: 'tsetcd, inc' }, 30, { curve: 'P-384' });
  const caX = new X509Certificate(ca.certPem);
  assert.equal(caX.ca, true);
  assert.match(caX.subject, /CN=tsetcd CA/);
  const before = Date.now();
  const usages = { server: ['1.3.6.1.5.5.7.3.1'], client: ['1.3.6.1.5.5.7.3.2'], both: ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'] } as const;
  for (const usage of ['server', 'client', 'both'] as const) {
    const leaf = await issueCert(ca, { sans: ['10.0.0.7', 'etcd-0.example'], days: 7, usage });
    const x = new X509Certificate(leaf.certPem);
    assert.equal(x.ca, false);
    assert.ok(x.checkIssued(caX), 'issued by the CA');
    assert.ok(x.verify(caX.publicKey), 'signed by the CA key');
    assert.deepEqual([...(x.keyUsage ?? [])].sort(), [...usages[usage]].sort());
    assert.equal(x.subjectAltName, 'IP Address:10.0.0.7, DNS:etcd-0.example');
    const info = certInfo(leaf.certPem);
    assert.deepEqual(info.sans, ['10.0.0.7', 'etcd-0.example']);
    assert.equal(info.notAfter.getTime() - info.notBefore.getTime(), 7 * DAY_MS);
    assert.ok(info.notBefore.getTime() <= before, 'valid from a little before now (clock skew)');
    assert.equal(certExpiry(leaf.certPem).getTime(), info.notAfter.getTime());
  }
  const self = await selfSignedCert({ sans: ['127.0.0.1'], days: 365, usage: 'server', curve: 'P-521' });
  const sx = new X509Certificate(self.certPem);
  assert.equal(sx.issuer, sx.subject);
  assert.ok(sx.verify(sx.publicKey), 'self-signed');
  assert.equal(sx.publicKey.asymmetricKeyDetails?.namedCurve, 'secp521r1');
  await assert.rejects(issueCert(ca, { sans: [], days: 0, usage: 'server' }), RangeError);
  assert.throws(() => certExpiry('not a certificate'));
});

const ETCD = '/usr/bin/etcd';
const ETCDCTL = '/usr/bin/etcdctl';
const haveEtcd = spawnSync(ETCD, ['--version']).status === 0 && spawnSync(ETCDCTL, ['version']).status === 0;

test('Go etcd 3.4 serves with these certificates and etcdctl authenticates with them', { ...T, skip: !haveEtcd && 'etcd not installed' }, async () => {
  const dir = await tempDir();
  const ca = await createCa('tsetcd test CA', 30);
  const server = await dir.pair('server', await issueCert(ca, { sans: ['127.0.0.1', 'localhost'], days: 10, usage: 'both' }));
  const client = await dir.pair('client', await issueCert(ca, { sans: [], subject: 'root', days: 10, usage: 'client' }));
  const stranger = await dir.pair('stranger', await issueCert(await createCa('other CA', 30), { sans: [], subject: 'x', days: 10, usage: 'client' }));
  const caFile = await dir.file('ca.pem', ca.certPem);
  const [clientPort, peerPort] = [30150, 30151];
  const etcd = spawn(ETCD, [
    '--name', 'tls', '--data-dir', join(dir.path, 'data'),
    '--listen-client-urls', `https://127.0.0.1:${clientPort}`, '--advertise-client-urls', `https://127.0.0.1:${clientPort}`,
    '--listen-peer-urls', `http://127.0.0.1:${peerPort}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${peerPort}`,
    '--initial-cluster', `tls=http://127.0.0.1:${peerPort}`,
    '--cert-file', server.certFile, '--key-file', server.keyFile, '--trusted-ca-file', caFile,
  ], { stdio: 'ignore' });
  const ctl = (cert: { certFile: string; keyFile: string }): Promise<number> =>
    new Promise((resolve) => {
      const c = spawn(ETCDCTL, ['--endpoints', `https://127.0.0.1:${clientPort}`, '--cacert', caFile, '--cert', cert.certFile, '--key', cert.keyFile, '--dial-timeout', '2s', '--command-timeout', '2s', 'put', 'k', 'v'], { stdio: 'ignore', env: { ...process.env, ETCDCTL_API: '3' } });
      c.on('exit', (code) => resolve(code ?? 1));
    });
  try {
    let code = 1;
    for (let i = 0; i < 40 && code !== 0; i++) {
      code = await ctl(client);
      if (code !== 0) await new Promise((r) => setTimeout(r, 250));
    }
    assert.equal(code, 0, 'etcdctl with a CA-signed client certificate can write');
    assert.notEqual(await ctl(stranger), 0, 'a certificate from another CA is refused by Go');
  } finally {
    etcd.kill('SIGKILL');
    await new Promise((r) => etcd.once('exit', r));
    await dir.remove();
  }
});
