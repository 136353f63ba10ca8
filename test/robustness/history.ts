// What workloads record while they run, and the shared classification of request outcomes.
import { performance } from 'node:perf_hooks';
import type { Op, RevObservation, AckedWrite, WatchEvent } from './checkers.js';

export const nowMs = (): number => performance.now();

export class Recorder {
  private nextId = 0;
  readonly ops: Op[] = [];
  readonly revisions: RevObservation[] = [];
  readonly acked: AckedWrite[] = [];
  readonly setAdds: { element: string; outcome: Op['outcome'] }[] = [];
  readonly watchStreams: { name: string; from: number; events: WatchEvent[] }[] = [];
  private clientSeq = new Map<number, number>();
  /** Counts by "kind:outcome", for the summary. */
  readonly counts = new Map<string, number>();

  id(): number {
    return this.nextId++;
  }

  count(kind: string, outcome: string): void {
    const k = `${kind}:${outcome}`;
    this.counts.set(k, (this.counts.get(k) ?? 0) + 1);
  }

  revision(client: number, revision: number, opId: number): void {
    const seq = this.clientSeq.get(client) ?? 0;
    this.clientSeq.set(client, seq + 1);
    this.revisions.push({ client, seq, revision, opId });
  }

  totalOps(): number {
    let n = 0;
    for (const v of this.counts.values()) n += v;
    return n;
  }
}

/** A fetch failure: refused = never reached a server (definitely not applied). */
export function fetchFailure(err: unknown): 'refused' | 'timeout' | 'broken' {
  const e = err as { name?: string; cause?: { code?: string; name?: string } };
  if (e.name === 'TimeoutError' || e.name === 'AbortError' || e.cause?.name === 'TimeoutError') return 'timeout';
  if (e.cause?.code === 'ECONNREFUSED') return 'refused';
  return 'broken';
}
