// A small in-memory V3Backend for the v3 API unit tests: one member, a flat MVCC with history,
// leases without expiry, a watch hub that replays history. Not the real stores.
import type * as kv from '../../src/store/mvcc/types.js';
import { V3Error } from '../../src/store/v3error.js';
import type {
  AuthInfo, V3Backend, V3Header, WatchCreate, WatchHubResponse, WatchSink, WatchStream, V3Member,
} from '../../src/api/v3/backend.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('latin1');

function inRange(k: string, key: string, end: string | undefined): boolean {
  if (end === undefined) return k === key;
  if (end === '\u0000') return k >= key;
  return k >= key && k < end;
}

export class FakeBackend implements V3Backend {
  clusterId = 13293900831049582161n;
  memberId = 6544555743592146608n;
  rev = 1;
  compacted = 0;
  leader = true;
  learner = false;
  tokens = new Map<string, AuthInfo>();
  store = new Map<string, kv.KeyValue>();
  history: Array<{ rev: number; ev: kv.MvccEvent }> = [];
  leases = new Map<bigint, { ttl: number; keys: Set<string> }>();
  streams = new Set<FakeWatchStream>();
  lastAuth: AuthInfo | undefined;
  nextLease = 7587870435577620000n;
  snapshotBytes = Buffer.alloc(100_000, 7);

  header(): V3Header {
    return { clusterId: this.clusterId, memberId: this.memberId, revision: this.rev, raftTerm: 2 };
  }
  hasLeader(): boolean { return this.leader; }
  isLearner(): boolean { return this.learner; }
  authInfoFromCommonName(): AuthInfo | undefined {
    return undefined;
  }

  async authInfoFromToken(token: string): Promise<AuthInfo | undefined> {
    const a = this.tokens.get(token);
    if (!a) throw new V3Error('invalidAuthToken');
    return a;
  }

  private doRange(r: kv.RangeRequest): kv.RangeResponse {
    const key = hex(r.key);
    const end = r.rangeEnd ? hex(r.rangeEnd) : undefined;
    if (r.revision && r.revision > this.rev) throw new V3Error('futureRev');
    if (r.revision && r.revision <= this.compacted) throw new V3Error('compacted');
    let kvs = [...this.store.entries()].filter(([k]) => inRange(k, key, end)).map(([, v]) => v);
    if (r.maxCreateRevision) kvs = kvs.filter((v) => v.createRevision <= r.maxCreateRevision!);
    kvs.sort((a, b) => (hex(a.key) < hex(b.key) ? -1 : 1));
    if (r.sortTarget === 'CREATE') kvs.sort((a, b) => a.createRevision - b.createRevision);
    if (r.sortOrder === 'DESCEND') kvs.reverse();
    const count = kvs.length;
    if (r.limit) kvs = kvs.slice(0, r.limit);
    if (r.countOnly) kvs = [];
    if (r.keysOnly) kvs = kvs.map((v) => ({ ...v, value: new Uint8Array(0) }));
    return { kvs, more: kvs.length < count && !r.countOnly, count };
  }
  private doPut(r: kv.PutRequest, rev: number, evs: kv.MvccEvent[]): kv.PutResponse {
    const k = hex(r.key);
    const prev = this.store.get(k);
    const lease = r.lease ?? 0n;
    if (lease !== 0n && !this.leases.has(lease)) throw new V3Error('leaseNotFound');
    const v: kv.KeyValue = {
      key: r.key, value: r.value ?? new Uint8Array(0), lease, modRevision: rev,
      createRevision: prev ? prev.createRevision : rev, version: prev ? prev.version + 1 : 1,
    };
    this.store.set(k, v);
    if (lease !== 0n) this.leases.get(lease)!.keys.add(k);
    evs.push({ type: 'PUT', kv: v, prevKv: prev });
    return r.prevKv && prev ? { prevKv: prev } : {};
  }
  private doDelete(r: kv.DeleteRangeRequest, rev: number, evs: kv.MvccEvent[]): kv.DeleteRangeResponse {
    const key = hex(r.key);
    const end = r.rangeEnd ? hex(r.rangeEnd) : undefined;
    const prevKvs: kv.KeyValue[] = [];
    for (const [k, v] of [...this.store.entries()]) {
      if (!inRange(k, key, end)) continue;
      this.store.delete(k);
      prevKvs.push(v);
      evs.push({ type: 'DELETE', kv: { key: v.key, value: new Uint8Array(0), createRevision: 0, modRevision: rev, version: 0, lease: 0n }, prevKv: v });
    }
    return { deleted: prevKvs.length, prevKvs: r.prevKv ? prevKvs : [] };
  }
  private commit(evs: kv.MvccEvent[]): void {
    if (evs.length === 0) return;
    this.rev++;
    for (const ev of evs) this.history.push({ rev: this.rev, ev });
    for (const s of this.streams) s.notify(evs, this.rev);
  }

  async range(r: kv.RangeRequest, auth: AuthInfo | undefined) {
    this.lastAuth = auth;
    return { ...this.doRange(r), revision: this.rev };
  }
  async put(r: kv.PutRequest, auth: AuthInfo | undefined) {
    this.lastAuth = auth;
    const evs: kv.MvccEvent[] = [];
    const res = this.doPut(r, this.rev + 1, evs);
    this.commit(evs);
    return { ...res, revision: this.rev };
  }
  async deleteRange(r: kv.DeleteRangeRequest) {
    const evs: kv.MvccEvent[] = [];
    const res = this.doDelete(r, this.rev + 1, evs);
    this.commit(evs);
    return { ...res, revision: this.rev };
  }
  private cmp(c: kv.Compare): boolean {
    const v = this.store.get(hex(c.key));
    let a: number | string; let b: number | string;
    switch (c.target ?? 'VERSION') {
      case 'VERSION': a = v?.version ?? 0; b = c.version ?? 0; break;
      case 'CREATE': a = v?.createRevision ?? 0; b = c.createRevision ?? 0; break;
      case 'MOD': a = v?.modRevision ?? 0; b = c.modRevision ?? 0; break;
      case 'VALUE': if (!v) return false; a = hex(v.value); b = hex(c.value ?? new Uint8Array(0)); break;
      default: a = Number(v?.lease ?? 0n); b = Number(c.lease ?? 0n);
    }
    switch (c.result ?? 'EQUAL') {
      case 'EQUAL': return a === b;
      case 'NOT_EQUAL': return a !== b;
      case 'GREATER': return a > b;
      default: return a < b;
    }
  }
  private doTxn(t: kv.TxnRequest, rev: number, evs: kv.MvccEvent[]): kv.TxnResponse {
    const ok = (t.compare ?? []).every((c) => this.cmp(c));
    const responses: kv.ResponseOp[] = [];
    for (const op of (ok ? t.success : t.failure) ?? []) {
      if ('requestRange' in op) responses.push({ responseRange: this.doRange(op.requestRange) });
      else if ('requestPut' in op) responses.push({ responsePut: this.doPut(op.requestPut, rev, evs) });
      else if ('requestDeleteRange' in op) responses.push({ responseDeleteRange: this.doDelete(op.requestDeleteRange, rev, evs) });
      else responses.push({ responseTxn: this.doTxn(op.requestTxn, rev, evs) });
    }
    return { succeeded: ok, responses };
  }
  async txn(t: kv.TxnRequest) {
    const evs: kv.MvccEvent[] = [];
    const res = this.doTxn(t, this.rev + 1, evs);
    this.commit(evs);
    return { ...res, revision: this.rev };
  }
  async compact(r: kv.CompactionRequest) {
    if (r.revision <= this.compacted) throw new V3Error('compacted');
    if (r.revision > this.rev) throw new V3Error('futureRev');
    this.compacted = r.revision;
    return { revision: this.rev };
  }

  newWatchStream(sink: WatchSink): WatchStream {
    const s = new FakeWatchStream(this, sink);
    this.streams.add(s);
    return s;
  }

  async leaseGrant(ttl: number, id: bigint) {
    if (id === 0n) id = this.nextLease++;
    if (this.leases.has(id)) throw new V3Error('leaseExist');
    const t = Math.max(ttl, 2);
    this.leases.set(id, { ttl: t, keys: new Set() });
    return { id, ttl: t };
  }
  async leaseRevoke(id: bigint) {
    const l = this.leases.get(id);
    if (!l) throw new V3Error('leaseNotFound');
    this.leases.delete(id);
    const evs: kv.MvccEvent[] = [];
    for (const k of l.keys) if (this.store.has(k)) this.doDelete({ key: Buffer.from(k, 'latin1') }, this.rev + 1, evs);
    this.commit(evs);
  }
  async leaseKeepAlive(id: bigint) {
    const l = this.leases.get(id);
    if (!l) throw new V3Error('leaseNotFound');
    return l.ttl;
  }
  async leaseTimeToLive(id: bigint, keys: boolean) {
    const l = this.leases.get(id);
    if (!l) throw new V3Error('leaseNotFound');
    return { id, ttl: l.ttl - 1, grantedTtl: l.ttl, keys: keys ? [...l.keys].map((k) => Buffer.from(k, 'latin1')) : [] };
  }
  async leaseLeases() { return [...this.leases.keys()]; }

  members: V3Member[] = [{ id: 6544555743592146608n, name: 'e1', peerUrls: ['http://127.0.0.1:26201'], clientUrls: ['http://127.0.0.1:26200'], isLearner: false }];
  async memberAdd(peerUrls: readonly string[], isLearner: boolean) {
    const m: V3Member = { id: 0xabcdef0123456789n, name: '', peerUrls, clientUrls: [], isLearner };
    this.members.push(m);
    return { member: m, members: this.members };
  }
  async memberRemove(id: bigint) {
    if (!this.members.some((m) => m.id === id)) throw new V3Error('memberNotFound');
    this.members = this.members.filter((m) => m.id !== id);
    return this.members;
  }
  async memberUpdate() { return this.members; }
  async memberList() { return this.members; }
  async memberPromote() { return this.members; }
  async status() {
    return { version: '3.4.23', dbSize: 20480, leader: this.memberId, raftIndex: 13, raftTerm: 2, raftAppliedIndex: 13, errors: [], dbSizeInUse: 16384, isLearner: this.learner };
  }
  async alarm() { return []; }
  async defragment() {}
  async hash() { return 2971411877; }
  async hashKV() { return { hash: 1, compactRevision: this.compacted }; }
  async snapshot() {
    const data = this.snapshotBytes;
    return { sizeBytes: data.length, chunks: (async function* () { yield data.subarray(0, 50_000); yield data.subarray(50_000); })() };
  }
  async moveLeader() { throw new V3Error('notLeader'); }
  async authEnable() { throw new V3Error('rootUserNotExist'); }
  async authDisable() {}
  async authenticate(name: string, password: string) {
    if (name !== 'root' || password !== 'pw') throw new V3Error('authFailed');
    this.tokens.set('tok.1', { username: 'root', revision: 1 });
    return 'tok.1';
  }
  async userAdd() {}
  async userGet(name: string) { if (name !== 'root') throw new V3Error('userNotFound'); return ['root']; }
  async userList() { return ['root']; }
  async userDelete() {}
  async userChangePassword() {}
  async userGrantRole() {}
  async userRevokeRole() {}
  async roleAdd() {}
  async roleGet() { return [{ permType: 'READWRITE' as const, key: Buffer.from('a'), rangeEnd: Buffer.from('b') }]; }
  async roleList() { return ['root']; }
  async roleDelete() {}
  async roleGrantPermission() {}
  async roleRevokePermission() {}
}

class FakeWatchStream implements WatchStream {
  watchers = new Map<number, { req: WatchCreate; key: string; end: string | undefined }>();
  nextId = 0;
  constructor(private readonly b: FakeBackend, private readonly sink: WatchSink) {}
  private send(r: Partial<WatchHubResponse> & { watchId: number }): void {
    this.sink.send({ events: [], revision: this.b.rev, ...r });
  }
  watch(req: WatchCreate): void {
    const id = req.watchId || this.nextId++;
    if (this.watchers.has(id)) {
      this.send({ watchId: -1, created: true, canceled: true, cancelReason: 'etcdserver: mvcc: watcher is already exists' });
      return;
    }
    const w = { req, key: hex(req.key), end: req.rangeEnd ? hex(req.rangeEnd) : undefined };
    this.send({ watchId: id, created: true });
    if (req.startRevision && req.startRevision <= this.b.compacted) {
      this.send({ watchId: id, canceled: true, compactRevision: this.b.compacted, revision: 0 });
      return;
    }
    this.watchers.set(id, w);
    if (req.startRevision) {
      const evs = this.b.history.filter((h) => h.rev >= req.startRevision!).map((h) => h.ev);
      this.deliver(id, w, evs, this.b.rev);
    }
  }
  private deliver(id: number, w: { req: WatchCreate; key: string; end: string | undefined }, evs: kv.MvccEvent[], rev: number): void {
    const mine = evs.filter((e) => inRange(hex(e.kv.key), w.key, w.end)
      && !(w.req.noPut && e.type === 'PUT') && !(w.req.noDelete && e.type === 'DELETE'))
      .map((e) => (w.req.prevKv ? e : { type: e.type, kv: e.kv }));
    if (mine.length > 0) this.send({ watchId: id, events: mine, revision: rev });
  }
  notify(evs: kv.MvccEvent[], rev: number): void {
    for (const [id, w] of this.watchers) this.deliver(id, w, evs, rev);
  }
  cancel(id: number): void {
    if (this.watchers.delete(id)) this.send({ watchId: id, canceled: true });
  }
  requestProgress(): void { this.send({ watchId: -1 }); }
  drained(): void {}
  close(): void { this.b.streams.delete(this); }
}
