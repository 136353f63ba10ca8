// The v3 gRPC server over real loopback sockets (accepted by net, handed to our gRPC server through the
// connection injector as the member's client port does), driven by the etcd3 npm client and by
// raw grpc-js clients built from our .proto files. The backend is an in-test fake.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { createHash } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { Etcd3 } from 'etcd3';
import { createGrpcServer, type GrpcServerHandle } from '../../src/api/v3/grpc.js';
import { type as pbType } from '../../src/api/v3/proto.js';
import { FakeBackend } from './v3-fake-backend.js';

const MAX_REQUEST_BYTES = 64 * 1024;
let backend: FakeBackend;
let handle: GrpcServerHandle;
let listener: net.Server;
let addr: string;
let etcd: Etcd3;
let raw: grpc.Client;

before(async () => {
  backend = new FakeBackend();
  handle = createGrpcServer(backend, { maxRequestBytes: MAX_REQUEST_BYTES, maxTxnOps: 4 });
  listener = net.createServer((s) => handle.injectConnection(s));
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
  addr = `127.0.0.1:${(listener.address() as net.AddressInfo).port}`;
  etcd = new Etcd3({ hosts: `http://${addr}` });
  raw = new grpc.Client(addr, grpc.credentials.createInsecure());
});

after(async () => {
  etcd.close();
  raw.close();
  listener.close();
  await handle.close();
});

const enc = (t: string) => (v: object): Buffer => Buffer.from(pbType(t).encode(v).finish());
const dec = (t: string) => (b: Buffer): any => pbType(t).toObject(pbType(t).decode(b), { longs: String, bytes: String, defaults: false });

function unary(path: string, reqT: string, resT: string, req: object, md = new grpc.Metadata()): Promise<any> {
  return new Promise((resolve, reject) => {
    raw.makeUnaryRequest(path, enc(reqT), dec(resT), req, md, { deadline: Date.now() + 5000 }, (err, res) => (err ? reject(err) : resolve(res)));
  });
}
const b64 = (s: string): string => Buffer.from(s).toString('base64');

test('etcd3 client: put, get, delete, txn through the gRPC server', async () => {
  await etcd.put('foo').value('bar');
  assert.equal(await etcd.get('foo').string(), 'bar');
  await etcd.put('foo2').value('x');
  assert.deepEqual(await etcd.getAll().prefix('foo').strings(), { foo: 'bar', foo2: 'x' });
  const res = await etcd.if('foo', 'Value', '==', 'bar').then(etcd.put('foo').value('baz')).else(etcd.get('foo')).commit();
  assert.equal(res.succeeded, true);
  assert.equal(await etcd.get('foo').string(), 'baz');
  await etcd.delete().key('foo2');
  assert.equal(await etcd.get('foo2').string(), null);
});

test('Range header carries cluster id, member id, revision and raft term', async () => {
  const res = await unary('/etcdserverpb.KV/Range', 'etcdserverpb.RangeRequest', 'etcdserverpb.RangeResponse', { key: Buffer.from('foo') });
  assert.deepEqual(res.header, { cluster_id: '13293900831049582161', member_id: '6544555743592146608', revision: String(backend.rev), raft_term: '2' });
  assert.equal(res.kvs[0].value, b64('baz'));
  assert.equal(res.count, '1');
});

test('errors carry etcd codes and messages', async () => {
  await assert.rejects(unary('/etcdserverpb.KV/Range', 'etcdserverpb.RangeRequest', 'etcdserverpb.RangeResponse', { key: Buffer.from('foo'), revision: 1000 }),
    { code: grpc.status.OUT_OF_RANGE, details: 'etcdserver: mvcc: required revision is a future revision' });
  await assert.rejects(unary('/etcdserverpb.KV/Put', 'etcdserverpb.PutRequest', 'etcdserverpb.PutResponse', { value: Buffer.from('v') }),
    { code: grpc.status.INVALID_ARGUMENT, details: 'etcdserver: key is not provided' });
  await assert.rejects(unary('/etcdserverpb.KV/Put', 'etcdserverpb.PutRequest', 'etcdserverpb.PutResponse', { key: Buffer.from('k'), value: Buffer.from('v'), ignore_value: true }),
    { code: grpc.status.INVALID_ARGUMENT, details: 'etcdserver: value is provided' });
  const ops = Array.from({ length: 5 }, (_, i) => ({ request_put: { key: Buffer.from(`k${i}`) } }));
  await assert.rejects(unary('/etcdserverpb.KV/Txn', 'etcdserverpb.TxnRequest', 'etcdserverpb.TxnResponse', { success: ops }),
    { code: grpc.status.INVALID_ARGUMENT, details: 'etcdserver: too many operations in txn request' });
  await assert.rejects(unary('/etcdserverpb.KV/Txn', 'etcdserverpb.TxnRequest', 'etcdserverpb.TxnResponse', { success: [ops[0], ops[0]] }),
    { code: grpc.status.INVALID_ARGUMENT, details: 'etcdserver: duplicate key given in txn request' });
  await assert.rejects(unary('/etcdserverpb.Lease/LeaseRevoke', 'etcdserverpb.LeaseRevokeRequest', 'etcdserverpb.LeaseRevokeResponse', { ID: 12345 }),
    { code: grpc.status.NOT_FOUND, details: 'etcdserver: requested lease not found' });
});

test('hasleader metadata fails fast with "no leader" when the member knows no leader', async () => {
  backend.leader = false;
  try {
    const md = new grpc.Metadata();
    md.set('hasleader', 'true');
    await assert.rejects(unary('/etcdserverpb.KV/Range', 'etcdserverpb.RangeRequest', 'etcdserverpb.RangeResponse', { key: Buffer.from('foo') }, md),
      { code: grpc.status.UNAVAILABLE, details: 'etcdserver: no leader' });
    // Without the metadata the call is served.
    await unary('/etcdserverpb.KV/Range', 'etcdserverpb.RangeRequest', 'etcdserverpb.RangeResponse', { key: Buffer.from('foo') });
  } finally {
    backend.leader = true;
  }
});

test('token metadata: unknown token is Unauthenticated, a valid one reaches the backend as AuthInfo', async () => {
  const md = new grpc.Metadata();
  md.set('token', 'nope');
  await assert.rejects(unary('/etcdserverpb.KV/Range', 'etcdserverpb.RangeRequest', 'etcdserverpb.RangeResponse', { key: Buffer.from('foo') }, md),
    { code: grpc.status.UNAUTHENTICATED, details: 'etcdserver: invalid auth token' });
  const auth = await unary('/etcdserverpb.Auth/Authenticate', 'etcdserverpb.AuthenticateRequest', 'etcdserverpb.AuthenticateResponse', { name: 'root', password: 'pw' });
  const md2 = new grpc.Metadata();
  md2.set('token', auth.token);
  await unary('/etcdserverpb.KV/Range', 'etcdserverpb.RangeRequest', 'etcdserverpb.RangeResponse', { key: Buffer.from('foo') }, md2);
  assert.equal(backend.lastAuth?.username, 'root');
  await assert.rejects(unary('/etcdserverpb.Auth/Authenticate', 'etcdserverpb.AuthenticateRequest', 'etcdserverpb.AuthenticateResponse', { name: 'root', password: 'bad' }),
    { code: grpc.status.INVALID_ARGUMENT, details: 'etcdserver: authentication failed, invalid user ID or password' });
});

test('oversized requests: over --max-request-bytes is "request is too large", over the gRPC limit is ResourceExhausted', async () => {
  await assert.rejects(unary('/etcdserverpb.KV/Put', 'etcdserverpb.PutRequest', 'etcdserverpb.PutResponse', { key: Buffer.from('big'), value: Buffer.alloc(MAX_REQUEST_BYTES + 10) }),
    { code: grpc.status.INVALID_ARGUMENT, details: 'etcdserver: request is too large' });
  await assert.rejects(unary('/etcdserverpb.KV/Put', 'etcdserverpb.PutRequest', 'etcdserverpb.PutResponse', { key: Buffer.from('big'), value: Buffer.alloc(MAX_REQUEST_BYTES + 600 * 1024) }),
    { code: grpc.status.RESOURCE_EXHAUSTED });
  assert.equal(await etcd.get('big').string(), null);
});

test('learner serves Status and serializable Range only', async () => {
  backend.learner = true;
  try {
    await assert.rejects(unary('/etcdserverpb.KV/Put', 'etcdserverpb.PutRequest', 'etcdserverpb.PutResponse', { key: Buffer.from('k') }),
      { code: grpc.status.UNAVAILABLE, details: 'etcdserver: rpc not supported for learner' });
    const st = await unary('/etcdserverpb.Maintenance/Status', 'etcdserverpb.StatusRequest', 'etcdserverpb.StatusResponse', {});
    assert.equal(st.version, '3.4.23');
    await unary('/etcdserverpb.KV/Range', 'etcdserverpb.RangeRequest', 'etcdserverpb.RangeResponse', { key: Buffer.from('foo'), serializable: true });
  } finally {
    backend.learner = false;
  }
});

/** A watch response the client cannot frame leaves it waiting for bytes that never come: fail
 *  rather than hang the suite. */
const WATCH_TEST_TIMEOUT_MS = 15_000;

test('etcd3 watcher receives put and delete events', { timeout: WATCH_TEST_TIMEOUT_MS }, async () => {
  const w = await etcd.watch().key('wkey').create();
  const seen: string[] = [];
  const done = new Promise<void>((resolve) => {
    w.on('put', (kv) => { seen.push(`put ${kv.value.toString()}`); });
    w.on('delete', () => { seen.push('delete'); resolve(); });
  });
  await etcd.put('wkey').value('1');
  await etcd.delete().key('wkey');
  await done;
  await w.cancel();
  assert.deepEqual(seen, ['put 1', 'delete']);
});

function watchStream(md = new grpc.Metadata()): { call: grpc.ClientDuplexStream<object, any>; next: () => Promise<any> } {
  const call = raw.makeBidiStreamRequest('/etcdserverpb.Watch/Watch', enc('etcdserverpb.WatchRequest'), dec('etcdserverpb.WatchResponse'), md);
  const queue: any[] = [];
  let waiter: ((v: any) => void) | undefined;
  call.on('data', (d) => { if (waiter) { const w = waiter; waiter = undefined; w(d); } else queue.push(d); });
  call.on('error', () => undefined);
  const next = () => (queue.length > 0 ? Promise.resolve(queue.shift()) : new Promise<any>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no watch response in 3s')), 3000);
    waiter = (v) => { clearTimeout(t); resolve(v); };
  }));
  return { call, next };
}

test('raw watch stream: create with history and prev_kv, progress request, cancel', { timeout: WATCH_TEST_TIMEOUT_MS }, async () => {
  await etcd.put('h').value('1');
  const startRev = backend.rev;
  await etcd.put('h').value('2');
  const { call, next } = watchStream();
  try {
    call.write({ create_request: { key: Buffer.from('h'), start_revision: startRev, prev_kv: true, watch_id: 7 } });
    const created = await next();
    assert.equal(created.created, true);
    assert.equal(created.watch_id, '7');
    assert.equal(created.header.cluster_id, '13293900831049582161');
    const evs = await next();
    assert.equal(evs.events.length, 2);
    assert.equal(evs.events[1].kv.value, b64('2'));
    assert.equal(evs.events[1].prev_kv.value, b64('1'));
    assert.equal(evs.header.revision, String(backend.rev));
    call.write({ progress_request: {} });
    const prog = await next();
    assert.equal(prog.watch_id, '-1');
    assert.equal(prog.events, undefined);
    call.write({ cancel_request: { watch_id: 7 } });
    const canceled = await next();
    assert.equal(canceled.canceled, true);
    assert.equal(canceled.watch_id, '7');
    call.end();
  } finally {
    // A failed step leaves the stream open, and the server's close() would wait for it.
    call.cancel();
  }
});

test('watch from a compacted revision is canceled with compact_revision', { timeout: WATCH_TEST_TIMEOUT_MS }, async () => {
  await etcd.put('c').value('1');
  await etcd.put('c').value('2');
  await unary('/etcdserverpb.KV/Compact', 'etcdserverpb.CompactionRequest', 'etcdserverpb.CompactionResponse', { revision: backend.rev - 1 });
  const { call, next } = watchStream();
  call.write({ create_request: { key: Buffer.from('c'), start_revision: 1 } });
  assert.equal((await next()).created, true);
  const c = await next();
  assert.equal(c.canceled, true);
  assert.equal(c.compact_revision, String(backend.compacted));
  call.end();
});

test('watch with fragment splits a response larger than --max-request-bytes', { timeout: WATCH_TEST_TIMEOUT_MS }, async () => {
  const { call, next } = watchStream();
  const big = Buffer.alloc(20 * 1024, 1);
  const ops = [0, 1, 2].map((i) => ({ request_put: { key: Buffer.from(`f${i}`), value: big } }));
  await unary('/etcdserverpb.KV/Txn', 'etcdserverpb.TxnRequest', 'etcdserverpb.TxnResponse', { success: ops });
  // With prev_kv each event carries two 20 KiB values: one revision's response is ~120 KiB.
  call.write({ create_request: { key: Buffer.from('f'), range_end: Buffer.from('g'), fragment: true, prev_kv: true } });
  assert.equal((await next()).created, true);
  await unary('/etcdserverpb.KV/Txn', 'etcdserverpb.TxnRequest', 'etcdserverpb.TxnResponse', { success: ops });
  const parts = [await next()];
  while (parts[parts.length - 1].fragment && parts.length < 10) parts.push(await next());
  assert.ok(parts.length >= 2, 'split into fragments');
  assert.ok(parts.slice(0, -1).every((p) => p.fragment === true));
  assert.equal(parts[parts.length - 1].fragment, undefined);
  assert.equal(parts.reduce((n, p) => n + p.events.length, 0), 3);
  call.end();
});

test('lease grant and keepalive stream (etcd3 client and raw stream)', async () => {
  const lease = etcd.lease(10, { autoKeepAlive: false });
  const id = await lease.grant();
  await lease.keepaliveOnce();
  await lease.put('leased').value('v');
  const ttl = await unary('/etcdserverpb.Lease/LeaseTimeToLive', 'etcdserverpb.LeaseTimeToLiveRequest', 'etcdserverpb.LeaseTimeToLiveResponse', { ID: id, keys: true });
  assert.equal(ttl.grantedTTL, '10');
  assert.deepEqual(ttl.keys, [b64('leased')]);
  const call = raw.makeBidiStreamRequest('/etcdserverpb.Lease/LeaseKeepAlive', enc('etcdserverpb.LeaseKeepAliveRequest'), dec('etcdserverpb.LeaseKeepAliveResponse'), new grpc.Metadata());
  const got: any[] = [];
  const done = new Promise<void>((resolve, reject) => { call.on('data', (d) => got.push(d)); call.on('end', resolve); call.on('error', reject); });
  call.write({ ID: id });
  call.write({ ID: 999 });
  call.end();
  await done;
  assert.equal(got.length, 2);
  assert.equal(got[0].ID, id);
  assert.equal(got[0].TTL, '10');
  assert.equal(got[1].ID, '999');
  assert.equal(got[1].TTL, undefined); // unknown lease: TTL 0
  await lease.revoke();
  assert.equal(await etcd.get('leased').string(), null);
  const gone = await unary('/etcdserverpb.Lease/LeaseTimeToLive', 'etcdserverpb.LeaseTimeToLiveRequest', 'etcdserverpb.LeaseTimeToLiveResponse', { ID: id });
  assert.equal(gone.TTL, '-1');
});

test('snapshot stream: 32 KiB blobs with remaining_bytes, then the sha256 trailer', async () => {
  const call = raw.makeServerStreamRequest('/etcdserverpb.Maintenance/Snapshot', enc('etcdserverpb.SnapshotRequest'), (b: Buffer) => pbType('etcdserverpb.SnapshotResponse').decode(b) as any, {}, new grpc.Metadata());
  const msgs: any[] = [];
  await new Promise<void>((resolve, reject) => { call.on('data', (d) => msgs.push(d)); call.on('end', resolve); call.on('error', reject); });
  const blobs = msgs.map((m) => Buffer.from(m.blob));
  const all = Buffer.concat(blobs);
  const data = all.subarray(0, all.length - 32);
  assert.deepEqual(data, backend.snapshotBytes);
  assert.deepEqual(all.subarray(all.length - 32), createHash('sha256').update(backend.snapshotBytes).digest());
  assert.ok(blobs.slice(0, -1).every((b) => b.length <= 32 * 1024));
  assert.equal(Number(msgs[0].remaining_bytes), backend.snapshotBytes.length - blobs[0]!.length);
});

test('v3lock: a second Lock waits until the first is unlocked', async () => {
  const first = await unary('/v3lockpb.Lock/Lock', 'v3lockpb.LockRequest', 'v3lockpb.LockResponse', { name: Buffer.from('mylock') });
  assert.match(Buffer.from(first.key, 'base64').toString(), /^mylock\/[0-9a-f]+$/);
  let secondDone = false;
  const second = unary('/v3lockpb.Lock/Lock', 'v3lockpb.LockRequest', 'v3lockpb.LockResponse', { name: Buffer.from('mylock') }).then((r) => { secondDone = true; return r; });
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(secondDone, false);
  await unary('/v3lockpb.Lock/Unlock', 'v3lockpb.UnlockRequest', 'v3lockpb.UnlockResponse', { key: Buffer.from(first.key, 'base64') });
  const s = await second;
  assert.notEqual(s.key, first.key);
});

test('v3election: campaign, leader, resign; Leader with no candidate is "election: no leader"', async () => {
  await assert.rejects(unary('/v3electionpb.Election/Leader', 'v3electionpb.LeaderRequest', 'v3electionpb.LeaderResponse', { name: Buffer.from('el') }),
    { code: grpc.status.UNKNOWN, details: 'election: no leader' });
  const c = await unary('/v3electionpb.Election/Campaign', 'v3electionpb.CampaignRequest', 'v3electionpb.CampaignResponse', { name: Buffer.from('el'), value: Buffer.from('me') });
  const l = await unary('/v3electionpb.Election/Leader', 'v3electionpb.LeaderRequest', 'v3electionpb.LeaderResponse', { name: Buffer.from('el') });
  assert.equal(l.kv.value, b64('me'));
  await unary('/v3electionpb.Election/Resign', 'v3electionpb.ResignRequest', 'v3electionpb.ResignResponse', { leader: { ...c.leader, key: Buffer.from(c.leader.key, 'base64'), name: Buffer.from('el') } });
  await assert.rejects(unary('/v3electionpb.Election/Leader', 'v3electionpb.LeaderRequest', 'v3electionpb.LeaderResponse', { name: Buffer.from('el') }),
    { details: 'election: no leader' });
});

test('grpc health Check answers SERVING; MemberList through etcd3', async () => {
  const h = await unary('/grpc.health.v1.Health/Check', 'grpc.health.v1.HealthCheckRequest', 'grpc.health.v1.HealthCheckResponse', {});
  assert.equal(h.status, 1);
  const ms = await etcd.cluster.memberList({});
  assert.equal(ms.members[0]!.name, 'e1');
  assert.equal(ms.members[0]!.ID, '6544555743592146608');
});
