// The client port's HTTP/2 intake (src/api/v3/h2-intake.ts): HPACK's Huffman decoder against
// RFC 7541's examples, the `:authority` fix on hand-made header blocks, and the real gRPC server
// behind it, driven by node:http2 clients and raw frames. etcdctl's own use (`endpoint status`
// with http:// endpoints) is in test/compat/etcdctl-v3.test.ts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import { huffmanDecode } from '../../src/api/v3/hpack-huffman.js';
import { fixAuthority } from '../../src/api/v3/h2-intake.js';
import { GrpcHttp2Server, grpcFrame, type MethodSpec } from '../../src/api/v3/grpc-http2.js';
import type { Wire } from '../../src/api/v3/convert.js';
import { createCa, issueCert } from '../../src/api/tls/certs.js';
import { CLIENT_PREFACE, grpcMessage, h2frame, serveOnLoopback } from './h2-helpers.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

test('Huffman: RFC 7541 C.4 and C.6 examples decode; EOS, bad or long padding are refused', () => {
  const examples: Array<[string, string]> = [
    ['f1e3 c2e5 f23a 6ba0 ab90 f4ff', 'www.example.com'],
    ['a8eb 1064 9cbf', 'no-cache'],
    ['25a8 49e9 5ba9 7d7f', 'custom-key'],
    ['25a8 49e9 5bb8 e8b4 bf', 'custom-value'],
    ['6402', '302'],
    ['aec3 771a 4b', 'private'],
    ['d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff', 'Mon, 21 Oct 2013 20:13:21 GMT'],
    ['9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3', 'https://www.example.com'],
    ['9bd9 ab', 'gzip'],
    ['94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07', 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1'],
  ];
  for (const [code, text] of examples) assert.equal(huffmanDecode(hex(code))?.toString('latin1'), text, text);
  assert.equal(huffmanDecode(Buffer.alloc(0))?.length, 0);
  // '0' is the 5-bit code 00000: padded with zeros instead of ones.
  assert.equal(huffmanDecode(Buffer.from([0b00000000])), undefined, 'padding of zeros');
  assert.equal(huffmanDecode(Buffer.from([0b00000111, 0xff])), undefined, 'padding longer than 7 bits');
  assert.equal(huffmanDecode(Buffer.from([0xff, 0xff, 0xff, 0xff])), undefined, 'EOS');
  // Octet 0 (13 bits, 0x1ff8) and 255 (26 bits, 0x3ffffee): codes at both ends of the table.
  assert.deepEqual([...huffmanDecode(hex('ffc7 ffff dd'))!], [0, 255]);
});

/** An HPACK string literal, plain (one-byte length). */
const str = (s: string): Buffer => Buffer.concat([Buffer.from([s.length]), Buffer.from(s, 'latin1')]);

test('fixAuthority: refused characters of a literal :authority become _, at the same decoded length; other fields untouched', () => {
  // :method POST (indexed 3), :authority with incremental indexing (01, name index 1), then a
  // literal-named x-a without indexing holding a '/' (not an authority: kept).
  const block = Buffer.concat([Buffer.from([0x83, 0x41]), str('http://127.0.0.1:2379'), Buffer.from([0x00]), str('x-a'), str('a/b')]);
  const fixed = fixAuthority(block)!;
  assert.deepEqual(fixed, Buffer.concat([Buffer.from([0x83, 0x41]), str('http:__127.0.0.1:2379'), Buffer.from([0x00]), str('x-a'), str('a/b')]));
  // Huffman-coded value (www.example.com/x is fine but for its '/'), never-indexed, literal name.
  const huff = Buffer.concat([Buffer.from([0x10]), str(':authority'), hex('8c f1e3 c2e5 f23a 6ba0 ab90 f4ff')]);
  assert.equal(fixAuthority(huff), undefined, 'www.example.com is a valid authority');
  const huffSlash = Buffer.concat([Buffer.from([0x01]), hex('91 9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3')]);
  assert.deepEqual(fixAuthority(huffSlash), Buffer.concat([Buffer.from([0x01]), str('https:__www.example.com')]));
  // Valid authorities, indexed :authority, size updates: nothing to do.
  assert.equal(fixAuthority(Buffer.concat([Buffer.from([0x3f, 0xe1, 0x1f, 0x41]), str('127.0.0.1:2379'), Buffer.from([0xbe])])), undefined);
  // Truncated blocks are left for nghttp2 to refuse.
  assert.equal(fixAuthority(Buffer.concat([Buffer.from([0x41]), str('http://x').subarray(0, 4)])), undefined);
  assert.equal(fixAuthority(Buffer.from([0x41, 0xff])), undefined);
});

// --- the real server behind the intake ------------------------------------------------------

const json: MethodSpec = {
  requestStream: false,
  responseStream: false,
  decode: (b) => JSON.parse(b.toString('utf8')) as Wire,
  encode: (v) => grpcFrame(Buffer.isBuffer(v) ? v : Buffer.from(JSON.stringify(v))),
};
let server: GrpcHttp2Server;
let port: number;
let stop: () => Promise<void>;

before(async () => {
  server = new GrpcHttp2Server({ maxReceiveBytes: 1024 * 1024, toStatus: (err) => ({ code: 2, details: (err as Error).message }) });
  server.unary('/t.S/Echo', json, async (req) => ({ echo: req }));
  ({ port, close: stop } = await serveOnLoopback(server));
});

after(() => stop());

/** One Echo call on `session`: the echoed value and grpc-status, or the stream's error. */
function echo(session: http2.ClientHttp2Session, v: unknown, headers: http2.OutgoingHttpHeaders = {}): Promise<{ value?: unknown; status?: string; error?: string }> {
  return new Promise((resolve) => {
    const req = session.request({ ':method': 'POST', ':path': '/t.S/Echo', 'content-type': 'application/grpc', te: 'trailers', ...headers });
    const data: Buffer[] = [];
    let status: string | undefined;
    req.on('trailers', (t) => (status = t['grpc-status'] as string));
    req.on('data', (d: Buffer) => data.push(d));
    req.on('end', () => {
      const body = Buffer.concat(data);
      resolve({ value: body.length > 5 ? (JSON.parse(body.subarray(5).toString()) as { echo: unknown }).echo : undefined, status });
    });
    req.on('error', (err) => resolve({ error: err.message }));
    req.end(grpcMessage(v));
  });
}

test('an :authority with a scheme (grpc-go\'s passthrough:///http://host:port) is served, for many calls on one connection', async () => {
  const c = http2.connect(`http://127.0.0.1:${port}`);
  c.on('error', () => undefined);
  try {
    // Each call adds a unique header of 40-136 octets to the HPACK dynamic table (4 KiB), so the
    // :authority entry is evicted and sent again all along. (That the fix keeps the entry's size,
    // which the tables' agreement rests on, is checked by the fixAuthority test above; a size
    // change of 2 octets did not happen to upset this sequence.)
    for (let i = 0; i < 200; i++) {
      const r = await echo(c, i, { ':authority': `http://127.0.0.1:${port}`, 'x-pad': `${i}`.padStart(40 + ((i * 13) % 97), 'p') });
      assert.deepEqual(r, { value: i, status: '0' }, `call ${i}`);
    }
  } finally {
    c.close();
  }
});

test('a valid :authority: many calls, and concurrent connections, are served as before', async () => {
  const sessions = Array.from({ length: 4 }, () => http2.connect(`http://127.0.0.1:${port}`));
  try {
    const all = await Promise.all(sessions.flatMap((c, s) => Array.from({ length: 25 }, (_, i) => echo(c, s * 100 + i, { 'x-pad': `${s}-${i}`.padStart(100, 'q') }))));
    assert.deepEqual(all.map((r) => r.value), sessions.flatMap((_, s) => Array.from({ length: 25 }, (_, i) => s * 100 + i)));
    assert.ok(all.every((r) => r.status === '0'));
  } finally {
    for (const c of sessions) c.close();
  }
});


type Frame = { type: number; flags: number; stream: number; payload: Buffer };

/** A raw client: connects, sends `bytes` (acknowledging every SETTINGS it gets), and collects
 *  what comes back until the server closes, `until` holds, or `ms` pass. */
function rawClient(bytes: Buffer[], until: (f: Frame) => boolean = () => false, ms = 3000): Promise<{ frames: Frame[]; closed: boolean }> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    const frames: Frame[] = [];
    let closed = false;
    s.on('error', () => undefined);
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 9 && buf.length >= 9 + buf.readUIntBE(0, 3)) {
        const len = buf.readUIntBE(0, 3);
        const f = { type: buf[3]!, flags: buf[4]!, stream: buf.readUInt32BE(5), payload: buf.subarray(9, 9 + len) };
        buf = buf.subarray(9 + len);
        frames.push(f);
        if (f.type === 4 && !(f.flags & 1)) s.write(h2frame(4, 1, 0, Buffer.alloc(0)));
        if (until(f)) s.destroy();
      }
    });
    s.on('close', () => {
      closed = true;
      clearTimeout(t);
      resolve({ frames, closed });
    });
    const t = setTimeout(() => {
      s.destroy();
      resolve({ frames, closed });
    }, ms);
    s.once('connect', () => {
      for (const b of bytes) s.write(b);
    });
  });
}


test('raw frames: a header block with a bad :authority split over HEADERS + CONTINUATION, with padding, is answered', async () => {
  const block = Buffer.concat([
    Buffer.from([0x83, 0x86]), // :method POST, :scheme http
    Buffer.from([0x04]), str('/t.S/Echo'), // :path, literal without indexing
    Buffer.from([0x41]), str('http://127.0.0.1:2379'),
    Buffer.from([0x00]), str('content-type'), str('application/grpc'),
    Buffer.from([0x00]), str('te'), str('trailers'),
  ]);
  const padded = Buffer.concat([Buffer.from([3]), block.subarray(0, 20), Buffer.alloc(3)]);
  const { frames } = await rawClient([
    CLIENT_PREFACE,
    h2frame(4, 0, 0, Buffer.alloc(0)),
    h2frame(1, 0x8, 1, padded), // HEADERS, PADDED, no END_HEADERS
    h2frame(9, 0x4, 1, block.subarray(20)), // CONTINUATION, END_HEADERS
    h2frame(0, 0x1, 1, grpcMessage('raw')), // DATA, END_STREAM
  ], (f) => f.stream === 1 && (f.type === 3 || (f.type === 1 && (f.flags & 0x1) !== 0)));
  const data = frames.filter((f) => f.type === 0 && f.stream === 1);
  assert.equal(frames.filter((f) => f.type === 3).length, 0, 'no RST_STREAM');
  assert.equal(JSON.parse(Buffer.concat(data.map((f) => f.payload)).subarray(5).toString()).echo, 'raw');
});

test('bad input: garbage after the preface, an absurd frame length, a silent client: closed; the server serves on', async () => {
  const garbage = await rawClient([CLIENT_PREFACE, Buffer.from('this is not a frame at all, just text.......')]);
  assert.equal(garbage.closed, true);
  // A frame over 16 KiB (SETTINGS_MAX_FRAME_SIZE's floor, which Node keeps); a flood of empty
  // frames before the first request.
  const huge = await rawClient([CLIENT_PREFACE, h2frame(4, 0, 0, Buffer.alloc(0)), Buffer.from([0x00, 0x40, 0x01, 0, 0, 0, 0, 0, 1])]);
  assert.equal(huge.closed, true);
  const flood = await rawClient([CLIENT_PREFACE, h2frame(4, 0, 0, Buffer.alloc(0)), Buffer.concat(Array.from({ length: 8000 }, () => h2frame(8, 0, 0, Buffer.from([0, 0, 0, 1]))))]);
  assert.equal(flood.closed, true);
  const notH2 = await rawClient([Buffer.from('PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n'), h2frame(4, 0, 0, Buffer.alloc(0))]);
  assert.equal(notH2.closed, true);
  const c = http2.connect(`http://127.0.0.1:${port}`);
  try {
    assert.deepEqual(await echo(c, 'still here'), { value: 'still here', status: '0' });
  } finally {
    c.close();
  }
});

test('a PING before the first request does not turn the fix off', async () => {
  const block = Buffer.concat([
    Buffer.from([0x83, 0x86, 0x04]), str('/t.S/Echo'),
    Buffer.from([0x41]), str('http://127.0.0.1:2379'),
    Buffer.from([0x00]), str('content-type'), str('application/grpc'),
  ]);
  const { frames } = await rawClient([
    CLIENT_PREFACE,
    h2frame(4, 0, 0, Buffer.alloc(0)),
    h2frame(6, 0, 0, Buffer.alloc(8, 7)), // PING
    h2frame(1, 0x4, 1, block),
    h2frame(0, 0x1, 1, grpcMessage('after ping')),
  ], (f) => f.stream === 1 && (f.type === 3 || (f.type === 1 && (f.flags & 0x1) !== 0)));
  assert.equal(frames.filter((f) => f.type === 6 && f.flags & 1).length, 1, 'the PING is answered');
  assert.equal(frames.filter((f) => f.type === 3).length, 0, 'no RST_STREAM');
  const data = frames.filter((f) => f.type === 0 && f.stream === 1);
  assert.equal(JSON.parse(Buffer.concat(data.map((f) => f.payload)).subarray(5).toString()).echo, 'after ping');
});

test('the first SETTINGS a client gets announce --max-concurrent-streams; close() ends connections still in the intake', async () => {
  const limited = new GrpcHttp2Server({ maxReceiveBytes: 1024, maxConcurrentStreams: 2, toStatus: () => ({ code: 2, details: '' }) });
  const l = net.createServer((s) => limited.injectConnection(s));
  await new Promise<void>((r) => l.listen(0, '127.0.0.1', r));
  const s = net.connect((l.address() as net.AddressInfo).port, '127.0.0.1');
  s.on('error', () => undefined);
  try {
    const first = await new Promise<Buffer>((resolve) => s.once('data', resolve));
    assert.equal(first[3], 4, 'a SETTINGS frame');
    const entries = new Map<number, number>();
    for (let o = 9; o + 6 <= 9 + first.readUIntBE(0, 3); o += 6) entries.set(first.readUInt16BE(o), first.readUInt32BE(o + 2));
    assert.equal(entries.get(0x3), 2, 'SETTINGS_MAX_CONCURRENT_STREAMS');
    // The client has not even sent its preface: the server's close() does not wait for it.
    const closed = new Promise<boolean>((r) => {
      s.once('close', () => r(true));
      setTimeout(() => r(false), 5000).unref();
    });
    await limited.close();
    assert.equal(await closed, true, 'closed by the server');
  } finally {
    s.destroy();
    l.close();
  }
});

test('TLS: a client whose first request and SETTINGS ACK arrive with its preface is served (no write of the intake still in flight when Node takes over)', async () => {
  const ca = await createCa('intake test CA', 1);
  const cert = await issueCert(ca, { sans: ['127.0.0.1'], days: 1, usage: 'server' });
  const tlsServer = tls.createServer({ cert: cert.certPem, key: cert.keyPem, ALPNProtocols: ['h2'] }, (s) => server.injectConnection(s));
  await new Promise<void>((r) => tlsServer.listen(0, '127.0.0.1', r));
  const block = Buffer.concat([
    Buffer.from([0x83, 0x87, 0x04]), str('/t.S/Echo'), // :method POST, :scheme https, :path
    Buffer.from([0x41]), str('127.0.0.1'),
    Buffer.from([0x00]), str('content-type'), str('application/grpc'),
  ]);
  try {
    for (let i = 0; i < 20; i++) {
      const answer = await new Promise<string>((resolve, reject) => {
        const c = tls.connect({ port: (tlsServer.address() as net.AddressInfo).port, host: '127.0.0.1', ca: ca.certPem, ALPNProtocols: ['h2'] }, () => {
          // Everything at once, the ACK before the server's SETTINGS could even have arrived.
          c.write(Buffer.concat([CLIENT_PREFACE, h2frame(4, 0, 0, Buffer.alloc(0)), h2frame(4, 1, 0, Buffer.alloc(0)), h2frame(1, 0x4, 1, block), h2frame(0, 0x1, 1, grpcMessage(`tls ${i}`))]));
        });
        let buf = Buffer.alloc(0);
        const data: Buffer[] = [];
        c.on('data', (d: Buffer) => {
          buf = Buffer.concat([buf, d]);
          while (buf.length >= 9 && buf.length >= 9 + buf.readUIntBE(0, 3)) {
            const len = buf.readUIntBE(0, 3);
            const [type, flags, stream] = [buf[3]!, buf[4]!, buf.readUInt32BE(5)];
            if (type === 4 && !(flags & 1)) c.write(h2frame(4, 1, 0, Buffer.alloc(0)));
            if (type === 0 && stream === 1) data.push(buf.subarray(9, 9 + len));
            if (stream === 1 && (type === 3 || (type === 1 && flags & 0x1))) {
              c.destroy();
              resolve(JSON.parse(Buffer.concat(data).subarray(5).toString() || '{}').echo);
            }
            buf = buf.subarray(9 + len);
          }
        });
        c.on('error', reject);
        c.on('close', () => reject(new Error('closed without an answer')));
      });
      assert.equal(answer, `tls ${i}`);
    }
  } finally {
    tlsServer.close();
  }
});
