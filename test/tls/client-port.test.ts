// The client port over TLS: who gets in (etcd 3.4's client-cert-auth / trusted-ca-file rules),
// and that after the handshake HTTP/1.1 and HTTP/2 (gRPC) reach their servers the way the
// member wires them (routeClientSocket).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import type net from 'node:net';
import tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { createCa, issueCert } from '../../src/api/tls/certs.js';
import { clientTlsOptions, createTlsClientServer, httpsGet, loadTlsMaterial, routeClientSocket, type TlsRejection } from '../../src/api/tls/context.js';
import type { TlsConfig } from '../../src/api/config/index.js';
import { closeServer, listenLoopback, tempDir, tlsConfig, T, type TempDir } from './helpers.js';

interface Pki {
  dir: TempDir;
  caFile: string;
  server: { certFile: string; keyFile: string };
  client: { certFile: string; keyFile: string };
  stranger: { certFile: string; keyFile: string };
}

async function pki(): Promise<Pki> {
  const dir = await tempDir();
  const ca = await createCa('tsetcd client CA', 30);
  return {
    dir,
    caFile: await dir.file('ca.pem', ca.certPem),
    server: await dir.pair('server', await issueCert(ca, { sans: ['127.0.0.1', 'localhost'], days: 10, usage: 'server' })),
    client: await dir.pair('client', await issueCert(ca, { sans: [], subject: 'root', days: 10, usage: 'client' })),
    stranger: await dir.pair('stranger', await issueCert(await createCa('another CA', 30), { sans: [], subject: 'root', days: 10, usage: 'client' })),
  };
}

interface Port {
  url: URL;
  rejections: TlsRejection[];
  close(): Promise<void>;
}

/** A client port like the member's: HTTP/1.1 answers "http1 <path>", HTTP/2 answers "h2 <path>",
 *  and gRPC (when `grpcServer` is given) goes to grpc-js through its connection injector. */
async function clientPort(p: Pki, cfg: Partial<TlsConfig>, grpcServer?: grpc.Server): Promise<Port> {
  const m = await loadTlsMaterial(tlsConfig({ certFile: p.server.certFile, keyFile: p.server.keyFile, ...cfg }), 'client', { dataDir: p.dir.path, listenUrls: [] });
  assert.ok(m !== undefined);
  const http1 = http.createServer((req, res) => res.end(`http1 ${req.url}`));
  const h2 = http2.createServer();
  h2.on('stream', (stream, headers) => {
    stream.respond({ ':status': 200 });
    stream.end(`h2 ${headers[':path']}`);
  });
  const injector = grpcServer?.createConnectionInjector(grpc.ServerCredentials.createInsecure());
  const sockets = new Set<net.Socket>();
  const rejections: TlsRejection[] = [];
  const route = routeClientSocket({
    http1,
    http2: (s) => {
      if (injector !== undefined) injector.injectConnection(s);
      else h2.emit('connection', s);
    },
  });
  const server = createTlsClientServer(m, (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
    route(s);
  }, (r) => rejections.push(r));
  const port = await listenLoopback(server);
  return {
    url: new URL(`https://127.0.0.1:${port}`),
    rejections,
    close: async () => {
      for (const s of sockets) s.destroy();
      injector?.destroy();
      await closeServer(server);
    },
  };
}

async function get(url: URL, path: string, files: Parameters<typeof clientTlsOptions>[0]): Promise<string> {
  const r = await httpsGet(new URL(path, url), await clientTlsOptions(files, url), 5000);
  return `${r.status} ${r.body}`;
}

test('client-cert-auth: no certificate or a stranger\'s is refused; a CA-signed one gets in', T, async () => {
  const p = await pki();
  const port = await clientPort(p, { trustedCaFile: p.caFile, clientCertAuth: true });
  try {
    assert.equal(await get(port.url, '/health', { trustedCaFile: p.caFile, ...p.client }), '200 http1 /health');
    await assert.rejects(get(port.url, '/health', { trustedCaFile: p.caFile }));
    await assert.rejects(get(port.url, '/health', { trustedCaFile: p.caFile, ...p.stranger }));
    assert.equal(port.rejections.length, 2, JSON.stringify(port.rejections));
    // The client checks the server too: without the CA, etcdctl-like clients refuse it.
    await assert.rejects(get(port.url, '/health', p.client), { code: 'SELF_SIGNED_CERT_IN_CHAIN' });
    assert.equal(await get(port.url, '/health', { insecureSkipVerify: true, ...p.client }), '200 http1 /health');
  } finally {
    await port.close();
    await p.dir.remove();
  }
});

test('--trusted-ca-file alone already requires client certificates (etcd 3.4); neither: anyone', T, async () => {
  const p = await pki();
  const caOnly = await clientPort(p, { trustedCaFile: p.caFile });
  const open = await clientPort(p, {});
  try {
    await assert.rejects(get(caOnly.url, '/v2/keys', { trustedCaFile: p.caFile }));
    assert.equal(await get(caOnly.url, '/v2/keys', { trustedCaFile: p.caFile, ...p.client }), '200 http1 /v2/keys');
    assert.equal(await get(open.url, '/v2/keys', { trustedCaFile: p.caFile }), '200 http1 /v2/keys');
  } finally {
    await caOnly.close();
    await open.close();
    await p.dir.remove();
  }
});

test('after the handshake HTTP/2 goes to the HTTP/2 server, by ALPN or by its preface', T, async () => {
  const p = await pki();
  const port = await clientPort(p, { trustedCaFile: p.caFile, clientCertAuth: true });
  const opts = await clientTlsOptions({ trustedCaFile: p.caFile, ...p.client }, port.url);
  const h2get = (session: http2.ClientHttp2Session, path: string): Promise<string> =>
    new Promise((resolve, reject) => {
      const req = session.request({ ':path': path });
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => resolve(body));
      req.on('error', reject);
    });
  try {
    // ALPN h2 (how gRPC clients connect).
    const s1 = http2.connect(port.url, opts);
    assert.equal(await h2get(s1, '/a'), 'h2 /a');
    s1.close();
    // HTTP/2 with prior knowledge, no ALPN: recognised by the preface.
    const s2 = http2.connect(port.url, { createConnection: () => tls.connect({ ...opts, ALPNProtocols: [] }) });
    assert.equal(await h2get(s2, '/b'), 'h2 /b');
    s2.close();
    // The agreed protocol: h2 only for h2-only clients, HTTP/1.1 for clients that offer both.
    const alpn = (protocols: string[]): Promise<string | false | null> =>
      new Promise((resolve, reject) => {
        const s = tls.connect({ ...opts, ALPNProtocols: protocols }, () => {
          resolve(s.alpnProtocol);
          s.destroy();
        });
        s.on('error', reject);
      });
    assert.equal(await alpn(['h2']), 'h2');
    assert.equal(await alpn(['h2', 'http/1.1']), 'http/1.1');
    assert.equal(await alpn(['grpc-exp', 'h2']), 'h2');
  } finally {
    await port.close();
    await p.dir.remove();
  }
});

test('gRPC with a client certificate reaches grpc-js through its connection injector', T, async () => {
  const p = await pki();
  const identity = (b: Buffer): Buffer => b;
  const echo = { path: '/tls.Test/Echo', requestStream: false, responseStream: false, requestSerialize: identity, requestDeserialize: identity, responseSerialize: identity, responseDeserialize: identity };
  const grpcServer = new grpc.Server();
  grpcServer.addService({ Echo: echo }, { Echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => cb(null, call.request) });
  const port = await clientPort(p, { trustedCaFile: p.caFile, clientCertAuth: true }, grpcServer);
  const { readFile } = await import('node:fs/promises');
  const creds = grpc.credentials.createSsl(await readFile(p.caFile), await readFile(p.client.keyFile), await readFile(p.client.certFile));
  const client = new grpc.Client(port.url.host, creds);
  try {
    const reply = await new Promise<Buffer>((resolve, reject) => {
      client.makeUnaryRequest(echo.path, identity, identity, Buffer.from('ping'), { deadline: Date.now() + 5000 }, (err, res) => (err ? reject(err) : resolve(res!)));
    });
    assert.equal(reply.toString(), 'ping');
  } finally {
    client.close();
    await port.close();
    grpcServer.forceShutdown();
    await p.dir.remove();
  }
});
