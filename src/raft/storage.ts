// MemoryStorage: the in-memory mirror of the durable log that raft reads, shaped like
// etcd/raft's MemoryStorage. The caller appends what it persisted to its WAL, applies snapshots,
// and compacts. ents[0] is a dummy entry carrying the index and term of the last compacted
// entry (the snapshot), so that term(snapshotIndex) answers without the entry itself.
import type { ConfState, Entry, HardState, Snapshot } from './types.js';
import { NONE } from './types.js';
import type { RaftStorage } from './api.js';
import { RaftCompactedError, RaftUnavailableError } from './api.js';
import { ENTRY_OVERHEAD_BYTES, MAX_ENTRIES_PER_MESSAGE } from './limits.js';

export class RaftSnapshotOutOfDateError extends Error {
  constructor() {
    super('requested index is older than the existing snapshot');
    this.name = 'RaftSnapshotOutOfDateError';
  }
}

const EMPTY_BYTES = new Uint8Array(0);

/** Keep entries from the front of ents[lo, hi) whose total size is within maxBytes, and always
 *  at least one. Shared by storage and the raft log so both size batches the same way. */
export function limitSize(ents: Entry[], maxBytes: number): Entry[] {
  const n = sizeLimitedEnd(ents, 0, ents.length, maxBytes);
  if (n < ents.length) ents.length = n;
  return ents;
}

/** The end (exclusive) of the longest run arr[start, end') with end' <= end whose size is
 *  within maxBytes and that holds at most MAX_ENTRIES_PER_MESSAGE entries (always >= 1 entry
 *  when start < end). Scans sizes before slicing so a long log is never copied to send a few. */
export function sizeLimitedEnd(arr: readonly Entry[], start: number, end: number, maxBytes: number): number {
  if (end - start <= 1) return end;
  const cap = Math.min(end, start + MAX_ENTRIES_PER_MESSAGE);
  let size = arr[start]!.data.length + ENTRY_OVERHEAD_BYTES;
  let n = start + 1;
  for (; n < cap; n++) {
    size += arr[n]!.data.length + ENTRY_OVERHEAD_BYTES;
    if (size > maxBytes) break;
  }
  return n;
}


function copyConfState(cs: ConfState): ConfState {
  return { voters: [...cs.voters], learners: [...cs.learners] };
}

export class MemoryStorage implements RaftStorage {
  private hardState: HardState = { term: 0, vote: NONE, commit: 0 };
  private snap: Snapshot;
  /** ents[0] is the dummy entry at the snapshot's index/term; real entries follow. */
  private ents: Entry[];

  constructor(confState?: ConfState) {
    const cs = confState ? copyConfState(confState) : { voters: [], learners: [] };
    this.snap = { metadata: { index: 0, term: 0, confState: cs }, data: EMPTY_BYTES };
    this.ents = [{ index: 0, term: 0, type: 'normal', data: EMPTY_BYTES }];
  }

  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: this.hardState, confState: this.snap.metadata.confState };
  }

  setHardState(hs: HardState): void {
    this.hardState = { term: hs.term, vote: hs.vote, commit: hs.commit };
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    const offset = this.ents[0]!.index;
    if (lo <= offset) throw new RaftCompactedError();
    if (hi > this.lastIndex() + 1) throw new RaftUnavailableError();
    if (this.ents.length === 1) throw new RaftUnavailableError();
    if (lo >= hi) return [];
    return this.ents.slice(lo - offset, sizeLimitedEnd(this.ents, lo - offset, hi - offset, maxBytes));
  }

  term(i: number): number {
    const offset = this.ents[0]!.index;
    if (i < offset) throw new RaftCompactedError();
    if (i - offset >= this.ents.length) throw new RaftUnavailableError();
    return this.ents[i - offset]!.term;
  }

  firstIndex(): number {
    return this.ents[0]!.index + 1;
  }

  lastIndex(): number {
    return this.ents[0]!.index + this.ents.length - 1;
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /** Replace the whole log with a snapshot received from the leader (Ready.snapshot). */
  applySnapshot(snap: Snapshot): void {
    if (this.snap.metadata.index >= snap.metadata.index) throw new RaftSnapshotOutOfDateError();
    this.snap = { metadata: { ...snap.metadata, confState: copyConfState(snap.metadata.confState) }, data: snap.data };
    this.ents = [{ index: snap.metadata.index, term: snap.metadata.term, type: 'normal', data: EMPTY_BYTES }];
  }

  /** Record a snapshot of the application state at `index` (which must be in the log); the
   *  caller usually compacts up to it afterwards. */
  createSnapshot(index: number, confState: ConfState | undefined, data: Uint8Array): Snapshot {
    if (index <= this.snap.metadata.index) throw new RaftSnapshotOutOfDateError();
    const offset = this.ents[0]!.index;
    if (index > this.lastIndex()) throw new Error(`createSnapshot: index ${index} is beyond last index ${this.lastIndex()}`);
    const cs = confState ? copyConfState(confState) : this.snap.metadata.confState;
    this.snap = { metadata: { index, term: this.ents[index - offset]!.term, confState: cs }, data };
    return this.snap;
  }

  /** The first index of the longest run of entries ending at `index` (in the log) with at most
   *  maxEntries entries and maxBytes bytes (data + ENTRY_OVERHEAD_BYTES), not reaching before
   *  the first index (index + 1 for an empty run): what to keep behind a snapshot at `index` for
   *  followers to catch up from. */
  catchUpStart(index: number, maxEntries: number, maxBytes: number): number {
    const offset = this.ents[0]!.index;
    if (index > this.lastIndex()) throw new Error(`catchUpStart: index ${index} is beyond last index ${this.lastIndex()}`);
    let start = index + 1; // the run is [start, index]
    let bytes = 0;
    while (index - start + 1 < maxEntries && start - 1 > offset) {
      bytes += this.ents[start - 1 - offset]!.data.length + ENTRY_OVERHEAD_BYTES;
      if (bytes > maxBytes) break;
      start--;
    }
    return start;
  }

  /** Discard entries up to and including `index` (which must be applied and in the log). */
  compact(index: number): void {
    const offset = this.ents[0]!.index;
    if (index <= offset) throw new RaftCompactedError();
    if (index > this.lastIndex()) throw new Error(`compact: index ${index} is beyond last index ${this.lastIndex()}`);
    const i = index - offset;
    const dummy: Entry = { index: this.ents[i]!.index, term: this.ents[i]!.term, type: 'normal', data: EMPTY_BYTES };
    // splice keeps the one array; compaction is rare and O(kept entries) at worst.
    this.ents.splice(0, i + 1, dummy);
  }

  /** Append entries persisted by the caller; a conflicting suffix of the log is replaced. */
  append(entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    let start = 0;
    const e0 = entries[0]!.index;
    const last = e0 + entries.length - 1;
    if (last < first) return; // all already compacted
    for (let k = 1; k < entries.length; k++) {
      if (entries[k]!.index !== e0 + k) throw new Error(`append: entries not contiguous at ${entries[k]!.index}`);
    }
    if (first > e0) start = first - e0; // skip the compacted prefix
    const firstNew = e0 + start;
    const offset = firstNew - this.ents[0]!.index;
    if (offset > this.ents.length) {
      throw new Error(`append: missing log entry [last: ${this.lastIndex()}, append at: ${firstNew}]`);
    }
    this.ents.length = offset; // truncate the conflicting suffix (no-op when appending at the end)
    for (let k = start; k < entries.length; k++) this.ents.push(entries[k]!);
  }
}
