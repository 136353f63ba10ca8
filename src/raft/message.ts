// Raft messages: a discriminated union on `type`. Every message names its sender, receiver and
// the sender's term (0 for local messages such as MsgProp on the proposing node). Messages are
// plain data; the peer transport encodes them (a fixed binary layout for the frequent kinds,
// msgpack for the rest).
import type { Entry, NodeId, Snapshot } from './types.js';

interface Base {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: number;
}

/** A proposal forwarded from a follower to the leader. */
export interface MsgProp extends Base { readonly type: 'MsgProp'; readonly entries: readonly Entry[] }
/** Replicate entries after (logTerm, index). */
export interface MsgApp extends Base {
  readonly type: 'MsgApp';
  readonly logTerm: number;
  readonly index: number;
  readonly entries: readonly Entry[];
  readonly commit: number;
}
export interface MsgAppResp extends Base {
  readonly type: 'MsgAppResp';
  /** On success the last index the follower now matches; on reject the index that was probed. */
  readonly index: number;
  readonly reject: boolean;
  /** On reject: a hint for fast backtracking (the follower's guess of the last matching index)
   *  and the term of the follower's entry there. */
  readonly rejectHint: number;
  readonly logTerm: number;
}
export interface MsgVote extends Base { readonly type: 'MsgVote' | 'MsgPreVote'; readonly logTerm: number; readonly index: number; readonly transfer: boolean }
export interface MsgVoteResp extends Base { readonly type: 'MsgVoteResp' | 'MsgPreVoteResp'; readonly reject: boolean }
export interface MsgHeartbeat extends Base { readonly type: 'MsgHeartbeat'; readonly commit: number; readonly context: Uint8Array }
export interface MsgHeartbeatResp extends Base { readonly type: 'MsgHeartbeatResp'; readonly context: Uint8Array }
export interface MsgSnap extends Base { readonly type: 'MsgSnap'; readonly snapshot: Snapshot }
/** Leader to transferee: campaign now, without waiting for the election timeout. */
export interface MsgTimeoutNow extends Base { readonly type: 'MsgTimeoutNow' }
/** Follower to leader: please transfer leadership to `from`'s choice (`transferee`). */
export interface MsgTransferLeader extends Base { readonly type: 'MsgTransferLeader'; readonly transferee: NodeId }
/** Follower to leader: a ReadIndex request; leader answers with MsgReadIndexResp. */
export interface MsgReadIndex extends Base { readonly type: 'MsgReadIndex'; readonly context: Uint8Array }
export interface MsgReadIndexResp extends Base { readonly type: 'MsgReadIndexResp'; readonly index: number; readonly context: Uint8Array }

export type Message =
  | MsgProp | MsgApp | MsgAppResp | MsgVote | MsgVoteResp | MsgHeartbeat | MsgHeartbeatResp
  | MsgSnap | MsgTimeoutNow | MsgTransferLeader | MsgReadIndex | MsgReadIndexResp;

export type MessageType = Message['type'];
