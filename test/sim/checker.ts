// Safety invariants of Raft, checked incrementally as the simulator runs. The checker knows
// nothing of RawNode: it is fed plain facts (a node became leader, appended entries, applied an
// entry, got a ReadState), so checker.test.ts can feed it hand-made bad histories.

export type Invariant =
  | 'electionSafety'
  | 'logMatching'
  | 'leaderCompleteness'
  | 'stateMachineSafety'
  | 'readIndex'
  | 'liveness';

export class InvariantViolation extends Error {
  constructor(readonly invariant: Invariant, detail: string) {
    super(`${invariant}: ${detail}`);
    this.name = 'InvariantViolation';
  }
}

/** An entry as the checker sees it: position, term and a fingerprint of type + data. */
export interface EntryFact {
  readonly index: number;
  readonly term: number;
  readonly hash: number;
}

/** What a leader's log holds, read through the caller's own structures (no copies). */
export interface LogView {
  /** Entries at or below this index are covered by the node's snapshot. */
  readonly snapshotIndex: number;
  readonly lastIndex: number;
  /** Term and fingerprint of entry i, for snapshotIndex < i <= lastIndex. */
  termAt(i: number): number;
  hashAt(i: number): number;
}

interface MatchRecord {
  readonly term: number;
  readonly hash: number;
  readonly prevTerm: number;
}

export class Checker {
  /** term -> the one leader elected in it. */
  private readonly leaderByTerm = new Map<number, string>();
  /** index -> every (term, hash, prevTerm) seen at that index in any node's log. */
  private readonly seen = new Map<number, MatchRecord[]>();
  /** index -> the entry the first applier applied there (term, hash). */
  private readonly appliedTerm: number[] = [];
  private readonly appliedHash: number[] = [];
  /** index -> the application state fingerprint after applying up to it. */
  private readonly stateHash = new Map<number, number>();
  /** Highest index applied by any node: every later ReadIndex must reach at least this. */
  maxApplied = 0;
  /** Highest index any node knows to be committed. */
  maxCommit = 0;
  private readonly pendingReads = new Map<string, number>();
  readsChecked = 0;
  leadersSeen = 0;

  /** Election safety (one leader per term) and leader completeness (the new leader holds every
   *  entry applied anywhere so far). */
  onLeader(id: string, term: number, log: LogView): void {
    this.leadersSeen++;
    const prev = this.leaderByTerm.get(term);
    if (prev !== undefined && prev !== id) {
      throw new InvariantViolation('electionSafety', `term ${term} has two leaders: ${prev} and ${id}`);
    }
    this.leaderByTerm.set(term, id);
    for (let i = log.snapshotIndex + 1; i <= this.maxApplied; i++) {
      const t = this.appliedTerm[i];
      if (t === undefined) continue;
      if (i > log.lastIndex) {
        throw new InvariantViolation('leaderCompleteness',
          `leader ${id} of term ${term} ends at index ${log.lastIndex} but index ${i} (term ${t}) was committed`);
      }
      if (log.termAt(i) !== t || log.hashAt(i) !== this.appliedHash[i]) {
        throw new InvariantViolation('leaderCompleteness',
          `leader ${id} of term ${term} has term ${log.termAt(i)} at index ${i}, but term ${t} was committed there`);
      }
    }
  }

  /** Log matching: two logs with an entry of the same index and term agree on it and on the
   *  term of the entry before it (so, by induction, on the whole prefix). `prevTerm` is the
   *  term the appending node's log holds at entry.index - 1. */
  onAppend(id: string, entry: EntryFact, prevTerm: number): void {
    let list = this.seen.get(entry.index);
    if (list === undefined) {
      list = [];
      this.seen.set(entry.index, list);
    }
    for (const r of list) {
      if (r.term !== entry.term) continue;
      if (r.hash !== entry.hash || r.prevTerm !== prevTerm) {
        throw new InvariantViolation('logMatching',
          `node ${id} holds a different entry at index ${entry.index} term ${entry.term}` +
          ` (data ${entry.hash.toString(16)} prev term ${prevTerm} vs ${r.hash.toString(16)} prev term ${r.prevTerm})`);
      }
      return;
    }
    list.push({ term: entry.term, hash: entry.hash, prevTerm });
  }

  /** State-machine safety: every node applies the same entry at a given index. */
  onApply(id: string, entry: EntryFact): void {
    const t = this.appliedTerm[entry.index];
    if (t === undefined) {
      this.appliedTerm[entry.index] = entry.term;
      this.appliedHash[entry.index] = entry.hash;
      if (entry.index > this.maxApplied) this.maxApplied = entry.index;
      return;
    }
    if (t !== entry.term || this.appliedHash[entry.index] !== entry.hash) {
      throw new InvariantViolation('stateMachineSafety',
        `node ${id} applied term ${entry.term} data ${entry.hash.toString(16)} at index ${entry.index},` +
        ` another node applied term ${t} data ${this.appliedHash[entry.index]!.toString(16)}`);
    }
  }

  /** The application state after applying up to `index` (also what a snapshot carries) must be
   *  the same on every node. */
  onStateAt(id: string, index: number, hash: number): void {
    const h = this.stateHash.get(index);
    if (h === undefined) this.stateHash.set(index, hash);
    else if (h !== hash) {
      throw new InvariantViolation('stateMachineSafety',
        `node ${id} has state ${hash.toString(16)} at index ${index}, another node had ${h.toString(16)}`);
    }
  }

  onCommit(index: number): void {
    if (index > this.maxCommit) this.maxCommit = index;
  }

  /** A ReadIndex request begins: it must reflect everything committed so far. */
  onReadIssued(ctx: string): void {
    this.pendingReads.set(ctx, Math.max(this.maxCommit, this.maxApplied));
  }

  onReadState(id: string, ctx: string, index: number): void {
    const min = this.pendingReads.get(ctx);
    if (min === undefined) return; // not one of ours
    this.readsChecked++;
    if (index < min) {
      throw new InvariantViolation('readIndex',
        `node ${id} got read index ${index} for request ${ctx}, but index ${min} was committed before the read began`);
    }
  }
}
