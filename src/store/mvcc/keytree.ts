// An ordered set of items keyed by a latin1 string (one UTF-16 unit per key byte, so JS string
// order IS byte order): a list of sorted chunks. Lookup and insertion cost a binary search over
// the chunks, a binary search in one chunk and a splice of at most CHUNK_ITEMS_MAX items — no
// O(n) array moves as a single sorted array would need for a key inserted at the front.

export interface Keyed {
  readonly keyStr: string;
}

/** Items per chunk; a chunk past it is split in two halves. */
export const KEYTREE_CHUNK_ITEMS_MAX = 512;

export class SortedKeys<T extends Keyed> {
  private chunks: T[][] = [];
  private count = 0;

  size(): number {
    return this.count;
  }

  /** Index of the first chunk whose last key is >= k (chunks.length if none). */
  private chunkFor(k: string): number {
    const chunks = this.chunks;
    let lo = 0;
    let hi = chunks.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const c = chunks[mid]!;
      if (c[c.length - 1]!.keyStr < k) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Index of the first item of chunk c with key >= k. */
  private static lowerBound<T extends Keyed>(c: T[], k: string): number {
    let lo = 0;
    let hi = c.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (c[mid]!.keyStr < k) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Adds an item whose key is not present yet. */
  insert(item: T): void {
    const k = item.keyStr;
    const chunks = this.chunks;
    if (chunks.length === 0) {
      chunks.push([item]);
      this.count = 1;
      return;
    }
    let ci = this.chunkFor(k);
    if (ci === chunks.length) ci--; // after every key: append to the last chunk
    const c = chunks[ci]!;
    const i = SortedKeys.lowerBound(c, k);
    if (i < c.length && c[i]!.keyStr === k) throw new Error('keytree: duplicate key inserted');
    c.splice(i, 0, item);
    this.count++;
    if (c.length > KEYTREE_CHUNK_ITEMS_MAX) {
      const upper = c.splice(c.length >>> 1);
      chunks.splice(ci + 1, 0, upper);
    }
  }

  /** Removes the item with key k; false when absent. */
  remove(k: string): boolean {
    const chunks = this.chunks;
    const ci = this.chunkFor(k);
    if (ci === chunks.length) return false;
    const c = chunks[ci]!;
    const i = SortedKeys.lowerBound(c, k);
    if (i === c.length || c[i]!.keyStr !== k) return false;
    c.splice(i, 1);
    this.count--;
    if (c.length === 0) chunks.splice(ci, 1);
    return true;
  }

  /** Visits items with lo <= key < hi in key order (hi null: no upper bound) until fn returns
   *  false. */
  forRange(lo: string, hi: string | null, fn: (item: T) => boolean | void): void {
    const chunks = this.chunks;
    let ci = this.chunkFor(lo);
    if (ci === chunks.length) return;
    let i = SortedKeys.lowerBound(chunks[ci]!, lo);
    for (; ci < chunks.length; ci++, i = 0) {
      const c = chunks[ci]!;
      for (; i < c.length; i++) {
        const item = c[i]!;
        if (hi !== null && item.keyStr >= hi) return;
        if (fn(item) === false) return;
      }
    }
  }

  /** Visits every item in key order. */
  forEach(fn: (item: T) => void): void {
    for (const c of this.chunks) for (const item of c) fn(item);
  }

  clear(): void {
    this.chunks = [];
    this.count = 0;
  }
}
