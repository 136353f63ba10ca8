// ReadIndex bookkeeping on the leader (etcd/raft's readOnly, ReadOnlySafe): each request
// remembers the commit index when it arrived and waits for a quorum of heartbeat acks carrying
// its context. When one request is confirmed, every request queued before it is too.
import type { NodeId } from './types.js';
import { READ_INDEX_IN_FLIGHT_MAX } from './limits.js';

export interface ReadIndexRequest {
  /** The member that asked (this leader's own id for a local request). */
  readonly from: NodeId;
  readonly context: Uint8Array;
}

interface ReadIndexStatus {
  readonly req: ReadIndexRequest;
  readonly index: number;
  readonly acks: Set<NodeId>;
}

/** Contexts are arbitrary bytes; a latin1 string of them is a cheap exact map key. */
export function contextKey(ctx: Uint8Array): string {
  let s = '';
  for (let i = 0; i < ctx.length; i++) s += String.fromCharCode(ctx[i]!);
  return s;
}

export class ReadOnly {
  private readonly pending = new Map<string, ReadIndexStatus>();
  private queue: string[] = [];

  size(): number {
    return this.queue.length;
  }

  /** False when the request is a duplicate or the in-flight limit is reached (dropped). */
  addRequest(index: number, req: ReadIndexRequest): boolean {
    const key = contextKey(req.context);
    if (this.pending.has(key)) return false;
    if (this.queue.length >= READ_INDEX_IN_FLIGHT_MAX) return false;
    this.pending.set(key, { req, index, acks: new Set() });
    this.queue.push(key);
    return true;
  }

  /** Record an ack; returns the acks so far, or undefined for an unknown context. */
  recvAck(id: NodeId, ctx: Uint8Array): Set<NodeId> | undefined {
    const rs = this.pending.get(contextKey(ctx));
    if (!rs) return undefined;
    rs.acks.add(id);
    return rs.acks;
  }

  /** Remove and return, in order, every request up to and including the one with `ctx`. */
  advance(ctx: Uint8Array): { req: ReadIndexRequest; index: number }[] {
    const key = contextKey(ctx);
    const at = this.queue.indexOf(key);
    if (at < 0) return [];
    const out: { req: ReadIndexRequest; index: number }[] = [];
    for (let i = 0; i <= at; i++) {
      const k = this.queue[i]!;
      const rs = this.pending.get(k)!;
      this.pending.delete(k);
      out.push({ req: rs.req, index: rs.index });
    }
    this.queue = this.queue.slice(at + 1);
    return out;
  }

  lastPendingContext(): Uint8Array | undefined {
    if (this.queue.length === 0) return undefined;
    return this.pending.get(this.queue[this.queue.length - 1]!)!.req.context;
  }
}
