// The peer wire format: a stream of frames, each
//
//   [u32 big-endian length][u8 kind][body (length - 1 bytes): msgpack, or hot-codec.ts's layout]
//
// `length` counts the kind byte and the body, never the 4 length bytes themselves, and is at
// least 1. The decoder below turns arbitrary TCP chunks back into frames in linear time: whole
// frames inside a chunk are handed out as views (no copy); only a frame that spans chunks is
// assembled, once, when its last byte arrives.
import assert from 'node:assert/strict';

export const FRAME_LENGTH_BYTES = 4;
export const FRAME_HEADER_BYTES = 5;

/** Largest frame (kind + body) accepted or sent after the handshake. A MsgSnap carries the
 *  whole applied state in a single frame, so this bounds the snapshot a member can send:
 *  512 MiB is a quarter of etcd's default 2 GiB backend quota, well beyond the stores tsetcd
 *  is sized for, while keeping the receiver's peak (the chunks plus the one assembled copy,
 *  about 2x the frame) affordable. Larger stores need chunked snapshot streaming. A frame
 *  claiming more closes the connection as malformed before any of it is buffered. */
export const PEER_FRAME_BYTES_MAX = 512 * 1024 * 1024;

/** Largest frame accepted before the handshake is done: a handshake is ~100 bytes, so an
 *  unauthenticated connection can never make the listener buffer more than this. */
export const PEER_HANDSHAKE_FRAME_BYTES_MAX = 4 * 1024;

export const FrameKind = {
  /** dialer -> listener, first frame: { clusterId, from, to, protocolVersion } */
  handshake: 1,
  /** listener -> dialer: { ok, code?, reason?, clusterId, from } then, if !ok, close */
  handshakeReply: 2,
  /** dialer -> listener: one raft Message */
  message: 3,
  /** dialer -> listener: a number (the dialer's clock, ms); echoed back as pong */
  ping: 4,
  /** listener -> dialer: the ping body, unchanged */
  pong: 5,
  /** listener -> dialer: the oldest MsgSnap not yet acked was received and handed to raft */
  snapshotAck: 6,
  /** dialer -> listener: one raft Message of the hot kinds, in hot-codec.ts's binary layout */
  hotMessage: 7,
} as const;
export type FrameKind = (typeof FrameKind)[keyof typeof FrameKind];

/** Called for each whole frame. `shared` is true when `body` is a view into a chunk that
 *  other frames share (so anything kept from it should be copied). Return false to stop
 *  decoding (the connection is being closed). */
export type FrameHandler = (kind: number, body: Buffer, shared: boolean) => boolean;

export class FrameDecoder {
  /** May be raised after the handshake; checked for every frame header as it is read. */
  frameBytesMax: number;
  /** Chunks (or their tails) of the one incomplete frame; total bytes in pendingBytes. */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** 4 + length of the incomplete frame once its length is known; 0 before. */
  private pendingFrameBytes = 0;

  constructor(frameBytesMax: number) {
    assert(frameBytesMax >= 1 && frameBytesMax <= PEER_FRAME_BYTES_MAX);
    this.frameBytesMax = frameBytesMax;
  }

  /** Bytes held for a frame that has not fully arrived. */
  get bufferedBytes(): number {
    return this.pendingBytes;
  }

  /** Feeds one chunk. Returns null, or the reason the stream is malformed (the caller closes
   *  the connection; the decoder must not be used again). */
  push(chunk: Buffer, onFrame: FrameHandler): string | null {
    let buf = chunk;
    let off = 0;
    if (this.pendingBytes > 0) {
      if (this.pendingFrameBytes === 0) {
        // Fewer than 4 bytes are held (the length itself is incomplete): joining them with the
        // new chunk costs O(chunk), so this stays linear.
        assert(this.pendingBytes < FRAME_LENGTH_BYTES);
        buf = Buffer.concat([...this.pending, chunk]);
        this.reset();
      } else {
        const needBytes = this.pendingFrameBytes - this.pendingBytes;
        assert(needBytes > 0);
        if (chunk.length < needBytes) {
          this.pending.push(chunk);
          this.pendingBytes += chunk.length;
          return null;
        }
        this.pending.push(chunk.subarray(0, needBytes));
        const frame = Buffer.concat(this.pending, this.pendingFrameBytes);
        this.reset();
        if (!onFrame(frame[FRAME_LENGTH_BYTES]!, frame.subarray(FRAME_HEADER_BYTES), false)) return null;
        off = needBytes;
      }
    }
    while (buf.length - off >= FRAME_LENGTH_BYTES) {
      const length = buf.readUInt32BE(off);
      const bad = this.checkLength(length);
      if (bad !== null) return bad;
      const frameBytes = FRAME_LENGTH_BYTES + length;
      if (buf.length - off < frameBytes) break;
      const keepGoing = onFrame(buf[off + FRAME_LENGTH_BYTES]!, buf.subarray(off + FRAME_HEADER_BYTES, off + frameBytes), true);
      off += frameBytes;
      if (!keepGoing) return null;
    }
    if (off < buf.length) {
      const rest = buf.subarray(off);
      this.pending = [rest];
      this.pendingBytes = rest.length;
      if (rest.length >= FRAME_LENGTH_BYTES) {
        const length = rest.readUInt32BE(0);
        const bad = this.checkLength(length);
        if (bad !== null) return bad;
        this.pendingFrameBytes = FRAME_LENGTH_BYTES + length;
        assert(this.pendingFrameBytes > this.pendingBytes);
      }
    }
    return null;
  }

  private checkLength(length: number): string | null {
    if (length === 0) return 'frame length 0';
    if (length > this.frameBytesMax) return `frame length ${length} exceeds limit ${this.frameBytesMax}`;
    return null;
  }

  private reset(): void {
    this.pending = [];
    this.pendingBytes = 0;
    this.pendingFrameBytes = 0;
  }
}
