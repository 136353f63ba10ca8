// Shared helpers for the peer transport tests.
import net from 'node:net';
import type { Message, MsgApp, MsgHeartbeat } from '../../src/raft/message.js';
import { PeerTransport, type PeerLogger, type PeerTransportOptions } from '../../src/api/peer/transport.js';
import { FrameDecoder, FrameKind, PEER_HANDSHAKE_FRAME_BYTES_MAX } from '../../src/api/peer/frame.js';
import { decodeBody, encodeFrame } from '../../src/api/peer/codec.js';

export const CLUSTER = 'c0ffee0000000001';

export interface LogLine {
  level: string;
  msg: string;
  obj: Record<string, unknown>;
}

export function captureLogger(): { lines: LogLine[]; logger: PeerLogger } {
  const lines: LogLine[] = [];
  const mk = (level: string) => (obj: object, msg: string) => {
    lines.push({ level, msg, obj: obj as Record<string, unknown> });
  };
  return { lines, logger: { debug: mk('debug'), info: mk('info'), warn: mk('warn'), error: mk('error') } };
}

export interface Member {
  t: PeerTransport;
  got: Message[];
  unreachable: string[];
  snapshots: { peer: string; failed: boolean }[];
  logs: LogLine[];
  url: URL;
}

export async function member(
  id: string,
  opts: { clusterId?: string; port?: number; listen?: boolean } & Partial<PeerTransportOptions> = {},
): Promise<Member> {
  const got: Message[] = [];
  const unreachable: string[] = [];
  const snapshots: { peer: string; failed: boolean }[] = [];
  const { lines, logger } = captureLogger();
  const t = new PeerTransport({
    localId: id,
    clusterId: opts.clusterId ?? CLUSTER,
    logger,
    onMessage: opts.onMessage ?? ((m) => got.push(m)),
    onUnreachable: (p) => unreachable.push(p),
    onSnapshotStatus: (peer, failed) => snapshots.push({ peer, failed }),
    ...(opts.dial ? { dial: opts.dial } : {}),
  });
  let url = new URL(`http://127.0.0.1:${opts.port ?? 0}`);
  if (opts.listen !== false) {
    await t.listen(url);
    url = t.listenUrls()[0]!;
  }
  return { t, got, unreachable, snapshots, logs: lines, url };
}

export function heartbeat(from: string, to: string, commit: number): MsgHeartbeat {
  return { type: 'MsgHeartbeat', from, to, term: 1, commit, context: new Uint8Array(0) };
}

/** A MsgApp carrying one entry of `dataBytes` bytes; `index` identifies it. */
export function app(from: string, to: string, index: number, dataBytes: number): MsgApp {
  const data = new Uint8Array(dataBytes);
  data.fill(index & 0xff);
  return { type: 'MsgApp', from, to, term: 2, logTerm: 2, index, commit: index, entries: [{ term: 2, index: index + 1, type: 'normal', data }] };
}

export async function waitFor(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A fake listener that accepts the handshake of any dialer and then never reads again, so
 *  everything sent to it backs up. */
export async function stalledListener(localId: string): Promise<{ url: URL; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
    const dec = new FrameDecoder(PEER_HANDSHAKE_FRAME_BYTES_MAX);
    const onData = (chunk: Buffer): void => {
      dec.push(chunk, (kind, body) => {
        if (kind === FrameKind.handshake) {
          decodeBody(body, true);
          socket.write(encodeFrame(FrameKind.handshakeReply, { ok: true, clusterId: CLUSTER, from: localId }));
          socket.off('data', onData);
          socket.pause();
        }
        return false;
      });
    };
    socket.on('data', onData);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const a = server.address() as net.AddressInfo;
  return {
    url: new URL(`http://127.0.0.1:${a.port}`),
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** Opens a raw TCP connection to `url`; resolves when connected. */
export function rawConnect(url: URL): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: url.hostname, port: Number(url.port) }, () => resolve(s));
    s.once('error', reject);
  });
}

/** Resolves when the socket closes; rejects after timeoutMs. */
export function closedWithin(s: net.Socket, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    if (s.destroyed || s.readableEnded) {
      resolve();
      return;
    }
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`socket still open after ${timeoutMs} ms`));
    }, timeoutMs);
    s.on('error', () => {});
    s.on('data', () => {});
    s.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
