// Workloads over the v3 gRPC API through the etcd3 npm client: registers (get / put / txn CAS)
// per key, multi-key txns over a small group of keys, an append-only set, watches over the whole
// workload prefix (every revision must show up: only this workload writes v3 keys), and leases
// whose keys must not vanish before their TTL unless revoked, and must vanish in the end.
import { Etcd3, type IOptions } from 'etcd3';
import { noop } from 'cockatiel';
import type { RegInput, RegOutput, Op, TxnInput, TxnOutput } from './checkers.js';
import { Recorder, nowMs } from './history.js';
import { Prng } from './prng.js';
import { sleep } from '../harness/cluster.js';
import type { Anomaly } from './runner.js';
import type { Endpoints } from './v2workload.js';

const OP_DEADLINE_MS = 3000;
const KEY_EPOCH_MS = 8000;
const LEASE_TTL_S = 3;

function clientFor(hosts: string[], retries: boolean): Etcd3 {
  const o: IOptions = {
    hosts,
    dialTimeout: 2000,
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + OP_DEADLINE_MS }),
  };
  // Without retries: an op is sent once, so its outcome is what the history says.
  if (!retries) o.faultHandling = { host: () => noop, global: noop };
  return new Etcd3(o);
}

type WatchEv = { index: number; key: string; type: 'put' | 'delete' | 'expire'; value?: string };

export class V3Workload {
  private stopped = false;
  private running: Promise<void>[] = [];
  private readonly rnd: Prng;
  private readonly epochStart = Date.now();
  private clients = new Map<string, Etcd3>();
  private watchClient: Etcd3 | undefined;
  private watchers: { cancel(): Promise<void> }[] = [];
  readonly regKeys = new Set<string>();
  private leaseKeys: { key: string; revoked: boolean; acked: boolean }[] = [];
  readonly anomalies: Anomaly[] = [];

  constructor(
    readonly rec: Recorder,
    readonly eps: Endpoints,
    seed: number,
    readonly registerClients = 4,
    readonly txnClients = 2,
  ) {
    this.rnd = new Prng(seed ^ 0x6a09e667);
  }

  private client(rnd: Prng): Etcd3 {
    const url = rnd.pick(this.eps.urls());
    let c = this.clients.get(url);
    if (!c) this.clients.set(url, (c = clientFor([url], false)));
    return c;
  }

  start(): void {
    let c = 100;
    for (let i = 0; i < this.registerClients; i++) this.running.push(this.registerClient(c++, new Prng(this.rnd.int(2 ** 31))));
    for (let i = 0; i < this.txnClients; i++) this.running.push(this.txnClient(c++, new Prng(this.rnd.int(2 ** 31))));
    this.running.push(this.setClient(c++, new Prng(this.rnd.int(2 ** 31))));
    this.running.push(this.leaseClient(c++, new Prng(this.rnd.int(2 ** 31))));
  }

  private async currentRevision(): Promise<number> {
    for (let i = 0; i < 40; i++) {
      try {
        const r = await this.client(this.rnd).get('v3-probe').exec();
        return Number(r.header.revision);
      } catch {
        await sleep(250);
      }
    }
    throw new Error('v3 workload: no member answered a get');
  }

  async startWatchers(n = 2): Promise<void> {
    this.watchClient = clientFor(this.eps.urls(), true);
    const from = (await this.currentRevision()) + 1;
    for (let i = 0; i < n; i++) await this.watch(`v3watch${i}`, 0, from);
  }

  /** A watch over the whole prefix from `from`; a cancel (compaction) starts a new stream. */
  private async watch(name: string, segment: number, from: number): Promise<void> {
    const stream = { name: `${name}.${segment}`, from, events: [] as WatchEv[] };
    this.rec.watchStreams.push(stream);
    const w = await this.watchClient!.watch().prefix('v3').startRevision(String(from)).create();
    this.watchers.push(w);
    let last = from - 1;
    w.on('data', (res) => {
      for (const ev of res.events) {
        const index = Number(ev.kv.mod_revision);
        last = Math.max(last, index);
        stream.events.push({ index, key: ev.kv.key.toString(), type: ev.type === 'Delete' ? 'delete' : 'put', value: ev.type === 'Delete' ? undefined : ev.kv.value.toString() });
        this.rec.count('v3.watch-event', 'ok');
      }
    });
    const restart = (compacted: boolean): void => {
      if (this.stopped) return;
      this.rec.count('v3.watch-restart', compacted ? 'compacted' : 'error');
      void w.cancel().catch(() => undefined);
      // Resume after the last event seen; if that revision is compacted, from the head.
      void this.currentRevision()
        .then((rev) => this.watch(name, segment + 1, compacted ? rev + 1 : last + 1))
        .catch(() => undefined);
    };
    w.on('error', (e) => restart(/compact/i.test(String(e))));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.running);
  }

  async close(): Promise<void> {
    for (const w of this.watchers) await w.cancel().catch(() => undefined);
    for (const c of this.clients.values()) c.close();
    this.watchClient?.close();
  }

  /** Compacts at a revision a little behind the head, while watchers run. */
  async compactNow(): Promise<string> {
    const rev = await this.currentRevision();
    const at = Math.max(1, rev - this.rnd.int(200));
    try {
      await this.client(this.rnd).kv.compact({ revision: String(at) });
      return `compacted at ${at} (head ${rev})`;
    } catch (err) {
      return `compact at ${at} failed: ${(err as Error).message}`;
    }
  }

  private async registerClient(client: number, rnd: Prng): Promise<void> {
    let n = 0;
    const lastSeen = new Map<string, string>();
    while (!this.stopped) {
      const epoch = Math.floor((Date.now() - this.epochStart) / KEY_EPOCH_MS);
      const key = `v3reg/e${epoch}k${rnd.int(3)}`;
      this.regKeys.add(key);
      const r = rnd.next();
      const value = `c${client}n${n++}`;
      const input: RegInput = r < 0.45 ? { f: 'read' } : r < 0.75 ? { f: 'write', value } : { f: 'cas', from: lastSeen.get(key) ?? `c0n${n}`, to: value };
      const op = await this.registerOp(client, key, input, rnd);
      if (op.outcome === 'ok') lastSeen.set(key, input.f === 'read' ? op.output?.value ?? '' : input.f === 'write' ? input.value : input.f === 'cas' ? input.to : '');
    }
  }

  async registerOp(client: number, key: string, input: RegInput, rnd: Prng): Promise<Op<RegInput, RegOutput>> {
    const op: Op<RegInput, RegOutput> = { id: this.rec.id(), client, key, input, outcome: 'info', invokeMs: nowMs(), completeMs: 0 };
    const c = this.client(rnd);
    try {
      let rev = -1;
      switch (input.f) {
        case 'read': {
          const r = await c.get(key).exec();
          op.output = { value: r.kvs.length > 0 ? r.kvs[0]!.value.toString() : null };
          rev = Number(r.header.revision);
          break;
        }
        case 'write': {
          const r = await c.put(key).value(input.value).exec();
          rev = Number(r.header.revision);
          this.rec.acked.push({ index: rev, key, type: 'put', value: input.value });
          break;
        }
        case 'cas': {
          const r = await c.if(key, 'Value', '==', input.from ?? '').then(c.put(key).value(input.to)).commit();
          rev = Number(r.header.revision);
          if (r.succeeded) this.rec.acked.push({ index: rev, key, type: 'put', value: input.to });
          else op.outcome = 'fail';
          break;
        }
        case 'delete':
          await c.delete().key(key).exec();
          break;
      }
      if (op.outcome === 'info') op.outcome = 'ok';
      this.rec.revision(client, rev, op.id);
    } catch {
      op.outcome = 'info';
    }
    op.completeMs = nowMs();
    this.rec.count(`v3.${input.f}`, op.outcome);
    this.rec.ops.push(op);
    if (op.outcome === 'info') await sleep(50);
    return op;
  }

  /** Txns over the keys a, b, c of a group: a guarded update of a and b that reads all three,
   *  or an unconditional write of c. */
  private async txnClient(client: number, rnd: Prng): Promise<void> {
    let n = 0;
    let lastA: string | null = null;
    while (!this.stopped) {
      const epoch = Math.floor((Date.now() - this.epochStart) / KEY_EPOCH_MS);
      const g = `v3txn/g${epoch}`;
      const [a, b, cKey] = [`${g}/a`, `${g}/b`, `${g}/c`];
      const v = `t${client}n${n++}`;
      const guarded = rnd.chance(0.7);
      const input: TxnInput = guarded
        ? { cmp: { [a]: rnd.chance(0.2) ? null : lastA }, writes: { [a]: v, [b]: v }, reads: [a, b, cKey] }
        : { cmp: {}, writes: { [cKey]: v }, reads: [] };
      const op: Op<TxnInput, TxnOutput> & { txn: true } = { id: this.rec.id(), client, key: g, input, outcome: 'info', invokeMs: nowMs(), completeMs: 0, txn: true };
      const c = this.client(rnd);
      try {
        const reads = [c.get(a), c.get(b), c.get(cKey)];
        let t = c.if(a, 'Version', '>', 0);
        const expect = input.cmp[a];
        if (guarded) t = expect === null || expect === undefined ? c.if(a, 'Create', '==', 0) : c.if(a, 'Value', '==', expect);
        const r = guarded
          ? await t.then(...reads, c.put(a).value(v), c.put(b).value(v)).else(...reads).commit()
          : await c.if(cKey, 'Mod', '>', -1).then(c.put(cKey).value(v)).commit();
        const values: Record<string, string | null> = {};
        if (guarded) {
          [a, b, cKey].forEach((k, i) => {
            const kvs = r.responses[i]?.response_range?.kvs ?? [];
            values[k] = kvs.length > 0 ? kvs[0]!.value.toString() : null;
          });
          lastA = r.succeeded ? v : values[a] ?? null;
        }
        const rev = Number(r.header.revision);
        if (r.succeeded) for (const [k, val] of Object.entries(input.writes)) this.rec.acked.push({ index: rev, key: k, type: 'put', value: val });
        op.output = { succeeded: r.succeeded, values };
        op.outcome = 'ok';
        this.rec.revision(client, rev, op.id);
      } catch {
        op.outcome = 'info';
      }
      op.completeMs = nowMs();
      this.rec.count('v3.txn', op.outcome);
      this.rec.ops.push(op);
      if (op.outcome === 'info') await sleep(50);
    }
  }

  private async setClient(client: number, rnd: Prng): Promise<void> {
    let n = 0;
    while (!this.stopped) {
      const element = `v3s-${n++}`;
      const key = `v3set/${element}`;
      let outcome: Op['outcome'] = 'info';
      try {
        const r = await this.client(rnd).put(key).value(element).exec();
        outcome = 'ok';
        this.rec.acked.push({ index: Number(r.header.revision), key, type: 'put', value: element });
        this.rec.revision(client, Number(r.header.revision), -1);
      } catch {
        outcome = 'info';
      }
      this.rec.setAdds.push({ element, outcome });
      this.rec.count('v3.set-add', outcome);
      if (outcome !== 'ok') await sleep(50);
    }
  }

  /** Grant a lease, attach a key, read it back before the TTL can have run out (it must be
   *  there), then revoke (it must be gone) or let it expire (checked at the end). */
  private async leaseClient(_client: number, rnd: Prng): Promise<void> {
    let n = 0;
    while (!this.stopped) {
      const key = `v3lease/l${n++}`;
      const c = this.client(rnd);
      const lease = c.lease(LEASE_TTL_S, { autoKeepAlive: false });
      lease.on('lost', () => undefined);
      const entry = { key, revoked: false, acked: false };
      const grantAt = nowMs();
      try {
        await lease.grant();
        await lease.put(key).value(key).exec();
        entry.acked = true;
        this.leaseKeys.push(entry);
        this.rec.count('v3.lease-put', 'ok');
      } catch {
        this.leaseKeys.push(entry); // unknown: may exist; it must still vanish in the end
        this.rec.count('v3.lease-put', 'info');
        await sleep(200);
        continue;
      }
      await sleep(300 + rnd.int(700));
      try {
        const r = await this.client(rnd).get(key).exec();
        const doneAt = nowMs();
        if (r.kvs.length === 0 && doneAt < grantAt + LEASE_TTL_S * 1000) {
          this.anomalies.push({ checker: 'lease', message: `${key} vanished ${Math.round(doneAt - grantAt)} ms after its ${LEASE_TTL_S} s lease was granted, without a revoke` });
        }
        this.rec.count('v3.lease-read', 'ok');
      } catch {
        this.rec.count('v3.lease-read', 'info');
      }
      if (rnd.chance(0.5)) {
        try {
          await lease.revoke();
          entry.revoked = true;
          const r = await this.client(rnd).get(key).exec();
          if (r.kvs.length > 0) this.anomalies.push({ checker: 'lease', message: `${key} still readable after its lease revoke was acknowledged` });
          this.rec.count('v3.lease-revoke', 'ok');
        } catch {
          this.rec.count('v3.lease-revoke', 'info');
        }
      }
    }
  }

  /** After the load: final register reads, the set, lease keys gone. */
  async finalReads(anomalies: Anomaly[]): Promise<void> {
    const rnd = new Prng(1);
    for (const key of this.regKeys) {
      for (let i = 0; i < 5; i++) if ((await this.registerOp(1999, key, { f: 'read' }, rnd)).outcome === 'ok') break;
    }
    let values: string[] | undefined;
    for (let i = 0; i < 20 && !values; i++) {
      try {
        const r = await this.client(rnd).getAll().prefix('v3set/').strings();
        values = Object.values(r);
      } catch {
        await sleep(500);
      }
    }
    if (!values) anomalies.push({ checker: 'availability', message: 'v3: the final set read never succeeded' });
    else {
      const { checkSet } = await import('./checkers.js');
      const v3Adds = this.rec.setAdds.filter((a) => a.element.startsWith('v3s-'));
      const r = checkSet(v3Adds, values);
      if (!r.ok) anomalies.push({ checker: 'lost-writes(v3 set)', message: `lost ${r.lost.length} acknowledged adds, ${r.unexpected.length} never written`, excerpt: { lost: r.lost.slice(0, 10), unexpected: r.unexpected.slice(0, 10) } });
    }
    // Every lease key must be gone once its TTL (plus an election's worth of renewal) is over.
    const deadline = Date.now() + (LEASE_TTL_S + 12) * 1000;
    let left: string[] = [];
    while (Date.now() < deadline) {
      try {
        left = Object.keys(await this.client(rnd).getAll().prefix('v3lease/').strings());
        if (left.length === 0) break;
      } catch {
        /* retry */
      }
      await sleep(500);
    }
    if (left.length > 0) anomalies.push({ checker: 'lease', message: `${left.length} lease keys never expired: ${left.slice(0, 5).join(', ')}` });
    anomalies.push(...this.anomalies);
    await sleep(1500); // let watchers catch up to the head before the check
    await this.close();
  }
}
