// The peer transport's public types and limits.
import net from 'node:net';
import type { Message } from '../../raft/message.js';
import type { NodeId } from '../../raft/types.js';

/** Bumped on any incompatible change to frames or the handshake; a listener refuses others. */
export const PEER_PROTOCOL_VERSION = 2;

/** Outbound queue per peer, by count. At the limit a new message (other than MsgSnap) is
 *  dropped, counted in droppedMessages, and onUnreachable(peer) is reported: raft tolerates
 *  loss and the leader falls back to probing that follower. */
export const PEER_QUEUE_MESSAGES_MAX = 4096;
/** Outbound queue per peer, by encoded bytes; same behaviour at the limit. */
export const PEER_QUEUE_BYTES_MAX = 64 * 1024 * 1024;
/** MsgSnap queued or written but not yet acked by the receiver, per peer. MsgSnap bypasses
 *  the two limits above (it is never silently dropped); past this one it fails at once with
 *  onSnapshotStatus(peer, true). Raft sends one snapshot per follower at a time. */
export const PEER_SNAPSHOTS_INFLIGHT_MAX = 2;

/** One flush hands the socket at most this many bytes (then waits for 'drain' if node's
 *  buffer is over its high-water mark): small frames are copied into one buffer, so a flush is
 *  one write syscall. */
export const PEER_WRITE_BATCH_BYTES_MAX = 256 * 1024;
/** Frames at least this big are handed to the socket as they are (writev via cork), not
 *  copied into the batch buffer. */
export const PEER_WRITE_COPY_BYTES_MAX = 64 * 1024;

/** Reconnect backoff: doubles after each failed attempt from MIN to MAX; reset by a
 *  successful handshake. A connection that was up and broke is retried after MIN. */
export const PEER_BACKOFF_MS_MIN = 50;
export const PEER_BACKOFF_MS_MAX = 1000;
/** Limit on connect + handshake reply (etcd's peer dial timeout is 1 s). */
export const PEER_DIAL_TIMEOUT_MS = 1000;
/** A listener closes an inbound connection that has not sent its handshake by then. */
export const PEER_HANDSHAKE_TIMEOUT_MS = 5000;
/** An idle outbound connection is pinged this often; the echo gives the rtt estimate. */
export const PEER_PING_INTERVAL_MS = 1000;
/** TCP keep-alive on peer sockets, so a vanished host is eventually noticed. */
export const PEER_KEEPALIVE_MS = 5000;

/** Structural subset of pino's Logger, so a pino instance (or child) can be passed. */
export interface PeerLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** Opens a connection to a peer URL and resolves once it can carry bytes (for TLS: after
 *  'secureConnect'). Must destroy the socket and reject when `signal` aborts. The default is
 *  plain TCP for http: URLs; a TLS dialer for https: arrives with TLS support. */
export type PeerDialer = (url: URL, signal: AbortSignal) => Promise<net.Socket>;

/** Creates an unlistening server for a peer URL that calls `onSocket` for every connection
 *  ready to carry bytes (for TLS: on 'secureConnection'). Default: net.createServer for http:. */
export type PeerServerFactory = (url: URL, onSocket: (socket: net.Socket) => void) => net.Server;

export interface PeerTransportOptions {
  /** This member's id (16 hex digits). */
  readonly localId: NodeId;
  /** The cluster id; a peer with another one is refused in the handshake. */
  readonly clusterId: string;
  readonly logger?: PeerLogger;
  /** Every well-formed message addressed to localId, in the order its sender sent it. */
  readonly onMessage: (m: Message) => void;
  /** The peer could not be reached: messages to it were dropped. Deferred (process.nextTick),
   *  never synchronous from send(), and coalesced: once per peer per synchronous run. */
  readonly onUnreachable?: (peerId: NodeId) => void;
  /** Deferred like onUnreachable, once per MsgSnap. A MsgSnap to the peer failed (failed = true: dropped, refused, or its connection broke
   *  before the receiver acked it) or was received and handed to raft (failed = false). */
  readonly onSnapshotStatus?: (peerId: NodeId, failed: boolean) => void;
  /** Inbound: refuse connections from these (members removed from the cluster). */
  readonly isRemoved?: (id: NodeId) => boolean;
  /** Outbound: a peer refused us because we were removed from the cluster. */
  onRemoved?: (byPeer: NodeId) => void;
  readonly dial?: PeerDialer;
  readonly createServer?: PeerServerFactory;
}

export interface PeerStats {
  readonly peerId: NodeId;
  /** The outbound connection has completed its handshake. */
  readonly connected: boolean;
  readonly activeSince: Date | null;
  /** The URL of the current (or last tried) outbound connection. */
  readonly url: string | null;
  /** Messages and bytes (frames, headers included) handed to the socket. */
  readonly sentMessages: number;
  readonly sentBytes: number;
  /** Well-formed messages from this peer delivered to onMessage, and their frame bytes. */
  readonly receivedMessages: number;
  readonly receivedBytes: number;
  /** Messages to this peer dropped: queue full, peer unreachable, or connection lost. */
  readonly droppedMessages: number;
  /** Failed dial/handshake attempts plus established connections that broke. */
  readonly failures: number;
  /** Socket flushes: each is one write (or one corked writev) carrying one or more frames. */
  readonly socketWrites: number;
  readonly queuedMessages: number;
  readonly queuedBytes: number;
  /** Smoothed round-trip time (EWMA, 1/8 weight per sample) from handshake and pings; null
   *  before the first sample. */
  readonly rttMs: number | null;
}
