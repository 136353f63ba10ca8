import { test } from 'node:test';
import assert from 'node:assert/strict';
import { V2Store } from '../../src/store/v2/store.js';
import { V2Error } from '../../src/store/v2/errors.js';
import { V2_EVENT_HISTORY_MAX } from '../../src/store/v2/history.js';
import { V2_WATCHER_EVENT_QUEUE_MAX } from '../../src/store/v2/watcher_hub.js';
import { formatExpiration, remainingTtlSeconds } from '../../src/store/v2/event.js';
import type { V2Event, V2Request, V2Watcher } from '../../src/store/v2/types.js';

const T0 = Date.UTC(2026, 10, 23, 21, 50, 0); // a fixed "now" for ttl printing
const store = (now = T0) => new V2Store({ nowMs: () => now });
const put = (s: V2Store, path: string, val: string, extra: Partial<V2Request> = {}) => s.apply({ method: 'PUT', path, val, ...extra });
const body = (e: V2Event) => JSON.stringify(e.toJSON());

function v2err(fn: () => unknown, code: number, cause?: string, index?: number): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof V2Error, String(err));
    assert.equal(err.errorCode, code);
    if (cause !== undefined) assert.equal(err.cause_, cause);
    if (index !== undefined) assert.equal(err.index, index);
    return true;
  });
}

/** Resolves the watcher's next event, or 'pending' if none arrives now (the pending read is kept for later). */
const unread = new WeakMap<V2Watcher, Promise<V2Event | null>>();
async function peek(w: V2Watcher): Promise<V2Event | null | 'pending'> {
  const p = next(w);
  const r = await Promise.race([p, new Promise<'pending'>((res) => setImmediate(() => res('pending')))]);
  if (r === 'pending') unread.set(w, p);
  return r;
}
/** w.next(), but first the read a peek() left pending. */
function next(w: V2Watcher): Promise<V2Event | null> {
  const p = unread.get(w);
  unread.delete(w);
  return p ?? w.next();
}

test('set new key: 201-style created, then set again gives prevNode and not created', () => {
  const s = store();
  const e1 = put(s, '/foo', 'bar');
  assert.equal(body(e1), '{"action":"set","node":{"key":"/foo","value":"bar","modifiedIndex":1,"createdIndex":1}}');
  assert.equal(e1.created, true);
  assert.equal(e1.etcdIndex, 1);
  const e2 = put(s, '/foo', 'baz');
  assert.equal(body(e2), '{"action":"set","node":{"key":"/foo","value":"baz","modifiedIndex":2,"createdIndex":2},"prevNode":{"key":"/foo","value":"bar","modifiedIndex":1,"createdIndex":1}}');
  assert.equal(e2.created, false);
  assert.equal(s.index(), 2);
});

test('get: file, dir one level, recursive, sorted, root without key, hidden omitted but readable', () => {
  const s = store();
  put(s, '/d/b', '2');
  put(s, '/d/a', '1');
  put(s, '/d/sub/x', '3');
  put(s, '/d/_h', 'h');
  assert.equal(body(s.get('/d/a', false, false)), '{"action":"get","node":{"key":"/d/a","value":"1","modifiedIndex":2,"createdIndex":2}}');
  assert.equal(body(s.get('/d', false, false)),
    '{"action":"get","node":{"key":"/d","dir":true,"nodes":[{"key":"/d/b","value":"2","modifiedIndex":1,"createdIndex":1},{"key":"/d/a","value":"1","modifiedIndex":2,"createdIndex":2},{"key":"/d/sub","dir":true,"modifiedIndex":3,"createdIndex":3}],"modifiedIndex":1,"createdIndex":1}}');
  assert.deepEqual(s.get('/d', false, true).node!.nodes!.map((n) => n.key), ['/d/a', '/d/b', '/d/sub']);
  assert.deepEqual(s.get('/d', true, true).node!.nodes![2]!.nodes!.map((n) => n.key), ['/d/sub/x']);
  assert.equal(body(s.get('/', false, false)), '{"action":"get","node":{"dir":true,"nodes":[{"key":"/d","dir":true,"modifiedIndex":1,"createdIndex":1}]}}');
  assert.equal(new V2Store().get('/', false, false).toJSON().node!.nodes, undefined, 'empty dir has no nodes field');
  assert.equal(s.get('/d/_h', false, false).node!.value, 'h');
  assert.equal(s.get('/d', false, false).etcdIndex, 4);
});

test('paths are normalised like Go path.Join', () => {
  const s = store();
  assert.equal(put(s, '//a/../b', 'x').node!.key, '/b');
  assert.equal(s.get('b/', false, false).node!.key, '/b');
  assert.equal(put(s, '/0/foo', 'y').node!.key, '/0/foo', '/0 and /1 are ordinary user keys (etcd prefixes the v2 keyspace itself)');
});

test('errors: not found names the first missing component, not a dir, root read only', () => {
  const s = store();
  put(s, '/a', '1');
  v2err(() => s.get('/nonexist/deep', false, false), 100, '/nonexist', 1);
  v2err(() => s.get('/a/b', false, false), 104, '/a', 1);
  v2err(() => put(s, '/a/b/c', '1'), 104, '/a', 1);
  v2err(() => put(s, '/', 'x'), 107, '/', 1);
  v2err(() => s.apply({ method: 'DELETE', path: '/', recursive: true }), 107, '/');
  v2err(() => s.apply({ method: 'PUT', path: '/', prevExist: true, val: '' }), 107, '/');
  v2err(() => s.apply({ method: 'POST', path: '/a', val: 'x' }), 104, '/a');
  assert.equal(s.index(), 1, 'failed writes do not use an index');
});

test('create (prevExist=false) and update (prevExist=true)', () => {
  const s = store();
  const c = s.apply({ method: 'PUT', path: '/k', val: 'v', prevExist: false });
  assert.equal(c.action, 'create');
  assert.equal(c.created, true);
  v2err(() => s.apply({ method: 'PUT', path: '/k', val: 'v', prevExist: false }), 105, '/k', 1);
  const u = s.apply({ method: 'PUT', path: '/k', val: 'w', prevExist: true });
  assert.equal(body(u), '{"action":"update","node":{"key":"/k","value":"w","modifiedIndex":2,"createdIndex":1},"prevNode":{"key":"/k","value":"v","modifiedIndex":1,"createdIndex":1}}');
  assert.equal(u.created, false);
  v2err(() => s.apply({ method: 'PUT', path: '/nope', val: 'w', prevExist: true }), 100, '/nope');
});

test('compare-and-swap: causes and success', () => {
  const s = store();
  v2err(() => put(s, '/c', '1', { prevValue: 'zz' }), 100, '/c', 0);
  put(s, '/c', 'bar');
  v2err(() => put(s, '/c', '1', { prevValue: 'zz' }), 101, '[zz != bar]', 1);
  v2err(() => put(s, '/c', '1', { prevIndex: 11 }), 101, '[11 != 1]', 1);
  v2err(() => put(s, '/c', '1', { prevValue: 'zz', prevIndex: 11 }), 101, '[zz != bar] [11 != 1]', 1);
  v2err(() => put(s, '/c', '1', { prevValue: 'bar', prevIndex: 11 }), 101, '[11 != 1]');
  const e = put(s, '/c', '1', { prevValue: 'bar', prevIndex: 1 });
  assert.equal(body(e), '{"action":"compareAndSwap","node":{"key":"/c","value":"1","modifiedIndex":2,"createdIndex":1},"prevNode":{"key":"/c","value":"bar","modifiedIndex":1,"createdIndex":1}}');
  assert.equal(put(s, '/c', '2', { prevExist: true, prevValue: '1' }).action, 'compareAndSwap');
  s.apply({ method: 'PUT', path: '/dir', dir: true });
  v2err(() => put(s, '/dir', 'x', { prevValue: 'a' }), 102, '/dir');
});

test('delete: file, dir needs dir=true, non-empty needs recursive, compare-and-delete', () => {
  const s = store();
  put(s, '/d/x', '1');
  put(s, '/f', 'v');
  v2err(() => s.apply({ method: 'DELETE', path: '/d' }), 102, '/d');
  v2err(() => s.apply({ method: 'DELETE', path: '/d', dir: true }), 108, '/d');
  const e = s.apply({ method: 'DELETE', path: '/d', recursive: true });
  assert.equal(body(e), '{"action":"delete","node":{"key":"/d","dir":true,"modifiedIndex":3,"createdIndex":1},"prevNode":{"key":"/d","dir":true,"modifiedIndex":1,"createdIndex":1}}');
  v2err(() => s.get('/d/x', false, false), 100, '/d');
  v2err(() => s.apply({ method: 'DELETE', path: '/f', prevValue: 'zz' }), 101, '[zz != v]');
  const cad = s.apply({ method: 'DELETE', path: '/f', prevIndex: 2 });
  assert.equal(body(cad), '{"action":"compareAndDelete","node":{"key":"/f","modifiedIndex":4,"createdIndex":2},"prevNode":{"key":"/f","value":"v","modifiedIndex":2,"createdIndex":2}}');
  s.apply({ method: 'PUT', path: '/e', dir: true });
  assert.equal(s.apply({ method: 'DELETE', path: '/e', dir: true }).action, 'delete');
});

test('dirs: dir=true creates a dir; set over a dir is 102; set dir over a file replaces it', () => {
  const s = store();
  const e = s.apply({ method: 'PUT', path: '/dd', dir: true });
  assert.equal(body(e), '{"action":"set","node":{"key":"/dd","dir":true,"modifiedIndex":1,"createdIndex":1}}');
  v2err(() => put(s, '/dd', 'x'), 102, '/dd');
  v2err(() => s.apply({ method: 'PUT', path: '/dd', dir: true }), 102, '/dd');
  put(s, '/file', 'v');
  const r = s.apply({ method: 'PUT', path: '/file', dir: true });
  assert.equal(r.node!.dir, true);
  assert.equal(r.prevNode!.value, 'v');
  v2err(() => s.apply({ method: 'PUT', path: '/dd', val: 'x', prevExist: true }), 102, '/dd');
});

test('POST makes in-order keys named by the zero-padded new index, creating the dir', () => {
  const s = store();
  put(s, '/other', 'x');
  const a = s.apply({ method: 'POST', path: '/q', val: 'a' });
  assert.equal(body(a), '{"action":"create","node":{"key":"/q/00000000000000000002","value":"a","modifiedIndex":2,"createdIndex":2}}');
  assert.equal(a.created, true);
  const b = s.apply({ method: 'POST', path: '/q', dir: true });
  assert.equal(b.node!.key, '/q/00000000000000000003');
  assert.equal(b.node!.dir, true);
  assert.deepEqual(s.get('/q', false, true).node!.nodes!.map((n) => n.key), ['/q/00000000000000000002', '/q/00000000000000000003']);
  assert.equal(s.get('/q', false, false).node!.createdIndex, 2, 'the dir gets the index of the write that made it');
});

test('TTL: expiration printed Go-style with ttl ceil, SYNC expires with events', () => {
  const exp = T0 + 1500;
  const s = store(T0);
  const e = put(s, '/t', 'v', { expirationMs: exp });
  assert.equal(body(e), `{"action":"set","node":{"key":"/t","value":"v","expiration":"2026-11-23T21:50:01.5Z","ttl":2,"modifiedIndex":1,"createdIndex":1}}`);
  assert.equal(s.nextExpirationMs(), exp);
  s.apply({ method: 'SYNC', path: '', timeMs: exp - 1 });
  assert.equal(s.index(), 1, 'nothing expired yet');
  s.apply({ method: 'SYNC', path: '', timeMs: exp });
  assert.equal(s.index(), 2);
  v2err(() => s.get('/t', false, false), 100);
  assert.equal(s.nextExpirationMs(), undefined);
  assert.equal(s.statsJson()['expireCount'], 1);
});

test('expiration formatting and ttl arithmetic', () => {
  assert.equal(formatExpiration(Date.UTC(2026, 10, 23, 21, 50, 1) + 123), '2026-11-23T21:50:01.123Z');
  assert.equal(formatExpiration(Date.UTC(2026, 10, 23, 21, 50, 1)), '2026-11-23T21:50:01Z');
  assert.equal(formatExpiration(Date.UTC(2026, 10, 23, 21, 50, 1) + 123.5), '2026-11-23T21:50:01.1235Z');
  assert.equal(remainingTtlSeconds(10_000, 0), 10);
  assert.equal(remainingTtlSeconds(10_001, 0), 11);
  assert.equal(remainingTtlSeconds(0, 1500), -1);
});

test('TTL: dir with ttl expires with its children; watchers of children are told', async () => {
  const s = store();
  s.apply({ method: 'PUT', path: '/ed', dir: true, expirationMs: T0 + 1000 });
  put(s, '/ed/k', 'a');
  const w = s.watch('/ed/k', false, false, 0);
  s.apply({ method: 'SYNC', path: '', timeMs: T0 + 5000 });
  const ev = await next(w);
  assert.equal(body(ev!), '{"action":"expire","node":{"key":"/ed","dir":true,"modifiedIndex":3,"createdIndex":1},"prevNode":{"key":"/ed","dir":true,"expiration":"2026-11-23T21:50:01Z","ttl":1,"modifiedIndex":1,"createdIndex":1}}');
});

test('ttl removed by update without ttl; set with ttl on existing', () => {
  const s = store();
  put(s, '/a', '1', { expirationMs: T0 + 100_000 });
  const u = s.apply({ method: 'PUT', path: '/a', val: '3', prevExist: true });
  assert.equal(u.node!.ttl, undefined);
  assert.equal(u.node!.expiration, undefined);
  assert.equal(u.prevNode!.ttl, 100);
  assert.equal(s.nextExpirationMs(), undefined);
  s.apply({ method: 'SYNC', path: '', timeMs: T0 + 200_000 });
  assert.equal(s.get('/a', false, false).node!.value, '3');
});

test('refresh: value kept, index advances, not delivered to watchers, skipped by history', async () => {
  const s = store();
  put(s, '/a', '1');
  const w = s.watch('/a', false, false, 0);
  const r = s.apply({ method: 'PUT', path: '/a', prevExist: true, refresh: true, expirationMs: T0 + 100_000 });
  assert.equal(body(r), '{"action":"update","node":{"key":"/a","value":"1","expiration":"2026-11-23T21:51:40Z","ttl":100,"modifiedIndex":2,"createdIndex":1},"prevNode":{"key":"/a","value":"1","modifiedIndex":1,"createdIndex":1}}');
  assert.equal(await peek(w), 'pending');
  // refresh without prevExist is a set (etcd recreates the node: createdIndex changes)
  const r2 = s.apply({ method: 'PUT', path: '/a', refresh: true, expirationMs: T0 + 100_000 });
  assert.equal(r2.action, 'set');
  assert.equal(r2.node!.createdIndex, 3);
  assert.equal(r2.created, false);
  assert.equal(await peek(w), 'pending');
  put(s, '/a', 'real');
  assert.equal((await next(w))!.node!.value, 'real');
  assert.equal(s.watch('/a', false, false, 2).startIndex, 4);
  assert.equal((await s.watch('/a', false, false, 2).next())!.node!.modifiedIndex, 4, 'history skips refresh events');
  v2err(() => s.apply({ method: 'PUT', path: '/none', refresh: true, expirationMs: T0 }), 100, '/none');
});

test('watch: non-stream fires once, stream keeps going, recursive sees descendants', async () => {
  const s = store();
  const once = s.watch('/k', false, false, 0);
  const str = s.watch('/k', false, true, 0);
  const rec = s.watch('/', true, true, 0);
  const nonrec = s.watch('/', false, false, 0);
  assert.equal(once.startIndex, 0);
  assert.equal(s.statsJson()['watchers'], 4);
  put(s, '/k', '1');
  put(s, '/k', '2');
  assert.equal((await next(once))!.node!.value, '1');
  assert.equal(await next(once), null, 'a non-stream watcher is done after one event');
  assert.equal((await next(str))!.node!.value, '1');
  assert.equal((await next(str))!.node!.value, '2');
  assert.equal((await next(rec))!.node!.key, '/k');
  assert.equal(await peek(nonrec), 'pending', 'a non-recursive watcher on / does not see /k');
  assert.equal(s.statsJson()['watchers'], 3);
  str.remove();
  rec.remove();
  nonrec.remove();
  assert.equal(await next(str), null);
  assert.equal(s.statsJson()['watchers'], 0);
});

test('watch: deleting a parent dir notifies watchers of children; recursive dir watcher sees it twice (as etcd)', async () => {
  const s = store();
  put(s, '/d/x', '1');
  const child = s.watch('/d/x', false, true, 0);
  const dir = s.watch('/d', true, true, 0);
  s.apply({ method: 'DELETE', path: '/d', recursive: true });
  const ce = await next(child);
  assert.equal(ce!.action, 'delete');
  assert.equal(ce!.node!.key, '/d');
  assert.equal(await peek(child), 'pending');
  assert.equal((await next(dir))!.node!.key, '/d');
  assert.equal((await next(dir))!.node!.key, '/d');
  // history: a watch on a child from before the delete finds the dir delete
  assert.equal((await s.watch('/d/x', false, false, 2).next())!.action, 'delete');
});

test('watch: hidden keys only reach watchers of that key', async () => {
  const s = store();
  const rec = s.watch('/foo', true, false, 0);
  const direct = s.watch('/foo/_h', false, false, 0);
  put(s, '/foo/_h', '1');
  assert.equal((await next(direct))!.node!.key, '/foo/_h');
  assert.equal(await peek(rec), 'pending');
  put(s, '/foo/v', '2');
  assert.equal((await next(rec))!.node!.key, '/foo/v');
  const underHidden = s.watch('/_d', true, false, 0);
  put(s, '/_d/x', '1');
  assert.equal((await next(underHidden))!.node!.key, '/_d/x');
});

test('watch from history: first match >= waitIndex, X-Etcd-Index = current, 401 when cleared', async () => {
  const s = store();
  put(s, '/a', '1');
  put(s, '/b', '1');
  put(s, '/a', '2');
  const w = s.watch('/a', false, false, 2);
  assert.equal(w.startIndex, 3);
  const e = (await next(w))!;
  assert.equal(e.node!.modifiedIndex, 3);
  assert.equal(e.etcdIndex, 3);
  assert.equal((await s.watch('/', true, false, 1).next())!.node!.key, '/a');
  for (let i = 0; i < V2_EVENT_HISTORY_MAX; i++) put(s, '/n', String(i));
  const cur = s.index();
  v2err(() => s.watch('/a', false, false, 2), 401, `the requested history has been cleared [${cur - V2_EVENT_HISTORY_MAX + 1}/2]`, cur);
  assert.equal((await s.watch('/n', false, false, cur - V2_EVENT_HISTORY_MAX + 1).next())!.node!.modifiedIndex, cur - V2_EVENT_HISTORY_MAX + 1);
});

test('watch: a stream watcher that falls behind is removed and then ends', async () => {
  const s = store();
  const w = s.watch('/k', false, true, 0);
  for (let i = 0; i <= V2_WATCHER_EVENT_QUEUE_MAX; i++) put(s, '/k', String(i));
  assert.equal(s.statsJson()['watchers'], 0);
  let n = 0;
  while ((await next(w)) !== null) n++;
  assert.equal(n, V2_WATCHER_EVENT_QUEUE_MAX);
});

test('removeAllWatchers ends pending watches with null', async () => {
  const s = store();
  const w = s.watch('/k', true, true, 0);
  const p = w.next();
  s.removeAllWatchers();
  assert.equal(await p, null);
  assert.equal(s.statsJson()['watchers'], 0);
});

test('stats: counters and key order as etcd, including etcd quirks', () => {
  const s = store();
  put(s, '/a', '1');
  s.get('/a', false, false);
  assert.throws(() => s.get('/zz', false, false));
  assert.throws(() => put(s, '/a/b', '1'));
  assert.throws(() => s.apply({ method: 'PUT', path: '/a/b', val: '1', prevExist: false })); // walk fails: etcd counts createFail and setsFail
  s.apply({ method: 'PUT', path: '/c', val: '1', prevExist: false });
  assert.throws(() => s.apply({ method: 'PUT', path: '/c', val: '1', prevExist: false }));
  s.apply({ method: 'PUT', path: '/c', val: '2', prevExist: true });
  assert.throws(() => put(s, '/c', 'x', { prevValue: 'no' }));
  put(s, '/c', 'y', { prevValue: '2' });
  assert.throws(() => s.apply({ method: 'DELETE', path: '/c', prevValue: 'no' })); // etcd counts this as success
  s.apply({ method: 'DELETE', path: '/c', prevValue: 'y' });
  s.apply({ method: 'DELETE', path: '/a' });
  assert.throws(() => s.apply({ method: 'DELETE', path: '/a' }));
  assert.equal(JSON.stringify(s.statsJson()),
    '{"getsSuccess":1,"getsFail":1,"setsSuccess":1,"setsFail":2,"deleteSuccess":1,"deleteFail":1,"updateSuccess":1,"updateFail":0,"createSuccess":1,"createFail":2,"compareAndSwapSuccess":1,"compareAndSwapFail":1,"compareAndDeleteSuccess":2,"compareAndDeleteFail":0,"expireCount":0,"watchers":0}');
});

function workload(s: V2Store): void {
  put(s, '/a/b', '1', { expirationMs: T0 + 1000 });
  put(s, '/a/c', '2');
  s.apply({ method: 'POST', path: '/q', val: 'x', expirationMs: T0 + 3000 });
  s.apply({ method: 'PUT', path: '/d', dir: true, expirationMs: T0 + 2000 });
  put(s, '/d/e', 'in dir');
  put(s, '/a/c', '3', { prevValue: '2' });
  s.apply({ method: 'PUT', path: '/a/c', prevExist: true, refresh: true, expirationMs: T0 + 5000 });
  try { put(s, '/a/b/x', 'fail'); } catch { /* expected */ }
  s.apply({ method: 'SYNC', path: '', timeMs: T0 + 2000 });
  put(s, '/_hidden', 'h');
}

test('determinism: same requests -> same save() bytes, whatever the clocks', () => {
  const a = store(T0);
  const b = store(T0 + 987_654);
  workload(a);
  workload(b);
  assert.deepEqual(Buffer.from(a.save()), Buffer.from(b.save()));
  assert.equal(a.index(), 10);
});

test('save/recover round trip: same reads, same bytes, TTLs and history survive', async () => {
  const a = store();
  workload(a);
  const b = V2Store.recover(a.save(), { nowMs: () => T0 });
  assert.deepEqual(Buffer.from(b.save()), Buffer.from(a.save()));
  assert.equal(b.index(), a.index());
  assert.equal(body(b.get('/', true, true)), body(a.get('/', true, true)));
  assert.equal(b.nextExpirationMs(), a.nextExpirationMs());
  b.apply({ method: 'SYNC', path: '', timeMs: T0 + 10_000 });
  a.apply({ method: 'SYNC', path: '', timeMs: T0 + 10_000 });
  assert.deepEqual(Buffer.from(b.save()), Buffer.from(a.save()));
  assert.equal((await b.watch('/d', false, false, 5).next())!.action, 'expire');
});
