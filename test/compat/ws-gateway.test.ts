// The v3 JSON gateway over WebSocket (etcd wraps its gateway in grpc-websocket-proxy): the same
// raw WebSocket client and assertions against one member of real etcd and of tsetcd.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import net from 'node:net';
import { withCluster, type Impl } from '../harness/cluster.js';

const haveEtcd = spawnSync('/usr/bin/etcd', ['--version']).status === 0;
const BASE: Record<Impl, number> = { etcd: 26400, tsetcd: 26410 };

/** A WebSocket client that masks its frames and collects text messages; `closed` resolves when
 *  the server ends the connection. */
class WsClient {
  readonly messages: string[] = [];
  readonly closed: Promise<void>;
  private waiters: Array<() => void> = [];
  private constructor(private readonly s: net.Socket) {
    this.closed = new Promise((r) => s.once('close', () => r()));
    s.on('close', () => this.wake());
  }

  static open(port: number, path: string, headers: Record<string, string> = {}): Promise<WsClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1');
      s.on('error', reject);
      const key = crypto.randomBytes(16).toString('base64');
      const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
      s.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n`);
      let buf = Buffer.alloc(0);
      let c: WsClient | undefined;
      s.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        if (c === undefined) {
          const end = buf.indexOf('\r\n\r\n');
          if (end < 0) return;
          const head = buf.subarray(0, end).toString();
          const want = crypto.createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
          if (!head.startsWith('HTTP/1.1 101') || !head.includes(`Sec-WebSocket-Accept: ${want}`)) return reject(new Error(`handshake: ${head}`));
          buf = buf.subarray(end + 4);
          c = new WsClient(s);
          resolve(c);
        }
        for (;;) {
          if (buf.length < 2) break;
          let len = buf[1]! & 127;
          let off = 2;
          if (len === 126) {
            if (buf.length < 4) break;
            len = buf.readUInt16BE(2);
            off = 4;
          } else if (len === 127) {
            if (buf.length < 10) break;
            len = Number(buf.readBigUInt64BE(2));
            off = 10;
          }
          if (buf.length < off + len) break;
          if ((buf[0]! & 15) === 1) c.messages.push(buf.subarray(off, off + len).toString());
          buf = buf.subarray(off + len);
        }
        c.wake();
      });
    });
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  send(text: string, op = 1): void {
    const p = Buffer.from(text);
    const mask = crypto.randomBytes(4);
    const head = p.length < 126 ? Buffer.from([0x80 | op, 0x80 | p.length]) : Buffer.from([0x80 | op, 0x80 | 126, p.length >> 8, p.length & 255]);
    this.s.write(Buffer.concat([head, mask, Buffer.from(p.map((b, i) => b ^ mask[i % 4]!))]));
  }

  /** The next `n` messages (waits up to 5 s). */
  async take(n: number): Promise<unknown[]> {
    const deadline = Date.now() + 5000;
    while (this.messages.length < n && Date.now() < deadline && !this.s.destroyed) {
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 200);
      });
    }
    assert.ok(this.messages.length >= n, `${n} messages, got ${JSON.stringify(this.messages)}`);
    return this.messages.splice(0, n).map((m) => {
      try {
        return JSON.parse(m) as unknown;
      } catch {
        return m;
      }
    });
  }

  close(): void {
    this.send(Buffer.from([3, 232]).toString('latin1'), 8);
  }
}

const b64 = (s: string): string => Buffer.from(s).toString('base64');
type Any = Record<string, any>;

for (const impl of ['etcd', 'tsetcd'] as const) {
  test(`${impl}: the v3 gateway over WebSocket: unary calls, a watch with a cancel, keepalive, errors`, { timeout: 60_000, skip: !haveEtcd && 'etcd not installed' }, async () => {
    await withCluster({ impl, size: 1, basePort: BASE[impl] }, async (c) => {
      const port = Number(new URL(c.members[0]!.clientUrl).port);
      // A unary call: one answer, then the server closes.
      const put = await WsClient.open(port, '/v3/kv/put');
      put.send(JSON.stringify({ key: b64('k1'), value: b64('v1') }));
      const [p] = (await put.take(1)) as Any[];
      assert.equal(typeof p!.header.revision, 'string');
      await put.closed;
      const range = await WsClient.open(port, '/v3beta/kv/range');
      range.send(JSON.stringify({ key: b64('k1') }));
      const [r] = (await range.take(1)) as Any[];
      assert.deepEqual(r!.kvs.map((kv: Any) => [kv.key, kv.value, kv.version]), [[b64('k1'), b64('v1'), '1']]);
      assert.equal(r!.count, '1');
      await range.closed;

      // A watch: created, an event, then a cancel sent on the same socket.
      const watch = await WsClient.open(port, '/v3/watch');
      watch.send(JSON.stringify({ create_request: { key: b64('w'), prev_kv: true } }));
      const [created] = (await watch.take(1)) as Any[];
      assert.equal(created!.result.created, true);
      const wid = created!.result.watch_id ?? '0';
      const put2 = await WsClient.open(port, '/v3/kv/put');
      put2.send(JSON.stringify({ key: b64('w'), value: b64('x') }));
      await put2.take(1);
      const [ev] = (await watch.take(1)) as Any[];
      assert.deepEqual(ev!.result.events.map((e: Any) => [e.type ?? 'PUT', e.kv.key, e.kv.value]), [['PUT', b64('w'), b64('x')]]);
      watch.send(JSON.stringify({ cancel_request: { watch_id: wid } }));
      const [canceled] = (await watch.take(1)) as Any[];
      assert.equal(canceled!.result.canceled, true);
      watch.close();
      await watch.closed;

      // Keepalive of an unknown lease: TTL left out (0), the socket stays for more.
      const ka = await WsClient.open(port, '/v3/lease/keepalive');
      ka.send(JSON.stringify({ ID: '12345' }));
      ka.send(JSON.stringify({ ID: '12345' }));
      const kas = (await ka.take(2)) as Any[];
      for (const k of kas) assert.deepEqual([k.result.ID, k.result.TTL], ['12345', undefined]);
      ka.close();
      await ka.closed;

      // Bad JSON, an empty key, an unknown path.
      const bad = await WsClient.open(port, '/v3/kv/range');
      bad.send('not json');
      const [e1] = (await bad.take(1)) as Any[];
      assert.equal(e1!.code, 3);
      const empty = await WsClient.open(port, '/v3/kv/put');
      empty.send(JSON.stringify({ value: b64('x') }));
      const [e2] = (await empty.take(1)) as Any[];
      assert.deepEqual([e2!.error, e2!.code], ['etcdserver: key is not provided', 3]);
      const nope = await WsClient.open(port, '/v3/nope');
      nope.send('{}');
      assert.deepEqual(await nope.take(1), ['Not Found']);
    });
  });
}
