// The in-memory history of one key (etcd's keyIndex, flattened): every stored revision of the key
// in revision order. A tombstone (kv.version === 0) ends a generation; the next put starts a new
// one with version 1. Compaction keeps, per key, only revisions after the compaction revision plus
// the latest one at or before it (dropped too when that one is a tombstone).
//
// Only the newest revision of a key keeps its value in memory for good. A superseded revision's
// value is evicted once the backend holds it (Mvcc.evict): its kv becomes an EvictedKv, the same
// metadata with the value left on disk, and readers of history load it back (Mvcc.fill).
import type { KeyValue } from './types.js';

/** The value of an evicted KeyValue: a marker compared by identity, never sent to anyone. */
export const EVICTED: Buffer = Buffer.alloc(0);

/** A superseded revision whose value is only in the backend, under (modRevision, sub). */
export interface EvictedKv extends KeyValue {
  readonly sub: number;
}

/** One stored revision of a key. Its KeyValue never changes, except that a superseded one may be
 *  swapped for its EvictedKv; kv objects are shared with readers. */
export interface StoredRev {
  readonly main: number;
  readonly sub: number;
  /** version 0 marks a tombstone: { key, modRevision: main }, everything else zero/empty. */
  kv: KeyValue;
  readonly ki: KeyIndex;
}

export class KeyIndex {
  /** Revisions in (main, sub) order; never empty while the KeyIndex is in the store's index. */
  readonly revs: StoredRev[] = [];
  constructor(
    readonly key: Buffer,
    readonly keyStr: string,
  ) {}

  /** The live KeyValue at the head, or undefined when the key is deleted. */
  live(): KeyValue | undefined {
    const r = this.revs[this.revs.length - 1];
    return r === undefined || r.kv.version === 0 ? undefined : r.kv;
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

  /** The KeyValue visible at revision rev, or undefined (absent or deleted then); below the head
   *  it may be an EvictedKv (Mvcc.fill loads its value). */
  at(rev: number): KeyValue | undefined {
    const i = this.indexAt(rev);
    if (i < 0) return undefined;
    const kv = this.revs[i]!.kv;
    return kv.version === 0 ? undefined : kv;
  }

  /** The live KeyValue at revision r.main - 1: what the key held before r's whole write
   *  transaction (etcd reads a watch event's prev_kv at mod_revision - 1, so a key put and then
   *  deleted in one txn reports the value from before the txn). May be an EvictedKv. */
  prevOf(r: StoredRev): KeyValue | undefined {
    // A create event (PUT with create == mod revision) never carries a prev_kv in etcd, even
    // when the key existed before the txn that deleted and re-created it.
    if (r.kv.version !== 0 && r.kv.createRevision === r.kv.modRevision) return undefined;
    const revs = this.revs;
    let i = this.indexAt(r.main); // the last revision of r.main; r is it or a little before
    while (i >= 0 && revs[i] !== r) i--;
    let j = i - 1;
    while (j >= 0 && revs[j]!.main === r.main) j--;
    if (j < 0) return undefined;
    const kv = revs[j]!.kv;
    return kv.version === 0 ? undefined : kv;
  }

  /** Drops history at or before rev except the latest live revision. Returns the dropped
   *  revisions; afterwards revs may be empty (the key is gone from the store). */
  compact(rev: number, dropped: StoredRev[]): void {
    const i = this.indexAt(rev);
    if (i < 0) return;
    const keepFrom = this.revs[i]!.kv.version === 0 ? i + 1 : i;
    for (let j = 0; j < keepFrom; j++) dropped.push(this.revs[j]!);
    if (keepFrom > 0) this.revs.splice(0, keepFrom);
  }
}
