// Watchers and their hub (etcd v2store watcher.go, watcher_hub.go).

import assert from 'node:assert/strict';
import type { V2Event, V2Watcher } from './types.js';
import type { V2EventImpl } from './event.js';
import { EventHistory } from './history.js';
import { cleanPath } from './path.js';

/** etcd's per-watcher channel buffer: a watcher that falls this far behind is removed. */
export const V2_WATCHER_EVENT_QUEUE_MAX = 100;

export class Watcher implements V2Watcher {
  private readonly queue: V2EventImpl[] = [];
  private waiting: ((e: V2Event | null) => void) | undefined;
  private waitingPromise: Promise<V2Event | null> | undefined;
  removed = false;
  /** Unlinks from the hub; undefined for a watcher answered from history (never registered). */
  unlink: (() => void) | undefined;

  constructor(
    readonly recursive: boolean,
    readonly stream: boolean,
    readonly sinceIndex: number,
    readonly startIndex: number,
    /** A watcher answered from history is not in the hub: after its one event it waits forever (as etcd's). */
    private readonly registered: boolean,
  ) {}

  /** Calling next() again while one is pending returns the same promise. */
  next(): Promise<V2Event | null> {
    if (this.waitingPromise !== undefined) return this.waitingPromise;
    const e = this.queue.shift();
    if (e !== undefined) return Promise.resolve(e);
    if (this.removed) return Promise.resolve(null);
    this.waitingPromise = new Promise((resolve) => {
      this.waiting = resolve;
    });
    return this.waitingPromise;
  }

  remove(): void {
    if (this.unlink !== undefined) this.unlink();
    this.removed = true;
    this.wake(null);
  }

  /** Queue an event without the hub's checks (the history answer). */
  push(e: V2EventImpl): void {
    if (this.waiting !== undefined) this.wake(e);
    else this.queue.push(e);
  }

  /** etcd's watcher.notify: true when the watcher took (or overflowed on) the event. */
  notify(e: V2EventImpl, originalPath: boolean, deleted: boolean): boolean {
    if (!(this.recursive || originalPath || deleted) || e.index() < this.sinceIndex) return false;
    if (this.waiting !== undefined) {
      this.wake(e);
    } else if (this.queue.length < V2_WATCHER_EVENT_QUEUE_MAX) {
      this.queue.push(e);
    } else {
      // The reader is too slow: drop the watcher rather than block the apply loop. It reads what it has, then null.
      if (this.unlink !== undefined) this.unlink();
      this.removed = true;
    }
    return true;
  }

  private wake(e: V2Event | null): void {
    const w = this.waiting;
    this.waiting = undefined;
    this.waitingPromise = undefined;
    if (w !== undefined) w(e);
  }

  isRegistered(): boolean {
    return this.registered;
  }
}

/** Whether keyPath is hidden from a watcher at watchPath: a `_` component below the watched path. */
function isHidden(watchPath: string, keyPath: string): boolean {
  if (watchPath.length > keyPath.length) return false;
  const after = cleanPath('/' + keyPath.slice(watchPath.length));
  return after.includes('/_');
}

export class WatcherHub {
  count = 0;
  private readonly watchers = new Map<string, Watcher[]>();
  history: EventHistory;

  constructor(history = new EventHistory()) {
    this.history = history;
  }

  /** key is clean; sinceIndex already defaulted. Throws V2Error 401 with index = storeIndex. */
  watch(key: string, recursive: boolean, stream: boolean, sinceIndex: number, storeIndex: number): Watcher {
    let hit: V2EventImpl | undefined;
    try {
      hit = this.history.scan(key, recursive, sinceIndex);
    } catch (err) {
      if (err instanceof Error && 'index' in err) (err as { index: number }).index = storeIndex;
      throw err;
    }
    if (hit !== undefined) {
      const w = new Watcher(recursive, stream, sinceIndex, storeIndex, false);
      w.push(hit.withEtcdIndex(storeIndex));
      return w;
    }
    const w = new Watcher(recursive, stream, sinceIndex, storeIndex, true);
    let list = this.watchers.get(key);
    if (list === undefined) {
      list = [];
      this.watchers.set(key, list);
    }
    list.push(w);
    this.count++;
    w.unlink = () => {
      if (w.unlink === undefined) return;
      w.unlink = undefined;
      const l = this.watchers.get(key);
      assert.ok(l !== undefined, 'watcher hub: registered watcher without a list');
      const i = l.indexOf(w);
      assert.ok(i >= 0, 'watcher hub: registered watcher not in its list');
      l.splice(i, 1);
      if (l.length === 0) this.watchers.delete(key);
      this.count--;
      assert.ok(this.count >= 0);
    };
    return w;
  }

  /** Record e in the history and notify the watchers of its key and of every ancestor. */
  notify(e: V2EventImpl): void {
    this.history.add(e);
    this.notifyPathAndAncestors(e);
  }

  /** etcd's watcherHub.add: history only (refresh events). */
  add(e: V2EventImpl): void {
    this.history.add(e);
  }

  private notifyPathAndAncestors(e: V2EventImpl): void {
    const key = e.nodeExtern!.key;
    this.notifyWatchers(e, '/', false);
    let curr = '';
    for (const seg of key.split('/')) {
      if (seg === '') continue;
      curr += '/' + seg;
      this.notifyWatchers(e, curr, false);
    }
  }

  notifyWatchers(e: V2EventImpl, nodePath: string, deleted: boolean): void {
    const list = this.watchers.get(nodePath);
    if (list === undefined) return;
    const key = e.nodeExtern!.key;
    const originalPath = key === nodePath;
    for (const w of [...list]) {
      if (w.unlink === undefined) continue; // removed while iterating (overflow)
      if ((originalPath || !isHidden(nodePath, key)) && w.notify(e, originalPath, deleted)) {
        if (!w.stream && w.unlink !== undefined) {
          w.unlink();
          w.removed = true;
        }
      }
    }
  }

  /** Removes every registered watcher (store recovery); each next() then resolves null. */
  removeAll(): void {
    for (const list of [...this.watchers.values()]) for (const w of [...list]) w.remove();
    assert.equal(this.count, 0);
  }
}
