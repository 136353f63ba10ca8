// Validation of messages received from peers. The transport hands us whatever arrived; a
// malformed message must be rejected before it touches any state, with a reason to log.
import type { Entry, Snapshot } from './types.js';
import type { Message } from './message.js';
import { MAX_ENTRIES_PER_MESSAGE } from './limits.js';

const TYPES = new Set<string>([
  'MsgProp', 'MsgApp', 'MsgAppResp', 'MsgVote', 'MsgPreVote', 'MsgVoteResp', 'MsgPreVoteResp',
  'MsgHeartbeat', 'MsgHeartbeatResp', 'MsgSnap', 'MsgTimeoutNow', 'MsgTransferLeader',
  'MsgReadIndex', 'MsgReadIndexResp',
]);

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function isId(v: unknown): v is string {
  return typeof v === 'string' && v.length > 0;
}

function checkEntryShape(e: unknown, i: number): string | undefined {
  if (typeof e !== 'object' || e === null) return `entry ${i} is not an object`;
  const x = e as Partial<Entry>;
  if (!isCount(x.term)) return `entry ${i} has a bad term`;
  if (!isCount(x.index)) return `entry ${i} has a bad index`;
  if (x.type !== 'normal' && x.type !== 'confChange') return `entry ${i} has a bad type`;
  if (!(x.data instanceof Uint8Array)) return `entry ${i} data is not bytes`;
  return undefined;
}

function checkEntries(v: unknown): string | undefined {
  if (!Array.isArray(v)) return 'entries is not an array';
  if (v.length > MAX_ENTRIES_PER_MESSAGE) return `${v.length} entries is over MAX_ENTRIES_PER_MESSAGE (${MAX_ENTRIES_PER_MESSAGE})`;
  for (let i = 0; i < v.length; i++) {
    const r = checkEntryShape(v[i], i);
    if (r) return r;
  }
  return undefined;
}

function checkSnapshot(v: unknown): string | undefined {
  if (typeof v !== 'object' || v === null) return 'snapshot is not an object';
  const s = v as Partial<Snapshot>;
  if (!(s.data instanceof Uint8Array)) return 'snapshot data is not bytes';
  const md = s.metadata;
  if (typeof md !== 'object' || md === null) return 'snapshot metadata missing';
  if (!isCount(md.index) || !isCount(md.term)) return 'snapshot index/term invalid';
  if (md.index === 0 || md.term === 0) return 'snapshot is empty';
  const cs = md.confState;
  if (typeof cs !== 'object' || cs === null || !Array.isArray(cs.voters) || !Array.isArray(cs.learners)) return 'snapshot confState invalid';
  if (!cs.voters.every(isId) || !cs.learners.every(isId)) return 'snapshot confState has a bad id';
  return undefined;
}

/** Returns why `m` is malformed, or undefined when it is well-formed. */
export function validateMessage(m: unknown): string | undefined {
  if (typeof m !== 'object' || m === null) return 'message is not an object';
  const x = m as Record<string, unknown>;
  if (typeof x.type !== 'string' || !TYPES.has(x.type)) return `unknown message type ${String(x.type)}`;
  if (!isId(x.from)) return 'from is empty';
  if (!isId(x.to)) return 'to is empty';
  if (!isCount(x.term)) return 'term is not a non-negative integer';
  const msg = m as Message;
  switch (msg.type) {
    case 'MsgProp': {
      const r = checkEntries(msg.entries);
      if (r) return r;
      if (msg.entries.length === 0) return 'empty proposal';
      return undefined;
    }
    case 'MsgApp': {
      if (!isCount(msg.index) || !isCount(msg.logTerm) || !isCount(msg.commit)) return 'index/logTerm/commit invalid';
      if (msg.term === 0) return 'MsgApp with term 0';
      if (msg.logTerm > msg.term) return 'logTerm is above the message term';
      const r = checkEntries(msg.entries);
      if (r) return r;
      let prevTerm = msg.logTerm;
      for (let i = 0; i < msg.entries.length; i++) {
        const e = msg.entries[i]!;
        if (e.index !== msg.index + 1 + i) return `entry indexes not contiguous at ${i}`;
        if (e.term < prevTerm || e.term > msg.term) return `entry ${i} term out of order`;
        prevTerm = e.term;
      }
      return undefined;
    }
    case 'MsgAppResp':
      if (!isCount(msg.index) || !isCount(msg.rejectHint) || !isCount(msg.logTerm)) return 'index/rejectHint/logTerm invalid';
      if (typeof msg.reject !== 'boolean') return 'reject is not a boolean';
      return undefined;
    case 'MsgVote':
    case 'MsgPreVote':
      if (!isCount(msg.index) || !isCount(msg.logTerm)) return 'index/logTerm invalid';
      if (msg.term === 0) return 'vote request with term 0';
      if (typeof msg.transfer !== 'boolean') return 'transfer is not a boolean';
      return undefined;
    case 'MsgVoteResp':
    case 'MsgPreVoteResp':
      if (typeof msg.reject !== 'boolean') return 'reject is not a boolean';
      return undefined;
    case 'MsgHeartbeat':
      if (!isCount(msg.commit)) return 'commit invalid';
      if (msg.term === 0) return 'heartbeat with term 0';
      if (!(msg.context instanceof Uint8Array)) return 'context is not bytes';
      return undefined;
    case 'MsgHeartbeatResp':
    case 'MsgReadIndex':
      if (!(msg.context instanceof Uint8Array)) return 'context is not bytes';
      return undefined;
    case 'MsgReadIndexResp':
      if (!isCount(msg.index)) return 'index invalid';
      if (!(msg.context instanceof Uint8Array)) return 'context is not bytes';
      return undefined;
    case 'MsgSnap':
      if (msg.term === 0) return 'snapshot with term 0';
      return checkSnapshot(msg.snapshot);
    case 'MsgTimeoutNow':
      if (msg.term === 0) return 'MsgTimeoutNow with term 0';
      return undefined;
    case 'MsgTransferLeader':
      if (!isId(msg.transferee)) return 'transferee is empty';
      return undefined;
    default: {
      const never: never = msg;
      return `unknown message type ${String((never as { type: unknown }).type)}`;
    }
  }
}
