// The watch hub (etcd's watchableStore + watchStream): watchers on a key or a range, grouped in
// streams (one per gRPC Watch call). Every committed write is offered to the synced watchers at
// apply time, synchronously; the events of one revision that match a watcher go out as one
// response, in sub-revision order.
//
// A watcher is either SYNCED (it has every event up to the current revision and receives new
// ones live) or UNSYNCED (it catches up from the store's history: a start revision in the past,
// a slow consumer, a restored snapshot). Catch-up responses carry up to WATCH_BATCH_REVS_MAX
// revisions each; when a watcher's next revision is compacted away it gets a compacted cancel.
//
// Back-pressure: the stream's send returns false when its consumer is over its high-water mark
// (the response is still taken). Then live responses queue per watcher, up to
// WATCH_PENDING_EVENTS_MAX events; a watcher past that drops its queue and becomes UNSYNCED from
// the first revision it lacks (etcd's "victim"), catching up from history after the caller says
// resume(). No event is ever dropped, duplicated or reordered for a watcher.
import type { Change } from './kvstore.js';
import { keyString, ownCopy, rangeEndString } from './kvstore.js';
import type { KeyIndex } from './keyindex.js';
import type { Bytes, KeyValue, MvccEvent } from './types.js';

/** Copies of queued events, shared by every watcher that queues the same event object. */
const detachedEvents = new WeakMap<MvccEvent, MvccEvent>();

function ownValue(kv: KeyValue): KeyValue {
  const v = kv.value;
  if (v.byteLength === v.buffer.byteLength) return kv;
  return { ...kv, value: ownCopy(v) };
}

/** An event whose values are not views of a larger buffer. A live event's values are views of
 *  the store's value slabs (value-arena.ts), and a blocked stream may hold its queue for long:
 *  views would keep a 64 KiB slab alive per queued value instead of the value. */
function detached(ev: MvccEvent): MvccEvent {
  let d = detachedEvents.get(ev);
  if (d === undefined) {
    const kv = ownValue(ev.kv);
    const prevKv = ev.prevKv === undefined ? undefined : ownValue(ev.prevKv);
    d = kv === ev.kv && prevKv === ev.prevKv ? ev : prevKv === undefined ? { type: ev.type, kv } : { type: ev.type, kv, prevKv };
    detachedEvents.set(ev, d);
  }
  return d;
}

/** Live events queued per watcher while its stream is blocked; past it the watcher goes unsynced. */
export const WATCH_PENDING_EVENTS_MAX = 1024;
/** Revisions per catch-up response (etcd's watchBatchMaxRevs). */
export const WATCH_BATCH_REVS_MAX = 1000;

export type WatchFilter = 'NOPUT' | 'NODELETE';

export interface WatchCreate {
  key: Bytes;
  rangeEnd?: Bytes;
  /** 0/absent: from the next revision. <= current: replay from that revision first. */
  startRevision?: number;
  prevKv?: boolean;
  filters?: WatchFilter[];
  progressNotify?: boolean;
  /** Passed through: splitting large responses is the gRPC layer's job. */
  fragment?: boolean;
  /** 0/absent: the stream picks the lowest free id from its counter (etcd's AutoWatchID). */
  watchId?: number;
}

export interface WatchResponse {
  watchId: number;
  created?: boolean;
  canceled?: boolean;
  compactRevision?: number;
  cancelReason?: string;
  events: MvccEvent[];
  /** The header revision. */
  revision: number;
  fragment?: boolean;
}

/** Delivers one response to the stream's consumer; false = back-pressure (taken, but send no
 *  more until WatchStream.resume()). */
export type WatchSend = (r: WatchResponse) => boolean | void;

/** What the hub reads from the store. */
export interface WatchSource {
  currentRevision(): number;
  compactRevision(): number;
  /** Index in the revision-ordered history of the first stored revision with main >= rev. */
  logIndexFrom(rev: number): number;
  /** The key of the i-th stored revision in revision order; undefined past the end. */
  logKeyAt(i: number): KeyIndex | undefined;
  logMainAt(i: number): number;
  /** Where the i-th stored revision is in its key's history. */
  logIndexInKey(i: number): number;
  keyIndex(keyStr: string): KeyIndex | undefined;
  /** The KeyValue of revision i of key ki (one only in the backend is loaded from it). */
  kvAt(ki: KeyIndex, i: number): KeyValue;
}

/** etcd's messages for watch create failures (mvcc ErrWatcherDuplicateID, ErrEmptyWatcherRange). */
export class WatchCreateError extends Error {
  override readonly name = 'WatchCreateError';
}
export const ERR_DUPLICATE_WATCH_ID = 'mvcc: duplicate watch ID provided on the WatchStream';
export const ERR_EMPTY_WATCHER_RANGE = 'mvcc: watcher range is empty';

const SYNCED = 0;
const UNSYNCED = 1;

class Watcher {
  state = SYNCED;
  /** The first revision this watcher still needs. */
  minRev: number;
  /** Live responses held while the stream is blocked (oldest first). */
  pending: WatchResponse[] = [];
  pendingEvents = 0;
  /** No events went out since the last progress tick. */
  progressDue = true;
  /** Events of the revision being notified (assembled in WatchHub.notify). */
  batch: MvccEvent[] | null = null;

  constructor(
    readonly id: number,
    readonly stream: WatchStream,
    readonly keyStr: string,
    /** undefined: single key; null: no upper bound. */
    readonly end: string | null | undefined,
    readonly prevKv: boolean,
    readonly noPut: boolean,
    readonly noDelete: boolean,
    readonly progressNotify: boolean,
    minRev: number,
  ) {
    this.minRev = minRev;
  }

  covers(ks: string): boolean {
    if (this.end === undefined) return ks === this.keyStr;
    return ks >= this.keyStr && (this.end === null || ks < this.end);
  }
}

/** A replayed event: revision i of key ki and, when asked for, the value before it. */
function eventOf(src: WatchSource, ki: KeyIndex, i: number, prevKv: boolean): MvccEvent {
  const kv = src.kvAt(ki, i);
  const type = kv.version === 0 ? 'DELETE' : 'PUT';
  if (!prevKv) return { type, kv };
  const p = ki.prevIndex(i, kv);
  return p < 0 ? { type, kv } : { type, kv, prevKv: src.kvAt(ki, p) };
}

export class WatchHub {
  private keyWatchers = new Map<string, Set<Watcher>>();
  private rangeWatchers = new Set<Watcher>();
  private progressWatchers = new Set<Watcher>();
  private streams = new Set<WatchStream>();
  private count = 0;
  private touched: Watcher[] = [];
  /** Per change of the revision being notified: its events without / with prevKv (shared). */
  private plainEvents: (MvccEvent | undefined)[] = [];
  private prevEvents: (MvccEvent | undefined)[] = [];
  /** Per change: the key's value before the revision (null: none), looked up once. */
  private prevs: (KeyValue | null | undefined)[] = [];

  /** Per-watcher pending bound; WATCH_PENDING_EVENTS_MAX unless the store was opened with
   *  another (tests use a small one to exercise the unsynced path). */
  readonly pendingEventsMax: number;

  constructor(
    readonly src: WatchSource,
    pendingEventsMax: number = WATCH_PENDING_EVENTS_MAX,
  ) {
    if (!(pendingEventsMax >= 1)) throw new Error('watch: pendingEventsMax must be >= 1');
    this.pendingEventsMax = pendingEventsMax;
  }

  newStream(send: WatchSend): WatchStream {
    const s = new WatchStream(this, send);
    this.streams.add(s);
    return s;
  }

  watcherCount(): number {
    return this.count;
  }

  /** Called by the store after each committed write transaction at revision rev. */
  notify(rev: number, changes: readonly Change[]): void {
    if (this.count === 0) return;
    const touched = this.touched;
    const plain = this.plainEvents;
    const withPrev = this.prevEvents;
    for (let i = 0; i < changes.length; i++) {
      plain[i] = undefined;
      withPrev[i] = undefined;
      this.prevs[i] = undefined;
      const c = changes[i]!;
      const ks = c.ki.keyStr;
      const set = this.keyWatchers.get(ks);
      if (set !== undefined) for (const w of set) this.collect(w, c, i, rev, touched);
      if (this.rangeWatchers.size > 0) {
        for (const w of this.rangeWatchers) if (w.covers(ks)) this.collect(w, c, i, rev, touched);
      }
    }
    for (let i = 0; i < touched.length; i++) {
      const w = touched[i]!;
      const events = w.batch!;
      w.batch = null;
      this.deliver(w, { watchId: w.id, events, revision: rev });
    }
    touched.length = 0;
    plain.length = 0;
    withPrev.length = 0;
  }

  /** The prev_kv of a live event: the key's value before the event's transaction, if any. */
  private prevOfChange(c: Change): KeyValue | null {
    const ki = c.ki;
    const p = ki.prevIndex(ki.indexOf(c.main, c.sub), c.kv);
    if (p < 0) return null;
    // Usually the value the change replaced, which it carries: memory may no longer hold it
    // (the backend does), and reading it back would cost a synchronous level read per event.
    return c.prev !== undefined && c.prev.modRevision === ki.mainAt(p) ? c.prev : this.src.kvAt(ki, p);
  }

  private collect(w: Watcher, c: Change, i: number, rev: number, touched: Watcher[]): void {
    if (w.state !== SYNCED || rev < w.minRev) return;
    const del = c.kv.version === 0;
    if (del ? w.noDelete : w.noPut) return;
    let ev: MvccEvent;
    const prev = w.prevKv ? (this.prevs[i] ??= this.prevOfChange(c)) : null;
    if (prev !== null) {
      ev = this.prevEvents[i] ??= { type: del ? 'DELETE' : 'PUT', kv: c.kv, prevKv: prev };
    } else {
      ev = this.plainEvents[i] ??= { type: del ? 'DELETE' : 'PUT', kv: c.kv };
    }
    if (w.batch === null) {
      w.batch = [ev];
      touched.push(w);
    } else w.batch.push(ev);
  }

  /** A live response: straight out, or queued behind what the blocked stream still holds (with
   *  values of their own: see detached). */
  private deliver(w: Watcher, resp: WatchResponse): void {
    const s = w.stream;
    if (s.blocked || w.pending.length > 0) {
      if (w.pendingEvents + resp.events.length > this.pendingEventsMax) {
        // Victim: forget the queue, catch up from history from the first revision it lacks.
        w.minRev = w.pending.length > 0 ? w.pending[0]!.revision : resp.revision;
        w.pending = [];
        w.pendingEvents = 0;
        s.pendingWatchers.delete(w);
        s.victims++;
        w.state = UNSYNCED;
        s.unsynced.add(w);
        return;
      }
      w.pending.push(resp.events.length === 0 ? resp : { ...resp, events: resp.events.map(detached) });
      w.pendingEvents += resp.events.length;
      s.pendingWatchers.add(w);
      return;
    }
    w.progressDue = false;
    s.out(resp);
  }

  /** Periodic progress (the server's timer, etcd's --experimental-watch-progress-notify-interval):
   *  every synced progress_notify watcher that got no events since the last call gets an empty
   *  response at the current revision. */
  notifyProgress(): void {
    const rev = this.src.currentRevision();
    for (const w of this.progressWatchers) {
      if (w.progressDue && w.state === SYNCED && w.pending.length === 0 && !w.stream.blocked) {
        w.stream.out({ watchId: w.id, events: [], revision: rev });
      }
      w.progressDue = true;
    }
  }

  /** The store's state was replaced: every watcher re-syncs from the new history. */
  onRestore(oldRev: number): void {
    for (const s of this.streams) {
      for (const w of s.watchers.values()) {
        if (w.state === SYNCED) {
          w.minRev = Math.max(w.minRev, oldRev + 1);
          w.state = UNSYNCED;
          s.unsynced.add(w);
        }
      }
      this.syncStream(s);
    }
  }

  /** @internal */
  register(w: Watcher): void {
    if (w.end === undefined) {
      let set = this.keyWatchers.get(w.keyStr);
      if (set === undefined) this.keyWatchers.set(w.keyStr, (set = new Set()));
      set.add(w);
    } else this.rangeWatchers.add(w);
    if (w.progressNotify) this.progressWatchers.add(w);
    this.count++;
  }

  /** @internal */
  unregister(w: Watcher): void {
    if (w.end === undefined) {
      const set = this.keyWatchers.get(w.keyStr);
      if (set !== undefined && set.delete(w) && set.size === 0) this.keyWatchers.delete(w.keyStr);
    } else this.rangeWatchers.delete(w);
    this.progressWatchers.delete(w);
    this.count--;
    if (this.count < 0) throw new Error('watch: watcher count below zero (invariant)');
  }

  /** @internal */
  dropStream(s: WatchStream): void {
    this.streams.delete(s);
  }

  /** @internal Flushes queued responses, then catches unsynced watchers up, while the stream
   *  takes more. */
  syncStream(s: WatchStream): void {
    if (s.closed) return;
    for (const w of s.pendingWatchers) {
      if (s.blocked) return;
      let i = 0;
      while (i < w.pending.length && !s.blocked) {
        const r = w.pending[i++]!;
        w.pendingEvents -= r.events.length;
        w.progressDue = false;
        s.out(r);
      }
      w.pending.splice(0, i);
      if (w.pending.length > 0) return;
      s.pendingWatchers.delete(w);
    }
    for (const w of s.unsynced) {
      if (s.blocked) return;
      try {
        this.syncWatcher(w);
      } catch (err) {
        // History could not be read back (the backend failed or closed under us): this watcher
        // ends with the reason; the stream and everyone else go on.
        s.removeWatcher(w);
        s.out({ watchId: w.id, events: [], revision: this.src.currentRevision(), canceled: true, cancelReason: (err as Error).message });
      }
    }
    if (s.progressWanted && s.unsynced.size === 0 && s.pendingWatchers.size === 0) {
      s.progressWanted = false;
      s.out({ watchId: -1, events: [], revision: this.src.currentRevision() });
    }
  }

  private syncWatcher(w: Watcher): void {
    const s = w.stream;
    const src = this.src;
    for (;;) {
      const cur = src.currentRevision();
      if (w.minRev > cur) {
        w.state = SYNCED;
        s.unsynced.delete(w);
        return;
      }
      const compactRev = src.compactRevision();
      if (w.minRev < compactRev) {
        // etcd: a watcher whose next revision is compacted is canceled with compact_revision
        // set (header revision 0, no cancel reason).
        s.removeWatcher(w);
        s.out({ watchId: w.id, events: [], revision: 0, compactRevision: compactRev, canceled: true });
        return;
      }
      const events: MvccEvent[] = [];
      let revs = 0;
      let lastRev = 0;
      let next = cur + 1;
      const take = (ki: KeyIndex, i: number): boolean => {
        const main = ki.mainAt(i);
        if (main !== lastRev) {
          if (revs === WATCH_BATCH_REVS_MAX) {
            next = main;
            return false;
          }
          revs++;
          lastRev = main;
        }
        if (ki.isTombstoneAt(i) ? w.noDelete : w.noPut) return true;
        events.push(eventOf(src, ki, i, w.prevKv));
        return true;
      };
      if (w.end === undefined) {
        const ki = src.keyIndex(w.keyStr);
        if (ki !== undefined) {
          for (let i = ki.indexAt(w.minRev - 1) + 1; i < ki.length; i++) if (!take(ki, i)) break;
        }
      } else {
        for (let i = src.logIndexFrom(w.minRev); ; i++) {
          const ki = src.logKeyAt(i);
          if (ki === undefined) break;
          if (w.covers(ki.keyStr) && !take(ki, src.logIndexInKey(i))) break;
        }
      }
      w.minRev = next;
      if (events.length > 0) {
        w.progressDue = false;
        s.out({ watchId: w.id, events, revision: cur });
      }
      if (s.blocked && w.minRev <= cur) return;
    }
  }
}

export class WatchStream {
  /** @internal */ readonly watchers = new Map<number, Watcher>();
  /** @internal */ readonly unsynced = new Set<Watcher>();
  /** @internal */ readonly pendingWatchers = new Set<Watcher>();
  /** @internal */ blocked = false;
  /** @internal */ closed = false;
  /** @internal */ progressWanted = false;
  /** @internal */ victims = 0;
  private nextId = 0;

  constructor(
    private readonly hub: WatchHub,
    private readonly send: WatchSend,
  ) {}

  /** Creates a watcher and sends its `created` response (then, for a past start revision, the
   *  replay) before returning its id. Throws WatchCreateError (duplicate id, empty range). */
  watch(o: WatchCreate): number {
    if (this.closed) throw new Error('watch: stream closed');
    const keyStr = keyString(o.key);
    const end = rangeEndString(o.rangeEnd);
    if (typeof end === 'string' && keyStr >= end) throw new WatchCreateError(ERR_EMPTY_WATCHER_RANGE);
    let id = o.watchId ?? 0;
    if (id === 0) {
      while (this.watchers.has(this.nextId)) this.nextId++;
      id = this.nextId++;
    } else if (this.watchers.has(id)) throw new WatchCreateError(ERR_DUPLICATE_WATCH_ID);
    const src = this.hub.src;
    const cur = src.currentRevision();
    const start = o.startRevision ?? 0;
    const filters = o.filters ?? [];
    const w = new Watcher(
      id, this, keyStr, end, o.prevKv === true, filters.includes('NOPUT'), filters.includes('NODELETE'),
      o.progressNotify === true, start <= 0 ? cur + 1 : start,
    );
    this.watchers.set(id, w);
    this.hub.register(w);
    this.out({ watchId: id, created: true, events: [], revision: cur });
    if (start > 0 && start <= cur) {
      w.state = UNSYNCED;
      this.unsynced.add(w);
      this.hub.syncStream(this);
    }
    return id;
  }

  /** Removes a watcher and sends its `canceled` response; false when the id is unknown. */
  cancel(id: number): boolean {
    const w = this.watchers.get(id);
    if (w === undefined) return false;
    this.removeWatcher(w);
    this.out({ watchId: id, canceled: true, events: [], revision: this.hub.src.currentRevision() });
    if (this.progressWanted) this.hub.syncStream(this);
    return true;
  }

  /** A progress response (watchId -1, the current revision) once every watcher of the stream
   *  is synced: at once if they are, else as soon as they are. */
  requestProgress(): void {
    this.progressWanted = true;
    if (!this.blocked) this.hub.syncStream(this);
  }

  /** The consumer drained: send what is queued and catch up unsynced watchers. */
  resume(): void {
    this.blocked = false;
    this.hub.syncStream(this);
  }

  /** Ends every watcher of the stream, silently. */
  close(): void {
    if (this.closed) return;
    for (const w of [...this.watchers.values()]) this.removeWatcher(w);
    this.closed = true;
    this.hub.dropStream(this);
  }

  /** Number of watchers; of them not yet synced (tests, metrics: etcd's slow watchers). */
  size(): number {
    return this.watchers.size;
  }
  unsyncedCount(): number {
    return this.unsynced.size + this.pendingWatchers.size;
  }
  /** Times a watcher of this stream went past its pending bound and fell back to history. */
  victimCount(): number {
    return this.victims;
  }

  /** @internal */
  removeWatcher(w: Watcher): void {
    if (this.watchers.get(w.id) !== w) return;
    this.watchers.delete(w.id);
    this.unsynced.delete(w);
    this.pendingWatchers.delete(w);
    w.pending = [];
    w.pendingEvents = 0;
    this.hub.unregister(w);
  }

  /** @internal A send that throws is a broken consumer: its stream is closed, and the write
   *  being applied (which must not fail on a member) goes on. */
  out(r: WatchResponse): void {
    if (this.closed) return;
    let ok: boolean | void;
    try {
      ok = this.send(r);
    } catch {
      this.close();
      return;
    }
    if (ok === false) this.blocked = true;
  }
}
