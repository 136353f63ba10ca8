// The contract between the Raft core and its callers (the member server, the simulator).
// The core is pure: no I/O, no timers, no clock, no Math.random. The caller ticks it, steps
// messages into it, and drains Ready.
import type { ConfChange, ConfState, Entry, HardState, NodeId, ReadState, Snapshot, SoftState } from './types.js';
import type { Message } from './message.js';

/** What raft reads of the durable log. The caller keeps it in step with what it persisted
 *  (MemoryStorage in ./storage.ts is the usual implementation, mirrored from the WAL). */
export interface RaftStorage {
  initialState(): { hardState: HardState; confState: ConfState };
  /** Entries [lo, hi), at most maxBytes in total (but always at least one if any). Throws
   *  RaftCompactedError if lo <= the compacted index, RaftUnavailableError if hi > last + 1. */
  entries(lo: number, hi: number, maxBytes: number): Entry[];
  /** Term of entry i; i may be the snapshot index. Same errors as entries(). */
  term(i: number): number;
  firstIndex(): number;
  lastIndex(): number;
  snapshot(): Snapshot;
}

export interface RaftLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface RaftConfig {
  readonly id: NodeId;
  /** Ticks without hearing from a leader before an election; the actual timeout is drawn
   *  from [electionTick, 2*electionTick) with `random`. */
  readonly electionTick: number;
  readonly heartbeatTick: number;
  readonly storage: RaftStorage;
  /** Last index the application has applied (on restart); committed entries after it are
   *  handed out again. */
  readonly applied: number;
  /** Limit on the bytes of entries in one MsgApp. */
  readonly maxSizePerMsg: number;
  /** Limit on un-acknowledged MsgApp in flight to one follower (the pipelining window). */
  readonly maxInflightMsgs: number;
  /** Limit on entries (and bytes) accepted in one proposal batch; larger is refused. */
  readonly maxProposalEntries?: number;
  readonly maxProposalBytes?: number;
  readonly checkQuorum: boolean;
  readonly preVote: boolean;
  /** Seeded source in [0, 1). The core uses nothing else for randomness. */
  readonly random: () => number;
  readonly logger?: RaftLogger;
  /** The leader counts its own copy of new entries toward commit only once the caller reports
   *  them durable (RawNodeApi.reportPersisted), not when they are appended. This lets the caller
   *  go on with later Readys while the leader's disk write is in flight (etcd 3.6's async storage
   *  writes, for the leader's side). Off: the classic contract (persist before advance). */
  readonly leaderCountsSelfWhenPersisted?: boolean;
  /** Test-only switches that break safety on purpose, to prove the simulator's checks can fail.
   *  Never set outside tests. */
  readonly testingBugs?: {
    /** Grant votes without checking that the candidate's log is at least as up to date. */
    readonly voteIgnoresLog?: boolean;
    /** Count replicas of entries from earlier terms to advance commit (Raft paper fig. 8 bug). */
    readonly commitPreviousTermByCounting?: boolean;
  };
}

/** Everything the caller must do, in this order: persist hardState + entries (+ snapshot)
 *  durably (fsync if mustSync), then send messages, then apply snapshot and committedEntries,
 *  then call advance(). (The leader may send its messages before its own fsync, as etcd does.) */
export interface Ready {
  readonly softState?: SoftState;
  readonly hardState?: HardState;
  readonly readStates: readonly ReadState[];
  readonly entries: readonly Entry[];
  readonly snapshot?: Snapshot;
  readonly committedEntries: readonly Entry[];
  readonly messages: readonly Message[];
  readonly mustSync: boolean;
}

export interface RaftStatus {
  readonly id: NodeId;
  readonly term: number;
  readonly vote: NodeId;
  readonly commit: number;
  readonly applied: number;
  readonly lead: NodeId;
  readonly state: SoftState['state'];
  readonly lastIndex: number;
  readonly confState: ConfState;
  /** Only on the leader: each peer's match/next index and whether it is recently active. */
  readonly progress?: Readonly<Record<NodeId, { match: number; next: number; state: 'probe' | 'replicate' | 'snapshot'; recentActive: boolean }>>;
  readonly leadTransferee: NodeId;
}

export interface RawNodeApi {
  tick(): void;
  /** Start an election now (used by tests and by a member told to campaign). */
  campaign(): void;
  /** Propose application data. Throws ProposalDroppedError when there is no leader or a
   *  leader transfer is in progress, or when the batch is over the limits. */
  propose(data: Uint8Array): void;
  /** Propose several entries as one batch: one append on the leader, one MsgApp per follower
   *  (or one forwarded MsgProp). All or none: throws ProposalDroppedError as propose does. */
  proposeBatch(datas: readonly Uint8Array[]): void;
  /** Propose a membership change. At most one may be pending (appended but not applied);
   *  a second is dropped (throws ProposalDroppedError). */
  proposeConfChange(cc: ConfChange): void;
  /** Apply a committed conf change entry; returns the new ConfState. The caller calls this
   *  when it applies the entry (the change takes effect at apply time, as in etcd/raft). */
  applyConfChange(cc: ConfChange): ConfState;
  /** Feed a message received from a peer (or a local MsgProp). Malformed messages are rejected
   *  with a logged reason and change nothing. */
  step(m: Message): void;
  /** Ask for a linearizable read point; the answer arrives as a ReadState in a later Ready. */
  readIndex(context: Uint8Array): void;
  transferLeader(transferee: NodeId): void;
  /** Tell raft a follower is unreachable / a snapshot send finished. */
  reportUnreachable(id: NodeId): void;
  /** With leaderCountsSelfWhenPersisted: the log up to `index` (an entry of `term`) is durable. */
  reportPersisted(index: number, term: number): void;
  reportSnapshot(id: NodeId, failed: boolean): void;
  hasReady(): boolean;
  ready(): Ready;
  advance(rd: Ready): void;
  status(): RaftStatus;
}

export class ProposalDroppedError extends Error {
  constructor(reason: string) {
    super(`raft proposal dropped: ${reason}`);
    this.name = 'ProposalDroppedError';
  }
}

export class RaftCompactedError extends Error {
  constructor() {
    super('requested index is unavailable due to compaction');
    this.name = 'RaftCompactedError';
  }
}

export class RaftUnavailableError extends Error {
  constructor() {
    super('requested entry at index is unavailable');
    this.name = 'RaftUnavailableError';
  }
}

export class RaftSnapshotTemporarilyUnavailableError extends Error {
  constructor() {
    super('snapshot is temporarily unavailable');
    this.name = 'RaftSnapshotTemporarilyUnavailableError';
  }
}
