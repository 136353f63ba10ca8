// The last V2_EVENT_HISTORY_MAX events (etcd v2store event_history.go, event_queue.go), used to
// answer watches with a waitIndex in the past.

import assert from 'node:assert/strict';
import { V2Error } from './errors.js';
import type { V2EventImpl } from './event.js';

/** etcd keeps 1000 events; an older waitIndex gets error 401. */
export const V2_EVENT_HISTORY_MAX = 1000;

export class EventHistory {
  private readonly ring: (V2EventImpl | undefined)[];
  private front = 0;
  private size = 0;
  /** Index of the oldest kept event (0 while empty), as etcd's StartIndex. */
  startIndex = 0;
  lastIndex = 0;

  constructor(readonly capacity = V2_EVENT_HISTORY_MAX) {
    assert.ok(capacity > 0);
    this.ring = new Array(capacity).fill(undefined);
  }

  add(e: V2EventImpl): void {
    // scan() finds events by offset: every store index must have exactly one event.
    assert.ok(this.size === 0 ? e.index() > this.lastIndex : e.index() === this.lastIndex + 1,
      `history: event index ${e.index()} does not follow ${this.lastIndex}`);
    const back = (this.front + this.size) % this.capacity;
    this.ring[back] = e;
    if (this.size === this.capacity) this.front = (this.front + 1) % this.capacity;
    else this.size++;
    this.lastIndex = e.index();
    this.startIndex = this.ring[this.front]!.index();
  }

  /** Oldest first. */
  events(): V2EventImpl[] {
    const out: V2EventImpl[] = [];
    for (let i = 0; i < this.size; i++) out.push(this.ring[(this.front + i) % this.capacity]!);
    return out;
  }

  /** The first non-refresh event with index >= sinceIndex that concerns key (etcd's scan). Throws 401. */
  scan(key: string, recursive: boolean, sinceIndex: number): V2EventImpl | undefined {
    if (sinceIndex < this.startIndex) {
      throw new V2Error(401, `the requested history has been cleared [${this.startIndex}/${sinceIndex}]`, 0);
    }
    if (sinceIndex > this.lastIndex || this.size === 0) return undefined;
    const prefix = key.endsWith('/') ? key : key + '/';
    // Every store index belongs to exactly one event, so the offset finds the first candidate.
    for (let i = sinceIndex - this.startIndex; i < this.size; i++) {
      const e = this.ring[(this.front + i) % this.capacity]!;
      if (e.refresh) continue;
      const k = e.nodeExtern!.key;
      let ok = k === key || (recursive && k.startsWith(prefix));
      // A deleted or expired directory concerns everything under it.
      const prev = e.prevExtern;
      if ((e.action === 'delete' || e.action === 'expire') && prev !== undefined && prev.dir === true) {
        ok = ok || key.startsWith(prev.key);
      }
      if (ok) return e;
    }
    return undefined;
  }
}
