// v2 events (etcd v2store event.go / node_extern.go). An event keeps absolute expirations; the
// remaining `ttl` is computed from the store's clock only when it is printed, so that apply()
// never reads the clock and the replicated state stays deterministic.

import type { V2Action, V2Event, V2EventJson, V2NodeJson } from './types.js';

/** A node as captured at event time (NodeExtern without the clock-dependent ttl). */
export interface NodeExtern {
  readonly key: string;
  readonly value?: string;
  readonly dir?: true;
  /** 0/undefined = permanent. */
  readonly expirationMs?: number;
  readonly nodes?: readonly NodeExtern[];
  readonly modifiedIndex: number;
  readonly createdIndex: number;
}


const NS_PER_MS = 1_000_000;

/** Go's time.Time MarshalJSON for a UTC time (RFC3339Nano: fraction with trailing zeros trimmed). */
export function formatExpiration(expirationMs: number): string {
  const wholeMs = Math.floor(expirationMs);
  const iso = new Date(wholeMs).toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ
  const ns = (((wholeMs % 1000) + 1000) % 1000) * NS_PER_MS + Math.round((expirationMs - wholeMs) * NS_PER_MS);
  let frac = ns === 0 ? '' : String(Math.min(ns, 999_999_999)).padStart(9, '0').replace(/0+$/, '');
  if (frac !== '') frac = '.' + frac;
  return iso.slice(0, 19) + frac + 'Z';
}

/** etcd's ttl: ceil((expiration - now) / 1s), truncated toward zero when negative (Go integer division). */
export function remainingTtlSeconds(expirationMs: number, nowMs: number): number {
  const leftMs = expirationMs - nowMs;
  let ttl = Math.trunc(leftMs / 1000);
  if (leftMs % 1000 > 0) ttl++;
  return ttl;
}

/** NodeExtern -> etcd JSON with omitempty on every field (so the root prints as {"dir":true,...}). */
export function nodeToJson(n: NodeExtern, nowMs: number): V2NodeJson {
  // Built in etcd's field order; absent fields are never set (not even to undefined).
  const out: Record<string, unknown> = {};
  if (n.key !== '/' && n.key !== '') out['key'] = n.key;
  if (n.value !== undefined) out['value'] = n.value;
  if (n.dir === true) out['dir'] = true;
  if (n.expirationMs !== undefined && n.expirationMs !== 0) {
    out['expiration'] = formatExpiration(n.expirationMs);
    const ttl = remainingTtlSeconds(n.expirationMs, nowMs);
    if (ttl !== 0) out['ttl'] = ttl;
  }
  if (n.nodes !== undefined && n.nodes.length > 0) out['nodes'] = n.nodes.map((c) => nodeToJson(c, nowMs));
  if (n.modifiedIndex !== 0) out['modifiedIndex'] = n.modifiedIndex;
  if (n.createdIndex !== 0) out['createdIndex'] = n.createdIndex;
  // The root node omits key and indexes, as etcd's does; V2NodeJson declares them for every other node.
  return out as unknown as V2NodeJson;
}

export class V2EventImpl implements V2Event {
  constructor(
    readonly action: V2Action,
    readonly nodeExtern: NodeExtern | undefined,
    readonly prevExtern: NodeExtern | undefined,
    readonly etcdIndex: number,
    private readonly nowMs: () => number,
    /** A TTL refresh: kept in the history (it uses an index) but never delivered to watchers. */
    readonly refresh = false,
  ) {}

  get node(): V2NodeJson | undefined {
    return this.nodeExtern === undefined ? undefined : nodeToJson(this.nodeExtern, this.nowMs());
  }

  get prevNode(): V2NodeJson | undefined {
    return this.prevExtern === undefined ? undefined : nodeToJson(this.prevExtern, this.nowMs());
  }

  get created(): boolean {
    return this.action === 'create' || (this.action === 'set' && this.prevExtern === undefined);
  }

  /** etcd's Event.Index(): the node's modifiedIndex. */
  index(): number {
    return this.nodeExtern?.modifiedIndex ?? 0;
  }

  withEtcdIndex(etcdIndex: number): V2EventImpl {
    return new V2EventImpl(this.action, this.nodeExtern, this.prevExtern, etcdIndex, this.nowMs, this.refresh);
  }

  toJSON(): V2EventJson {
    const now = this.nowMs();
    const out: V2EventJson = { action: this.action };
    if (this.nodeExtern !== undefined) out.node = nodeToJson(this.nodeExtern, now);
    if (this.prevExtern !== undefined) out.prevNode = nodeToJson(this.prevExtern, now);
    return out;
  }
}
