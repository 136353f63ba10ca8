// What a member writes into the raft log: one Command per normal entry, msgpack-encoded.
// Every member applies the same commands in the same order, so nothing here may depend on the
// applying member's clock or state outside the log: times are decided by the proposer.
import { Packr } from 'msgpackr';
import type { V2Request } from '../store/v2/types.js';
import type { V3Request } from './v3.js';

/** The member attributes etcd publishes through raft once a member is up. */
export interface MemberAttributes {
  readonly name: string;
  readonly clientUrls: readonly string[];
}

export type Command =
  /** A v2 keys write (PUT/POST/DELETE) or SYNC (TTL expiry at the leader's time). */
  | { readonly t: 'v2'; readonly id: string; readonly req: V2Request }
  /** A v3 request (KV write, lease, auth, alarm), with the caller's identity for the auth check. */
  | { readonly t: 'v3'; readonly id: string; readonly req: V3Request; readonly user?: string; readonly authRev?: number }
  /** A v2 auth change; the payload is the v2 auth state's own command. */
  | { readonly t: 'v2auth'; readonly id: string; readonly cmd: unknown }
  /** A member announces its name and client URLs (etcd: publish). */
  | { readonly t: 'publish'; readonly id: string; readonly memberId: string; readonly attrs: MemberAttributes }
  /** A member's peer URLs change (etcd: ConfChangeUpdateNode). */
  | { readonly t: 'memberUpdate'; readonly id: string; readonly memberId: string; readonly peerUrls: readonly string[] }
  /** The leader decides the cluster version once every member runs a known version. */
  | { readonly t: 'clusterVersion'; readonly id: string; readonly version: string }
  /** A no-op that only proves a quorum is reachable (v2 health's quorum read, leader barrier). */
  | { readonly t: 'noop'; readonly id: string };

export type CommandType = Command['t'];

/** Raft ConfChange context: who the member is. */
export interface ConfChangeContext {
  readonly peerUrls: readonly string[];
  readonly name: string;
  readonly isLearner: boolean;
}

// One Packr with structures off: entries must decode the same on every member and after a
// restart, so no per-process shared structure table.
const packr = new Packr({ useRecords: false, moreTypes: false });

export function encodeCommand(cmd: Command): Uint8Array {
  return packr.pack(cmd);
}

export function decodeCommand(data: Uint8Array): Command {
  // msgpackr caches a DataView as a property of the buffer it decodes: on a throwaway view,
  // not on the entry's own data buffer, which the raft log keeps (a DataView and a property
  // array per entry otherwise).
  const v = packr.unpack(Buffer.from(data.buffer, data.byteOffset, data.byteLength)) as Command;
  if (v === null || typeof v !== 'object' || typeof (v as { t?: unknown }).t !== 'string' || typeof (v as { id?: unknown }).id !== 'string') {
    throw new Error('corrupt command in raft log: not a command object');
  }
  return v;
}

export function encodeContext(ctx: ConfChangeContext): Uint8Array {
  return packr.pack(ctx);
}

export function decodeContext(data: Uint8Array): ConfChangeContext {
  if (data.length === 0) return { peerUrls: [], name: '', isLearner: false };
  return packr.unpack(data) as ConfChangeContext;
}
