// Workloads over the v2 HTTP API: registers (quorum read / write / CAS with prevValue) per key,
// an append-only set (one key per element), and recursive watches that follow the set with
// waitIndex across members and reconnects.
import type { RegInput, RegOutput, Op } from './checkers.js';
import { Recorder, fetchFailure, nowMs } from './history.js';
import { Prng } from './prng.js';
import { sleep } from '../harness/cluster.js';

export interface Endpoints {
  /** Client URLs of the current members (some may be down). */
  urls(): string[];
}

const OP_TIMEOUT_MS = 3000;
/** A register key is retired after this long, so each key's history stays small enough for
 *  the linearizability search. */
const KEY_EPOCH_MS = 8000;

interface V2Reply {
  status: number;
  index: number;
  body: { errorCode?: number; node?: { key: string; value?: string; modifiedIndex: number; nodes?: { key: string; value?: string }[] }; action?: string; index?: number };
}

async function v2(url: string, method: string, path: string, form?: Record<string, string>, query = '', timeoutMs = OP_TIMEOUT_MS): Promise<V2Reply> {
  const r = await fetch(`${url}/v2/keys${path}${query}`, {
    method,
    body: form ? new URLSearchParams(form) : undefined,
    headers: form ? { 'content-type': 'application/x-www-form-urlencoded' } : undefined,
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await r.text();
  let body: V2Reply['body'] = {};
  try {
    body = JSON.parse(text) as V2Reply['body'];
  } catch {
    /* etcd answers some errors in plain text */
  }
  return { status: r.status, index: Number(r.headers.get('x-etcd-index') ?? -1), body };
}

export class V2Workload {
  private stopped = false;
  private running: Promise<void>[] = [];
  private readonly rnd: Prng;
  readonly epochStart = Date.now();
  readonly regKeys = new Set<string>();

  constructor(
    readonly rec: Recorder,
    readonly eps: Endpoints,
    seed: number,
    readonly prefix = `/r${seed}`,
    readonly registerClients = 5,
    readonly setClients = 2,
    readonly watchers = 2,
  ) {
    this.rnd = new Prng(seed ^ 0x2545f491);
  }

  private url(rnd: Prng): string {
    return rnd.pick(this.eps.urls());
  }

  start(): void {
    let c = 0;
    for (let i = 0; i < this.registerClients; i++) this.running.push(this.registerClient(c++, new Prng(this.rnd.int(2 ** 31))));
    for (let i = 0; i < this.setClients; i++) this.running.push(this.setClient(c++, new Prng(this.rnd.int(2 ** 31))));
  }

  async startWatchers(): Promise<void> {
    // Start from the current index so the watch covers every set add from here on.
    const urls = this.eps.urls();
    let from = -1;
    for (let tries = 0; tries < 50 && from < 0; tries++) {
      try {
        const r = await v2(urls[tries % urls.length]!, 'GET', `${this.prefix}/set`, undefined, '?quorum=true');
        if (r.index >= 0) from = r.index + 1;
      } catch {
        await sleep(100);
      }
    }
    if (from < 0) throw new Error('v2 workload: could not read the current index to start watches');
    for (let i = 0; i < this.watchers; i++) this.running.push(this.watcher(i, from, new Prng(this.rnd.int(2 ** 31))));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.running);
  }

  private async registerClient(client: number, rnd: Prng): Promise<void> {
    let n = 0;
    const lastSeen = new Map<string, string>();
    while (!this.stopped) {
      const epoch = Math.floor((Date.now() - this.epochStart) / KEY_EPOCH_MS);
      const key = `${this.prefix}/reg/e${epoch}k${rnd.int(3)}`;
      this.regKeys.add(key);
      const r = rnd.next();
      const value = `c${client}n${n++}`;
      const input: RegInput = r < 0.45 ? { f: 'read' } : r < 0.75 ? { f: 'write', value } : { f: 'cas', from: lastSeen.get(key) ?? `c0n${n}`, to: value };
      const op = await this.registerOp(client, key, input, this.url(rnd));
      if (op.outcome === 'ok') lastSeen.set(key, input.f === 'read' ? op.output?.value ?? '' : input.f === 'write' ? input.value : input.f === 'cas' ? input.to : '');
    }
  }

  /** One register op against one member, recorded. Exported for the final reads. */
  async registerOp(client: number, key: string, input: RegInput, url: string): Promise<Op<RegInput, RegOutput>> {
    const op: Op<RegInput, RegOutput> = { id: this.rec.id(), client, key, input, outcome: 'info', invokeMs: nowMs(), completeMs: 0 };
    try {
      let r: V2Reply;
      switch (input.f) {
        case 'read':
          r = await v2(url, 'GET', key, undefined, '?quorum=true');
          if (r.status === 200) op.outcome = 'ok', (op.output = { value: r.body.node?.value ?? null });
          else if (r.body.errorCode === 100) op.outcome = 'ok', (op.output = { value: null });
          else op.outcome = 'fail';
          break;
        case 'write':
          r = await v2(url, 'PUT', key, { value: input.value });
          op.outcome = r.status === 200 || r.status === 201 ? 'ok' : r.status >= 400 && r.status < 500 ? 'fail' : 'info';
          break;
        case 'cas':
          r = await v2(url, 'PUT', key, { value: input.to, prevValue: input.from ?? '' });
          if (r.status === 200 || r.status === 201) op.outcome = 'ok';
          else if (r.body.errorCode === 101 || r.body.errorCode === 100) op.outcome = 'fail';
          else op.outcome = 'info';
          break;
        case 'delete':
          r = await v2(url, 'DELETE', key);
          op.outcome = r.status === 200 ? 'ok' : 'info';
          break;
      }
      if (op.outcome === 'ok' && r.index > 0) this.rec.revision(client, r.index, op.id);
    } catch (err) {
      // Refused: never reached a member; for a read nothing to say, for a write not applied.
      op.outcome = fetchFailure(err) === 'refused' ? 'fail' : 'info';
      if (op.outcome === 'fail' && input.f === 'cas') {
        // A refused CAS observed nothing: record it as a no-op by dropping it.
        this.rec.count(`v2.${input.f}`, 'refused');
        op.completeMs = nowMs();
        return op;
      }
    }
    op.completeMs = nowMs();
    this.rec.count(`v2.${input.f}`, op.outcome);
    this.rec.ops.push(op);
    await (op.outcome === 'ok' ? Promise.resolve() : sleep(50));
    return op;
  }

  private async setClient(client: number, rnd: Prng): Promise<void> {
    let n = 0;
    while (!this.stopped) {
      const element = `s${client}-${n++}`;
      const key = `${this.prefix}/set/${element}`;
      let outcome: Op['outcome'] = 'info';
      try {
        const r = await v2(this.url(rnd), 'PUT', key, { value: element });
        if (r.status === 200 || r.status === 201) {
          outcome = 'ok';
          const idx = r.body.node?.modifiedIndex ?? -1;
          this.rec.acked.push({ index: idx, key, type: 'put', value: element });
          if (r.index > 0) this.rec.revision(client, r.index, -1);
        } else if (r.status >= 400 && r.status < 500) outcome = 'fail';
      } catch (err) {
        outcome = fetchFailure(err) === 'refused' ? 'fail' : 'info';
      }
      this.rec.setAdds.push({ element, outcome });
      this.rec.count('v2.set-add', outcome);
      if (outcome !== 'ok') await sleep(50);
    }
  }

  /** Follows every change under the set with waitIndex, hopping members on errors. A 401
   *  (index cleared: more than 1000 events behind) ends the stream and starts a new one. */
  private async watcher(w: number, from: number, rnd: Prng): Promise<void> {
    let stream = { name: `v2watch${w}.0`, from, events: [] as { index: number; key: string; type: 'put' | 'delete' | 'expire'; value?: string }[] };
    this.rec.watchStreams.push(stream);
    let next = from;
    let url = this.url(rnd);
    let segments = 0;
    while (!this.stopped) {
      try {
        const r = await v2(url, 'GET', `${this.prefix}/set`, undefined, `?wait=true&recursive=true&waitIndex=${next}`, 2000);
        if (r.status === 200 && r.body.node) {
          const a = r.body.action ?? '';
          const type = a === 'delete' || a === 'compareAndDelete' ? 'delete' : a === 'expire' ? 'expire' : 'put';
          stream.events.push({ index: r.body.node.modifiedIndex, key: r.body.node.key, type, value: r.body.node.value });
          next = r.body.node.modifiedIndex + 1;
          this.rec.count('v2.watch-event', 'ok');
        } else if (r.body.errorCode === 401) {
          this.rec.count('v2.watch-cleared', 'fail');
          next = (r.body.index ?? next) + 1;
          stream = { name: `v2watch${w}.${++segments}`, from: next, events: [] };
          this.rec.watchStreams.push(stream);
        } else {
          url = this.url(rnd);
          await sleep(100);
        }
      } catch (err) {
        // A long poll that timed out saw nothing; anything else: try another member.
        if (fetchFailure(err) !== 'timeout') url = this.url(rnd);
        else if (rnd.chance(0.3)) url = this.url(rnd);
        await sleep(20);
      }
    }
  }

  /** Reads the whole set with a quorum read from one answering member. */
  async readSet(): Promise<string[] | undefined> {
    for (let tries = 0; tries < 30; tries++) {
      for (const url of this.eps.urls()) {
        try {
          const r = await v2(url, 'GET', `${this.prefix}/set`, undefined, '?recursive=true&quorum=true', 5000);
          if (r.status === 200) return (r.body.node?.nodes ?? []).map((n) => n.value ?? '');
          if (r.body.errorCode === 100) return [];
        } catch {
          /* next */
        }
      }
      await sleep(500);
    }
    return undefined;
  }

  /** The set as one member holds it locally (for the replicas-agree check). */
  async localSet(url: string): Promise<{ index: number; values: string[] } | undefined> {
    try {
      const r = await v2(url, 'GET', `${this.prefix}/set`, undefined, '?recursive=true', 5000);
      if (r.status === 200) return { index: r.index, values: (r.body.node?.nodes ?? []).map((n) => n.value ?? '').sort() };
      if (r.body.errorCode === 100) return { index: r.index, values: [] };
    } catch {
      /* down */
    }
    return undefined;
  }
}
