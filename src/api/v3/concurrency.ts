// The clientv3/concurrency recipes v3lock and v3election are built on (etcd runs them as a client
// of itself), written against the V3Backend: prefix helpers, a one-watcher event queue, waitDeletes.
import type { Bytes, MvccEvent } from '../../store/mvcc/types.js';
import { V3Error } from '../../store/v3error.js';
import type { AuthInfo, V3Backend, WatchCreate, WatchHubResponse, WatchStream } from './backend.js';

/** Watch responses one recipe watcher may hold unread before it gives up (slow reader). */
export const RECIPE_WATCH_QUEUE_MAX = 1024;
/** etcd's concurrency.NewSession default TTL, used when Lock/Campaign get lease 0. */
export const SESSION_TTL_SEC = 60;

export function concat(a: Bytes, b: Bytes): Bytes {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

export function utf8(s: string): Bytes {
  return Buffer.from(s, 'utf8');
}

/** The range end covering every key with this prefix (clientv3.GetPrefixRangeEnd). */
export function prefixEnd(key: Bytes): Bytes {
  const end = Uint8Array.from(key);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i] = end[i]! + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Uint8Array.of(0);
}

export function sameBytes(a: Bytes, b: Bytes): boolean {
  return Buffer.compare(a, b) === 0;
}

/** One watcher on its own hub stream; events are read with next(). */
export class RecipeWatcher {
  private readonly stream: WatchStream;
  private readonly queue: WatchHubResponse[] = [];
  private wake: (() => void) | undefined;
  private closed = false;
  private failure: Error | undefined;

  constructor(backend: V3Backend, req: WatchCreate, auth: AuthInfo | undefined, private readonly signal: AbortSignal) {
    this.stream = backend.newWatchStream({
      send: (r) => {
        if (this.closed) return true;
        if (this.queue.length >= RECIPE_WATCH_QUEUE_MAX) this.fail(new V3Error('tooManyRequests'));
        else this.queue.push(r);
        this.wake?.();
        return true;
      },
    });
    signal.addEventListener('abort', this.onAbort);
    this.stream.watch(req, auth);
  }

  private readonly onAbort = (): void => {
    this.fail(new Error('context canceled'));
  };

  private fail(err: Error): void {
    if (!this.failure) this.failure = err;
    this.wake?.();
  }

  /** The next batch of events (skips created/progress responses). Throws when canceled. */
  async next(): Promise<readonly MvccEvent[]> {
    for (;;) {
      if (this.failure) throw this.failure;
      const r = this.queue.shift();
      if (r) {
        if (r.canceled) {
          throw r.compactRevision ? new V3Error('compacted') : new Error(r.cancelReason || 'watch canceled');
        }
        if (r.events.length > 0) return r.events;
        continue;
      }
      await new Promise<void>((resolve) => { this.wake = resolve; });
      this.wake = undefined;
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.signal.removeEventListener('abort', this.onAbort);
    this.stream.close();
  }
}

/** Waits until `key` is deleted (watching from `rev`). */
export async function waitDelete(b: V3Backend, key: Bytes, rev: number, auth: AuthInfo | undefined, signal: AbortSignal): Promise<void> {
  const w = new RecipeWatcher(b, { key, startRevision: rev }, auth, signal);
  try {
    for (;;) {
      const evs = await w.next();
      if (evs.some((e) => e.type === 'DELETE')) return;
    }
  } finally {
    w.close();
  }
}

/** Waits until every key under pfx created at or before maxCreateRev is gone; resolves to the last header revision. */
export async function waitDeletes(b: V3Backend, pfx: Bytes, maxCreateRev: number, auth: AuthInfo | undefined, signal: AbortSignal): Promise<number> {
  for (;;) {
    if (signal.aborted) throw new Error('context canceled');
    const res = await b.range({
      key: pfx, rangeEnd: prefixEnd(pfx), sortOrder: 'DESCEND', sortTarget: 'CREATE', limit: 1, maxCreateRevision: maxCreateRev,
    }, auth);
    const last = res.kvs[0];
    if (!last) return res.revision;
    await waitDelete(b, last.key, res.revision, auth, signal);
  }
}

/** The owner (first created) key under pfx, with the header revision of the read. */
export async function firstCreated(b: V3Backend, pfx: Bytes, auth: AuthInfo | undefined) {
  return b.range({ key: pfx, rangeEnd: prefixEnd(pfx), sortOrder: 'ASCEND', sortTarget: 'CREATE', limit: 1 }, auth);
}
