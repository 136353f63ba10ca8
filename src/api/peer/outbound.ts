// One peer's outbound connection: dial, handshake, a bounded queue of encoded frames, batched
// writes with back-pressure, snapshot acks, pings, and reconnect with backoff.
//
// States:  connecting --handshake ok--> connected --socket lost--> backoff --timer--> connecting
//          connecting --fail--> backoff;  any --close()--> closed
// While connecting, messages queue (bounded). On any failure the queue is dropped (raft will
// resend what matters) and every MsgSnap not yet acked is reported failed. While in backoff,
// messages are dropped at once: they would be stale by the time the peer is back.
import assert from 'node:assert/strict';
import type net from 'node:net';
import { performance } from 'node:perf_hooks';
import type { NodeId } from '../../raft/types.js';
import { asHandshakeReply, decodeBody, encodeFrame, type Handshake } from './codec.js';
import { FrameDecoder, FrameKind, PEER_FRAME_BYTES_MAX, PEER_HANDSHAKE_FRAME_BYTES_MAX } from './frame.js';
import {
  PEER_BACKOFF_MS_MAX, PEER_BACKOFF_MS_MIN, PEER_DIAL_TIMEOUT_MS, PEER_KEEPALIVE_MS, PEER_PING_INTERVAL_MS,
  PEER_PROTOCOL_VERSION, PEER_QUEUE_BYTES_MAX, PEER_QUEUE_MESSAGES_MAX, PEER_SNAPSHOTS_INFLIGHT_MAX,
  PEER_WRITE_BATCH_BYTES_MAX, PEER_WRITE_COPY_BYTES_MAX,
  type PeerDialer, type PeerLogger,
} from './types.js';

export interface OutboundContext {
  readonly localId: NodeId;
  readonly clusterId: string;
  readonly logger: PeerLogger;
  readonly dial: PeerDialer;
  reportUnreachable(peerId: NodeId): void;
  reportSnapshot(peerId: NodeId, failed: boolean): void;
  /** A peer refused us because this member was removed from the cluster. */
  removedFromCluster(byPeer: NodeId): void;
}

interface QueuedFrame {
  readonly frame: Buffer;
  readonly snapshot: boolean;
}

type State = 'connecting' | 'connected' | 'backoff' | 'closed';

const RTT_EWMA_WEIGHT = 1 / 8;

export class OutboundPeer {
  state: State = 'backoff';
  activeSince: Date | null = null;
  sentMessages = 0;
  sentBytes = 0;
  droppedMessages = 0;
  failures = 0;
  socketWrites = 0;
  rttMs: number | null = null;

  private urls: readonly URL[];
  private urlIndex = 0;
  private currentUrl: URL | null = null;
  private socket: net.Socket | null = null;
  /** Bumped for every dial attempt; events from older attempts are ignored. */
  private generation = 0;
  private dialAbort: AbortController | null = null;
  private dialTimer: NodeJS.Timeout | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private pingTimer: NodeJS.Timeout | null = null;
  private backoffMs = PEER_BACKOFF_MS_MIN;
  private handshakeSentAtMs = 0;
  private decoder: FrameDecoder | null = null;

  /** FIFO of encoded frames; queue[queueHead..] are live (head index avoids O(n) shift). */
  private queue: (QueuedFrame | undefined)[] = [];
  private queueHead = 0;
  private queuedNonSnapshot = 0;
  queuedBytes = 0;
  /** MsgSnap queued or written, not yet acked or failed. */
  private snapshotsInflight = 0;
  /** MsgSnap written to the socket, awaiting the receiver's ack (in order). */
  private snapshotsAwaitingAck = 0;
  private flushScheduled = false;
  private blocked = false;

  constructor(
    private readonly ctx: OutboundContext,
    readonly id: NodeId,
    urls: readonly URL[],
  ) {
    assert(urls.length > 0, 'a peer needs at least one URL');
    this.urls = urls;
    this.dialNext();
  }

  get queuedMessages(): number {
    return this.queue.length - this.queueHead;
  }

  get url(): string | null {
    return this.currentUrl?.href ?? null;
  }

  /** False when a message would be dropped right away, so the caller can skip encoding it. */
  accepting(): boolean {
    return this.state === 'connecting' || this.state === 'connected';
  }

  /** Enqueues one encoded frame. Never throws, never blocks. */
  enqueue(frame: Buffer, snapshot: boolean): void {
    assert(frame.length - 4 <= PEER_FRAME_BYTES_MAX);
    if (!this.accepting()) {
      this.drop(snapshot);
      return;
    }
    if (snapshot) {
      if (this.snapshotsInflight >= PEER_SNAPSHOTS_INFLIGHT_MAX) {
        this.ctx.logger.warn({ localMemberId: this.ctx.localId, remotePeerId: this.id }, 'dropped MsgSnap: too many snapshots in flight');
        this.drop(true);
        return;
      }
      this.snapshotsInflight++;
    } else if (this.queuedNonSnapshot >= PEER_QUEUE_MESSAGES_MAX || this.queuedBytes + frame.length > PEER_QUEUE_BYTES_MAX) {
      this.drop(false);
      return;
    } else {
      this.queuedNonSnapshot++;
    }
    this.queue.push({ frame, snapshot });
    this.queuedBytes += frame.length;
    this.scheduleFlush();
  }

  /** Counts a message as dropped and reports it (MsgSnap as a failed snapshot). */
  drop(snapshot: boolean): void {
    this.droppedMessages++;
    if (snapshot) this.ctx.reportSnapshot(this.id, true);
    if (this.state !== 'closed') this.ctx.reportUnreachable(this.id);
  }

  updateUrls(urls: readonly URL[]): void {
    assert(urls.length > 0, 'a peer needs at least one URL');
    if (this.state === 'closed') return;
    this.urls = urls;
    this.urlIndex = 0;
    const current = this.currentUrl;
    const stillListed = current !== null && urls.some((u) => u.href === current.href);
    if (this.state === 'backoff') {
      this.clearTimer('retry');
      this.dialNext();
    } else if (!stillListed) {
      this.fail('peer URLs updated', false);
    }
  }

  close(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.generation++;
    this.teardown();
    // No callbacks after close: the member is going away, or the peer was removed.
    this.queue = [];
    this.queueHead = 0;
    this.queuedBytes = 0;
    this.queuedNonSnapshot = 0;
    this.snapshotsInflight = 0;
    this.snapshotsAwaitingAck = 0;
  }

  private dialNext(): void {
    assert(this.state !== 'closed' && this.socket === null);
    this.state = 'connecting';
    const generation = ++this.generation;
    const url = this.urls[this.urlIndex % this.urls.length]!;
    this.currentUrl = url;
    const abort = new AbortController();
    this.dialAbort = abort;
    this.dialTimer = setTimeout(() => {
      if (generation === this.generation) this.fail(`dial/handshake timeout after ${PEER_DIAL_TIMEOUT_MS} ms`, true);
    }, PEER_DIAL_TIMEOUT_MS);
    this.dialTimer.unref();
    let dialing: Promise<net.Socket>;
    try {
      dialing = this.ctx.dial(url, abort.signal);
    } catch (err) {
      dialing = Promise.reject(err);
    }
    dialing.then(
      (socket) => {
        if (generation !== this.generation) {
          socket.destroy();
          return;
        }
        this.attach(socket, generation);
      },
      (err: unknown) => {
        if (generation === this.generation) this.fail(`dial ${url.host}: ${errorText(err)}`, true);
      },
    );
  }

  private attach(socket: net.Socket, generation: number): void {
    this.socket = socket;
    this.dialAbort = null;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, PEER_KEEPALIVE_MS);
    this.decoder = new FrameDecoder(PEER_HANDSHAKE_FRAME_BYTES_MAX);
    socket.on('data', (chunk: Buffer) => {
      if (generation !== this.generation) return;
      const bad = this.decoder!.push(chunk, (kind, body, shared) => this.onFrame(kind, body, shared, generation));
      if (bad !== null && generation === this.generation) this.fail(`malformed stream from peer: ${bad}`, true);
    });
    socket.on('drain', () => {
      if (generation !== this.generation) return;
      this.blocked = false;
      this.flush();
    });
    socket.on('error', (err) => {
      if (generation === this.generation) this.fail(errorText(err), true);
    });
    socket.on('close', () => {
      if (generation === this.generation) this.fail('connection closed by peer', true);
    });
    const handshake: Handshake = {
      clusterId: this.ctx.clusterId,
      from: this.ctx.localId,
      to: this.id,
      protocolVersion: PEER_PROTOCOL_VERSION,
    };
    this.handshakeSentAtMs = performance.now();
    socket.write(encodeFrame(FrameKind.handshake, handshake));
  }

  /** Frames from the listener: the handshake reply, then pongs and snapshot acks. */
  private onFrame(kind: number, body: Buffer, shared: boolean, generation: number): boolean {
    if (generation !== this.generation) return false;
    let value: unknown;
    try {
      value = decodeBody(body, shared);
    } catch (err) {
      this.fail(`bad msgpack from peer: ${errorText(err)}`, true);
      return false;
    }
    if (this.state === 'connecting') {
      const reply = kind === FrameKind.handshakeReply ? asHandshakeReply(value) : null;
      if (reply === null) {
        this.fail('expected a handshake reply', true);
        return false;
      }
      if (!reply.ok || reply.clusterId !== this.ctx.clusterId) {
        const fields = {
          localMemberId: this.ctx.localId,
          remotePeerId: this.id,
          localClusterId: this.ctx.clusterId,
          remoteClusterId: reply.clusterId,
          reason: reply.reason,
        };
        if (reply.code === 'memberRemoved') this.ctx.removedFromCluster(this.id);
        if (reply.code === 'clusterIdMismatch' || reply.clusterId !== this.ctx.clusterId) {
          this.ctx.logger.error(fields, 'request cluster ID mismatch');
        } else {
          this.ctx.logger.warn(fields, 'peer refused connection');
        }
        this.fail(`handshake refused: ${reply.reason ?? reply.code ?? 'cluster id mismatch'}`, true, true);
        return false;
      }
      this.onConnected();
      return true;
    }
    assert(this.state === 'connected');
    switch (kind) {
      case FrameKind.pong:
        if (typeof value === 'number') this.rttSample(performance.now() - value);
        return true;
      case FrameKind.snapshotAck:
        if (this.snapshotsAwaitingAck === 0) {
          this.fail('snapshot ack with no snapshot outstanding', true);
          return false;
        }
        this.snapshotsAwaitingAck--;
        this.snapshotsInflight--;
        assert(this.snapshotsInflight >= this.snapshotsAwaitingAck);
        this.ctx.reportSnapshot(this.id, false);
        return true;
      default:
        this.fail(`unexpected frame kind ${kind} from listener`, true);
        return false;
    }
  }

  private onConnected(): void {
    this.clearTimer('dial');
    this.state = 'connected';
    this.activeSince = new Date();
    this.backoffMs = PEER_BACKOFF_MS_MIN;
    this.decoder!.frameBytesMax = PEER_HANDSHAKE_FRAME_BYTES_MAX; // the listener only sends small control frames
    this.rttSample(performance.now() - this.handshakeSentAtMs);
    this.ctx.logger.info({ localMemberId: this.ctx.localId, remotePeerId: this.id, url: this.url }, 'peer stream established');
    this.pingTimer = setInterval(() => this.ping(), PEER_PING_INTERVAL_MS);
    this.pingTimer.unref();
    this.scheduleFlush();
  }

  private rttSample(ms: number): void {
    this.rttMs = this.rttMs === null ? ms : this.rttMs + (ms - this.rttMs) * RTT_EWMA_WEIGHT;
  }

  private ping(): void {
    // Only when idle: a ping behind megabytes of queue would measure the queue, not the link.
    if (this.state !== 'connected' || this.blocked || this.queuedMessages > 0) return;
    this.socket!.write(encodeFrame(FrameKind.ping, performance.now()));
    this.socketWrites++;
  }

  /** The scheduled flush, now; the scheduled one then finds the queue empty. */
  flushNow(): void {
    if (this.flushScheduled) this.flush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.state !== 'connected' || this.blocked) return;
    this.flushScheduled = true;
    // setImmediate rather than a microtask: everything sent during this event-loop turn (every
    // Ready handled in it) goes out in the same write.
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /** Writes queued frames in batches of up to PEER_WRITE_BATCH_BYTES_MAX, each one socket
   *  write (small frames copied into one buffer; big ones corked alongside), until the queue
   *  is empty or node's socket buffer is over its high-water mark; then waits for 'drain'. */
  private flush(): void {
    if (this.state !== 'connected' || this.blocked) return;
    const socket = this.socket!;
    while (this.queueHead < this.queue.length && !socket.writableNeedDrain) {
      socket.cork();
      let small: Buffer[] = [];
      let smallBytes = 0;
      let batchBytes = 0;
      while (this.queueHead < this.queue.length && batchBytes < PEER_WRITE_BATCH_BYTES_MAX) {
        const q = this.queue[this.queueHead]!;
        this.queue[this.queueHead] = undefined;
        this.queueHead++;
        const n = q.frame.length;
        this.queuedBytes -= n;
        if (q.snapshot) this.snapshotsAwaitingAck++;
        else this.queuedNonSnapshot--;
        if (n >= PEER_WRITE_COPY_BYTES_MAX) {
          if (small.length > 0) {
            socket.write(Buffer.concat(small, smallBytes));
            small = [];
            smallBytes = 0;
          }
          socket.write(q.frame);
        } else {
          small.push(q.frame);
          smallBytes += n;
        }
        batchBytes += n;
        this.sentMessages++;
        this.sentBytes += n;
      }
      if (small.length > 0) socket.write(small.length === 1 ? small[0]! : Buffer.concat(small, smallBytes));
      socket.uncork();
      this.socketWrites++;
    }
    if (this.queueHead === this.queue.length) {
      this.queue = [];
      this.queueHead = 0;
      assert(this.queuedBytes === 0 && this.queuedNonSnapshot === 0);
    } else if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.queueHead);
      this.queueHead = 0;
    }
    if (socket.writableNeedDrain) this.blocked = true;
  }

  /** The current attempt or connection is over: drop what is queued, fail outstanding
   *  snapshots, report the peer unreachable, and retry after a backoff. */
  private fail(reason: string, countFailure: boolean, refused = false): void {
    assert(this.state === 'connecting' || this.state === 'connected');
    const wasConnected = this.state === 'connected';
    this.generation++;
    this.teardown();
    if (countFailure) this.failures++;
    let dropped = 0;
    for (let i = this.queueHead; i < this.queue.length; i++) {
      const q = this.queue[i]!;
      this.droppedMessages++;
      dropped++;
      if (q.snapshot) this.ctx.reportSnapshot(this.id, true);
    }
    for (let i = 0; i < this.snapshotsAwaitingAck; i++) this.ctx.reportSnapshot(this.id, true);
    this.queue = [];
    this.queueHead = 0;
    this.queuedBytes = 0;
    this.queuedNonSnapshot = 0;
    this.snapshotsInflight = 0;
    this.snapshotsAwaitingAck = 0;
    if (wasConnected || dropped > 0) this.ctx.reportUnreachable(this.id);
    const fields = { localMemberId: this.ctx.localId, remotePeerId: this.id, url: this.url, reason, dropped };
    if (wasConnected) this.ctx.logger.warn(fields, 'lost peer stream');
    else if (!refused) this.ctx.logger.debug(fields, 'failed to dial peer');
    this.state = 'backoff';
    this.activeSince = null;
    this.urlIndex++;
    const delayMs = wasConnected ? PEER_BACKOFF_MS_MIN : this.backoffMs;
    if (!wasConnected) this.backoffMs = Math.min(this.backoffMs * 2, PEER_BACKOFF_MS_MAX);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (this.state === 'backoff') this.dialNext();
    }, delayMs);
    this.retryTimer.unref();
  }

  private teardown(): void {
    this.clearTimer('dial');
    this.clearTimer('retry');
    this.clearTimer('ping');
    this.dialAbort?.abort();
    this.dialAbort = null;
    this.socket?.destroy();
    this.socket = null;
    this.decoder = null;
    this.blocked = false;
    this.flushScheduled = false;
  }

  private clearTimer(which: 'dial' | 'retry' | 'ping'): void {
    if (which === 'dial' && this.dialTimer) clearTimeout(this.dialTimer), (this.dialTimer = null);
    if (which === 'retry' && this.retryTimer) clearTimeout(this.retryTimer), (this.retryTimer = null);
    if (which === 'ping' && this.pingTimer) clearInterval(this.pingTimer), (this.pingTimer = null);
  }
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
