// A raw v3 gRPC client for the differential test: grpc-js generic calls with protobufjs
// (de)serializers built from our own .proto files, so a test sees the exact response (every field,
// header included) and the exact gRPC status code and message of an error.
//
// Requests are written as plain objects whose bytes fields (key, range_end, value) are strings;
// they are turned into bytes here. Responses come back as plain objects with every field present
// (proto3 defaults filled in, so "absent" and "zero" compare equal, as they are on the wire),
// int64 as decimal strings, enums by name, and bytes as UTF-8 strings.
import * as grpc from '@grpc/grpc-js';
import { type as pbType } from '../../src/api/v3/proto.js';

export type Plain = null | boolean | number | string | Plain[] | { [k: string]: Plain };

/** What one unary call produced: a response, or a gRPC error (code and message). */
export type Outcome = { ok: Plain } | { error: { code: string; details: string } };

const BYTES_FIELDS = new Set(['key', 'range_end', 'value']);
const CALL_DEADLINE_MS = 10_000;

/** Turns the string bytes fields of a request into Buffers, recursively. */
export function toWire(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(toWire);
  if (v !== null && typeof v === 'object' && !Buffer.isBuffer(v)) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = BYTES_FIELDS.has(k) && typeof x === 'string' ? Buffer.from(x, 'utf8') : toWire(x);
    return out;
  }
  return v;
}

/** Buffers to strings (UTF-8 when it round-trips, else `hex:...`), recursively. */
function fromWire(v: unknown): Plain {
  if (v instanceof Uint8Array) {
    const b = Buffer.from(v);
    const s = b.toString('utf8');
    return Buffer.from(s, 'utf8').equals(b) ? s : `hex:${b.toString('hex')}`;
  }
  if (Array.isArray(v)) return v.map(fromWire);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, Plain> = {};
    for (const [k, x] of Object.entries(v)) out[k] = fromWire(x);
    return out;
  }
  if (v === undefined) return null;
  return v as Plain;
}

const serializer = (t: string) => (v: unknown): Buffer => {
  const T = pbType(t);
  return Buffer.from(T.encode(T.fromObject(toWire(v) as Record<string, unknown>)).finish());
};
const deserializer = (t: string) => (b: Buffer): Plain => {
  const T = pbType(t);
  return fromWire(T.toObject(T.decode(b), { longs: String, enums: String, defaults: true, arrays: true }));
};

interface Method {
  path: string;
  req: string;
  res: string;
}

export const METHODS = {
  range: { path: '/etcdserverpb.KV/Range', req: 'etcdserverpb.RangeRequest', res: 'etcdserverpb.RangeResponse' },
  put: { path: '/etcdserverpb.KV/Put', req: 'etcdserverpb.PutRequest', res: 'etcdserverpb.PutResponse' },
  deleteRange: { path: '/etcdserverpb.KV/DeleteRange', req: 'etcdserverpb.DeleteRangeRequest', res: 'etcdserverpb.DeleteRangeResponse' },
  txn: { path: '/etcdserverpb.KV/Txn', req: 'etcdserverpb.TxnRequest', res: 'etcdserverpb.TxnResponse' },
  compact: { path: '/etcdserverpb.KV/Compact', req: 'etcdserverpb.CompactionRequest', res: 'etcdserverpb.CompactionResponse' },
  leaseGrant: { path: '/etcdserverpb.Lease/LeaseGrant', req: 'etcdserverpb.LeaseGrantRequest', res: 'etcdserverpb.LeaseGrantResponse' },
  leaseRevoke: { path: '/etcdserverpb.Lease/LeaseRevoke', req: 'etcdserverpb.LeaseRevokeRequest', res: 'etcdserverpb.LeaseRevokeResponse' },
  leaseTimeToLive: { path: '/etcdserverpb.Lease/LeaseTimeToLive', req: 'etcdserverpb.LeaseTimeToLiveRequest', res: 'etcdserverpb.LeaseTimeToLiveResponse' },
  leaseLeases: { path: '/etcdserverpb.Lease/LeaseLeases', req: 'etcdserverpb.LeaseLeasesRequest', res: 'etcdserverpb.LeaseLeasesResponse' },
  hashKV: { path: '/etcdserverpb.Maintenance/HashKV', req: 'etcdserverpb.HashKVRequest', res: 'etcdserverpb.HashKVResponse' },
} as const satisfies Record<string, Method>;

export type MethodName = keyof typeof METHODS;

/** One watch stream: every response it received, in order. */
export interface WatchStream {
  readonly responses: Plain[];
  error: string | undefined;
  write(req: object): void;
  end(): void;
}

export class V3Client {
  private readonly client: grpc.Client;
  private readonly streams: grpc.ClientDuplexStream<unknown, Plain>[] = [];

  constructor(readonly label: string, clientUrl: string) {
    this.client = new grpc.Client(clientUrl.replace(/^https?:\/\//, ''), grpc.credentials.createInsecure(), {
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
    });
  }

  call(name: MethodName, req: object): Promise<Outcome> {
    const m: Method = METHODS[name];
    return new Promise((resolve) => {
      this.client.makeUnaryRequest(m.path, serializer(m.req), deserializer(m.res), req, new grpc.Metadata(), { deadline: Date.now() + CALL_DEADLINE_MS }, (err, res) => {
        if (err) resolve({ error: { code: grpc.status[err.code] ?? String(err.code), details: err.details } });
        else resolve({ ok: res ?? null });
      });
    });
  }

  watch(): WatchStream {
    const call = this.client.makeBidiStreamRequest('/etcdserverpb.Watch/Watch', serializer('etcdserverpb.WatchRequest'), deserializer('etcdserverpb.WatchResponse'), new grpc.Metadata());
    this.streams.push(call);
    const ws: WatchStream = {
      responses: [],
      error: undefined,
      write: (req) => void call.write(req),
      end: () => call.end(),
    };
    call.on('data', (d: Plain) => ws.responses.push(d));
    call.on('error', (e: grpc.ServiceError) => {
      if (e.code !== grpc.status.CANCELLED) ws.error = `${grpc.status[e.code]}: ${e.details}`;
    });
    return ws;
  }

  close(): void {
    for (const s of this.streams) s.cancel();
    this.client.close();
  }
}
