// Fault-injecting TCP proxies on the peer links. Every member advertises its proxy's address as
// its peer URL, so every peer connection to member B passes through B's proxy. tsetcd peer
// connections are one-way (the dialer sends raft messages; the listener only answers with
// handshake replies, pongs and snapshot acks), and the dialer's first frame is a handshake
// naming it ({ from }), so the proxy learns the directed link (from -> B) of each connection and
// applies that link's rule: cut (blackhole), delay, or drop whole raft-message frames.
import net from 'node:net';
import { unpack } from 'msgpackr';

export interface LinkRule {
  /** Nothing passes: connections are closed and new ones blackholed (accepted, never answered). */
  cut: boolean;
  /** Added latency per chunk, in order. */
  delayMs: number;
  /** Probability that a raft message frame is dropped. */
  dropProb: number;
}

const PASS: LinkRule = { cut: false, delayMs: 0, dropProb: 0 };
const FRAME_KIND_MESSAGE = 3;
/** The proxy refuses to buffer a first frame bigger than this (a handshake is ~100 bytes). */
const HANDSHAKE_BYTES_MAX = 4096;

/** A chunk queue that delivers in order, each chunk no earlier than its due time. */
class DelayedWriter {
  private q: { due: number; buf: Buffer }[] = [];
  private timer: NodeJS.Timeout | undefined;
  constructor(private readonly out: net.Socket) {}
  write(buf: Buffer, delayMs: number): void {
    if (delayMs <= 0 && this.q.length === 0) {
      if (!this.out.destroyed) this.out.write(buf);
      return;
    }
    this.q.push({ due: Date.now() + delayMs, buf });
    this.pump();
  }
  private pump(): void {
    if (this.timer) return;
    const now = Date.now();
    while (this.q.length > 0 && this.q[0]!.due <= now) {
      const { buf } = this.q.shift()!;
      if (!this.out.destroyed) this.out.write(buf);
    }
    if (this.q.length > 0) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.pump();
      }, Math.max(1, this.q[0]!.due - now));
    }
  }
  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.q = [];
  }
}

/** Splits a byte stream into [u32 length][kind][body] frames. */
class FrameSplitter {
  private chunks: Buffer[] = [];
  private bytes = 0;
  push(chunk: Buffer, onFrame: (frame: Buffer, kind: number) => void): void {
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    for (;;) {
      if (this.bytes < 5) return;
      const head = this.chunks[0]!.length >= 5 ? this.chunks[0]! : Buffer.concat(this.chunks);
      const total = 4 + head.readUInt32BE(0);
      if (this.bytes < total) return;
      const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
      onFrame(all.subarray(0, total), all[4]!);
      const rest = all.subarray(total);
      this.chunks = rest.length > 0 ? [rest] : [];
      this.bytes = rest.length;
    }
  }
}

interface Conn {
  from: string;
  client: net.Socket;
  upstream?: net.Socket;
  writer?: DelayedWriter;
}

/** The proxy in front of one member's peer listener. */
export class PeerProxy {
  private server: net.Server;
  private conns = new Set<Conn>();
  /** Counters for the run summary. */
  stats = { connections: 0, droppedFrames: 0, blackholed: 0 };

  constructor(
    readonly listenPort: number,
    public targetPort: number,
    /** The rule for traffic from member `fromId` to this proxy's member. */
    private readonly ruleFor: (fromId: string) => LinkRule,
  ) {
    this.server = net.createServer((s) => this.accept(s));
  }

  listen(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.listenPort, '127.0.0.1', () => resolve());
    });
  }

  private accept(client: net.Socket): void {
    this.stats.connections++;
    client.on('error', () => undefined);
    let first: Buffer = Buffer.alloc(0);
    const onData = (d: Buffer): void => {
      first = Buffer.concat([first, d]);
      if (first.length < 4) return;
      if (first.readUInt32BE(0) > HANDSHAKE_BYTES_MAX) {
        // Not a raft stream (e.g. a joining member's HTTP request for the cluster's members):
        // passed through, subject to no link rule.
        client.off('data', onData);
        return void this.open(client, '?', first);
      }
      if (first.length < 4 + first.readUInt32BE(0)) return;
      client.off('data', onData);
      let from = '?';
      try {
        const body = unpack(first.subarray(5, 4 + first.readUInt32BE(0))) as { from?: unknown };
        if (typeof body.from === 'string') from = body.from;
      } catch {
        /* not a handshake: pass it on, the member will refuse it */
      }
      this.open(client, from, first);
    };
    client.on('data', onData);
  }

  private open(client: net.Socket, from: string, firstBytes: Buffer): void {
    const conn: Conn = { from, client };
    this.conns.add(conn);
    client.once('close', () => {
      this.conns.delete(conn);
      conn.upstream?.destroy();
      conn.writer?.close();
    });
    if (this.ruleFor(from).cut) {
      // Blackhole: keep the socket, read and discard; healed() closes it so the dialer retries.
      this.stats.blackholed++;
      client.on('data', () => undefined);
      return;
    }
    const up = net.connect(this.targetPort, '127.0.0.1');
    conn.upstream = up;
    conn.writer = new DelayedWriter(up);
    up.on('error', () => client.destroy());
    up.once('close', () => client.destroy());
    const splitter = new FrameSplitter();
    const forward = (d: Buffer): void => {
      const rule = this.ruleFor(from);
      if (rule.cut) return void client.destroy();
      if (rule.dropProb <= 0 && rule.delayMs <= 0) return void conn.writer!.write(d, 0);
      splitter.push(d, (frame, kind) => {
        if (kind === FRAME_KIND_MESSAGE && Math.random() < rule.dropProb) {
          this.stats.droppedFrames++;
          return;
        }
        conn.writer!.write(Buffer.from(frame), rule.delayMs);
      });
    };
    conn.writer.write(firstBytes, this.ruleFor(from).delayMs);
    client.on('data', forward);
    // The reverse direction (handshake reply, pongs, acks) is delayed like the forward one.
    const back = new DelayedWriter(client);
    up.on('data', (d: Buffer) => {
      const rule = this.ruleFor(from);
      if (rule.cut) return;
      back.write(d, rule.delayMs);
    });
    up.once('close', () => back.close());
  }

  /**
   * Applies rule changes to live connections: a newly cut link's connections are closed (the
   * dialer then reconnects into the blackhole); blackholed connections of healed links are
   * closed so the dialer reconnects through. Switching a link between "splitting frames" and
   * "pass-through" is safe only on a frame boundary, so any change of drop/delay also resets.
   */
  reset(fromIds?: Set<string>): void {
    for (const c of this.conns) {
      if (fromIds === undefined || fromIds.has(c.from)) {
        c.client.destroy();
        c.upstream?.destroy();
      }
    }
  }

  close(): Promise<void> {
    this.reset();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** The rule table for every directed link, by member id; absent = pass. */
export class LinkTable {
  private rules = new Map<string, LinkRule>();
  get(from: string, to: string): LinkRule {
    return this.rules.get(`${from}>${to}`) ?? PASS;
  }
  set(from: string, to: string, rule: Partial<LinkRule>): void {
    this.rules.set(`${from}>${to}`, { ...this.get(from, to), ...rule });
  }
  clear(): void {
    this.rules.clear();
  }
}
