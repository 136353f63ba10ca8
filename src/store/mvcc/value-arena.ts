// Where the values of live keys live in memory. A put's value is copied out of the request (so
// the request's buffers can go), and a copy of its own costs a malloc, an ArrayBuffer for the
// garbage collector to track, and a free when the key is next written: under load that is
// thousands of ArrayBuffers a second that live long enough to reach the old generation, and
// V8 sweeps them one by one in its full GC's pause (measured at put@64, about 6,000 puts/s on 3
// members: 4-10 ms of a 16-28 ms pause; 1-2 ms with slabs).
//
// Small values are copied into shared slabs instead, each slab one allocation. A slab is never
// written twice at the same place, so a view of it stays valid for as long as anyone holds it
// (the garbage collector keeps the slab alive); what the arena manages is only how much memory
// dead values pin. Each slab lists the keys given room in it. For each slab filled, two of the
// oldest full slabs are reviewed once the write transaction is over: if less than
// VALUE_SLAB_LIVE_SHARE_MIN of one is still some key's current value, those values are copied
// into the current slab and the arena forgets the old one (it is freed once the last reader
// lets go); otherwise it goes to the back of the queue. Readers that may hold values for long
// (a blocked watch stream's queue) take copies of their own (watch.ts, detached).
// Reviewing two per slab filled, the queue cycles faster than it grows: the slabs hold a small
// multiple of the live small values (test/store/value-arena.test.ts checks the bound), and the
// copying is at most half of what is written.
import type { KeyIndex } from './keyindex.js';

/** Bytes per slab. */
export const VALUE_SLAB_BYTES = 64 * 1024;
/** Values longer than this get an allocation of their own. */
export const VALUE_SLAB_VALUE_BYTES_MAX = 4 * 1024;
/** A reviewed slab whose live values fill less than this share of it is emptied. */
export const VALUE_SLAB_LIVE_SHARE_MIN = 0.25;
/** Full slabs reviewed each time a slab fills. */
export const VALUE_SLAB_REVIEWS_PER_SLAB = 2;

interface Slab {
  readonly buf: Buffer;
  used: number;
  /** Keys given room here (a key once per value; after a review, the live ones once each). */
  owners: KeyIndex[];
}

export class ValueArena {
  private current: Slab | undefined;
  /** Full slabs, oldest (least recently reviewed) first, from index `head`. */
  private full: Slab[] = [];
  private head = 0;
  /** Reviews owed for slabs filled since the last settle(). */
  private reviewsDue = 0;

  /** A copy of src, the current value of `owner` from now on (owner.live() holds it). Never
   *  moves other values: that waits for settle(). */
  copy(src: Uint8Array, owner: KeyIndex): Buffer {
    const n = src.length;
    if (n > VALUE_SLAB_VALUE_BYTES_MAX) {
      const b = Buffer.allocUnsafeSlow(n);
      b.set(src);
      return b;
    }
    let s = this.current;
    if (s === undefined || s.used + n > VALUE_SLAB_BYTES) s = this.startSlab();
    const out = s.buf.subarray(s.used, s.used + n);
    out.set(src);
    s.used += n;
    s.owners.push(owner);
    return out;
  }

  /** Runs the reviews owed, when no write transaction is in progress: a review may move a head
   *  value (KeyIndex.moveHeadValue), and a transaction undone after that would bring back a
   *  superseded value from a slab the arena no longer tracks. */
  settle(): void {
    // Never the slab filled last (the newest, and mostly live): slabs kept go behind it.
    const n = Math.min(this.reviewsDue, this.full.length - this.head - 1);
    this.reviewsDue = 0;
    for (let i = 0; i < n; i++) this.reviewOldest();
  }

  /** Slabs the arena tracks, and bytes in them (for tests). */
  stats(): { slabs: number; bytes: number } {
    const slabs = this.full.length - this.head + (this.current === undefined ? 0 : 1);
    return { slabs, bytes: slabs * VALUE_SLAB_BYTES };
  }

  private startSlab(): Slab {
    if (this.current !== undefined) {
      this.full.push(this.current);
      // Two reviews per slab filled, so the queue shrinks faster than filling slabs grow it.
      this.reviewsDue += VALUE_SLAB_REVIEWS_PER_SLAB;
    }
    const s: Slab = { buf: Buffer.allocUnsafeSlow(VALUE_SLAB_BYTES), used: 0, owners: [] };
    this.current = s;
    return s;
  }

  private reviewOldest(): void {
    const s = this.full[this.head]!;
    this.full[this.head++] = undefined as unknown as Slab;
    if (this.head > 1024 && this.head * 2 > this.full.length) {
      this.full = this.full.slice(this.head);
      this.head = 0;
    }
    const ab = s.buf.buffer;
    const live = new Set<KeyIndex>();
    let liveBytes = 0;
    for (const ki of s.owners) {
      const v = ki.live()?.value;
      if (v !== undefined && v.buffer === ab && !live.has(ki)) {
        live.add(ki);
        liveBytes += v.length;
      }
    }
    if (liveBytes >= VALUE_SLAB_LIVE_SHARE_MIN * VALUE_SLAB_BYTES) {
      s.owners = [...live];
      this.full.push(s);
      return;
    }
    // Copy the live values on (slabs they fill owe reviews at the next settle()).
    for (const ki of live) ki.moveHeadValue(this.copy(ki.live()!.value, ki));
  }
}
