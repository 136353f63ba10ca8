// The in-memory history of one key (etcd's keyIndex, flattened): every stored revision of the key
// in revision order. A tombstone (kv.version === 0) ends a generation; the next put starts a new
// one with version 1. Compaction keeps, per key, only revisions after the compaction revision plus
// the latest one at or before it (dropped too when that one is a tombstone).
//
// Only the newest revision of a key keeps its KeyValue in memory for good. A superseded live
// revision's KeyValue is dropped once the backend holds it (Mvcc.evict): what stays is its place
// in the history, (main, sub), which finds its record in the backend, and readers of history load
// it back (Mvcc.kvOf). etcd's keyIndex, likewise, holds revisions and leaves values to bbolt.
import type { KeyValue } from './types.js';

/** One stored revision of a key. Its KeyValue never changes (kv objects are shared with
 *  readers), except that a superseded live one may be dropped to null. */
export interface StoredRev {
  readonly main: number;
  readonly sub: number;
  /** version 0 marks a tombstone: { key, modRevision: main }, everything else zero/empty.
   *  null: evicted, a live revision whose record is only in the backend. */
  kv: KeyValue | null;
  readonly ki: KeyIndex;
}

/** Tombstones are never evicted, so an evicted revision is a live one. */
export function isTombstone(r: StoredRev): boolean {
  return r.kv !== null && r.kv.version === 0;
}

export class KeyIndex {
  /** Revisions in (main, sub) order; never empty while the KeyIndex is in the store's index. */
  readonly revs: StoredRev[] = [];
  constructor(
    readonly key: Buffer,
    readonly keyStr: string,
  ) {}

  /** The live KeyValue at the head, or undefined when the key is deleted. The head is never
   *  evicted. */
  live(): KeyValue | undefined {
    const r = this.revs[this.revs.length - 1];
    if (r === undefined) return undefined;
    if (r.kv === null) throw new Error('mvcc: the head revision of a key was evicted (invariant)');
    return r.kv.version === 0 ? undefined : r.kv;
  }

  /** Index of the last revision with main <= rev, or -1. */
  indexAt(rev: number): number {
    const revs = this.revs;
    // Most reads are at or near the head: check it before the binary search.
    let hi = revs.length - 1;
    if (hi < 0 || revs[hi]!.main <= rev) return hi;
    let lo = 0;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (revs[mid]!.main <= rev) lo = mid + 1;
      else hi = mid - 1;
    }
    return hi;
  }

  /** The live revision visible at revision rev, or undefined (absent or deleted then). */
  at(rev: number): StoredRev | undefined {
    const i = this.indexAt(rev);
    if (i < 0) return undefined;
    const r = this.revs[i]!;
    return isTombstone(r) ? undefined : r;
  }

  /** The live revision at r.main - 1: what the key held before r's whole write transaction (etcd
   *  reads a watch event's prev_kv at mod_revision - 1, so a key put and then deleted in one txn
   *  reports the value from before the txn). kv is r's KeyValue. */
  prevOf(r: StoredRev, kv: KeyValue): StoredRev | undefined {
    // A create event (PUT with create == mod revision) never carries a prev_kv in etcd, even
    // when the key existed before the txn that deleted and re-created it.
    if (kv.version !== 0 && kv.createRevision === kv.modRevision) return undefined;
    const revs = this.revs;
    let i = this.indexAt(r.main); // the last revision of r.main; r is it or a little before
    while (i >= 0 && revs[i] !== r) i--;
    let j = i - 1;
    while (j >= 0 && revs[j]!.main === r.main) j--;
    if (j < 0) return undefined;
    return isTombstone(revs[j]!) ? undefined : revs[j];
  }

  /** Drops history at or before rev except the latest live revision. Returns the dropped
   *  revisions; afterwards revs may be empty (the key is gone from the store). */
  compact(rev: number, dropped: StoredRev[]): void {
    const i = this.indexAt(rev);
    if (i < 0) return;
    const keepFrom = isTombstone(this.revs[i]!) ? i + 1 : i;
    for (let j = 0; j < keepFrom; j++) dropped.push(this.revs[j]!);
    if (keepFrom > 0) this.revs.splice(0, keepFrom);
  }
}
