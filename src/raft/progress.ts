// What the leader knows of each follower (etcd/raft's tracker package), and the membership.
import type { ConfState, NodeId } from './types.js';
import { assert } from './log.js';

/** The pipelining window: last indexes of MsgApp sent to one follower and not yet acknowledged.
 *  A ring buffer of at most `size` (config.maxInflightMsgs) slots; when full the follower is
 *  paused until an acknowledgement frees a slot (or a heartbeat response frees the oldest). */
export class Inflights {
  private start = 0;
  count = 0;
  private readonly buffer: number[];

  constructor(readonly size: number) {
    assert(Number.isInteger(size) && size > 0, `maxInflightMsgs must be a positive integer, got ${size}`);
    // Allocated lazily up to size: most followers never fill the window.
    this.buffer = [];
  }

  add(inflight: number): void {
    assert(!this.full(), 'cannot add into a full inflights window');
    let next = this.start + this.count;
    if (next >= this.size) next -= this.size;
    this.buffer[next] = inflight;
    this.count++;
  }

  /** Free every inflight with index <= to. */
  freeLE(to: number): void {
    if (this.count === 0 || to < this.buffer[this.start]!) return;
    let idx = this.start;
    let i = 0;
    for (; i < this.count; i++) {
      if (to < this.buffer[idx]!) break;
      idx++;
      if (idx >= this.size) idx -= this.size;
    }
    this.count -= i;
    this.start = idx;
    if (this.count === 0) this.start = 0;
  }

  freeFirstOne(): void {
    if (this.count === 0) return;
    this.freeLE(this.buffer[this.start]!);
  }

  full(): boolean {
    return this.count === this.size;
  }

  reset(): void {
    this.count = 0;
    this.start = 0;
  }
}

export type ProgressState = 'probe' | 'replicate' | 'snapshot';

export class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  /** In 'snapshot' state: the index of the snapshot being sent. */
  pendingSnapshot = 0;
  /** Heard from since the last check-quorum round (or freshly added). */
  recentActive = false;
  /** In 'probe' state: one MsgApp is out, wait for its answer (or a heartbeat response). */
  probeSent = false;
  readonly inflights: Inflights;
  isLearner: boolean;

  constructor(next: number, maxInflight: number, isLearner: boolean) {
    this.next = next;
    this.inflights = new Inflights(maxInflight);
    this.isLearner = isLearner;
  }

  private resetState(state: ProgressState): void {
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.state = state;
    this.inflights.reset();
  }

  becomeProbe(): void {
    if (this.state === 'snapshot') {
      // Resume after the snapshot: the follower holds at least up to it if it succeeded.
      const pending = this.pendingSnapshot;
      this.resetState('probe');
      this.next = Math.max(this.match + 1, pending + 1);
    } else {
      this.resetState('probe');
      this.next = this.match + 1;
    }
  }

  becomeReplicate(): void {
    this.resetState('replicate');
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.resetState('snapshot');
    this.pendingSnapshot = snapshotIndex;
  }

  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.probeSent = false;
    }
    if (this.next < n + 1) this.next = n + 1;
    return updated;
  }

  optimisticUpdate(n: number): void {
    this.next = n + 1;
  }

  /** A rejection of the MsgApp at `rejected`; `matchHint` is the leader's guess (from the
   *  follower's hint) of the last index that matches. False if the rejection is stale. */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), 1);
    this.probeSent = false;
    return true;
  }

  isPaused(): boolean {
    switch (this.state) {
      case 'probe': return this.probeSent;
      case 'replicate': return this.inflights.full();
      case 'snapshot': return true;
      default: {
        const never: never = this.state;
        throw new Error(`unknown progress state ${String(never)}`);
      }
    }
  }
}

/** The membership (voters, learners; disjoint) and each member's progress. Ids are kept sorted
 *  so every member iterates them in the same order (deterministic message order). */
export class ProgressTracker {
  readonly progress = new Map<NodeId, Progress>();
  ids: NodeId[] = [];
  voterCount = 0;
  votes = new Map<NodeId, boolean>();

  constructor(readonly maxInflight: number) {}

  private resort(): void {
    this.ids = [...this.progress.keys()].sort();
    let v = 0;
    for (const pr of this.progress.values()) if (!pr.isLearner) v++;
    this.voterCount = v;
  }

  add(id: NodeId, next: number, isLearner: boolean): Progress {
    assert(!this.progress.has(id), `progress for ${id} already exists`);
    const pr = new Progress(next, this.maxInflight, isLearner);
    this.progress.set(id, pr);
    this.resort();
    return pr;
  }

  remove(id: NodeId): void {
    this.progress.delete(id);
    this.votes.delete(id);
    this.resort();
  }

  promote(id: NodeId): void {
    const pr = this.progress.get(id);
    assert(pr !== undefined && pr.isLearner, `promote of ${id}, which is not a learner`);
    pr.isLearner = false;
    this.resort();
  }

  isVoter(id: NodeId): boolean {
    const pr = this.progress.get(id);
    return pr !== undefined && !pr.isLearner;
  }

  quorum(): number {
    return Math.floor(this.voterCount / 2) + 1;
  }

  confState(): ConfState {
    const voters: NodeId[] = [];
    const learners: NodeId[] = [];
    for (const id of this.ids) (this.progress.get(id)!.isLearner ? learners : voters).push(id);
    return { voters, learners };
  }

  /** The largest index replicated on a quorum of voters. */
  committed(): number {
    if (this.voterCount === 0) return 0; // no voters: nothing can commit (caller guards)
    const matches: number[] = [];
    for (const pr of this.progress.values()) if (!pr.isLearner) matches.push(pr.match);
    matches.sort((a, b) => b - a);
    return matches[this.quorum() - 1]!;
  }

  resetVotes(): void {
    this.votes.clear();
  }

  recordVote(id: NodeId, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }

  /** Tally over voters only: learners' answers never count. */
  tallyVotes(): { granted: number; rejected: number; result: 'won' | 'lost' | 'pending' } {
    let granted = 0;
    let rejected = 0;
    for (const [id, v] of this.votes) {
      if (!this.isVoter(id)) continue;
      if (v) granted++;
      else rejected++;
    }
    const q = this.quorum();
    if (granted >= q) return { granted, rejected, result: 'won' };
    if (rejected > this.voterCount - q) return { granted, rejected, result: 'lost' };
    return { granted, rejected, result: 'pending' };
  }

  quorumActive(): boolean {
    let active = 0;
    for (const pr of this.progress.values()) if (!pr.isLearner && pr.recentActive) active++;
    return active >= this.quorum();
  }
}
