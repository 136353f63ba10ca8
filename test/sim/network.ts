// The simulated network: a pool of messages in flight. Delivery order is the scheduler's
// choice, so messages are delayed, reordered, dropped and duplicated; links can be cut one way
// or both ways. Nothing here knows Raft beyond the Message shape.
import type { Message } from '../../src/raft/message.js';
import type { Prng } from './prng.js';

export interface InFlight {
  readonly msg: Message;
  /** The sender's incarnation when it sent (a restart bumps it), for reportSnapshot. */
  readonly senderEpoch: number;
}

/** Bound on the pool: past it the oldest message is lost, as a full socket buffer would. */
export const IN_FLIGHT_MAX = 2000;

export class Network {
  readonly pool: InFlight[] = [];
  /** Directed links that are cut: key `${from}>${to}`. */
  private readonly cut = new Set<string>();
  /** Probability that a message is lost when sent. */
  lossRate = 0;
  dropped = 0;
  delivered = 0;

  constructor(private readonly rng: Prng) {}

  send(msg: Message, senderEpoch: number, onLost: (f: InFlight) => void): void {
    if (this.lossRate > 0 && this.rng.chance(this.lossRate)) {
      this.dropped++;
      onLost({ msg, senderEpoch });
      return;
    }
    this.pool.push({ msg, senderEpoch });
    if (this.pool.length > IN_FLIGHT_MAX) {
      this.dropped++;
      onLost(this.pool.shift()!);
    }
  }

  /** Take the next message to deliver: mostly the oldest (so the cluster makes progress), now and
   *  then one further back in the queue (reordering; everything ahead of it is delayed). */
  take(reorderRate: number): InFlight | undefined {
    const n = this.pool.length;
    if (n === 0) return undefined;
    let i = 0;
    if (n > 1 && this.rng.chance(reorderRate)) i = this.rng.int(Math.min(n, 32));
    return this.pool.splice(i, 1)[0];
  }

  /** Remove one random message (loss in the wire). */
  dropRandom(): InFlight | undefined {
    if (this.pool.length === 0) return undefined;
    this.dropped++;
    return this.pool.splice(this.rng.int(this.pool.length), 1)[0];
  }

  duplicateRandom(): void {
    if (this.pool.length === 0) return;
    const f = this.pool[this.rng.int(this.pool.length)]!;
    // Insert the copy at a random later position: duplicates arrive out of order too.
    const at = this.rng.int(this.pool.length + 1);
    this.pool.splice(at, 0, f);
  }

  isCut(from: string, to: string): boolean {
    return this.cut.size > 0 && this.cut.has(`${from}>${to}`);
  }

  cutOneWay(from: string, to: string): void {
    this.cut.add(`${from}>${to}`);
  }

  /** Split the nodes into two sides that cannot talk to each other. */
  partition(sideA: readonly string[], sideB: readonly string[]): void {
    for (const a of sideA) {
      for (const b of sideB) {
        this.cut.add(`${a}>${b}`);
        this.cut.add(`${b}>${a}`);
      }
    }
  }

  healAll(): void {
    this.cut.clear();
  }

  get cutLinks(): number {
    return this.cut.size;
  }
}
