// The load generator of bench/v3.ts, run as its own process so it does not share an event loop
// with the parent. Input: one JSON argument. Output: one JSON line on stdout.
// Raw @grpc/grpc-js calls with tsetcd's own .proto files; every request is encoded once up
// front and responses are not decoded (except a txn's `succeeded` and watch events), so the
// generator spends its CPU on HTTP/2 framing, not on protobuf.
import type { LoadResultBase } from './common.js';
import * as grpc from '@grpc/grpc-js';
import { type as pbType } from '../src/api/v3/proto.js';

export type LoadOp = 'populate' | 'put' | 'range-linearizable' | 'range-serializable' | 'txn' | 'watch';

export interface LoadConfig {
  op: LoadOp;
  /** host:port of every member; channel j goes to endpoints[j % length] (the caller puts the leader first). */
  endpoints: string[];
  clients: number;
  seconds: number;
  keys: number;
  valueBytes: number;
  keyPrefix: string;
  /** Clients (or watch streams) per HTTP/2 connection. */
  clientsPerChannel: number;
}

export interface LoadResult extends LoadResultBase {
  channels: number;
  /** watch only: puts acknowledged by the one writer, events expected, events received. */
  writerPuts?: number;
  eventsExpected?: number;
  eventsReceived?: number;
}

const CALL_TIMEOUT_MS = 10_000;
const WATCH_CREATE_TIMEOUT_MS = 10_000;
const WATCH_DRAIN_MS_MAX = 3_000;
/** Samples kept for percentiles; above it, reservoir sampling keeps memory bounded. */
const LATENCY_SAMPLES_MAX = 1_000_000;

const identity = (b: Buffer): Buffer => b;
const enc = (t: string, v: object): Buffer => Buffer.from(pbType(t).encode(pbType(t).fromObject(v)).finish());

class Latencies {
  private readonly samples: number[] = [];
  private seen = 0;
  add(ms: number): void {
    this.seen++;
    if (this.samples.length < LATENCY_SAMPLES_MAX) this.samples.push(ms);
    else {
      const j = Math.floor(Math.random() * this.seen);
      if (j < LATENCY_SAMPLES_MAX) this.samples[j] = ms;
    }
  }
  pct(p: number): number {
    if (this.samples.length === 0) return NaN;
    const s = [...this.samples].sort((a, b) => a - b);
    return s[Math.min(s.length - 1, Math.floor(s.length * p))]!;
  }
}

function openChannels(cfg: LoadConfig, clients: number): grpc.Client[] {
  // At least one connection per member (up to the client count), then one per clientsPerChannel.
  const n = Math.max(Math.min(cfg.endpoints.length, clients), Math.ceil(clients / cfg.clientsPerChannel));
  return Array.from(
    { length: n },
    (_, j) =>
      // A local subchannel pool gives every Client its own TCP connection; the global pool would
      // fold all channels to one member into a single HTTP/2 connection.
      new grpc.Client(cfg.endpoints[j % cfg.endpoints.length]!, grpc.credentials.createInsecure(), {
        'grpc.use_local_subchannel_pool': 1,
        'grpc.max_receive_message_length': 16 * 1024 * 1024,
      }),
  );
}

async function waitConnected(chs: grpc.Client[]): Promise<void> {
  await Promise.all(
    chs.map((c) => new Promise<void>((resolve, reject) => c.waitForReady(Date.now() + 10_000, (e) => (e ? reject(e) : resolve())))),
  );
}

function requestsFor(cfg: LoadConfig): { path: string; bodies: Buffer[] } {
  const value = Buffer.alloc(cfg.valueBytes, 'v');
  const key = (i: number): Buffer => Buffer.from(`${cfg.keyPrefix}${i}`);
  const ids = Array.from({ length: cfg.keys }, (_, i) => i);
  switch (cfg.op) {
    case 'populate':
    case 'put':
      return { path: '/etcdserverpb.KV/Put', bodies: ids.map((i) => enc('etcdserverpb.PutRequest', { key: key(i), value })) };
    case 'range-linearizable':
    case 'range-serializable':
      return {
        path: '/etcdserverpb.KV/Range',
        bodies: ids.map((i) => enc('etcdserverpb.RangeRequest', { key: key(i), serializable: cfg.op === 'range-serializable' })),
      };
    case 'txn':
      return {
        path: '/etcdserverpb.KV/Txn',
        bodies: ids.map((i) =>
          enc('etcdserverpb.TxnRequest', {
            compare: [{ result: 'GREATER', target: 'MOD', key: key(i), mod_revision: 0 }],
            success: [{ request_put: { key: key(i), value } }],
          }),
        ),
      };
    case 'watch':
      throw new Error('watch has no unary requests');
    default: {
      const never: never = cfg.op;
      throw new Error(`unknown op ${String(never)}`);
    }
  }
}

/** Closed loop: each client sends its next request when the previous one answered. */
async function runUnary(cfg: LoadConfig): Promise<LoadResult> {
  const chs = openChannels(cfg, cfg.clients);
  await waitConnected(chs);
  const { path, bodies } = requestsFor(cfg);
  const txnResponse = pbType('etcdserverpb.TxnResponse');
  const isRange = cfg.op === 'range-linearizable' || cfg.op === 'range-serializable';
  const lat = new Latencies();
  let requests = 0;
  let errors = 0;
  let firstError: string | undefined;
  let seq = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const endAt = cfg.op === 'populate' ? Infinity : t0 + cfg.seconds * 1000;
  const fail = (m: string): void => {
    errors++;
    firstError ??= m;
  };

  const one = (ch: grpc.Client, body: Buffer): Promise<void> =>
    new Promise((resolve) => {
      const start = performance.now();
      ch.makeUnaryRequest(path, identity, identity, body, new grpc.Metadata(), { deadline: Date.now() + CALL_TIMEOUT_MS }, (err, res) => {
        if (err || !res) fail(err ? `${grpc.status[err.code] ?? err.code}: ${err.details}` : 'empty response');
        // A range answer that carries the 256-byte value is at least that long: checks the key
        // was found without decoding every response.
        else if (isRange && res.length < cfg.valueBytes) fail(`range response of ${res.length} bytes: key not found`);
        else if (cfg.op === 'txn' && !(txnResponse.decode(res) as unknown as { succeeded: boolean }).succeeded) fail('txn compare failed');
        else {
          requests++;
          lat.add(performance.now() - start);
        }
        resolve();
      });
    });

  const loop = async (c: number): Promise<void> => {
    const ch = chs[c % chs.length]!;
    if (cfg.op === 'populate') {
      for (let i = seq++; i < cfg.keys; i = seq++) await one(ch, bodies[i]!);
      return;
    }
    while (performance.now() < endAt) await one(ch, bodies[seq++ % bodies.length]!);
  };
  await Promise.all(Array.from({ length: cfg.clients }, (_, c) => loop(c)));
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  for (const c of chs) c.close();
  return {
    requests, errors, firstError, wallMs, cpuUserMs: cpu.user / 1000, cpuSystemMs: cpu.system / 1000,
    latencyMsP50: lat.pct(0.5), latencyMsP99: lat.pct(0.99), channels: chs.length,
  };
}

/**
 * Watch fan-out: `clients` watch streams on one prefix, spread over the channels (so over the
 * members), and one writer putting new keys under the prefix back to back on its own connection
 * to endpoints[0]. Throughput = events delivered per second; latency = put sent -> event received.
 */
async function runWatch(cfg: LoadConfig): Promise<LoadResult> {
  const chs = openChannels(cfg, cfg.clients);
  const [writerCh] = openChannels({ ...cfg, endpoints: [cfg.endpoints[0]!] }, 1);
  await waitConnected([...chs, writerCh!]);
  const prefix = Buffer.from(cfg.keyPrefix);
  const rangeEnd = Buffer.from(prefix);
  rangeEnd[rangeEnd.length - 1]!++;
  const watchResponse = pbType('etcdserverpb.WatchResponse');
  const lat = new Latencies();
  const sentAtMs: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  let received = 0;
  let lastEventAt = 0;
  const fail = (m: string): void => {
    errors++;
    firstError ??= m;
  };
  type WatchEvent = { kv?: { key: Uint8Array } };
  const streams: grpc.ClientDuplexStream<Buffer, Buffer>[] = [];
  const created: Promise<void>[] = [];
  const createBody = enc('etcdserverpb.WatchRequest', { create_request: { key: prefix, range_end: rangeEnd } });
  for (let w = 0; w < cfg.clients; w++) {
    const s = chs[w % chs.length]!.makeBidiStreamRequest('/etcdserverpb.Watch/Watch', identity, identity, new grpc.Metadata());
    streams.push(s);
    created.push(
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`watch ${w} not created within ${WATCH_CREATE_TIMEOUT_MS} ms`)), WATCH_CREATE_TIMEOUT_MS);
        s.on('data', (b: Buffer) => {
          const r = watchResponse.decode(b) as unknown as { created?: boolean; canceled?: boolean; events?: WatchEvent[] };
          if (r.created) {
            clearTimeout(timer);
            resolve();
          }
          if (r.canceled) fail('watch canceled');
          const now = performance.now();
          for (const e of r.events ?? []) {
            const key = e.kv?.key;
            if (!key) continue;
            const n = Number(Buffer.from(key.buffer, key.byteOffset, key.byteLength).subarray(prefix.length).toString());
            const sent = sentAtMs[n];
            received++;
            lastEventAt = now;
            if (sent !== undefined) lat.add(now - sent);
          }
        });
        s.on('error', (e: grpc.ServiceError) => {
          if (e.code !== grpc.status.CANCELLED) fail(`watch stream: ${e.details}`);
        });
      }),
    );
    s.write(createBody);
  }
  await Promise.all(created);

  const value = Buffer.alloc(cfg.valueBytes, 'v');
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const endAt = t0 + cfg.seconds * 1000;
  let puts = 0;
  let seq = 0;
  while (performance.now() < endAt) {
    const n = seq++;
    const body = enc('etcdserverpb.PutRequest', { key: Buffer.from(`${cfg.keyPrefix}${n}`), value });
    sentAtMs[n] = performance.now();
    await new Promise<void>((resolve) => {
      writerCh!.makeUnaryRequest('/etcdserverpb.KV/Put', identity, identity, body, new grpc.Metadata(), { deadline: Date.now() + CALL_TIMEOUT_MS }, (err) => {
        if (err) fail(`writer put: ${err.details}`);
        else puts++;
        resolve();
      });
    });
  }
  // Let the last events arrive (bounded), then count what never came as errors.
  const expected = puts * cfg.clients;
  const drainUntil = performance.now() + WATCH_DRAIN_MS_MAX;
  while (received < expected && performance.now() < drainUntil) await new Promise((r) => setTimeout(r, 10));
  const wallMs = Math.max(lastEventAt, endAt) - t0;
  const cpu = process.cpuUsage(cpu0);
  if (received < expected) fail(`${expected - received} of ${expected} events not delivered within ${WATCH_DRAIN_MS_MAX} ms`);
  for (const s of streams) s.cancel();
  writerCh!.close();
  for (const c of chs) c.close();
  return {
    requests: received, errors, firstError, wallMs, cpuUserMs: cpu.user / 1000, cpuSystemMs: cpu.system / 1000,
    latencyMsP50: lat.pct(0.5), latencyMsP99: lat.pct(0.99), channels: chs.length + 1,
    writerPuts: puts, eventsExpected: expected, eventsReceived: received,
  };
}

if (process.argv[2]) {
  const cfg = JSON.parse(process.argv[2]) as LoadConfig;
  (cfg.op === 'watch' ? runWatch(cfg) : runUnary(cfg)).then(
    (r) => {
      process.stdout.write(JSON.stringify(r) + '\n');
      process.exit(0);
    },
    (e: Error) => {
      process.stderr.write(`load: ${e.message}\n`);
      process.exit(1);
    },
  );
}
