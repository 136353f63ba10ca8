// msgpack bodies of peer frames, and the checks a decoded raft Message must pass before it is
// handed to raft: a peer's bytes are input, and a malformed one must close that connection,
// never reach the state machine.
import assert from 'node:assert/strict';
import { Packr, Unpackr, RESERVE_START_SPACE } from 'msgpackr';
import type { Message, MessageType } from '../../raft/message.js';
import { FRAME_HEADER_BYTES, FRAME_LENGTH_BYTES, type FrameKind } from './frame.js';

// Plain maps, no records: every frame decodes on its own, with no structure table shared
// between the two ends (a reconnect would otherwise need to resend it).
const packr = new Packr({ useRecords: false });
// A frame that is a view into a chunk shared with other frames: copy binary fields out, so a
// raft Entry kept in the log does not pin the whole 64 KiB socket chunk it arrived in.
const unpackrCopying = new Unpackr({ useRecords: false, copyBuffers: true });
// A frame assembled into its own buffer (e.g. a snapshot): binary fields are views, no copy.
const unpackrViewing = new Unpackr({ useRecords: false });

/** Encodes `value` as one whole frame (header included) in a single buffer. The header is
 *  written into space msgpackr reserves in front of the body, so even a large snapshot is
 *  encoded without a second copy. Throws if the value cannot be encoded (a caller bug). */
export function encodeFrame(kind: FrameKind, value: unknown): Buffer {
  const frame = packr.pack(value, RESERVE_START_SPACE | FRAME_HEADER_BYTES);
  assert(frame.length > FRAME_HEADER_BYTES);
  frame.writeUInt32BE(frame.length - FRAME_LENGTH_BYTES, 0);
  frame[FRAME_LENGTH_BYTES] = kind;
  return frame;
}

/** Decodes a frame body; throws on bad msgpack (including trailing bytes). */
export function decodeBody(body: Buffer, shared: boolean): unknown {
  return (shared ? unpackrCopying : unpackrViewing).unpack(body);
}

export interface Handshake {
  readonly clusterId: string;
  readonly from: string;
  readonly to: string;
  readonly protocolVersion: number;
}

export type HandshakeRejectCode = 'clusterIdMismatch' | 'memberIdMismatch' | 'protocolVersion' | 'memberRemoved';

export interface HandshakeReply {
  readonly ok: boolean;
  readonly code?: HandshakeRejectCode;
  readonly reason?: string;
  readonly clusterId: string;
  readonly from: string;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}
function isUint(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}
function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((s) => typeof s === 'string');
}

export function asHandshake(v: unknown): Handshake | null {
  if (!isRecord(v)) return null;
  if (typeof v.clusterId !== 'string' || typeof v.from !== 'string' || typeof v.to !== 'string') return null;
  if (!isUint(v.protocolVersion)) return null;
  return v as unknown as Handshake;
}

export function asHandshakeReply(v: unknown): HandshakeReply | null {
  if (!isRecord(v)) return null;
  if (typeof v.ok !== 'boolean' || typeof v.clusterId !== 'string' || typeof v.from !== 'string') return null;
  return v as unknown as HandshakeReply;
}

function isEntries(v: unknown): boolean {
  if (!Array.isArray(v)) return false;
  for (const e of v) {
    if (!isRecord(e) || !isUint(e.term) || !isUint(e.index) || !(e.data instanceof Uint8Array)) return false;
    if (e.type !== 'normal' && e.type !== 'confChange') return false;
  }
  return true;
}

function isSnapshot(v: unknown): boolean {
  if (!isRecord(v) || !(v.data instanceof Uint8Array) || !isRecord(v.metadata)) return false;
  const md = v.metadata;
  if (!isUint(md.index) || !isUint(md.term) || !isRecord(md.confState)) return false;
  return isStringArray(md.confState.voters) && isStringArray(md.confState.learners);
}

/** Returns null if `v` is a well-formed raft Message, else why not. Checks every field raft
 *  reads, per type; the switch is exhaustive over MessageType. */
export function messageProblem(v: unknown): string | null {
  if (!isRecord(v)) return 'message is not an object';
  if (typeof v.type !== 'string') return 'message has no type';
  if (typeof v.from !== 'string' || typeof v.to !== 'string') return 'message from/to are not strings';
  if (!isUint(v.term)) return 'message term is not a non-negative integer';
  const type = v.type as MessageType;
  let ok: boolean;
  switch (type) {
    case 'MsgProp':
      ok = isEntries(v.entries);
      break;
    case 'MsgApp':
      ok = isUint(v.logTerm) && isUint(v.index) && isUint(v.commit) && isEntries(v.entries);
      break;
    case 'MsgAppResp':
      ok = isUint(v.index) && typeof v.reject === 'boolean' && isUint(v.rejectHint) && isUint(v.logTerm);
      break;
    case 'MsgVote':
    case 'MsgPreVote':
      ok = isUint(v.logTerm) && isUint(v.index) && typeof v.transfer === 'boolean';
      break;
    case 'MsgVoteResp':
    case 'MsgPreVoteResp':
      ok = typeof v.reject === 'boolean';
      break;
    case 'MsgHeartbeat':
      ok = isUint(v.commit) && v.context instanceof Uint8Array;
      break;
    case 'MsgHeartbeatResp':
    case 'MsgReadIndex':
      ok = v.context instanceof Uint8Array;
      break;
    case 'MsgReadIndexResp':
      ok = isUint(v.index) && v.context instanceof Uint8Array;
      break;
    case 'MsgSnap':
      ok = isSnapshot(v.snapshot);
      break;
    case 'MsgTimeoutNow':
      ok = true;
      break;
    case 'MsgTransferLeader':
      ok = typeof v.transferee === 'string';
      break;
    default: {
      const unknownType: never = type;
      return `unknown message type ${JSON.stringify(String(unknownType)).slice(0, 64)}`;
    }
  }
  return ok ? null : `malformed ${type}`;
}

export function isMessage(v: unknown): v is Message {
  return messageProblem(v) === null;
}
