// One client watch stream (gRPC Watch or the gateway's /v3/watch): turns WatchRequests into hub
// calls and hub responses into WatchResponses with etcd's header, splitting a response into
// fragments when the watcher asked for it and the response is larger than --max-request-bytes.
import type { AuthInfo, V3Backend, V3Header, WatchCreate, WatchHubResponse, WatchStream } from './backend.js';
import type { MvccEvent } from '../../store/mvcc/types.js';
import { big, bytes, eventWire, headerWire, long, num, type Wire } from './convert.js';
import { type } from './proto.js';

/** Creates of one stream whose `created` reply is still outstanding (etcd bounds it too: ctrl chan). */
export const WATCH_PENDING_CREATES_MAX = 1024;

const EventT = type('mvccpb.Event');
const HeaderT = type('etcdserverpb.ResponseHeader');

// ---- the events fast path ------------------------------------------------------------------
// A put seen by N synced watchers is the same MvccEvent object in N responses (the hub shares
// them; catch-up events are made per watcher and gain nothing), so each event is encoded once and the per-watcher response is assembled from bytes: the header
// (cached per revision), the watch id, and the events. Field numbers from rpc.proto:
// WatchResponse { ResponseHeader header = 1; int64 watch_id = 2; repeated mvccpb.Event events = 11 }.
const TAG_HEADER = (1 << 3) | 2;
const TAG_WATCH_ID = (2 << 3) | 0;
const TAG_EVENTS = (11 << 3) | 2;
const eventBytes = new WeakMap<MvccEvent, Uint8Array>();
let lastHeader: { h: V3Header; revision: number; bytes: Uint8Array } | undefined;

function varintBytes(n: number): number {
  let k = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    k++;
  }
  return k;
}

function putVarint(b: Buffer, off: number, n: number): number {
  while (n >= 0x80) {
    b[off++] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
  }
  b[off++] = n;
  return off;
}

/** WatchResponse{header, watch_id, events} in protobuf form, as protobufjs would encode it,
 *  behind `room` bytes left for the transport's frame header (so the message is not copied
 *  again to be framed: it goes to every watcher of the event). */
export function encodedEventsResponse(h: V3Header, r: WatchHubResponse, room = 0): Buffer {
  if (lastHeader === undefined || lastHeader.revision !== r.revision || lastHeader.h.raftTerm !== h.raftTerm ||
      lastHeader.h.clusterId !== h.clusterId || lastHeader.h.memberId !== h.memberId) {
    lastHeader = { h, revision: r.revision, bytes: HeaderT.encode(headerWire(h, r.revision)).finish() };
  }
  const header = lastHeader.bytes;
  const events: Uint8Array[] = new Array(r.events.length);
  let bytes = room + 1 + varintBytes(header.length) + header.length + (r.watchId !== 0 ? 1 + varintBytes(r.watchId) : 0);
  for (let i = 0; i < r.events.length; i++) {
    const e = r.events[i]!;
    let eb = eventBytes.get(e);
    if (eb === undefined) {
      eb = EventT.encode(eventWire(e)).finish();
      eventBytes.set(e, eb);
    }
    events[i] = eb;
    bytes += 1 + varintBytes(eb.length) + eb.length;
  }
  const out = Buffer.allocUnsafe(bytes);
  out[room] = TAG_HEADER;
  let off = putVarint(out, room + 1, header.length);
  out.set(header, off);
  off += header.length;
  if (r.watchId !== 0) {
    out[off++] = TAG_WATCH_ID;
    off = putVarint(out, off, r.watchId);
  }
  for (const eb of events) {
    out[off++] = TAG_EVENTS;
    off = putVarint(out, off, eb.length);
    out.set(eb, off);
    off += eb.length;
  }
  if (off !== bytes) throw new Error(`watch: encoded ${off} of ${bytes} bytes`);
  return out;
}
/** Per-response overhead besides events (header, ids, flags), for the fragment size estimate. */
const RESPONSE_OVERHEAD_BYTES = 64;

export interface WatchOutput {
  /** Returns false when the transport's buffer is above its high-water mark. */
  write(res: Wire): boolean;
  /** A WatchResponse already in protobuf form, behind encodedRoom bytes for the transport to
   *  fill (gRPC only; the gateway has no such path). */
  writeEncoded?(bytes: Buffer): boolean;
  readonly encodedRoom?: number;
  /** Ends the stream with an error (e.g. too many pending creates). */
  fail(err: Error): void;
}

export class WatchSession {
  private readonly hub: WatchStream;
  private readonly pendingFragment: boolean[] = [];
  private readonly fragmentIds = new Set<number>();
  private closed = false;

  constructor(private readonly backend: V3Backend, private readonly auth: AuthInfo | undefined, private readonly out: WatchOutput, private readonly maxRequestBytes: number) {
    this.hub = backend.newWatchStream({ send: (r) => this.onHub(r) });
  }

  handle(req: Wire): void {
    if (this.closed) return;
    const c = req.create_request as Wire | null | undefined;
    if (c) {
      if (this.pendingFragment.length >= WATCH_PENDING_CREATES_MAX) {
        this.out.fail(new Error('too many pending watch creates'));
        return;
      }
      const filters: number[] = c.filters ?? [];
      const create: WatchCreate = {
        key: bytes(c.key),
        rangeEnd: c.range_end && c.range_end.length > 0 ? c.range_end : undefined,
        startRevision: num(c.start_revision),
        progressNotify: !!c.progress_notify,
        noPut: filters.includes(0),
        noDelete: filters.includes(1),
        prevKv: !!c.prev_kv,
        watchId: Number(big(c.watch_id)),
      };
      this.pendingFragment.push(!!c.fragment);
      this.hub.watch(create, this.auth);
      return;
    }
    const x = req.cancel_request as Wire | null | undefined;
    if (x) {
      this.hub.cancel(Number(big(x.watch_id)));
      return;
    }
    if (req.progress_request) this.hub.requestProgress();
  }

  drained(): void {
    if (!this.closed) this.hub.drained();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.hub.close();
  }

  private onHub(r: WatchHubResponse): boolean {
    if (this.closed) return true;
    if (r.created) {
      const frag = this.pendingFragment.shift() ?? false;
      if (frag && !r.canceled && r.watchId >= 0) this.fragmentIds.add(r.watchId);
    }
    if (r.canceled) this.fragmentIds.delete(r.watchId);
    if (this.out.writeEncoded !== undefined && r.events.length > 0 && !r.created && !r.canceled && !r.compactRevision && !r.cancelReason &&
        r.watchId >= 0 && !(r.events.length > 1 && this.fragmentIds.has(r.watchId))) {
      return this.out.writeEncoded(encodedEventsResponse(this.backend.header(), r, this.out.encodedRoom));
    }
    const header = headerWire(this.backend.header(), r.revision);
    const base: Wire = {
      header,
      watch_id: r.watchId === 0 ? undefined : long(BigInt(r.watchId)),
      created: r.created || undefined,
      canceled: r.canceled || undefined,
      compact_revision: r.compactRevision || undefined,
      cancel_reason: r.cancelReason || undefined,
    };
    const events = new Array<Wire>(r.events.length);
    for (let i = 0; i < r.events.length; i++) events[i] = eventWire(r.events[i]!);
    if (events.length > 1 && this.fragmentIds.has(r.watchId)) return this.sendFragments(base, events);
    base.events = events;
    return this.out.write(base);
  }

  private sendFragments(base: Wire, events: Wire[]): boolean {
    const sizes = events.map((e) => EventT.encode(e).finish().length + 4);
    const total = sizes.reduce((a, s) => a + s, RESPONSE_OVERHEAD_BYTES);
    if (total <= this.maxRequestBytes) return this.out.write({ ...base, events });
    let ok = true;
    let start = 0;
    while (start < events.length) {
      let end = start + 1;
      let size = RESPONSE_OVERHEAD_BYTES + sizes[start]!;
      while (end < events.length && size + sizes[end]! <= this.maxRequestBytes) size += sizes[end++]!;
      const last = end === events.length;
      ok = this.out.write({ ...base, events: events.slice(start, end), fragment: last ? undefined : true }) && ok;
      start = end;
    }
    return ok;
  }
}
