// TLS: the framework CA mode (member certs signed by it, peers must present one, clients verify
// with ca.crt and need no certificate) and auto-TLS (self-signed, renewed before expiry).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { selfSignedCert } from '../../src/api/tls/certs.js';
import { expireAutoTlsFixtures } from '../../src/framework/tls.js';
import { curl, runEtcdctl, TestService } from './helpers.js';

test('CA mode: verified clients through the VIP, peers without a CA certificate refused', { timeout: 120_000 }, async () => {
  const svc = new TestService('etcd-ca');
  const A = '127.0.24';
  try {
    const f = svc.writeOptions({ service: { name: 'etcd-ca', vip_address: `${A}.100` }, node: { first_address: `${A}.1` }, etcd: { client_port: 29240, peer_port: 29241, tls_enabled: true } });
    await svc.ok(['package', 'install', `--options=${f}`]);
    await svc.waitDeploy();
    const ca = join(svc.root, 'tls', 'ca.crt');
    assert.ok(existsSync(ca));
    for (const n of ['node.crt', 'node.key', 'node.ca']) assert.ok(existsSync(join(svc.root, 'pods', 'etcd-0', n)), n);
    // A client that verifies the certificate against the framework CA, through the VIP.
    const put = await curl(['--cacert', ca, '-X', 'PUT', `https://${A}.100:29240/v2/keys/hello`, '-d', 'value=world']);
    assert.equal(put.code, 0, put.stderr);
    assert.equal((JSON.parse(put.stdout) as { node: { value: string } }).node.value, 'world');
    const get = await runEtcdctl([`--endpoints=https://${A}.100:29240`, '--ca-file', ca, 'get', 'hello']);
    assert.equal(get.stdout.trim(), 'world', get.stderr);
    // ... and directly at a member, by address (IP SANs).
    assert.equal((await curl(['--cacert', ca, `https://${A}.2:29240/health`])).stdout.includes('true'), true);
    // Not trusted without the CA.
    const untrusted = await curl([`https://${A}.100:29240/health`]);
    assert.notEqual(untrusted.code, 0);
    assert.match(untrusted.stderr, /certificate/i);
    // The peer port demands a certificate signed by the framework CA.
    const noCert = await curl(['--cacert', ca, `https://${A}.1:29241/members`]);
    assert.notEqual(noCert.code, 0, 'peer without a certificate refused');
    const foreign = await selfSignedCert({ sans: ['127.0.0.1'], days: 10, usage: 'client' });
    mkdirSync(join(svc.home, 'foreign'), { recursive: true });
    writeFileSync(join(svc.home, 'foreign', 'c.pem'), foreign.certPem);
    writeFileSync(join(svc.home, 'foreign', 'k.pem'), foreign.keyPem);
    const badCert = await curl(['--cacert', ca, '--cert', join(svc.home, 'foreign', 'c.pem'), '--key', join(svc.home, 'foreign', 'k.pem'), `https://${A}.1:29241/members`]);
    assert.notEqual(badCert.code, 0, 'peer with a certificate from another CA refused');
    const member = join(svc.root, 'pods', 'etcd-1');
    const good = await curl(['--cacert', ca, '--cert', join(member, 'node.crt'), '--key', join(member, 'node.key'), `https://${A}.1:29241/members`]);
    assert.equal(good.code, 0, good.stderr);
    // TLS cannot be turned off.
    const off = await svc.cli(['update', 'start', `--options=${svc.writeOptions({ etcd: { tls_enabled: false } })}`]);
    assert.equal(off.code, 1);
    assert.match(off.stderr, /tls_enabled cannot be toggled/);
  } finally {
    await svc.destroy();
  }
});

test('auto-TLS: self-signed members, https through the VIP; certificates renewed before expiry', { timeout: 120_000 }, async () => {
  const svc = new TestService('etcd-auto');
  const A = '127.0.25';
  try {
    const f = svc.writeOptions({ service: { name: 'etcd-auto', vip_address: `${A}.100` }, node: { first_address: `${A}.1` }, etcd: { client_port: 29250, peer_port: 29251, tls_enabled: true, use_auto_tls: true } });
    await svc.ok(['package', 'install', `--options=${f}`]);
    await svc.waitDeploy();
    const insecure = await curl(['-k', '-X', 'PUT', `https://${A}.100:29250/v2/keys/hello`, '-d', 'value=world']);
    assert.equal(insecure.code, 0, insecure.stderr);
    const verified = await curl([`https://${A}.100:29250/health`]);
    assert.notEqual(verified.code, 0, 'a self-signed certificate does not verify');
    assert.ok(existsSync(join(svc.root, 'pods', 'etcd-0', 'etcd-data', 'fixtures', 'client', 'cert.pem')));
  } finally {
    await svc.destroy();
  }
  // Renewal rule: a pair within 30 days of expiry is dropped before the member starts.
  const dir = join(svc.home + '-fx');
  try {
    for (const [side, days] of [['client', 10], ['peer', 200]] as const) {
      const c = await selfSignedCert({ sans: ['127.0.0.1'], days, usage: 'both' });
      mkdirSync(join(dir, 'fixtures', side), { recursive: true });
      writeFileSync(join(dir, 'fixtures', side, 'cert.pem'), c.certPem);
      writeFileSync(join(dir, 'fixtures', side, 'key.pem'), c.keyPem);
    }
    const dropped = expireAutoTlsFixtures(dir);
    assert.equal(dropped.length, 1);
    assert.match(dropped[0]!, /^client: expires/);
    assert.equal(existsSync(join(dir, 'fixtures', 'client')), false);
    assert.equal(existsSync(join(dir, 'fixtures', 'peer', 'cert.pem')), true);
  } finally {
    (await import('node:fs')).rmSync(dir, { recursive: true, force: true });
  }
});
