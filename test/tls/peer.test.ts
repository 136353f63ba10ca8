// Peer TLS through the real PeerTransport: dialer and server factory from src/api/tls/context.ts
// on loopback. Who may join the conversation: peers with a certificate from the trusted CA
// (peer-client-cert-auth), any auto-TLS peer (verification skipped, as etcd), and nobody whose
// CN or SANs do not match when those checks are asked for.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { Message } from '../../src/raft/message.js';
import { PeerTransport, plainServerFactory } from '../../src/api/peer/transport.js';
import { createCa, issueCert, type CertificateAuthority } from '../../src/api/tls/certs.js';
import { httpsGet, loadTlsMaterial, peerClientTlsOptions, peerSocketRouter, tlsPeerDialer, tlsPeerServerFactory, type TlsMaterial, type TlsRejection } from '../../src/api/tls/context.js';
import type { TlsConfig } from '../../src/api/config/index.js';
import { heartbeat, waitFor } from '../peer/helpers.js';
import { tempDir, tlsConfig, T, type TempDir } from './helpers.js';

const CLUSTER = 'c0ffee0000000001';
const A = 'aaaaaaaaaaaaaaaa';
const B = 'bbbbbbbbbbbbbbbb';

interface Peer {
  t: PeerTransport;
  url: URL;
  m: TlsMaterial | undefined;
  got: Message[];
  rejections: TlsRejection[];
}

async function peer(id: string, m: TlsMaterial | undefined, http1?: http.Server): Promise<Peer> {
  const got: Message[] = [];
  const rejections: TlsRejection[] = [];
  const t = new PeerTransport({
    localId: id,
    clusterId: CLUSTER,
    onMessage: (msg) => got.push(msg),
    dial: tlsPeerDialer(m),
    createServer: tlsPeerServerFactory(m, plainServerFactory, { route: http1 === undefined ? undefined : peerSocketRouter(http1), onReject: (r) => rejections.push(r) }),
  });
  await t.listen(new URL('https://127.0.0.1:0'));
  // listenUrls() reports http:// whatever the scheme; the port is what matters.
  const url = new URL(`https://127.0.0.1:${t.listenUrls()[0]!.port}`);
  return { t, url, m, got, rejections };
}

async function material(dir: TempDir, name: string, ca: CertificateAuthority, trusted: string, cfg: Partial<TlsConfig> & { sans?: string[]; cn?: string; skipSan?: boolean } = {}): Promise<TlsMaterial> {
  const pair = await dir.pair(name, await issueCert(ca, { sans: cfg.sans ?? ['127.0.0.1'], subject: cfg.cn ?? name, days: 10, usage: 'both' }));
  const m = await loadTlsMaterial(tlsConfig({ ...pair, trustedCaFile: trusted, clientCertAuth: true, allowedCn: cfg.allowedCn ?? '' }), 'peer', {
    dataDir: dir.path,
    listenUrls: [],
    skipClientSanVerify: cfg.skipSan,
  });
  assert.ok(m !== undefined);
  return m;
}

/** Sends heartbeats from a to b for a while and reports how many arrived. */
async function exchange(a: Peer, b: Peer, settleMs: number): Promise<number> {
  for (let i = 0; i < 10; i++) {
    a.t.send([heartbeat(a.t.localId, b.t.localId, i)]);
    await new Promise((r) => setTimeout(r, settleMs / 10));
  }
  return b.got.filter((m) => m.from === a.t.localId).length;
}

test('peers with certificates from the trusted CA talk both ways; /members is served over TLS', T, async () => {
  const dir = await tempDir();
  const ca = await createCa('peer CA', 30);
  const caFile = await dir.file('ca.pem', ca.certPem);
  const http1 = http.createServer((_req, res) => res.end('[]'));
  const a = await peer(A, await material(dir, 'a', ca, caFile), http1);
  const b = await peer(B, await material(dir, 'b', ca, caFile));
  try {
    a.t.addPeer(B, [b.url]);
    b.t.addPeer(A, [a.url]);
    a.t.send([heartbeat(A, B, 1)]);
    b.t.send([heartbeat(B, A, 2)]);
    await waitFor('delivered both ways', () => a.got.length === 1 && b.got.length === 1);
    assert.deepEqual(a.rejections, []);
    // A joining member's GET /members, with its peer certificate, on the same TLS port.
    const members = new URL('/members', a.url);
    const r = await httpsGet(members, peerClientTlsOptions(b.m, members), 5000);
    assert.equal(`${r.status} ${r.body}`, '200 []');
    // Without a client certificate: refused.
    await assert.rejects(httpsGet(members, { ...peerClientTlsOptions(b.m, members), cert: undefined, key: undefined }, 5000));
  } finally {
    await a.t.close();
    await b.t.close();
    await dir.remove();
  }
});

test('a peer whose certificate is not from the trusted CA is refused in both directions', T, async () => {
  const dir = await tempDir();
  const ca = await createCa('peer CA', 30);
  const rogueCa = await createCa('rogue CA', 30);
  const caFile = await dir.file('ca.pem', ca.certPem);
  // The rogue trusts both CAs, so only the honest member's checks can stop it.
  const bothFile = await dir.file('both.pem', ca.certPem + rogueCa.certPem);
  const a = await peer(A, await material(dir, 'a', ca, caFile));
  const b = await peer(B, await material(dir, 'rogue', rogueCa, bothFile));
  try {
    a.t.addPeer(B, [b.url]);
    b.t.addPeer(A, [a.url]);
    assert.equal(await exchange(b, a, 1000), 0, 'nothing from the rogue reaches A');
    assert.ok(a.rejections.length > 0, 'A logged the refused handshakes');
    assert.equal(await exchange(a, b, 1000), 0, 'A does not talk to a server it cannot verify');
    await assert.rejects(tlsPeerDialer(a.m)(b.url, AbortSignal.timeout(5000)), { code: 'SELF_SIGNED_CERT_IN_CHAIN' });
  } finally {
    await a.t.close();
    await b.t.close();
    await dir.remove();
  }
});

test('--peer-auto-tls peers talk without verifying each other, as etcd', T, async () => {
  const dir = await tempDir();
  const listenUrls = [new URL('https://127.0.0.1:0')];
  const ma = await loadTlsMaterial(tlsConfig({ autoTls: true }), 'peer', { dataDir: `${dir.path}/a`, listenUrls });
  const mb = await loadTlsMaterial(tlsConfig({ autoTls: true }), 'peer', { dataDir: `${dir.path}/b`, listenUrls });
  const a = await peer(A, ma);
  const b = await peer(B, mb);
  try {
    a.t.addPeer(B, [b.url]);
    b.t.addPeer(A, [a.url]);
    a.t.send([heartbeat(A, B, 1)]);
    b.t.send([heartbeat(B, A, 2)]);
    await waitFor('delivered both ways', () => a.got.length === 1 && b.got.length === 1);
  } finally {
    await a.t.close();
    await b.t.close();
    await dir.remove();
  }
});

test('--peer-cert-allowed-cn refuses other common names, dialing and accepting', T, async () => {
  const dir = await tempDir();
  const ca = await createCa('peer CA', 30);
  const caFile = await dir.file('ca.pem', ca.certPem);
  const a = await peer(A, await material(dir, 'a', ca, caFile, { cn: 'etcd-peer', allowedCn: 'etcd-peer' }));
  const b = await peer(B, await material(dir, 'b', ca, caFile, { cn: 'intruder' }));
  try {
    b.t.addPeer(A, [a.url]);
    assert.equal(await exchange(b, a, 1000), 0);
    assert.ok(a.rejections.some((r) => r.reason === 'CommonName authentication failed'), JSON.stringify(a.rejections));
    await assert.rejects(tlsPeerDialer(a.m)(b.url, AbortSignal.timeout(5000)), /CommonName authentication failed/);
  } finally {
    await a.t.close();
    await b.t.close();
    await dir.remove();
  }
});

test('a peer client certificate must name the connecting IP unless SAN verification is skipped', T, async () => {
  const dir = await tempDir();
  const ca = await createCa('peer CA', 30);
  const caFile = await dir.file('ca.pem', ca.certPem);
  const strict = await peer(A, await material(dir, 'a', ca, caFile));
  const lax = await peer(A, await material(dir, 'a2', ca, caFile, { skipSan: true }));
  const b = await peer(B, await material(dir, 'b', ca, caFile, { sans: ['10.1.2.3'] }));
  try {
    b.t.addPeer(A, [strict.url]);
    assert.equal(await exchange(b, strict, 1000), 0);
    assert.ok(strict.rejections.some((r) => /do not name the connecting address 127\.0\.0\.1/.test(r.reason)), JSON.stringify(strict.rejections));
    b.t.removePeer(A);
    b.t.addPeer(A, [lax.url]);
    b.t.send([heartbeat(B, A, 1)]);
    await waitFor('accepted when skipped', () => lax.got.length >= 1);
  } finally {
    await strict.t.close();
    await lax.t.close();
    await b.t.close();
    await dir.remove();
  }
});
