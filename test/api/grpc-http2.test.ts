// Our gRPC-over-HTTP/2 server (src/api/v3/grpc-http2.ts) on a real loopback socket, driven by a
// raw node:http2 client, so the framing, statuses and trailers are what is checked, byte for byte
// where it matters; and by a grpc-js client for what a real gRPC client makes of them. The
// methods here code JSON messages, which keeps the test about the transport.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { GrpcHttp2Server, encodeGrpcMessage, grpcFrame, parseGrpcTimeout, type GrpcCall, type MethodSpec } from '../../src/api/v3/grpc-http2.js';
import type { Wire } from '../../src/api/v3/convert.js';
import { CLIENT_PREFACE, grpcMessage as msg, h2frame, serveOnLoopback } from './h2-helpers.js';

const MAX_RECEIVE = 1024;
const json = (requestStream: boolean, responseStream: boolean): MethodSpec => ({
  requestStream,
  responseStream,
  decode: (b) => JSON.parse(b.toString('utf8')) as Wire,
  encode: (v) => grpcFrame(Buffer.isBuffer(v) ? v : Buffer.from(JSON.stringify(v))),
});

let server: GrpcHttp2Server;
let port: number;
let stop: () => Promise<void>;
let aborted = 0;
let echoed = 0;
const chatEvents: string[] = [];

before(async () => {
  server = new GrpcHttp2Server({
    maxReceiveBytes: MAX_RECEIVE,
    toStatus: (err) => ({ code: grpc.status.FAILED_PRECONDITION, details: (err as Error).message }),
  });
  server.unary('/t.S/Echo', json(false, false), async (req) => {
    echoed++;
    return { echo: req };
  });
  // A handler bug: an answer its encoder cannot take (JSON has no BigInt).
  server.unary('/t.S/Unencodable', json(false, false), async () => ({ n: 1n }) as unknown as Wire);
  server.unary('/t.S/Fail', json(false, false), async (req) => { throw new Error(String(req.msg)); });
  server.unary('/t.S/Hang', json(false, false), (_req, call) => new Promise((_, reject) => {
    call.signal.addEventListener('abort', () => { aborted++; reject(new Error('aborted')); });
  }));
  // Bidi: answers each message with its index; "boom" throws in the handler.
  server.streaming('/t.S/Chat', json(true, true), (call: GrpcCall) => {
    let n = 0;
    call.on('cancelled', () => chatEvents.push('cancelled'));
    call.on('data', (m: Wire) => {
      if (m.boom) throw new Error('boom in handler');
      call.write({ n: n++, got: m });
    });
    call.on('end', () => call.end());
  });
  ({ port, close: stop } = await serveOnLoopback(server));
});

after(() => stop());


interface RawResult {
  headers: http2.IncomingHttpHeaders;
  trailers: http2.IncomingHttpHeaders;
  messages: unknown[];
  /** DATA chunks as the client read them. */
  body: Buffer;
}

/** One request over a fresh HTTP/2 connection; `chunks` are written as separate DATA frames. */
function raw(path: string, chunks: Buffer[], extra: http2.OutgoingHttpHeaders = {}): Promise<RawResult> {
  return new Promise((resolve, reject) => {
    const c = http2.connect(`http://127.0.0.1:${port}`);
    c.on('error', reject);
    const req = c.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', ...extra });
    let headers: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders = {};
    const data: Buffer[] = [];
    req.on('response', (h) => { headers = h; });
    req.on('trailers', (t) => { trailers = t; });
    req.on('data', (d: Buffer) => data.push(d));
    req.on('end', () => {
      const body = Buffer.concat(data);
      const messages: unknown[] = [];
      for (let o = 0; o + 5 <= body.length;) {
        const len = body.readUInt32BE(o + 1);
        messages.push(JSON.parse(body.subarray(o + 5, o + 5 + len).toString('utf8')));
        o += 5 + len;
      }
      c.close();
      resolve({ headers, trailers, messages, body });
    });
    req.on('error', reject);
    (async () => {
      for (const ch of chunks) {
        req.write(ch);
        await new Promise((r) => setImmediate(r));
      }
      req.end();
    })().catch(reject);
  });
}

/** grpc-status and grpc-message, from the trailers or (trailers-only) the headers. */
const statusOf = (r: RawResult): [string | undefined, string | undefined] => {
  const src = r.trailers['grpc-status'] !== undefined ? r.trailers : r.headers;
  return [src['grpc-status'] as string | undefined, src['grpc-message'] as string | undefined];
};

test('unary: one message in, headers + message + OK trailers out', async () => {
  const r = await raw('/t.S/Echo', [msg({ a: 1 })]);
  assert.equal(r.headers[':status'], 200);
  assert.equal(r.headers['content-type'], 'application/grpc');
  assert.deepEqual(r.messages, [{ echo: { a: 1 } }]);
  assert.deepEqual(statusOf(r), ['0', undefined]);
});

test('a message split over several DATA frames, and a gzip-compressed message, are read whole', async () => {
  const m = msg({ s: 'x'.repeat(300) });
  const r = await raw('/t.S/Echo', [m.subarray(0, 3), m.subarray(3, 100), m.subarray(100)]);
  assert.deepEqual(r.messages, [{ echo: { s: 'x'.repeat(300) } }]);
  const z = await raw('/t.S/Echo', [msg({ z: 'y'.repeat(500) }, 'gzip')], { 'grpc-encoding': 'gzip' });
  assert.deepEqual(z.messages, [{ echo: { z: 'y'.repeat(500) } }]);
});

test('limits: a message over the receive limit, or one that inflates past it, is RESOURCE_EXHAUSTED', async () => {
  const big = await raw('/t.S/Echo', [msg({ s: 'x'.repeat(MAX_RECEIVE) })]);
  assert.equal(statusOf(big)[0], String(grpc.status.RESOURCE_EXHAUSTED));
  assert.match(statusOf(big)[1]!, /^grpc: received message larger than max \(\d+ vs. 1024\)$/);
  const bomb = await raw('/t.S/Echo', [msg({ s: 'x'.repeat(100_000) }, 'gzip')], { 'grpc-encoding': 'gzip' });
  assert.equal(statusOf(bomb)[0], String(grpc.status.RESOURCE_EXHAUSTED));
  // The server still answers.
  assert.deepEqual((await raw('/t.S/Echo', [msg(1)])).messages, [{ echo: 1 }]);
});

test('unknown service or method is UNIMPLEMENTED (grpc-go texts); a non-gRPC content type is HTTP 415', async () => {
  assert.deepEqual(statusOf(await raw('/t.S/Nope', [msg({})])), [String(grpc.status.UNIMPLEMENTED), 'unknown method Nope for service t.S']);
  assert.deepEqual(statusOf(await raw('/x.Y/Z', [msg({})])), [String(grpc.status.UNIMPLEMENTED), 'unknown service x.Y']);
  assert.deepEqual(statusOf(await raw('/t.S/Echo', [msg({})], { 'grpc-encoding': 'snappy' })),
    [String(grpc.status.UNIMPLEMENTED), 'grpc: Decompressor is not installed for grpc-encoding "snappy"']);
  const r = await raw('/t.S/Echo', [msg({})], { 'content-type': 'application/json' });
  assert.equal(r.headers[':status'], 415);
});

test('errors: status and percent-encoded message, trailers-only; grpc-js decodes the message back', async () => {
  const details = 'bad: 100% naïve\n';
  const r = await raw('/t.S/Fail', [msg({ msg: details })]);
  assert.deepEqual(statusOf(r), [String(grpc.status.FAILED_PRECONDITION), 'bad: 100%25 na%C3%AFve%0A']);
  assert.equal(r.trailers['grpc-status'], undefined, 'trailers-only: the status is in the response headers');
  const client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  try {
    const err = await new Promise<grpc.ServiceError>((resolve) => {
      client.makeUnaryRequest('/t.S/Fail', (v: object) => Buffer.from(JSON.stringify(v)), (b: Buffer) => b, { msg: details }, (e) => resolve(e!));
    });
    assert.equal(err.code, grpc.status.FAILED_PRECONDITION);
    assert.equal(err.details, details);
  } finally {
    client.close();
  }
});

test('grpc-timeout: a call still running at its deadline gets DEADLINE_EXCEEDED and its handler is aborted', async () => {
  const before = aborted;
  const r = await raw('/t.S/Hang', [msg({})], { 'grpc-timeout': '100m' });
  assert.deepEqual(statusOf(r), [String(grpc.status.DEADLINE_EXCEEDED), 'context deadline exceeded']);
  assert.equal(aborted, before + 1);
});

test('bidi stream: two messages in one DATA frame and one over two frames, each answered in order; a throwing handler ends only its call', async () => {
  const a = msg({ i: 'a' });
  const b = msg({ i: 'b' });
  const c = msg({ i: 'c' });
  const r = await raw('/t.S/Chat', [Buffer.concat([a, b]), c.subarray(0, 7), c.subarray(7)]);
  assert.deepEqual(r.messages, [{ n: 0, got: { i: 'a' } }, { n: 1, got: { i: 'b' } }, { n: 2, got: { i: 'c' } }]);
  assert.deepEqual(statusOf(r), ['0', undefined]);
  const boom = await raw('/t.S/Chat', [msg({ i: 'a' }), msg({ boom: true })]);
  assert.deepEqual(boom.messages, [{ n: 0, got: { i: 'a' } }]);
  assert.deepEqual(statusOf(boom), [String(grpc.status.FAILED_PRECONDITION), 'boom in handler']);
  assert.deepEqual((await raw('/t.S/Echo', [msg(2)])).messages, [{ echo: 2 }]);
});

test('grpc-timeout and grpc-message codecs', () => {
  assert.equal(parseGrpcTimeout('100m'), 100);
  assert.equal(parseGrpcTimeout('5S'), 5000);
  assert.equal(parseGrpcTimeout('2H'), 7_200_000);
  assert.equal(parseGrpcTimeout('1500u'), 2);
  assert.equal(parseGrpcTimeout('99999999H'), 2 ** 31 - 1);
  assert.equal(parseGrpcTimeout('123456789S'), undefined);
  assert.equal(parseGrpcTimeout('5s'), undefined);
  assert.equal(encodeGrpcMessage('plain text: ok'), 'plain text: ok');
  assert.equal(encodeGrpcMessage('%'), '%25');
  assert.equal(encodeGrpcMessage('ü'), '%C3%BC');
});


/** HPACK literal fields without indexing (short names and values only: one-byte lengths). */
function hpackLiterals(fields: Array<[string, string]>): Buffer {
  return Buffer.concat(fields.flatMap(([k, v]) => [Buffer.from([0, k.length]), Buffer.from(k), Buffer.from([v.length]), Buffer.from(v)]));
}

test('a bare RST_STREAM(NO_ERROR) before any message or half-close (as grpc-go may send) cancels the call; the server lives on', async () => {
  const before = echoed;
  const s = net.connect(port, '127.0.0.1');
  s.on('error', () => undefined);
  await new Promise((r) => s.once('connect', r));
  const HEADERS = 1, RST_STREAM = 3, SETTINGS = 4, END_HEADERS = 4;
  const pause = (): Promise<unknown> => new Promise((r) => setTimeout(r, 30));
  s.write(Buffer.concat([CLIENT_PREFACE, h2frame(SETTINGS, 0, 0)]));
  await pause();
  s.write(h2frame(SETTINGS, 1, 0)); // acknowledges the server's SETTINGS, sent by now
  await pause();
  let sid = 1;
  for (const path of ['/t.S/Echo', '/t.S/Chat']) {
    // Separate packets: the server has the stream (and its call) before the reset arrives.
    s.write(h2frame(HEADERS, END_HEADERS, sid, hpackLiterals([[':method', 'POST'], [':scheme', 'http'], [':path', path], [':authority', 'x'], ['content-type', 'application/grpc'], ['te', 'trailers']])));
    await pause();
    s.write(h2frame(RST_STREAM, 0, sid, Buffer.alloc(4)));
    await pause();
    sid += 2;
  }
  s.destroy();
  assert.equal(echoed, before, 'the Echo handler did not run');
  assert.deepEqual((await raw('/t.S/Echo', [msg(3)])).messages, [{ echo: 3 }]);
});

test('a unary call the transport already failed (second message malformed) does not run its handler', async () => {
  const before = echoed;
  const bad = Buffer.from([0, 0, 0, 0, 2, 0x7b, 0x7b]);
  const r = await raw('/t.S/Echo', [Buffer.concat([msg({ a: 1 }), bad])]);
  assert.deepEqual(statusOf(r), [String(grpc.status.INTERNAL), 'grpc: error unmarshalling request']);
  await new Promise((res) => setTimeout(res, 20));
  assert.equal(echoed, before);
});

test('an answer that cannot be encoded ends that call with INTERNAL; the server lives on', async () => {
  const r = await raw('/t.S/Unencodable', [msg({})]);
  assert.equal(statusOf(r)[0], String(grpc.status.INTERNAL));
  assert.match(statusOf(r)[1]!, /^grpc: error while marshaling: /);
  assert.deepEqual((await raw('/t.S/Echo', [msg(4)])).messages, [{ echo: 4 }]);
});

test('a stream the transport fails (an oversize message) tells its handler: cancelled', async () => {
  chatEvents.length = 0;
  const r = await raw('/t.S/Chat', [msg({ i: 'a' }), msg({ s: 'x'.repeat(MAX_RECEIVE) })]);
  assert.deepEqual(r.messages, [{ n: 0, got: { i: 'a' } }]);
  assert.equal(statusOf(r)[0], String(grpc.status.RESOURCE_EXHAUSTED));
  assert.deepEqual(chatEvents, ['cancelled']);
});

test('keepalive (--grpc-keepalive-interval/-timeout): a quiet client that answers pings stays, one that does not is closed', async () => {
  const ka = new GrpcHttp2Server({ maxReceiveBytes: MAX_RECEIVE, toStatus: () => ({ code: 2, details: '' }), keepaliveIntervalMs: 1000, keepaliveTimeoutMs: 300 });
  ka.unary('/t.S/Echo', json(false, false), async (req) => ({ echo: req }));
  const l = net.createServer((s) => ka.injectConnection(s));
  await new Promise<void>((r) => l.listen(0, '127.0.0.1', r));
  const kaPort = (l.address() as net.AddressInfo).port;
  const answering = http2.connect(`http://127.0.0.1:${kaPort}`);
  answering.on('error', () => undefined);
  const mute = net.connect(kaPort, '127.0.0.1');
  mute.on('error', () => undefined);
  mute.resume();
  try {
    await new Promise((r) => mute.once('connect', r));
    const t0 = performance.now();
    // A client that never answers the server's PING (node's http2 client acknowledges them).
    mute.write(Buffer.concat([CLIENT_PREFACE, h2frame(4, 0, 0)]));
    const closedAfter = await new Promise<number>((resolve) => {
      const t = setTimeout(() => resolve(Infinity), 5000);
      mute.once('close', () => {
        clearTimeout(t);
        resolve(performance.now() - t0);
      });
    });
    assert.ok(closedAfter >= 1000 && closedAfter < 4000, `closed after ${closedAfter} ms`);
    assert.equal(answering.closed || answering.destroyed, false, 'the answering client is still connected');
    const res = await new Promise<Buffer>((resolve, reject) => {
      const req = answering.request({ ':method': 'POST', ':path': '/t.S/Echo', 'content-type': 'application/grpc', te: 'trailers' });
      const chunks: Buffer[] = [];
      req.on('data', (d: Buffer) => chunks.push(d));
      req.on('end', () => resolve(Buffer.concat(chunks)));
      req.on('error', reject);
      req.end(msg(5));
    });
    assert.equal(res.subarray(5).toString(), JSON.stringify({ echo: 5 }));
  } finally {
    mute.destroy();
    answering.close();
    l.close();
    await ka.close();
  }
});
