// The v3 JSON gateway over WebSocket (etcd 3.4 wraps its gateway in grpc-websocket-proxy): the
// same raw WebSocket client (test/harness/ws.ts) and the same assertions against one member of
// real etcd and of tsetcd. Also what must stay as it was on the shared client port: an h2c
// upgrade (curl --http2) and a request pipelined in front of it are answered as plain HTTP/1.1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import https from 'node:https';
import net from 'node:net';
import { createCa, issueCert } from '../../src/api/tls/certs.js';
import { tsetcdAvailable, withCluster, type Impl } from '../harness/cluster.js';
import { clientFrame, WsClient, WsRefused } from '../harness/ws.js';
import { spawnTlsMember, tempDir } from '../tls/helpers.js';

const haveEtcd = spawnSync('/usr/bin/etcd', ['--version']).status === 0;
const haveCurl = spawnSync('curl', ['--version']).status === 0;
/** Client port of the plain member; its peer port is the next one. */
const BASE: Record<Impl, number> = { etcd: 26800, tsetcd: 26810 };
/** The TLS member's client and peer ports. */
const TLS_PORTS: Record<Impl, [number, number]> = { etcd: [26820, 26821], tsetcd: [26830, 26831] };
const skip = (impl: Impl): string | false => (!haveEtcd ? 'etcd not installed' : impl === 'tsetcd' && !tsetcdAvailable() ? 'tsetcd not built' : false);

const b64 = (s: string): string => Buffer.from(s).toString('base64');
type Any = Record<string, any>;

/** Writes `raw` on a new connection and returns everything read until the server closes or
 *  `untilCount` HTTP responses are in (or 3 s pass). */
function rawHttp(port: number, raw: string, untilCount: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    let text = '';
    const timer = setTimeout(() => {
      s.destroy();
      resolve(text);
    }, 3000);
    s.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      if ((text.match(/"count":"1"/g) ?? []).length >= untilCount) {
        clearTimeout(timer);
        s.destroy();
        resolve(text);
      }
    });
    s.on('error', reject);
    s.on('close', () => {
      clearTimeout(timer);
      resolve(text);
    });
    s.write(raw);
  });
}

/** Opens a WebSocket that should be refused; returns the HTTP answer. */
async function refused(port: number, path: string, o: Parameters<typeof WsClient.open>[2] = {}): Promise<string> {
  try {
    const c = await WsClient.open(port, path, o);
    c.destroy();
  } catch (err) {
    if (err instanceof WsRefused) return err.response;
    throw err;
  }
  throw new Error(`${path}: the handshake was accepted`);
}

/** One unary call on its own WebSocket: the answer, and how the connection ended. */
async function unary(port: number, path: string, ...messages: string[]): Promise<{ answer: Any; closeCode: number | undefined }> {
  const c = await WsClient.open(port, path);
  for (const m of messages) c.send(m);
  const [answer] = (await c.messages(1)) as Any[];
  const end = await c.waitEnded();
  return { answer: answer!, closeCode: end.closeCode };
}

for (const impl of ['etcd', 'tsetcd'] as const) {
  test(`${impl}: the v3 gateway over WebSocket: unary calls, watch, keepalive, errors, Host whitelist, auth; h2c stays plain HTTP`, { timeout: 90_000, skip: skip(impl) }, async () => {
    await withCluster({ impl, size: 1, basePort: BASE[impl], extraFlags: ['--host-whitelist', '127.0.0.1,localhost'] }, async (c) => {
      const port = Number(new URL(c.members[0]!.clientUrl).port);

      // A unary call: one answer, then the connection ends without a close frame (Go's
      // conn.Close()).
      const put = await unary(port, '/v3/kv/put', JSON.stringify({ key: b64('k1'), value: b64('v1') }));
      assert.equal(typeof put.answer.header.revision, 'string');
      assert.equal(put.closeCode, undefined);
      // The body is a stream of JSON values: one may span messages; /v3beta/ is the same.
      const range = await unary(port, '/v3beta/kv/range', '{"key":', `"${b64('k1')}"}`);
      assert.deepEqual(range.answer.kvs.map((kv: Any) => [kv.key, kv.value, kv.version]), [[b64('k1'), b64('v1'), '1']]);
      assert.equal(range.answer.count, '1');

      // Errors: bad JSON (Go's words), an empty key, an unknown path (answered at once).
      const bad = await unary(port, '/v3/kv/range', 'not json');
      assert.deepEqual(bad.answer, { error: "invalid character 'o' in literal null (expecting 'u')", message: "invalid character 'o' in literal null (expecting 'u')", code: 3 });
      const empty = await unary(port, '/v3/kv/put', JSON.stringify({ value: b64('x') }));
      assert.deepEqual(empty.answer, { error: 'etcdserver: key is not provided', message: 'etcdserver: key is not provided', code: 3 });
      const nope = await WsClient.open(port, '/v3/nope');
      assert.deepEqual(await nope.messages(1), ['Not Found']);
      assert.equal((await nope.waitEnded()).closeCode, undefined);

      // A watch: created, an event, a cancel on the same socket; the client's close frame is
      // answered with its code.
      const watch = await WsClient.open(port, '/v3/watch');
      watch.send(JSON.stringify({ create_request: { key: b64('w'), prev_kv: true } }));
      const [created] = (await watch.messages(1)) as Any[];
      assert.equal(created!.result.created, true);
      assert.equal(created!.result.watch_id, undefined);
      await unary(port, '/v3/kv/put', JSON.stringify({ key: b64('w'), value: b64('x') }));
      const [ev] = (await watch.messages(1)) as Any[];
      assert.deepEqual(ev!.result.events.map((e: Any) => [e.type ?? 'PUT', e.kv.key, e.kv.value, e.prev_kv]), [['PUT', b64('w'), b64('x'), undefined]]);
      watch.send(JSON.stringify({ cancel_request: { watch_id: '0' } }));
      const [canceled] = (await watch.messages(1)) as Any[];
      assert.equal(canceled!.result.canceled, true);
      watch.send(JSON.stringify({ create_request: { key: b64('w') } }));
      const [created2] = (await watch.messages(1)) as Any[];
      assert.deepEqual([created2!.result.watch_id, created2!.result.created], ['1', true]);
      watch.close(1000);
      assert.equal((await watch.waitEnded()).closeCode, 1000);
      // A bad request later ends the requests (the gateway's CloseSend), not the events. (etcd's
      // proxy then reads no more from the socket, close frames included; not asserted.)
      const later = await WsClient.open(port, '/v3/watch');
      later.send(JSON.stringify({ create_request: { key: b64('w') } }));
      await later.messages(1);
      later.send('not json');
      later.send(JSON.stringify({ create_request: { key: b64('never') } }));
      await new Promise((r) => setTimeout(r, 200));
      await unary(port, '/v3/kv/put', JSON.stringify({ key: b64('w'), value: b64('y') }));
      const [ev2] = (await later.messages(1)) as Any[];
      assert.deepEqual([ev2!.result.watch_id, ev2!.result.events[0].kv.value], [undefined, b64('y')]);
      await new Promise((r) => setTimeout(r, 200));
      assert.deepEqual(later.frames, [], 'nothing after the bad request but the event');
      later.destroy();
      // A bad first watch request: the call fails with code 2 (not wrapped as InvalidArgument).
      const badWatch = await unary(port, '/v3/watch', 'not json');
      assert.deepEqual([badWatch.answer.code, badWatch.answer.error], [2, "invalid character 'o' in literal null (expecting 'u')"]);

      // Keepalive of an unknown lease: TTL left out; two requests in one message and one more.
      const ka = await WsClient.open(port, '/v3/lease/keepalive');
      ka.send('{"ID":"12345"}{"ID":"12345"}');
      ka.send('{"ID":"12345"}');
      const kas = (await ka.messages(3)) as Any[];
      for (const k of kas) assert.deepEqual([k.result.ID, k.result.TTL], ['12345', undefined]);
      // A bad request ends the keepalive stream, without a message or a close frame.
      ka.send('nope');
      assert.equal((await ka.waitEnded()).closeCode, undefined);
      assert.equal(ka.frames.length, 0);

      // Frames gorilla refuses: close 1002 with its reason.
      const unmasked = await WsClient.open(port, '/v3/watch');
      unmasked.write(clientFrame(1, '{}', { masked: false }));
      assert.deepEqual(await unmasked.waitEnded(), { closeCode: 1002, closeReason: 'bad MASK' });
      const rsv = await WsClient.open(port, '/v3/watch');
      rsv.write(clientFrame(1, '{}', { rsv: 0x40 }));
      assert.deepEqual(await rsv.waitEnded(), { closeCode: 1002, closeReason: 'RSV1 set' });
      // A ping is answered with its payload.
      const ping = await WsClient.open(port, '/v3/watch');
      ping.write(clientFrame(9, 'hi'));
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(ping.frames.map((f) => [f.op, f.payload.toString()]), [[10, 'hi']]);
      ping.destroy();

      // Handshakes refused: a bad version (gorilla's 400), a Host not whitelisted (etcd's 421).
      const version = await refused(port, '/v3/watch', { headers: { 'Sec-WebSocket-Version': '12' } });
      assert.match(version, /^HTTP\/1\.1 400 Bad Request\r\n/);
      assert.match(version, /\r\nSec-Websocket-Version: 13\r\n/i);
      const host = await refused(port, '/v3/kv/range', { host: 'evil.example:2379' });
      assert.match(host, /^HTTP\/1\.1 421 Misdirected Request\r\n/);
      assert.ok(host.endsWith('\r\n\r\n\netcd received your request, but the Host header was unrecognized.\n\nTo fix this, choose one of the following options:\n' +
        '- Enable TLS, then any HTTPS request will be allowed.\n- Add the hostname you want to use to the whitelist in settings.\n' +
        '  - e.g. etcd --host-whitelist "evil.example"\n\nThis requirement has been added to help prevent "DNS Rebinding" attacks (CVE-2018-5702).\n\n'), host);

      // An h2c upgrade is a plain request, and one pipelined in front of it is answered too.
      const body = JSON.stringify({ key: b64('k1') });
      const post = (extra: string): string => `POST /v3/kv/range HTTP/1.1\r\nHost: 127.0.0.1\r\n${extra}Content-Length: ${body.length}\r\n\r\n${body}`;
      const both = await rawHttp(port, post('') + post('Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n'), 2);
      assert.equal((both.match(/HTTP\/1\.1 200 OK\r\n/g) ?? []).length, 2, both);
      assert.equal((both.match(/"kvs":\[\{"key":"azE="/g) ?? []).length, 2, both);
      if (haveCurl) {
        const curl = spawnSync('curl', ['-sS', '-i', '--http2', '-m', '5', `http://127.0.0.1:${port}/v3/kv/range`, '-d', body], { encoding: 'utf8', timeout: 10_000 });
        assert.equal(curl.status, 0, curl.stderr);
        assert.match(curl.stdout, /^HTTP\/1\.1 200 OK\r\n/);
        assert.match(curl.stdout, /"kvs":\[\{"key":"azE="/);
      }

      // Auth on. The proxy passes no Authorization header on; a Sec-WebSocket-Protocol of
      // "Bearer, <token>" (or a "token" cookie) becomes "Bearer <token>", which etcd then looks up
      // as the token itself, so it is refused as invalid.
      const gw = async (path: string, req: unknown, headers: Record<string, string> = {}): Promise<Any> => {
        const r = await fetch(`http://127.0.0.1:${port}${path}`, { method: 'POST', body: JSON.stringify(req), headers, signal: AbortSignal.timeout(5000) });
        return (await r.json()) as Any;
      };
      await gw('/v3/auth/role/add', { name: 'root' });
      await gw('/v3/auth/user/add', { name: 'root', password: 'rootpw' });
      await gw('/v3/auth/user/grant', { user: 'root', role: 'root' });
      await gw('/v3/auth/enable', {});
      const token = (await gw('/v3/auth/authenticate', { name: 'root', password: 'rootpw' })).token as string;
      assert.equal(typeof token, 'string');
      assert.equal((await gw('/v3/kv/range', { key: b64('k1') }, { authorization: token })).count, '1');
      const rangeWith = async (headers: Record<string, string>): Promise<{ head: string; answer: Any }> => {
        const w = await WsClient.open(port, '/v3/kv/range', { headers });
        w.send(JSON.stringify({ key: b64('k1') }));
        const [answer] = (await w.messages(1)) as Any[];
        await w.waitEnded();
        return { head: w.responseHead, answer: answer! };
      };
      const invalid = { error: 'etcdserver: invalid auth token', message: 'etcdserver: invalid auth token', code: 16 };
      const bearer = await rangeWith({ 'Sec-WebSocket-Protocol': `Bearer, ${token}` });
      assert.match(bearer.head, /\r\nSec-WebSocket-Protocol: Bearer(\r\n|$)/);
      assert.deepEqual(bearer.answer, invalid);
      const header = await rangeWith({ Authorization: token });
      assert.doesNotMatch(header.head, /Sec-WebSocket-Protocol/);
      assert.deepEqual(header.answer, { error: 'etcdserver: user name is empty', message: 'etcdserver: user name is empty', code: 3 });
      assert.deepEqual((await rangeWith({ Cookie: `a=b; token=${token}` })).answer, invalid);
      assert.deepEqual((await rangeWith({ 'Sec-WebSocket-Protocol': token })).answer, invalid);
      // A watch with a refused token: each create is refused with the status in its reason.
      const authWatch = await WsClient.open(port, '/v3/watch', { headers: { 'Sec-WebSocket-Protocol': `Bearer, ${token}` } });
      authWatch.send(JSON.stringify({ create_request: { key: b64('w') } }));
      const [refusedWatch] = (await authWatch.messages(1)) as Any[];
      assert.deepEqual([refusedWatch!.result.watch_id, refusedWatch!.result.created, refusedWatch!.result.canceled, refusedWatch!.result.cancel_reason],
        ['-1', true, true, 'rpc error: code = Unauthenticated desc = etcdserver: invalid auth token']);
      authWatch.destroy();
      // Keepalive looks at no token.
      const authKa = await WsClient.open(port, '/v3/lease/keepalive', { headers: { 'Sec-WebSocket-Protocol': 'Bearer, nonsense' } });
      authKa.send('{"ID":"12345"}');
      assert.equal(((await authKa.messages(1)) as Any[])[0]!.result.ID, '12345');
      authKa.destroy();
    });
  });

  test(`${impl}: wss:// on a TLS client port; the Host whitelist does not apply to HTTPS`, { timeout: 60_000, skip: skip(impl) }, async () => {
    const dir = await tempDir();
    const ca = await createCa('tsetcd ws test CA', 30);
    const server = await dir.pair('server', await issueCert(ca, { sans: ['127.0.0.1', 'localhost'], days: 10, usage: 'server' }));
    const [clientPort, peerPort] = TLS_PORTS[impl];
    const member = spawnTlsMember(impl, { name: 'wss', dir: dir.path, clientPort, peerPort, server, flags: ['--host-whitelist', '127.0.0.1'] });
    const get = (path: string, host: string): Promise<{ status: number; body: string }> =>
      new Promise((resolve) => {
        const req = https.request({ host: '127.0.0.1', port: clientPort, path, ca: ca.certPem, servername: 'localhost', headers: { host }, timeout: 2000 }, (res) => {
          let body = '';
          res.on('data', (d: Buffer) => (body += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('error', () => resolve({ status: 0, body: '' }));
        req.on('timeout', () => req.destroy());
        req.end();
      });
    try {
      let health = { status: 0, body: '' };
      for (let i = 0; i < 80 && health.status !== 200; i++) {
        health = await get('/health', `127.0.0.1:${clientPort}`);
        if (health.status !== 200) await new Promise((r) => setTimeout(r, 250));
      }
      assert.equal(health.status, 200, `the member came up; its log ends:\n${member.log()}`);
      assert.equal((await get('/health', 'evil.example')).status, 200);

      const tlsCa = ca.certPem;
      const put = await WsClient.open(clientPort, '/v3/kv/put', { tlsCa });
      put.send(JSON.stringify({ key: b64('s'), value: b64('secure') }));
      assert.equal(typeof ((await put.messages(1)) as Any[])[0]!.header.revision, 'string');
      assert.equal((await put.waitEnded()).closeCode, undefined);
      const watch = await WsClient.open(clientPort, '/v3/watch', { tlsCa, host: 'evil.example' });
      watch.send(JSON.stringify({ create_request: { key: b64('s'), start_revision: '1' } }));
      const [created, ev] = (await watch.messages(2)) as Any[];
      assert.equal(created!.result.created, true);
      assert.deepEqual(ev!.result.events.map((e: Any) => [e.kv.key, e.kv.value]), [[b64('s'), b64('secure')]]);
      watch.close(1000);
      assert.equal((await watch.waitEnded()).closeCode, 1000);
    } finally {
      await member.stop();
      await dir.remove();
    }
  });
}
