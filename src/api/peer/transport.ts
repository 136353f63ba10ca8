// PeerTransport: carries raft Messages between the members of one cluster.
//
// Each member dials every peer once and sends only on that outbound connection; it receives
// on the connections its peers dialed to it. A connection starts with a handshake
// ({ clusterId, from, to, protocolVersion }) that the listener checks before any message is
// accepted. Frames are length-prefixed msgpack (see frame.ts). Sending never blocks and never
// throws for network reasons: raft tolerates loss, so a full queue or an unreachable peer means
// dropped messages plus onUnreachable; a MsgSnap is never dropped silently (onSnapshotStatus).
import assert from 'node:assert/strict';
import net from 'node:net';
import type { Message } from '../../raft/message.js';
import type { NodeId } from '../../raft/types.js';
import { encodeFrame } from './codec.js';
import { encodeHotFrame, isHot } from './hot-codec.js';
import { FrameKind, FRAME_LENGTH_BYTES, PEER_FRAME_BYTES_MAX } from './frame.js';
import { InboundConnection, type InboundContext } from './inbound.js';
import { errorText, OutboundPeer, type OutboundContext } from './outbound.js';
import type { PeerDialer, PeerLogger, PeerServerFactory, PeerStats, PeerTransportOptions } from './types.js';

export * from './types.js';
export { PEER_FRAME_BYTES_MAX, PEER_HANDSHAKE_FRAME_BYTES_MAX } from './frame.js';

const noop = (): void => {};
const silentLogger: PeerLogger = { debug: noop, info: noop, warn: noop, error: noop };

function hostOf(url: URL): string {
  // URL keeps the brackets of an IPv6 literal; net wants it bare.
  return url.hostname.replace(/^\[(.*)\]$/, '$1');
}
/** A peer URL is http(s)://host:port; anything else is a configuration bug. */
function checkPeerUrl(url: URL): void {
  assert(url.protocol === 'http:' || url.protocol === 'https:', `peer URL ${url.href}: scheme must be http or https`);
  portOf(url);
}
function portOf(url: URL): number {
  const port = Number(url.port);
  assert(url.port !== '' && Number.isInteger(port) && port >= 0 && port <= 65535, `peer URL ${url.href} needs a port`);
  return port;
}

/** Plain TCP for http: URLs. */
export const plainDialer: PeerDialer = (url, signal) =>
  new Promise((resolve, reject) => {
    if (url.protocol !== 'http:') {
      reject(new Error(`peer URL scheme ${url.protocol} needs a TLS dialer`));
      return;
    }
    const socket = net.connect({ host: hostOf(url), port: portOf(url) });
    const onAbort = (): void => {
      socket.destroy();
      reject(new Error('dial aborted'));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => {
      signal.removeEventListener('abort', onAbort);
      resolve(socket);
    });
    socket.once('error', (err) => {
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      reject(err);
    });
  });

/** Plain TCP for http: URLs. */
export const plainServerFactory: PeerServerFactory = (url, onSocket) => {
  if (url.protocol !== 'http:') throw new Error(`peer URL scheme ${url.protocol} needs a TLS server factory`);
  return net.createServer({ noDelay: true }, onSocket);
};

interface Received {
  messages: number;
  bytes: number;
}

export class PeerTransport {
  readonly localId: NodeId;
  readonly clusterId: string;
  private readonly logger: PeerLogger;
  private readonly onMessage: (m: Message) => void;
  private readonly onUnreachable: (peerId: NodeId) => void;
  private readonly onSnapshotStatus: (peerId: NodeId, failed: boolean) => void;
  private readonly createServer: PeerServerFactory;
  private readonly peers = new Map<NodeId, OutboundPeer>();
  private readonly received = new Map<NodeId, Received>();
  private readonly inbound = new Set<InboundConnection>();
  private readonly inboundByPeer = new Map<NodeId, InboundConnection>();
  private readonly servers: net.Server[] = [];
  private readonly unreachablePending = new Set<NodeId>();
  private readonly outboundCtx: OutboundContext;
  private readonly inboundCtx: InboundContext;
  private closed = false;
  /** Messages dropped because no peer with their `to` was added (or it was removed). */
  droppedUnknownPeer = 0;
  /** Inbound messages dropped because their `to` is not this member, or their `from` is not
   *  the member that opened the connection. */
  droppedMisaddressed = 0;

  constructor(opts: PeerTransportOptions) {
    assert(opts.localId !== '', 'localId is required');
    this.localId = opts.localId;
    this.clusterId = opts.clusterId;
    this.logger = opts.logger ?? silentLogger;
    this.onMessage = opts.onMessage;
    this.onUnreachable = opts.onUnreachable ?? noop;
    this.onSnapshotStatus = opts.onSnapshotStatus ?? noop;
    this.createServer = opts.createServer ?? plainServerFactory;
    this.outboundCtx = {
      localId: this.localId,
      clusterId: this.clusterId,
      logger: this.logger,
      dial: opts.dial ?? plainDialer,
      reportUnreachable: (id) => this.reportUnreachable(id),
      reportSnapshot: (id, failed) => this.reportSnapshot(id, failed),
      removedFromCluster: (id) => {
        if (!this.closed && opts.onRemoved) this.callback('onRemoved', () => opts.onRemoved!(id));
      },
    };
    this.inboundCtx = {
      localId: this.localId,
      clusterId: this.clusterId,
      logger: this.logger,
      isRemoved: (id) => opts.isRemoved?.(id) === true,
      accepted: (conn, from) => {
        // A peer that reconnects supersedes its older connection (which may be half-open).
        const old = this.inboundByPeer.get(from);
        this.inboundByPeer.set(from, conn);
        old?.close('superseded by a new connection from the same peer', 'debug');
      },
      deliver: (m, frameBytes) => {
        const r = this.receivedOf(m.from);
        r.messages++;
        r.bytes += frameBytes;
        this.callback('onMessage', () => this.onMessage(m));
      },
      misaddressed: () => {
        this.droppedMisaddressed++;
      },
      closed: (conn) => {
        this.inbound.delete(conn);
        if (conn.from !== null && this.inboundByPeer.get(conn.from) === conn) this.inboundByPeer.delete(conn.from);
      },
    };
  }

  /** Starts accepting peer connections on `url` (http://host:port; port 0 picks one, see
   *  listenUrls()). May be called for several URLs. Rejects if the address can't be bound. */
  async listen(url: URL): Promise<void> {
    assert(!this.closed, 'listen() after close()');
    checkPeerUrl(url);
    const server = this.createServer(url, (socket) => {
      if (this.closed) {
        socket.destroy();
        return;
      }
      this.inbound.add(new InboundConnection(this.inboundCtx, socket));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: hostOf(url), port: portOf(url) }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.logger.error({ localMemberId: this.localId, err: errorText(err) }, 'peer listener error'));
    this.servers.push(server);
    this.logger.info({ localMemberId: this.localId, url: url.href }, 'listening for peers');
  }

  /** The URLs actually listened on (with the bound port). */
  listenUrls(): URL[] {
    const urls: URL[] = [];
    for (const s of this.servers) {
      const a = s.address();
      if (a === null || typeof a === 'string') continue;
      const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
      urls.push(new URL(`http://${host}:${a.port}`));
    }
    return urls;
  }

  /** Starts keeping a connection to `id` open (dialing at once). Throws if already added. */
  addPeer(id: NodeId, urls: readonly URL[]): void {
    assert(!this.closed, 'addPeer() after close()');
    assert(id !== this.localId, 'a member is not its own peer');
    assert(!this.peers.has(id), `peer ${id} already added`);
    urls.forEach(checkPeerUrl);
    this.peers.set(id, new OutboundPeer(this.outboundCtx, id, [...urls]));
  }

  /** New URLs for a peer; reconnects unless the current connection's URL is still listed. */
  updatePeer(id: NodeId, urls: readonly URL[]): void {
    const peer = this.peers.get(id);
    assert(peer !== undefined, `peer ${id} not added`);
    urls.forEach(checkPeerUrl);
    peer.updateUrls([...urls]);
  }

  /** Closes the connection to `id` and drops what is queued for it (no callbacks), and
   *  closes its inbound connection. Unknown ids are ignored. */
  removePeer(id: NodeId): void {
    this.peers.get(id)?.close();
    this.peers.delete(id);
    this.inboundByPeer.get(id)?.close('peer removed', 'debug');
    this.received.delete(id);
  }

  hasPeer(id: NodeId): boolean {
    return this.peers.has(id);
  }

  /** Queues messages to their `to` peers and returns at once. Never throws for network
   *  reasons; see PeerTransportOptions for the callbacks that report drops. */
  send(messages: readonly Message[]): void {
    if (this.closed) return;
    for (const m of messages) {
      assert(m.to !== this.localId, `message ${m.type} addressed to self`);
      const snapshot = m.type === 'MsgSnap';
      const peer = this.peers.get(m.to);
      if (peer === undefined) {
        this.droppedUnknownPeer++;
        this.logger.debug({ localMemberId: this.localId, to: m.to, type: m.type }, 'dropped message to unknown peer');
        if (snapshot) this.reportSnapshot(m.to, true);
        continue;
      }
      if (!peer.accepting()) {
        peer.drop(snapshot);
        continue;
      }
      const frame = isHot(m) ? encodeHotFrame(m) : encodeFrame(FrameKind.message, m);
      if (frame.length - FRAME_LENGTH_BYTES > PEER_FRAME_BYTES_MAX) {
        this.logger.error({ localMemberId: this.localId, remotePeerId: m.to, type: m.type, bytes: frame.length }, 'message exceeds PEER_FRAME_BYTES_MAX; dropped');
        peer.drop(snapshot);
        continue;
      }
      peer.enqueue(frame, snapshot);
    }
  }

  /** Writes every peer's queued frames now rather than at the end of this event-loop turn
   *  (where send() schedules them, to batch a turn's messages into one write). */
  flush(): void {
    if (this.closed) return;
    for (const peer of this.peers.values()) peer.flushNow();
  }

  /** When the outbound connection to `id` completed its handshake; null when it is down. */
  activeSince(id: NodeId): Date | null {
    return this.peers.get(id)?.activeSince ?? null;
  }

  /** Counters per peer: every added peer, plus any that sent us messages without being added. */
  stats(): Record<NodeId, PeerStats> {
    const out: Record<NodeId, PeerStats> = {};
    const ids = new Set<NodeId>([...this.peers.keys(), ...this.received.keys()]);
    for (const id of ids) {
      const p = this.peers.get(id);
      const r = this.received.get(id);
      out[id] = {
        peerId: id,
        connected: p?.state === 'connected',
        activeSince: p?.activeSince ?? null,
        url: p?.url ?? null,
        sentMessages: p?.sentMessages ?? 0,
        sentBytes: p?.sentBytes ?? 0,
        receivedMessages: r?.messages ?? 0,
        receivedBytes: r?.bytes ?? 0,
        droppedMessages: p?.droppedMessages ?? 0,
        failures: p?.failures ?? 0,
        socketWrites: p?.socketWrites ?? 0,
        queuedMessages: p?.queuedMessages ?? 0,
        queuedBytes: p?.queuedBytes ?? 0,
        rttMs: p?.rttMs ?? null,
      };
    }
    return out;
  }

  /** Stops listening, closes every connection, drops every queue. No callbacks fire after. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const p of this.peers.values()) p.close();
    this.peers.clear();
    for (const c of this.inbound) c.destroy();
    await Promise.all(
      this.servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))),
    );
    this.servers.length = 0;
  }

  private receivedOf(id: NodeId): Received {
    let r = this.received.get(id);
    if (r === undefined) {
      r = { messages: 0, bytes: 0 };
      this.received.set(id, r);
    }
    return r;
  }

  /** Deferred and coalesced: raft must not be re-entered from inside send(). */
  private reportUnreachable(id: NodeId): void {
    if (this.closed || this.unreachablePending.has(id)) return;
    this.unreachablePending.add(id);
    process.nextTick(() => {
      this.unreachablePending.delete(id);
      if (!this.closed) this.callback('onUnreachable', () => this.onUnreachable(id));
    });
  }

  private reportSnapshot(id: NodeId, failed: boolean): void {
    if (this.closed) return;
    process.nextTick(() => {
      if (!this.closed) this.callback('onSnapshotStatus', () => this.onSnapshotStatus(id, failed));
    });
  }

  /** Runs an application callback; a throw is logged, never allowed to break the transport. */
  private callback(name: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.logger.error({ localMemberId: this.localId, callback: name, err: errorText(err) }, 'peer transport callback threw');
    }
  }
}
