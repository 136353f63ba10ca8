// etcd 3.4's v2 store (server/etcdserver/api/v2store/store.go) and applyV2Request (apply_v2.go):
// a deterministic state machine applied on every member in log order, plus local reads.
//
// apply() never reads the clock: expirations are absolute and come in the request (decided by the
// member that received it), and SYNC carries the leader's time. The clock given to the
// constructor is only used to print the remaining `ttl` of nodes.

import assert from 'node:assert/strict';
import { V2Error } from './errors.js';
import { V2EventImpl, type NodeExtern } from './event.js';
import { EventHistory, V2_EVENT_HISTORY_MAX } from './history.js';
import { PERMANENT_MS, V2Node } from './node.js';
import { joinChild, pathComponents, splitPath, storePath } from './path.js';
import { V2Stats, type V2StatName } from './stats.js';
import { TtlHeap } from './ttl_heap.js';
import type { V2Event, V2Request, V2Watcher } from './types.js';
import { WatcherHub } from './watcher_hub.js';

/** etcd treats expirations before 2000-01-01 as "no TTL" on create/set (zero times serialised by JS clients). */
const MIN_EXPIRE_MS = Date.UTC(2000, 0, 1);
const SNAPSHOT_VERSION = 1;
/** Width of in-order (POST) key names: `%020d` of the new createdIndex. */
const UNIQUE_KEY_DIGITS = 20;

export interface V2StoreOptions {
  /** Only used to print remaining `ttl` in answers. Default Date.now. */
  nowMs?: () => number;
}

/** A node or event in the snapshot. */
interface NodeRec {
  p: string;
  c: number;
  m: number;
  e?: number;
  v?: string;
  n?: NodeRec[];
}
interface ExternRec {
  k: string;
  v?: string;
  d?: 1;
  e?: number;
  m: number;
  c: number;
}
interface EventRec {
  a: V2Event['action'];
  i: number;
  n?: ExternRec;
  p?: ExternRec;
  r?: 1;
}
interface SnapshotRec {
  version: number;
  index: number;
  root: NodeRec;
  history: EventRec[];
}

type FailRule = 'fail' | 'success';

export class V2Store {
  private root: V2Node;
  private currentIndex = 0;
  private readonly stats = new V2Stats();
  private readonly ttlHeap = new TtlHeap();
  private readonly hub: WatcherHub;
  private readonly nowMs: () => number;

  constructor(opts?: V2StoreOptions) {
    this.nowMs = opts?.nowMs ?? Date.now;
    this.root = V2Node.dir('/', 0, undefined, PERMANENT_MS);
    this.hub = new WatcherHub(new EventHistory(V2_EVENT_HISTORY_MAX));
  }

  /** etcd's CurrentIndex: bumped by exactly one per write event. */
  index(): number {
    return this.currentIndex;
  }

  // ---- reads ----

  /** Local read (GET). Counts getsSuccess/getsFail. Throws V2Error (100 cause = first missing path, 104). */
  get(path: string, recursive: boolean, sorted: boolean): V2Event {
    let n: V2Node;
    try {
      n = this.internalGet(storePath(path));
    } catch (err) {
      this.stats.inc('getsFail');
      throw err;
    }
    this.stats.inc('getsSuccess');
    return this.event('get', this.loadInternalNode(n, recursive, sorted), undefined, this.currentIndex);
  }

  /** Watch from sinceIndex (0 = the next event). Throws V2Error 401 (index = current). */
  watch(path: string, recursive: boolean, stream: boolean, sinceIndex: number): V2Watcher {
    const key = storePath(path);
    const since = sinceIndex === 0 ? this.currentIndex + 1 : sinceIndex;
    return this.hub.watch(key, recursive, stream, since, this.currentIndex);
  }

  /** Removes every watcher (e.g. before this store is replaced by a recovered one); their next() gives null. */
  removeAllWatchers(): void {
    this.hub.removeAll();
  }

  /** /v2/stats/store, key order as etcd. */
  statsJson(): Record<string, number> {
    return this.stats.toJson(this.hub.count);
  }

  /** Earliest expiration among nodes with a TTL; undefined when none (the leader proposes SYNC only then). */
  nextExpirationMs(): number | undefined {
    return this.ttlHeap.top()?.expirationMs;
  }

  // ---- writes ----

  /** Apply a replicated request (applyV2Request). GET/QGET are reads. SYNC returns an event without node
   *  (action 'expire', etcdIndex = index after the expirations); its expire events go to watchers. */
  apply(req: V2Request): V2Event {
    const val = req.val ?? '';
    const prevValue = req.prevValue ?? '';
    const prevIndex = req.prevIndex ?? 0;
    const exp = req.expirationMs ?? PERMANENT_MS;
    const refresh = req.refresh === true;
    switch (req.method) {
      case 'GET':
      case 'QGET':
        return this.get(req.path, req.recursive === true, req.sorted === true);
      case 'POST':
        return this.create(req.path, req.dir === true, val, true, exp);
      case 'PUT':
        if (req.prevExist !== undefined) {
          if (!req.prevExist) return this.create(req.path, req.dir === true, val, false, exp);
          if (prevIndex === 0 && prevValue === '') return this.update(req.path, val, exp, refresh);
          return this.compareAndSwap(req.path, prevValue, prevIndex, val, exp, refresh);
        }
        if (prevIndex > 0 || prevValue !== '') return this.compareAndSwap(req.path, prevValue, prevIndex, val, exp, refresh);
        return this.set(req.path, req.dir === true, val, exp, refresh);
      case 'DELETE':
        if (prevIndex > 0 || prevValue !== '') return this.compareAndDelete(req.path, prevValue, prevIndex);
        return this.delete(req.path, req.dir === true, req.recursive === true);
      case 'SYNC':
        assert.ok(req.timeMs !== undefined, 'SYNC without timeMs');
        this.deleteExpiredKeys(req.timeMs);
        return this.event('expire', undefined, undefined, this.currentIndex);
      default: {
        const never: never = req.method;
        throw new Error(`v2 store: unknown method ${String(never)}`);
      }
    }
  }

  private set(path: string, dir: boolean, value: string, exp: number, refresh: boolean): V2Event {
    return this.counted('setsSuccess', 'setsFail', () => {
      const p = storePath(path);
      let prev: V2Node | undefined;
      let getErr: V2Error | undefined;
      try {
        prev = this.internalGet(p);
      } catch (err) {
        if (!(err instanceof V2Error) || err.errorCode !== 100) throw err;
        getErr = err;
      }
      if (refresh) {
        if (getErr !== undefined) throw getErr;
        value = prev!.value;
      }
      const prevExtern = prev === undefined ? undefined : this.repr(prev, false, false);
      const created = this.internalCreate(p, dir, value, false, true, exp);
      const e = this.event('set', created, prevExtern, this.currentIndex, refresh);
      this.publish(e);
      return e;
    });
  }

  private create(path: string, dir: boolean, value: string, unique: boolean, exp: number): V2Event {
    return this.counted('createSuccess', 'createFail', () => {
      const created = this.internalCreate(path, dir, value, unique, false, exp);
      const e = this.event('create', created, undefined, this.currentIndex);
      this.hub.notify(e);
      return e;
    });
  }

  private update(path: string, value: string, exp: number, refresh: boolean): V2Event {
    return this.counted('updateSuccess', 'updateFail', () => {
      const p = storePath(path);
      // etcd returns these two errors without recording them, so they count as successes.
      if (p === '/') throw quirk(new V2Error(107, '/', this.currentIndex));
      const n = this.internalGet(p);
      if (n.isDir() && value.length !== 0) throw quirk(new V2Error(102, p, this.currentIndex));
      if (refresh) value = n.value;
      const next = this.currentIndex + 1;
      const prevExtern = this.repr(n, false, false);
      n.value = value;
      n.modifiedIndex = next;
      this.updateTtl(n, exp);
      const extern: NodeExtern = n.isDir()
        ? { key: p, dir: true, expirationMs: n.expirationMs, modifiedIndex: next, createdIndex: n.createdIndex }
        : { key: p, value, expirationMs: n.expirationMs, modifiedIndex: next, createdIndex: n.createdIndex };
      this.currentIndex = next;
      const e = this.event('update', extern, prevExtern, next, refresh);
      this.publish(e);
      return e;
    });
  }

  private compareAndSwap(path: string, prevValue: string, prevIndex: number, value: string, exp: number, refresh: boolean): V2Event {
    return this.counted('compareAndSwapSuccess', 'compareAndSwapFail', () => {
      const p = storePath(path);
      if (p === '/') throw quirk(new V2Error(107, '/', this.currentIndex));
      const n = this.internalGet(p);
      if (n.isDir()) throw new V2Error(102, p, this.currentIndex);
      const which = n.compare(prevValue, prevIndex);
      if (which !== 'match') throw new V2Error(101, compareFailCause(n, which, prevValue, prevIndex), this.currentIndex);
      if (refresh) value = n.value;
      this.currentIndex++;
      const prevExtern = this.repr(n, false, false);
      n.value = value;
      n.modifiedIndex = this.currentIndex;
      this.updateTtl(n, exp);
      const extern: NodeExtern = { key: p, value, expirationMs: n.expirationMs, modifiedIndex: this.currentIndex, createdIndex: n.createdIndex };
      const e = this.event('compareAndSwap', extern, prevExtern, this.currentIndex, refresh);
      this.publish(e);
      return e;
    });
  }

  private delete(path: string, dir: boolean, recursive: boolean): V2Event {
    return this.counted('deleteSuccess', 'deleteFail', () => {
      const p = storePath(path);
      if (p === '/') throw quirk(new V2Error(107, '/', this.currentIndex));
      if (recursive) dir = true;
      const n = this.internalGet(p);
      const next = this.currentIndex + 1;
      const extern: NodeExtern = n.isDir()
        ? { key: p, dir: true, modifiedIndex: next, createdIndex: n.createdIndex }
        : { key: p, modifiedIndex: next, createdIndex: n.createdIndex };
      const e = this.event('delete', extern, this.repr(n, false, false), next);
      this.removeNode(n, dir, recursive, (removed) => this.hub.notifyWatchers(e, removed, true));
      this.currentIndex = next;
      this.hub.notify(e);
      return e;
    });
  }

  private compareAndDelete(path: string, prevValue: string, prevIndex: number): V2Event {
    return this.counted('compareAndDeleteSuccess', 'compareAndDeleteFail', () => {
      const p = storePath(path);
      const n = this.internalGet(p);
      // etcd returns these without recording them: they count as compareAndDeleteSuccess.
      if (n.isDir()) throw quirk(new V2Error(102, p, this.currentIndex));
      const which = n.compare(prevValue, prevIndex);
      if (which !== 'match') throw quirk(new V2Error(101, compareFailCause(n, which, prevValue, prevIndex), this.currentIndex));
      this.currentIndex++;
      const extern: NodeExtern = { key: p, modifiedIndex: this.currentIndex, createdIndex: n.createdIndex };
      const e = this.event('compareAndDelete', extern, this.repr(n, false, false), this.currentIndex);
      this.removeNode(n, false, false, (removed) => this.hub.notifyWatchers(e, removed, true));
      this.hub.notify(e);
      return e;
    });
  }

  /** Deletes every node with expiration <= cutoffMs, one `expire` event (and index) each, earliest first. */
  private deleteExpiredKeys(cutoffMs: number): void {
    for (;;) {
      const n = this.ttlHeap.top();
      if (n === undefined || n.expirationMs > cutoffMs) break;
      this.currentIndex++;
      const extern: NodeExtern = n.isDir()
        ? { key: n.path, dir: true, modifiedIndex: this.currentIndex, createdIndex: n.createdIndex }
        : { key: n.path, modifiedIndex: this.currentIndex, createdIndex: n.createdIndex };
      const e = this.event('expire', extern, this.repr(n, false, false), this.currentIndex);
      this.ttlHeap.pop();
      this.removeNode(n, true, true, (removed) => this.hub.notifyWatchers(e, removed, true));
      this.stats.inc('expireCount');
      this.hub.notify(e);
    }
  }

  // ---- tree internals ----

  private event(action: V2Event['action'], node: NodeExtern | undefined, prev: NodeExtern | undefined, etcdIndex: number, refresh = false): V2EventImpl {
    return new V2EventImpl(action, node, prev, etcdIndex, this.nowMs, refresh);
  }

  /** Refresh events take an index and a history slot but are not delivered to watchers. */
  private publish(e: V2EventImpl): void {
    if (e.refresh) this.hub.add(e);
    else this.hub.notify(e);
  }

  /** Runs op, counting success/failure as etcd does (including its uncounted-error quirks). */
  private counted<T>(ok: V2StatName, fail: V2StatName, op: () => T): T {
    let result: T;
    try {
      result = op();
    } catch (err) {
      this.stats.inc(quirkErrors.has(err as object) ? ok : fail);
      throw err;
    }
    this.stats.inc(ok);
    return result;
  }

  private internalGet(cleanAbs: string): V2Node {
    let curr = this.root;
    for (const name of pathComponents(cleanAbs)) {
      if (curr.children === undefined) throw new V2Error(104, curr.path, this.currentIndex);
      const child = curr.children.get(name);
      if (child === undefined) throw new V2Error(100, joinChild(curr.path, name), this.currentIndex);
      curr = child;
    }
    return curr;
  }

  /** etcd's internalCreate: walks (creating dirs), replaces a file when `replace`. Returns the new node's extern. */
  private internalCreate(path: string, dir: boolean, value: string, unique: boolean, replace: boolean, exp: number): NodeExtern {
    const curr = this.currentIndex;
    const next = curr + 1;
    if (unique) path += '/' + String(next).padStart(UNIQUE_KEY_DIGITS, '0');
    const p = storePath(path);
    if (p === '/') throw new V2Error(107, '/', curr);
    if (exp < MIN_EXPIRE_MS) exp = PERMANENT_MS;
    const { dir: dirName, name } = splitPath(p);
    let d: V2Node;
    try {
      d = this.walkCreatingDirs(storePath(dirName), next);
    } catch (err) {
      // etcd also counts a setsFail here, whatever the operation.
      this.stats.inc('setsFail');
      throw err;
    }
    const existing = d.children!.get(name);
    if (existing !== undefined) {
      if (!replace) throw new V2Error(105, p, curr);
      if (existing.isDir()) throw new V2Error(102, p, curr);
      this.removeNode(existing, false, false, undefined);
    }
    const n = dir ? V2Node.dir(p, next, d, exp) : V2Node.file(p, value, next, d, exp);
    d.children!.set(name, n);
    if (!n.isPermanent()) this.ttlHeap.push(n);
    this.currentIndex = next;
    return dir
      ? { key: p, dir: true, expirationMs: exp, modifiedIndex: next, createdIndex: next }
      : { key: p, value, expirationMs: exp, modifiedIndex: next, createdIndex: next };
  }

  /** Missing dirs get createdIndex = the index of the write that creates them (etcd's checkDir). */
  private walkCreatingDirs(cleanAbs: string, createdIndex: number): V2Node {
    let curr = this.root;
    for (const name of pathComponents(cleanAbs)) {
      const child = curr.children!.get(name);
      if (child === undefined) {
        const d = V2Node.dir(joinChild(curr.path, name), createdIndex, curr, PERMANENT_MS);
        curr.children!.set(name, d);
        curr = d;
      } else if (child.isDir()) {
        curr = child;
      } else {
        throw new V2Error(104, child.path, this.currentIndex);
      }
    }
    return curr;
  }

  /** etcd's node.Remove: callback(path) for each removed node, children before their dir. */
  private removeNode(n: V2Node, dir: boolean, recursive: boolean, callback: ((path: string) => void) | undefined): void {
    if (n.isDir()) {
      if (!dir) throw new V2Error(102, n.path, this.currentIndex);
      if (n.children!.size !== 0 && !recursive) throw new V2Error(108, n.path, this.currentIndex);
      for (const child of [...n.children!.values()]) this.removeNode(child, true, true, callback);
    }
    const parent = n.parent;
    if (parent !== undefined && parent.children!.get(n.name()) === n) {
      parent.children!.delete(n.name());
      n.parent = undefined;
      if (callback !== undefined) callback(n.path);
      this.ttlHeap.remove(n);
    }
  }

  private updateTtl(n: V2Node, exp: number): void {
    if (exp === PERMANENT_MS) {
      n.expirationMs = PERMANENT_MS;
      this.ttlHeap.remove(n);
      return;
    }
    n.expirationMs = exp;
    this.ttlHeap.update(n);
  }

  private repr(n: V2Node, recursive: boolean, sorted: boolean): NodeExtern {
    if (!n.isDir()) {
      return { key: n.path, value: n.value, expirationMs: n.expirationMs, modifiedIndex: n.modifiedIndex, createdIndex: n.createdIndex };
    }
    if (!recursive) {
      return { key: n.path, dir: true, expirationMs: n.expirationMs, modifiedIndex: n.modifiedIndex, createdIndex: n.createdIndex };
    }
    return { key: n.path, dir: true, expirationMs: n.expirationMs, nodes: this.listing(n, recursive, sorted), modifiedIndex: n.modifiedIndex, createdIndex: n.createdIndex };
  }

  /** A GET's node: a dir lists one level (or the whole subtree when recursive), hidden children left out. */
  private loadInternalNode(n: V2Node, recursive: boolean, sorted: boolean): NodeExtern {
    if (!n.isDir()) return this.repr(n, false, false);
    return { key: n.path, dir: true, expirationMs: n.expirationMs, nodes: this.listing(n, recursive, sorted), modifiedIndex: n.modifiedIndex, createdIndex: n.createdIndex };
  }

  private listing(n: V2Node, recursive: boolean, sorted: boolean): NodeExtern[] {
    const out: NodeExtern[] = [];
    for (const child of n.children!.values()) {
      if (!child.isHidden()) out.push(this.repr(child, recursive, sorted));
    }
    if (sorted) out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return out;
  }

  // ---- snapshot ----

  /** The whole replicated state: tree, index and event history (TTL heap rebuilt on recover; stats are
   *  local and not included). Same requests in the same order -> identical bytes on every member. */
  save(): Uint8Array {
    const snap: SnapshotRec = {
      version: SNAPSHOT_VERSION,
      index: this.currentIndex,
      root: saveNode(this.root),
      history: this.hub.history.events().map(saveEvent),
    };
    return new TextEncoder().encode(JSON.stringify(snap));
  }

  static recover(data: Uint8Array, opts?: V2StoreOptions): V2Store {
    const snap = JSON.parse(new TextDecoder().decode(data)) as SnapshotRec;
    assert.equal(snap.version, SNAPSHOT_VERSION, 'v2 store snapshot: unknown version');
    assert.ok(Number.isInteger(snap.index) && snap.index >= 0, 'v2 store snapshot: bad index');
    const s = new V2Store(opts);
    s.currentIndex = snap.index;
    assert.equal(snap.root.p, '/', 'v2 store snapshot: root is not /');
    s.root = s.loadNode(snap.root, undefined);
    for (const rec of snap.history) s.hub.history.add(s.loadEvent(rec));
    assert.ok(s.hub.history.lastIndex <= s.currentIndex, 'v2 store snapshot: history ahead of index');
    return s;
  }

  private loadNode(rec: NodeRec, parent: V2Node | undefined): V2Node {
    assert.ok(rec.c <= this.currentIndex && rec.m <= this.currentIndex, `v2 store snapshot: node ${rec.p} from the future`);
    const exp = rec.e ?? PERMANENT_MS;
    const n = rec.n !== undefined ? V2Node.dir(rec.p, rec.c, parent, exp) : V2Node.file(rec.p, rec.v ?? '', rec.c, parent, exp);
    n.modifiedIndex = rec.m;
    if (rec.n !== undefined) {
      for (const c of rec.n) {
        assert.equal(splitPath(c.p).dir, rec.p === '/' ? '/' : rec.p + '/', `v2 store snapshot: ${c.p} not under ${rec.p}`);
        const child = this.loadNode(c, n);
        n.children!.set(child.name(), child);
      }
    }
    if (!n.isPermanent()) this.ttlHeap.push(n);
    return n;
  }

  private loadEvent(rec: EventRec): V2EventImpl {
    return this.event(rec.a, rec.n === undefined ? undefined : loadExtern(rec.n), rec.p === undefined ? undefined : loadExtern(rec.p), rec.i, rec.r === 1);
  }
}

/** Errors etcd returns without assigning its `err` variable, so its deferred stats count them as successes. */
const quirkErrors = new WeakSet<object>();
function quirk(e: V2Error): V2Error {
  quirkErrors.add(e);
  return e;
}

function compareFailCause(n: V2Node, which: 'value' | 'index' | 'both', prevValue: string, prevIndex: number): string {
  switch (which) {
    case 'index':
      return `[${prevIndex} != ${n.modifiedIndex}]`;
    case 'value':
      return `[${prevValue} != ${n.value}]`;
    case 'both':
      return `[${prevValue} != ${n.value}] [${prevIndex} != ${n.modifiedIndex}]`;
  }
}

function saveNode(n: V2Node): NodeRec {
  const rec: NodeRec = { p: n.path, c: n.createdIndex, m: n.modifiedIndex };
  if (!n.isPermanent()) rec.e = n.expirationMs;
  if (n.isDir()) rec.n = [...n.children!.values()].map(saveNode);
  else rec.v = n.value;
  return rec;
}

function saveExtern(x: NodeExtern): ExternRec {
  assert.equal(x.nodes, undefined, 'v2 store: events never carry listings');
  const rec: ExternRec = { k: x.key, m: x.modifiedIndex, c: x.createdIndex };
  if (x.value !== undefined) rec.v = x.value;
  if (x.dir === true) rec.d = 1;
  if (x.expirationMs !== undefined && x.expirationMs !== PERMANENT_MS) rec.e = x.expirationMs;
  return rec;
}

function loadExtern(rec: ExternRec): NodeExtern {
  const x: { -readonly [K in keyof NodeExtern]: NodeExtern[K] } = { key: rec.k, modifiedIndex: rec.m, createdIndex: rec.c };
  if (rec.v !== undefined) x.value = rec.v;
  if (rec.d === 1) x.dir = true;
  if (rec.e !== undefined) x.expirationMs = rec.e;
  return x;
}

function saveEvent(e: V2EventImpl): EventRec {
  const rec: EventRec = { a: e.action, i: e.etcdIndex };
  if (e.nodeExtern !== undefined) rec.n = saveExtern(e.nodeExtern);
  if (e.prevExtern !== undefined) rec.p = saveExtern(e.prevExtern);
  if (e.refresh) rec.r = 1;
  return rec;
}
