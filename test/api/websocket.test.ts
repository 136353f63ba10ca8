// The WebSocket server side (src/api/http/websocket.ts) on a real loopback HTTP server that
// echoes each message: fragmentation, ping, the closing handshake, and bad input (unmasked
// frames, reserved bits, oversized messages) closing only that connection.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { isWebSocketRequest, WebSocketConn } from '../../src/api/http/websocket.js';

const MAX = 1000;
let server: http.Server;
let port: number;

before(async () => {
  server = http.createServer((_req, res) => res.end('plain'));
  server.on('upgrade', (req, socket, head) => {
    if (!isWebSocketRequest(req)) return socket.end('HTTP/1.1 400 Bad Request\r\n\r\n');
    const c = WebSocketConn.accept(req, socket, head, MAX);
    c.on('message', (m: string) => c.send(`echo:${m}`));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as net.AddressInfo).port;
});

after(() => new Promise<void>((r) => server.close(() => r())));

function clientFrame(op: number, payload: Buffer, opts: { fin?: boolean; masked?: boolean; rsv?: number } = {}): Buffer {
  const fin = opts.fin ?? true;
  const masked = opts.masked ?? true;
  const n = payload.length;
  const b0 = (fin ? 0x80 : 0) | (opts.rsv ?? 0) | op;
  const head = n < 126 ? Buffer.from([b0, (masked ? 0x80 : 0) | n]) : Buffer.from([b0, (masked ? 0x80 : 0) | 126, n >> 8, n & 255]);
  if (!masked) return Buffer.concat([head, payload]);
  const mask = crypto.randomBytes(4);
  return Buffer.concat([head, mask, Buffer.from(payload.map((x, i) => x ^ mask[i % 4]!))]);
}

/** Opens a WebSocket, sends `frames`, and returns the server's frames ([op, payload]) until it
 *  closes the connection or 2 s pass. */
function exchange(frames: Buffer[]): Promise<Array<[number, string]>> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    const got: Array<[number, string]> = [];
    let buf = Buffer.alloc(0);
    let open = false;
    const timer = setTimeout(() => s.destroy(), 2000);
    s.on('error', reject);
    s.on('close', () => {
      clearTimeout(timer);
      resolve(got);
    });
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (!open) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        assert.match(buf.subarray(0, end).toString(), /^HTTP\/1\.1 101 /);
        buf = buf.subarray(end + 4);
        open = true;
        for (const f of frames) s.write(f);
      }
      while (buf.length >= 2) {
        let len = buf[1]! & 127;
        let off = 2;
        if (len === 126) {
          if (buf.length < 4) break;
          len = buf.readUInt16BE(2);
          off = 4;
        }
        if (buf.length < off + len) break;
        const op = buf[0]! & 15;
        const p = buf.subarray(off, off + len);
        got.push([op, op === 8 ? String(p.length >= 2 ? p.readUInt16BE(0) : '') : p.toString()]);
        buf = buf.subarray(off + len);
      }
    });
    s.write(`GET /x HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  });
}

const close = clientFrame(8, Buffer.from([3, 232]));

test('messages, a fragmented one, a ping and the closing handshake', async () => {
  const got = await exchange([
    clientFrame(1, Buffer.from('one')),
    clientFrame(1, Buffer.from('tw'), { fin: false }),
    clientFrame(9, Buffer.from('p')), // a ping between fragments
    clientFrame(0, Buffer.from('o')),
    clientFrame(2, Buffer.from('bin')),
    close,
  ]);
  assert.deepEqual(got, [[1, 'echo:one'], [10, 'p'], [1, 'echo:two'], [1, 'echo:bin'], [8, '1000']]);
});

test('bad input closes only that connection: unmasked 1002, reserved bits 1002, oversized 1009, a stray continuation 1002', async () => {
  assert.deepEqual(await exchange([clientFrame(1, Buffer.from('x'), { masked: false })]), [[8, '1002']]);
  assert.deepEqual(await exchange([clientFrame(1, Buffer.from('x'), { rsv: 0x40 })]), [[8, '1002']]);
  assert.deepEqual(await exchange([clientFrame(1, Buffer.alloc(MAX + 1, 0x61))]), [[8, '1009']]);
  assert.deepEqual(await exchange([clientFrame(1, Buffer.alloc(600, 0x61), { fin: false }), clientFrame(0, Buffer.alloc(600, 0x61))]), [[8, '1009']]);
  assert.deepEqual(await exchange([clientFrame(0, Buffer.from('x'))]), [[8, '1002']]);
  assert.deepEqual(await exchange([clientFrame(1, Buffer.from('still')), close]), [[1, 'echo:still'], [8, '1000']]);
});
