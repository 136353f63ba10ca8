// etcd's --auto-tls / --peer-auto-tls fixtures: made once, reused on restart, renewed by the
// rule in src/api/tls/auto.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AUTO_TLS_DAYS, autoTlsDir, ensureAutoTls, hostsOfUrls } from '../../src/api/tls/auto.js';
import { certInfo } from '../../src/api/tls/certs.js';
import { loadTlsMaterial } from '../../src/api/tls/context.js';
import { tempDir, tlsConfig, T } from './helpers.js';

const DAY_MS = 86_400_000;

test('auto-TLS writes a P-521 self-signed pair for the listen hosts and reuses it', T, async () => {
  const dir = await tempDir();
  try {
    const fixtures = autoTlsDir(join(dir.path, 'data'), 'client');
    assert.equal(fixtures, join(dir.path, 'data', 'fixtures', 'client'));
    const hosts = hostsOfUrls([new URL('https://127.0.0.1:2379'), new URL('https://localhost:2379'), new URL('https://[::1]:2379'), new URL('https://127.0.0.1:4001')]);
    assert.deepEqual(hosts, ['127.0.0.1', 'localhost', '::1']);
    const first = await ensureAutoTls(fixtures, hosts);
    assert.equal(first.created, true);
    assert.equal(first.certFile, join(fixtures, 'cert.pem'));
    assert.equal(first.keyFile, join(fixtures, 'key.pem'));
    assert.equal((await stat(fixtures)).mode & 0o777, 0o700);
    assert.equal((await stat(first.keyFile)).mode & 0o777, 0o600);
    const pem = await readFile(first.certFile, 'utf8');
    const x = new X509Certificate(pem);
    assert.equal(x.publicKey.asymmetricKeyDetails?.namedCurve, 'secp521r1');
    assert.equal(x.issuer, x.subject);
    const info = certInfo(pem);
    assert.deepEqual(info.sans, hosts);
    assert.equal(info.notAfter.getTime() - info.notBefore.getTime(), AUTO_TLS_DAYS * DAY_MS);

    // A restart: the same files, untouched.
    const again = await ensureAutoTls(fixtures, hosts);
    assert.equal(again.created, false);
    assert.equal(await readFile(again.certFile, 'utf8'), pem);
    // A subset of the hosts is still covered.
    assert.equal((await ensureAutoTls(fixtures, ['localhost'])).created, false);
  } finally {
    await dir.remove();
  }
});

test('auto-TLS renews with less than 10% of validity left, a new host, or a broken pair', T, async () => {
  const dir = await tempDir();
  try {
    const fixtures = join(dir.path, 'fixtures', 'peer');
    const made = await ensureAutoTls(fixtures, ['127.0.0.1'], { usage: 'both' });
    const pem0 = await readFile(made.certFile, 'utf8');
    const { notBefore, notAfter } = certInfo(pem0);
    const span = notAfter.getTime() - notBefore.getTime();
    // 11% left: kept. 9% left: renewed.
    assert.equal((await ensureAutoTls(fixtures, ['127.0.0.1'], { now: new Date(notAfter.getTime() - 0.11 * span) })).created, false);
    const renewAt = new Date(notAfter.getTime() - 0.09 * span);
    assert.equal((await ensureAutoTls(fixtures, ['127.0.0.1'], { now: renewAt })).created, true);
    const pem1 = await readFile(made.certFile, 'utf8');
    assert.notEqual(pem1, pem0);
    assert.equal(certInfo(pem1).notBefore.getTime(), Math.floor(renewAt.getTime() / 1000) * 1000);

    // The listen hosts changed: a new certificate that names them.
    assert.equal((await ensureAutoTls(fixtures, ['127.0.0.1', '10.9.8.7'])).created, true);
    assert.deepEqual(certInfo(await readFile(made.certFile, 'utf8')).sans, ['127.0.0.1', '10.9.8.7']);

    // A key that is not the certificate's (say a crash between the two writes): replaced.
    const other = join(dir.path, 'other');
    const o = await ensureAutoTls(other, ['127.0.0.1']);
    await writeFile(made.keyFile, await readFile(o.keyFile, 'utf8'));
    assert.equal((await ensureAutoTls(fixtures, ['127.0.0.1', '10.9.8.7'])).created, true);
    // Garbage: replaced too.
    await writeFile(made.certFile, 'garbage');
    assert.equal((await ensureAutoTls(fixtures, ['127.0.0.1', '10.9.8.7'])).created, true);
    assert.equal((await ensureAutoTls(fixtures, ['127.0.0.1', '10.9.8.7'])).created, false);
  } finally {
    await dir.remove();
  }
});

test('loadTlsMaterial with --auto-tls uses the fixtures and skips verification; given files win', T, async () => {
  const dir = await tempDir();
  try {
    const dataDir = join(dir.path, 'data');
    const listenUrls = [new URL('https://127.0.0.1:2380')];
    const m = await loadTlsMaterial(tlsConfig({ autoTls: true }), 'peer', { dataDir, listenUrls });
    assert.ok(m !== undefined);
    assert.equal(m.selfSigned, true);
    assert.equal(m.verify, false);
    assert.equal(m.certPem, await readFile(join(dataDir, 'fixtures', 'peer', 'cert.pem'), 'utf8'));
    // A restart loads the same certificate.
    const m2 = await loadTlsMaterial(tlsConfig({ autoTls: true }), 'peer', { dataDir, listenUrls });
    assert.equal(m2?.certPem, m.certPem);
    // Nothing configured: no TLS.
    assert.equal(await loadTlsMaterial(tlsConfig({}), 'client', { dataDir, listenUrls }), undefined);
    // Cert and key given with --auto-tls: the files are used, with etcd's warning.
    const given = await loadTlsMaterial(tlsConfig({ autoTls: true, certFile: join(dataDir, 'fixtures', 'peer', 'cert.pem'), keyFile: join(dataDir, 'fixtures', 'peer', 'key.pem') }), 'client', { dataDir, listenUrls });
    assert.equal(given?.selfSigned, false);
    assert.deepEqual(given?.warnings, ['ignoring client auto TLS since certs given']);
    // A missing file is named in the error.
    await assert.rejects(loadTlsMaterial(tlsConfig({ certFile: '/nonexistent/c.pem', keyFile: '/nonexistent/k.pem' }), 'client', { dataDir, listenUrls }), /\/nonexistent\/c\.pem/);
  } finally {
    await dir.remove();
  }
});
