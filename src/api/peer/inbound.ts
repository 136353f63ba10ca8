// One accepted peer connection: check the handshake, then decode frames into raft Messages.
// Anything malformed closes this connection with a logged reason; nothing here throws out to
// the server.
import type net from 'node:net';
import type { Message } from '../../raft/message.js';
import type { NodeId } from '../../raft/types.js';
import { decodeHotBody } from './hot-codec.js';
import { asHandshake, decodeBody, encodeFrame, messageProblem, type HandshakeRejectCode, type HandshakeReply } from './codec.js';
import { FrameDecoder, FrameKind, FRAME_HEADER_BYTES, PEER_FRAME_BYTES_MAX, PEER_HANDSHAKE_FRAME_BYTES_MAX } from './frame.js';
import { errorText } from './outbound.js';
import { PEER_HANDSHAKE_TIMEOUT_MS, PEER_KEEPALIVE_MS, PEER_PROTOCOL_VERSION, type PeerLogger } from './types.js';

/** How long a refused connection may linger so the reply reaches the dialer. */
const PEER_REJECT_LINGER_MS = 1000;

export interface InboundContext {
  readonly localId: NodeId;
  readonly clusterId: string;
  readonly logger: PeerLogger;
  /** The handshake from `from` succeeded on `conn`. */
  accepted(conn: InboundConnection, from: NodeId): void;
  /** Whether `id` was removed from the cluster for good: its connections are refused, which
   *  tells it to stop (etcd answers such a member 410 Gone). */
  isRemoved(id: NodeId): boolean;
  deliver(m: Message, frameBytes: number): void;
  /** A message whose `to` is not localId (or whose `from` is not the handshake's) was dropped. */
  misaddressed(): void;
  closed(conn: InboundConnection): void;
}

export class InboundConnection {
  /** The peer that dialed, once its handshake is accepted. */
  from: NodeId | null = null;
  private readonly decoder = new FrameDecoder(PEER_HANDSHAKE_FRAME_BYTES_MAX);
  private handshakeTimer: NodeJS.Timeout | null;
  private done = false;
  private lingerTimer: NodeJS.Timeout | null = null;
  private readonly onFrameBound = (kind: number, body: Buffer, shared: boolean): boolean => this.onFrame(kind, body, shared);

  constructor(
    private readonly ctx: InboundContext,
    private readonly socket: net.Socket,
  ) {
    socket.setNoDelay(true);
    socket.setKeepAlive(true, PEER_KEEPALIVE_MS);
    this.handshakeTimer = setTimeout(() => this.close(`no handshake within ${PEER_HANDSHAKE_TIMEOUT_MS} ms`), PEER_HANDSHAKE_TIMEOUT_MS);
    this.handshakeTimer.unref();
    socket.on('data', (chunk: Buffer) => {
      if (this.done) return;
      const bad = this.decoder.push(chunk, this.onFrameBound);
      if (bad !== null) this.close(`malformed frame: ${bad}`);
    });
    socket.on('error', (err) => this.close(errorText(err), 'debug'));
    socket.on('close', () => {
      this.close('connection closed by peer', 'debug');
      if (this.lingerTimer) clearTimeout(this.lingerTimer);
      this.ctx.closed(this);
    });
  }

  /** Closes at once, without logging (the transport is shutting down). */
  destroy(): void {
    this.done = true;
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    this.socket.destroy();
  }

  /** Closes the connection (idempotent); logs why at `level`. */
  close(reason: string, level: 'warn' | 'debug' = 'warn'): void {
    if (this.done) return;
    this.done = true;
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    this.socket.destroy();
    this.ctx.logger[level](
      { localMemberId: this.ctx.localId, remotePeerId: this.from, remoteAddress: this.socket.remoteAddress, reason },
      'closed inbound peer connection',
    );
  }

  private onFrame(kind: number, body: Buffer, shared: boolean): boolean {
    if (this.done) return false;
    if (kind === FrameKind.hotMessage && this.from !== null) {
      const m = decodeHotBody(body, shared);
      if (typeof m === 'string') {
        this.close(`malformed message: ${m}`);
        return false;
      }
      return this.onMessage(m, body.length);
    }
    let value: unknown;
    try {
      value = decodeBody(body, shared);
    } catch (err) {
      this.close(`bad msgpack: ${errorText(err)}`);
      return false;
    }
    if (this.from === null) return this.onHandshake(kind, value);
    switch (kind) {
      case FrameKind.message: {
        const problem = messageProblem(value);
        if (problem !== null) {
          this.close(`malformed message: ${problem}`);
          return false;
        }
        return this.onMessage(value as Message, body.length);
      }
      case FrameKind.ping:
        this.socket.write(encodeFrame(FrameKind.pong, value));
        return true;
      default:
        this.close(`unexpected frame kind ${kind}`);
        return false;
    }
  }

  private onMessage(m: Message, bodyBytes: number): boolean {
    if (m.to !== this.ctx.localId || m.from !== this.from) {
      // debug, not warn: a confused peer could otherwise flood the log; it is counted.
      this.ctx.logger.debug({ localMemberId: this.ctx.localId, remotePeerId: this.from, from: m.from, to: m.to, type: m.type }, 'dropped misaddressed message');
      this.ctx.misaddressed();
      return true;
    }
    this.ctx.deliver(m, bodyBytes + FRAME_HEADER_BYTES);
    // The ack says the snapshot was received whole and handed to raft; the dialer turns it
    // into onSnapshotStatus(peer, false).
    if (m.type === 'MsgSnap' && !this.done) this.socket.write(encodeFrame(FrameKind.snapshotAck, null));
    return !this.done;
  }

  private onHandshake(kind: number, value: unknown): boolean {
    const hs = kind === FrameKind.handshake ? asHandshake(value) : null;
    if (hs === null) {
      this.close('first frame is not a handshake');
      return false;
    }
    let code: HandshakeRejectCode | null = null;
    let reason = '';
    if (hs.protocolVersion !== PEER_PROTOCOL_VERSION) {
      code = 'protocolVersion';
      reason = `protocol version ${hs.protocolVersion}, want ${PEER_PROTOCOL_VERSION}`;
    } else if (hs.clusterId !== this.ctx.clusterId) {
      code = 'clusterIdMismatch';
      reason = `cluster ID mismatch: local ${this.ctx.clusterId}, remote ${hs.clusterId}`;
    } else if (this.ctx.isRemoved(hs.from)) {
      code = 'memberRemoved';
      reason = `member ${hs.from} has been permanently removed from the cluster`;
    } else if (hs.to !== this.ctx.localId) {
      code = 'memberIdMismatch';
      reason = `member ID mismatch: local ${this.ctx.localId}, requested ${hs.to}`;
    }
    if (code !== null) {
      const reply: HandshakeReply = { ok: false, code, reason, clusterId: this.ctx.clusterId, from: this.ctx.localId };
      this.ctx.logger.warn(
        { localMemberId: this.ctx.localId, remotePeerId: hs.from, remoteClusterId: hs.clusterId, reason },
        'rejected peer connection',
      );
      this.done = true;
      if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
      // end() rather than destroy(): the reply must reach the dialer so it can log why.
      this.socket.end(encodeFrame(FrameKind.handshakeReply, reply));
      this.lingerTimer = setTimeout(() => this.socket.destroy(), PEER_REJECT_LINGER_MS);
      this.lingerTimer.unref();
      return false;
    }
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    this.handshakeTimer = null;
    this.from = hs.from;
    this.decoder.frameBytesMax = PEER_FRAME_BYTES_MAX;
    const reply: HandshakeReply = { ok: true, clusterId: this.ctx.clusterId, from: this.ctx.localId };
    this.socket.write(encodeFrame(FrameKind.handshakeReply, reply));
    this.ctx.accepted(this, hs.from);
    return true;
  }
}
