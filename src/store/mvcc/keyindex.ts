// The in-memory history of one key (etcd's keyIndex, flattened): every stored revision of the key
// in revision order. A tombstone ends a generation; the next put starts a new one with version 1.
// Compaction keeps, per key, only revisions after the compaction revision plus the latest one at
// or before it (dropped too when that one is a tombstone).
//
// The history is packed: two number arrays of (main, sub), a tombstone's sub stored as ~sub, and
// no object per revision. KeyValues in memory are the newest live one (head) and superseded live
// ones whose backend batch may not be written yet (held, until Mvcc evicts them); a tombstone's is
// rebuilt from its place. Every other revision's value is read back from the backend by whoever
// needs it (Mvcc.kvAt): etcd's keyIndex, likewise, holds revisions and leaves values to bbolt.
// A store holds hundreds of thousands of revisions. An object each (56 bytes, plus a slot in its
// key's array and one in the store's log) was the largest part of a loaded member's heap and of
// the garbage collector's marking; a revision now costs 16 bytes here and 24 in the log.
import type { KeyValue } from './types.js';

const EMPTY = Buffer.alloc(0);

/** Identifies a held revision of one key: (main, sub) as one number while it fits exactly in a
 *  double's 53 bits (any store short of 2^37 revisions and 65,536 changes in one), else as text. */
export type HeldKey = number | string;
export function heldKey(main: number, sub: number): HeldKey {
  return sub < 0x10000 && main < 2 ** 37 ? main * 0x10000 + sub : `${main}_${sub}`;
}

export class KeyIndex {
  /** Main revisions, ascending; with subs, the revisions in (main, sub) order. Never empty
   *  while the KeyIndex is in the store's index. */
  private readonly mains: number[] = [];
  /** Sub revisions; a tombstone's is stored as ~sub (so negative). */
  private readonly subs: number[] = [];
  /** The newest revision's KeyValue when it is live; undefined when the key is deleted. */
  private head: KeyValue | undefined = undefined;
  /** Superseded live revisions still in memory, by heldKey(main, sub). */
  private held: Map<HeldKey, KeyValue> | undefined = undefined;

  constructor(
    readonly key: Buffer,
    readonly keyStr: string,
  ) {}

  get length(): number {
    return this.mains.length;
  }
  mainAt(i: number): number {
    return this.mains[i]!;
  }
  subAt(i: number): number {
    const s = this.subs[i]!;
    return s < 0 ? ~s : s;
  }
  isTombstoneAt(i: number): boolean {
    return this.subs[i]! < 0;
  }

  /** The live KeyValue at the head, or undefined when the key is deleted. */
  live(): KeyValue | undefined {
    return this.head;
  }

  /** The head's value moved to `value` (the same bytes, elsewhere in memory: ValueArena). */
  moveHeadValue(value: Buffer): void {
    const h = this.head;
    if (h === undefined || !value.equals(h.value)) throw new Error('mvcc: moving a value that is not the head\'s (invariant)');
    this.head = { key: h.key, createRevision: h.createRevision, modRevision: h.modRevision, version: h.version, value, lease: h.lease };
  }

  /** Index of the last revision with main <= rev, or -1. */
  indexAt(rev: number): number {
    const mains = this.mains;
    // Most reads are at or near the head: check it before the binary search.
    let hi = mains.length - 1;
    if (hi < 0 || mains[hi]! <= rev) return hi;
    let lo = 0;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (mains[mid]! <= rev) lo = mid + 1;
      else hi = mid - 1;
    }
    return hi;
  }

  /** Index of the live revision visible at revision rev, or -1 (absent or deleted then). */
  liveIndexAt(rev: number): number {
    const i = this.indexAt(rev);
    return i < 0 || this.subs[i]! < 0 ? -1 : i;
  }

  /** Index of revision (main, sub), or -1. */
  indexOf(main: number, sub: number): number {
    for (let i = this.indexAt(main); i >= 0 && this.mains[i] === main; i--) if (this.subAt(i) === sub) return i;
    return -1;
  }

  /** The index of the live revision at mainAt(i) - 1: what the key held before revision i's whole
   *  write transaction (etcd reads a watch event's prev_kv at mod_revision - 1), or -1. kv is
   *  revision i's KeyValue. */
  prevIndex(i: number, kv: KeyValue): number {
    const main = this.mains[i]!;
    // A create event (a PUT with create == mod revision) never carries a prev_kv in etcd, even
    // when the key existed before the txn that deleted and re-created it (and put it again).
    if (kv.version !== 0 && kv.createRevision === kv.modRevision) return -1;
    let j = i - 1;
    while (j >= 0 && this.mains[j] === main) j--;
    return j < 0 || this.subs[j]! < 0 ? -1 : j;
  }

  /** Revision i's KeyValue if memory holds it (always for the head and tombstones), else
   *  undefined: it is only in the backend. */
  kvInMemory(i: number): KeyValue | undefined {
    const sub = this.subs[i]!;
    if (sub < 0) return { key: this.key, createRevision: 0, modRevision: this.mains[i]!, version: 0, value: EMPTY, lease: 0n };
    if (i === this.mains.length - 1) return this.head;
    return this.held === undefined ? undefined : this.held.get(heldKey(this.mains[i]!, sub));
  }

  /** Appends revision (main, sub) holding kv (version 0: a tombstone). A live head it supersedes
   *  stays in memory (held) until evict(key), with the key returned here, unless holdPrev is
   *  false (the backend has it already, so readers find it there). */
  push(main: number, sub: number, kv: KeyValue, holdPrev = true): HeldKey | undefined {
    const old = this.head;
    let key: HeldKey | undefined;
    if (old !== undefined && holdPrev) {
      const last = this.mains.length - 1;
      key = heldKey(this.mains[last]!, this.subs[last]!);
      (this.held ??= new Map()).set(key, old);
    }
    this.mains.push(main);
    this.subs.push(kv.version === 0 ? ~sub : sub);
    this.head = kv.version === 0 ? undefined : kv;
    return key;
  }

  /** Undoes the last push: the revision before it is the head again (prev: its KeyValue, for a
   *  push that did not hold it). */
  pop(main: number, sub: number, prev: KeyValue | undefined): void {
    const last = this.mains.length - 1;
    if (last < 0 || this.mains[last] !== main || this.subAt(last) !== sub) throw new Error('mvcc: undo out of order (invariant)');
    this.mains.pop();
    this.subs.pop();
    this.head = undefined;
    if (last > 0 && this.subs[last - 1]! >= 0) {
      const key = heldKey(this.mains[last - 1]!, this.subs[last - 1]!);
      const held = this.held?.get(key);
      this.head = held ?? prev;
      if (this.head === undefined || this.head.modRevision !== this.mains[last - 1]) throw new Error('mvcc: undo found no value for the revision before (invariant)');
      if (held !== undefined) this.evict(key);
    }
  }

  /** Drops a held value (the backend has it now); returns its bytes, 0 when memory did not hold
   *  it (compacted meanwhile). */
  evict(key: HeldKey): number {
    const held = this.held;
    const kv = held?.get(key);
    if (kv === undefined) return 0;
    held!.delete(key);
    if (held!.size === 0) this.held = undefined;
    return kv.value.length;
  }

  /** Drops history at or before rev except the latest live revision: calls dropped(main, sub,
   *  bytes of its value memory held) for each, oldest first. Afterwards the key may have no
   *  revisions (it is gone from the store). */
  compact(rev: number, dropped: (main: number, sub: number, heldBytes: number) => void): void {
    const i = this.indexAt(rev);
    if (i < 0) return;
    const keepFrom = this.subs[i]! < 0 ? i + 1 : i;
    for (let j = 0; j < keepFrom; j++) {
      const main = this.mains[j]!;
      const sub = this.subs[j]!;
      // (the head is never dropped unless it is a tombstone)
      dropped(main, this.subAt(j), sub < 0 ? 0 : this.evict(heldKey(main, sub)));
    }
    if (keepFrom > 0) {
      this.mains.splice(0, keepFrom);
      this.subs.splice(0, keepFrom);
    }
  }
}
