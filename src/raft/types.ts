// The data the Raft core exchanges with the world. Everything here is plain data (numbers,
// strings, Uint8Array, arrays, objects), which the peer transport and the WAL encode as is.
//
// Member ids are 16-digit lower-case hex strings (etcd's uint64 ids printed with %016x).
// Terms and indexes are JS numbers: 2^53 entries is more than any log will hold.

export type NodeId = string;

/** The id used where there is no node (no vote cast, no leader known). */
export const NONE: NodeId = '';

export type EntryType = 'normal' | 'confChange';

export interface Entry {
  readonly term: number;
  readonly index: number;
  readonly type: EntryType;
  /** For 'normal': the application's command (empty = the no-op a new leader appends).
   *  For 'confChange': encodeConfChange(ConfChange). */
  readonly data: Uint8Array;
}

export interface HardState {
  readonly term: number;
  readonly vote: NodeId;
  readonly commit: number;
}

export interface ConfState {
  readonly voters: readonly NodeId[];
  readonly learners: readonly NodeId[];
}

export interface SnapshotMetadata {
  readonly index: number;
  readonly term: number;
  readonly confState: ConfState;
}

export interface Snapshot {
  readonly metadata: SnapshotMetadata;
  /** The application's state at metadata.index, opaque to raft. */
  readonly data: Uint8Array;
}

export type ConfChangeType = 'addNode' | 'removeNode' | 'addLearner';

/** One membership change. Promoting a learner is an 'addNode' of an id that is a learner. */
export interface ConfChange {
  readonly type: ConfChangeType;
  readonly nodeId: NodeId;
  /** Opaque to raft; the application puts the member's attributes here (peer URLs, name). */
  readonly context: Uint8Array;
}

export type StateType = 'follower' | 'candidate' | 'preCandidate' | 'leader';

export interface SoftState {
  readonly lead: NodeId;
  readonly state: StateType;
}

/** A ReadIndex request that completed: reads at index >= `index` are linearizable once the
 *  application has applied up to `index`. `context` is the caller's request id, echoed. */
export interface ReadState {
  readonly index: number;
  readonly context: Uint8Array;
}
