// A small raw WebSocket client for tests (RFC 6455, client side): it writes the handshake and
// frames itself, so tests can send what a well-behaved client never would (unmasked frames,
// floods of fragments) and see exactly what the server answers (frames, close codes, whether
// the server closed with a close frame or just a FIN).
import crypto from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';

export interface WsFrame {
  readonly op: number;
  readonly payload: Buffer;
}

export interface WsOpenOptions {
  readonly host?: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** Connect with TLS, trusting this CA (PEM). */
  readonly tlsCa?: string;
  readonly timeoutMs?: number;
}

/** How the server ended the connection. */
export interface WsEnd {
  /** The close frame's code (1005 for one without a code), or undefined if none came. */
  readonly closeCode?: number;
  readonly closeReason?: string;
}

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** A client frame: masked unless told otherwise. */
export function clientFrame(op: number, payload: Buffer | string, o: { fin?: boolean; masked?: boolean; rsv?: number } = {}): Buffer {
  const p = typeof payload === 'string' ? Buffer.from(payload) : payload;
  const fin = o.fin ?? true;
  const masked = o.masked ?? true;
  const n = p.length;
  const b0 = (fin ? 0x80 : 0) | (o.rsv ?? 0) | op;
  const m = masked ? 0x80 : 0;
  let head: Buffer;
  if (n < 126) head = Buffer.from([b0, m | n]);
  else if (n < 65536) head = Buffer.from([b0, m | 126, n >> 8, n & 255]);
  else {
    head = Buffer.alloc(10);
    head[0] = b0;
    head[1] = m | 127;
    head.writeBigUInt64BE(BigInt(n), 2);
  }
  if (!masked) return Buffer.concat([head, p]);
  const key = crypto.randomBytes(4);
  const out = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) out[i] = p[i]! ^ key[i & 3]!;
  return Buffer.concat([head, key, out]);
}

/** The answer to a handshake that was not accepted: the raw HTTP response read until the
 *  server closed or went quiet. */
export class WsRefused extends Error {
  constructor(readonly response: string) {
    super(`handshake refused: ${response.split('\r\n')[0]}`);
  }
}

export class WsClient {
  readonly frames: WsFrame[] = [];
  /** Resolves when the connection is gone, with how the server ended it. */
  readonly ended: Promise<WsEnd>;
  /** The 101 answer's head. */
  responseHead = '';
  private buf: Buffer = Buffer.alloc(0);
  private end: { closeCode?: number; closeReason?: string } = {};
  private waiters: Array<() => void> = [];

  private constructor(readonly socket: net.Socket) {
    this.ended = new Promise((resolve) => socket.once('close', () => {
      this.wake();
      resolve(this.end);
    }));
  }

  /** Opens a WebSocket; rejects with WsRefused if the server answers anything but 101. */
  static open(port: number, path: string, o: WsOpenOptions = {}): Promise<WsClient> {
    return new Promise((resolve, reject) => {
      const s = o.tlsCa !== undefined
        ? tls.connect({ port, host: '127.0.0.1', ca: o.tlsCa, servername: 'localhost', ALPNProtocols: ['http/1.1'] })
        : net.connect(port, '127.0.0.1');
      const c = new WsClient(s);
      const key = crypto.randomBytes(16).toString('base64');
      // Defaults, each replaced by a header of the same name in o.headers.
      const fields = new Map<string, [string, string]>([
        ['host', ['Host', o.host ?? `127.0.0.1:${port}`]], ['upgrade', ['Upgrade', 'websocket']], ['connection', ['Connection', 'Upgrade']],
        ['sec-websocket-key', ['Sec-WebSocket-Key', key]], ['sec-websocket-version', ['Sec-WebSocket-Version', '13']],
      ]);
      for (const [k, v] of Object.entries(o.headers ?? {})) fields.set(k.toLowerCase(), [k, v]);
      const requestHead = [...fields.values()].map(([k, v]) => `${k}: ${v}\r\n`).join('');
      let open = false;
      let raw = Buffer.alloc(0);
      const timer = setTimeout(() => {
        s.destroy();
        reject(new WsRefused(raw.toString('latin1') || '(no answer)'));
      }, o.timeoutMs ?? 5000);
      s.on('error', (err) => {
        if (!open) {
          clearTimeout(timer);
          reject(err);
        }
      });
      s.on('close', () => {
        clearTimeout(timer);
        if (!open) reject(new WsRefused(raw.toString('latin1')));
      });
      s.on('data', (d: Buffer) => {
        if (open) return c.receive(d);
        raw = Buffer.concat([raw, d]);
        const end = raw.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = raw.subarray(0, end).toString('latin1');
        if (!head.startsWith('HTTP/1.1 101 ')) {
          // Read the body too (Content-Length), then report.
          const len = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
          if (raw.length < end + 4 + len) return;
          clearTimeout(timer);
          s.destroy();
          reject(new WsRefused(raw.subarray(0, end + 4 + len).toString('latin1')));
          return;
        }
        const want = crypto.createHash('sha1').update(key + GUID).digest('base64');
        if (!head.includes(`Sec-WebSocket-Accept: ${want}`)) {
          clearTimeout(timer);
          s.destroy();
          reject(new Error(`bad Sec-WebSocket-Accept in ${head}`));
          return;
        }
        open = true;
        clearTimeout(timer);
        c.responseHead = head;
        resolve(c);
        c.receive(raw.subarray(end + 4));
      });
      s.write(`GET ${path} HTTP/1.1\r\n${requestHead}\r\n`);
    });
  }

  private receive(d: Buffer): void {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    for (;;) {
      const b = this.buf;
      if (b.length < 2) break;
      let len = b[1]! & 127;
      let off = 2;
      if (len === 126) {
        if (b.length < 4) break;
        len = b.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (b.length < 10) break;
        len = Number(b.readBigUInt64BE(2));
        off = 10;
      }
      if (b.length < off + len) break;
      const op = b[0]! & 15;
      const payload = Buffer.from(b.subarray(off, off + len));
      this.buf = b.subarray(off + len);
      if (op === 8) {
        this.end = { closeCode: payload.length >= 2 ? payload.readUInt16BE(0) : 1005, closeReason: payload.subarray(2).toString() };
      }
      this.frames.push({ op, payload });
    }
    this.wake();
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Sends a text message (op 1) or another data frame. */
  send(text: string | Buffer, op = 1): void {
    this.socket.write(clientFrame(op, text));
  }

  write(raw: Buffer): boolean {
    return this.socket.write(raw);
  }

  /** Sends a close frame with `code`. */
  close(code = 1000): void {
    this.socket.write(clientFrame(8, Buffer.from([code >> 8, code & 255])));
  }

  /** The next `n` text messages, parsed as JSON where they are JSON (waits up to `timeoutMs`). */
  async messages(n: number, timeoutMs = 5000): Promise<unknown[]> {
    const deadline = Date.now() + timeoutMs;
    const texts = (): WsFrame[] => this.frames.filter((f) => f.op === 1);
    while (texts().length < n && Date.now() < deadline && !this.socket.destroyed) {
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 100);
      });
    }
    const got = texts();
    if (got.length < n) throw new Error(`wanted ${n} messages, got ${JSON.stringify(got.map((f) => f.payload.toString()))}`);
    const take = got.slice(0, n);
    for (const f of take) this.frames.splice(this.frames.indexOf(f), 1);
    return take.map((f) => {
      const t = f.payload.toString();
      try {
        return JSON.parse(t) as unknown;
      } catch {
        return t;
      }
    });
  }

  /** Waits until the connection is gone (up to `timeoutMs`; then it is destroyed and this
   *  rejects). */
  async waitEnded(timeoutMs = 5000): Promise<WsEnd> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        this.ended,
        new Promise<WsEnd>((_r, reject) => {
          timer = setTimeout(() => {
            this.socket.destroy();
            reject(new Error(`connection still open after ${timeoutMs} ms`));
          }, timeoutMs);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  destroy(): void {
    this.socket.destroy();
  }
}
