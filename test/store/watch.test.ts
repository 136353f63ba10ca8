// The watch hub: what a watch stream's consumer receives. Expectations marked "etcd:" were observed
// on etcd 3.4.23 through the JSON gateway (/v3/watch).
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Backend } from '../../src/store/backend.js';
import { Mvcc } from '../../src/store/mvcc/kvstore.js';
import { WATCH_BATCH_REVS_MAX, WATCH_PENDING_EVENTS_MAX, WatchCreateError, type WatchResponse } from '../../src/store/mvcc/watch.js';

const b = (s: string) => Buffer.from(s);
const str = (x: Uint8Array) => Buffer.from(x).toString();

async function withStore(fn: (m: Mvcc) => Promise<void> | void, watchPendingEventsMax?: number): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'watch-test-'));
  const be = await Backend.open(dir);
  try {
    await fn(await Mvcc.open(be, { watchPendingEventsMax }));
  } finally {
    await be.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

/** A stream that records everything sent to it. */
function recorder(m: Mvcc) {
  const got: WatchResponse[] = [];
  const stream = m.watchHub.newStream((r) => {
    got.push(r);
  });
  const events = (id: number) =>
    got.filter((r) => r.watchId === id && r.events.length > 0).flatMap((r) => r.events.map((e) => `${e.type} ${str(e.kv.key)}@${e.kv.modRevision}${e.prevKv ? ` prev@${e.prevKv.modRevision}` : ''}`));
  return { got, stream, events };
}

describe('watch', () => {
  test('live: created first, then only matching events, one response per revision', () =>
    withStore((m) => {
      const { got, stream, events } = recorder(m);
      const id = stream.watch({ key: b('a') });
      assert.equal(id, 0); // etcd: the first auto id of a stream is 0
      const idr = stream.watch({ key: b('p/'), rangeEnd: b('p0') });
      assert.equal(idr, 1);
      assert.deepEqual(got[0], { watchId: 0, created: true, events: [], revision: 1 });
      m.put({ key: b('a'), value: b('1') }); // 2
      m.put({ key: b('b'), value: b('1') }); // 3
      m.put({ key: b('p/x'), value: b('1') }); // 4
      m.deleteRange({ key: b('a') }); // 5
      m.txn({ success: [{ requestPut: { key: b('p/y'), value: b('') } }, { requestPut: { key: b('p/z'), value: b('') } }, { requestPut: { key: b('a'), value: b('') } }] }); // 6
      assert.deepEqual(events(id), ['PUT a@2', 'DELETE a@5', 'PUT a@6']);
      assert.deepEqual(events(idr), ['PUT p/x@4', 'PUT p/y@6', 'PUT p/z@6']);
      const r6 = got.filter((r) => r.watchId === idr && r.revision === 6);
      assert.equal(r6.length, 1); // both events of revision 6 in one response
      // etcd: a DELETE event's kv carries only the key and mod_revision
      const del = got.find((r) => r.events[0]?.type === 'DELETE')!.events[0]!;
      assert.deepEqual({ ...del.kv, key: str(del.kv.key), value: del.kv.value.length }, { key: 'a', createRevision: 0, modRevision: 5, version: 0, value: 0, lease: 0n });
    }));

  test('from a past revision: replay from history then live, no gap, no duplicate', () =>
    withStore((m) => {
      for (let i = 0; i < 10; i++) m.put({ key: b(`k${i % 3}`), value: b(`${i}`) }); // revs 2..11
      const { stream, events } = recorder(m);
      const id = stream.watch({ key: b('k'), rangeEnd: b('l'), startRevision: 5 });
      const single = stream.watch({ key: b('k1'), startRevision: 2 });
      m.put({ key: b('k1'), value: b('x') }); // 12
      assert.deepEqual(events(id), ['PUT k0@5', 'PUT k1@6', 'PUT k2@7', 'PUT k0@8', 'PUT k1@9', 'PUT k2@10', 'PUT k0@11', 'PUT k1@12']);
      assert.deepEqual(events(single), ['PUT k1@3', 'PUT k1@6', 'PUT k1@9', 'PUT k1@12']);
      // a start revision in the future: nothing until then
      const fut = stream.watch({ key: b('k2'), startRevision: 14 });
      m.put({ key: b('k2'), value: b('') }); // 13
      m.put({ key: b('k2'), value: b('') }); // 14
      assert.deepEqual(events(fut), ['PUT k2@14']);
    }));

  test('a long replay comes in batches of at most WATCH_BATCH_REVS_MAX revisions, all events in order', () =>
    withStore((m) => {
      const n = 2 * WATCH_BATCH_REVS_MAX + 500;
      for (let i = 0; i < n; i++) m.put({ key: b(i % 2 ? 'x/a' : 'x/b'), value: b('') }); // revs 2..n+1
      const { got, stream } = recorder(m);
      const id = stream.watch({ key: b('x/'), rangeEnd: b('x0'), startRevision: 2 });
      const single = stream.watch({ key: b('x/a'), startRevision: 2 });
      const rs = got.filter((r) => r.watchId === id && r.events.length > 0);
      assert.deepEqual(rs.map((r) => r.events.length), [WATCH_BATCH_REVS_MAX, WATCH_BATCH_REVS_MAX, 500]);
      assert.deepEqual(rs.flatMap((r) => r.events.map((e) => e.kv.modRevision)), [...Array(n).keys()].map((i) => i + 2));
      assert.equal(rs[0]!.revision, n + 1); // etcd: catch-up responses carry the current revision
      const ss = got.filter((r) => r.watchId === single && r.events.length > 0).flatMap((r) => r.events.map((e) => e.kv.modRevision));
      assert.deepEqual(ss, [...Array(n).keys()].filter((i) => i % 2).map((i) => i + 2));
    }));

  test('prev_kv (live and replayed) and NOPUT/NODELETE filters', () =>
    withStore((m) => {
      m.put({ key: b('a'), value: b('1') }); // 2
      m.put({ key: b('a'), value: b('2') }); // 3
      const { stream, events } = recorder(m);
      const replay = stream.watch({ key: b('a'), startRevision: 2, prevKv: true });
      const live = stream.watch({ key: b('a'), prevKv: true });
      const noPut = stream.watch({ key: b('a'), filters: ['NOPUT'] });
      const noDel = stream.watch({ key: b('a'), filters: ['NODELETE'] });
      m.deleteRange({ key: b('a') }); // 4
      m.put({ key: b('a'), value: b('3') }); // 5
      assert.deepEqual(events(replay), ['PUT a@2', 'PUT a@3 prev@2', 'DELETE a@4 prev@3', 'PUT a@5']);
      assert.deepEqual(events(live), ['DELETE a@4 prev@3', 'PUT a@5']);
      assert.deepEqual(events(noPut), ['DELETE a@4']);
      assert.deepEqual(events(noDel), ['PUT a@5']);
    }));

  test('prev_kv when one txn writes a key several times (the store allows it; the API refuses it)', () =>
    withStore((m) => {
      m.put({ key: b('k'), value: b('v0') }); // 2
      m.put({ key: b('k'), value: b('v1') }); // 3
      const { stream, events } = recorder(m);
      const live = stream.watch({ key: b('k'), prevKv: true });
      // Revision 4: delete, then put twice. Both puts have create revision 4, so etcd's
      // IsCreateEvent makes both creates, which never carry a prev_kv; the delete's is v1@3.
      m.txn({ success: [{ requestDeleteRange: { key: b('k') } }, { requestPut: { key: b('k'), value: b('a') } }, { requestPut: { key: b('k'), value: b('b') } }] });
      // Revision 5: put twice. The second put is no create: its prev_kv is the value before the
      // txn (b@4), not the first put of the same txn.
      m.txn({ success: [{ requestPut: { key: b('k'), value: b('c') } }, { requestPut: { key: b('k'), value: b('d') } }] });
      const want = ['DELETE k@4 prev@3', 'PUT k@4', 'PUT k@4', 'PUT k@5 prev@4', 'PUT k@5 prev@4'];
      assert.deepEqual(events(live), want);
      const replay = stream.watch({ key: b('k'), startRevision: 4, prevKv: true });
      assert.deepEqual(events(replay), want);
    }));

  test('cancel: a canceled response, nothing afterwards; unknown id -> false; close is silent', () =>
    withStore((m) => {
      const { got, stream, events } = recorder(m);
      const id = stream.watch({ key: b('a') });
      m.put({ key: b('a'), value: b('') });
      assert.equal(stream.cancel(id), true);
      assert.deepEqual(got[got.length - 1], { watchId: id, canceled: true, events: [], revision: 2 });
      assert.equal(stream.cancel(id), false);
      m.put({ key: b('a'), value: b('') });
      assert.deepEqual(events(id), ['PUT a@2']);
      stream.watch({ key: b('a') });
      const n = got.length;
      stream.close();
      m.put({ key: b('a'), value: b('') });
      assert.equal(got.length, n);
      assert.equal(m.watchHub.watcherCount(), 0);
    }));

  test('a consumer whose send throws loses its stream; the write and other streams are unaffected', () =>
    withStore((m) => {
      const bad = m.watchHub.newStream((r) => {
        if (r.events.length > 0) throw new Error('consumer bug');
      });
      bad.watch({ key: b('a') });
      const { stream, events } = recorder(m);
      const id = stream.watch({ key: b('a') });
      m.put({ key: b('a'), value: b('1') });
      m.put({ key: b('a'), value: b('2') });
      assert.equal(m.currentRevision(), 3);
      assert.deepEqual(events(id), ['PUT a@2', 'PUT a@3']);
      assert.equal(bad.size(), 0);
      assert.equal(m.watchHub.watcherCount(), 1);
    }));

  test('create errors: duplicate id, empty range; client-chosen ids', () =>
    withStore((m) => {
      const { stream } = recorder(m);
      assert.equal(stream.watch({ key: b('a'), watchId: 7 }), 7);
      // etcd: "mvcc: duplicate watch ID provided on the WatchStream"
      assert.throws(() => stream.watch({ key: b('a'), watchId: 7 }), (e) => e instanceof WatchCreateError && /duplicate watch ID/.test(e.message));
      // etcd: key c range_end a -> created+canceled, cancel_reason "mvcc: watcher range is empty"
      assert.throws(() => stream.watch({ key: b('c'), rangeEnd: b('a') }), /watcher range is empty/);
      assert.equal(stream.watch({ key: b('a') }), 0);
      assert.equal(stream.size(), 2);
    }));

  test('start revision compacted: created, then canceled with compact_revision (etcd)', () =>
    withStore((m) => {
      for (let i = 0; i < 6; i++) m.put({ key: b('a'), value: b(`${i}`) }); // 2..7
      m.compact(4);
      const { got, stream, events } = recorder(m);
      const id = stream.watch({ key: b('a'), startRevision: 3 });
      // etcd: {created:true, header.revision 7} then {canceled:true, compact_revision:4, header without revision}
      assert.deepEqual(got, [
        { watchId: id, created: true, events: [], revision: 7 },
        { watchId: id, events: [], revision: 0, compactRevision: 4, canceled: true },
      ]);
      m.put({ key: b('a'), value: b('') });
      assert.deepEqual(events(id), []);
      // etcd: start revision == compact revision is fine (replays from it)
      const ok = stream.watch({ key: b('a'), startRevision: 4 });
      assert.deepEqual(events(ok), ['PUT a@4', 'PUT a@5', 'PUT a@6', 'PUT a@7', 'PUT a@8']);
    }));

  test('many watchers on many keys each see exactly their events', () =>
    withStore((m) => {
      const { stream, events } = recorder(m);
      const ids: number[] = [];
      for (let i = 0; i < 500; i++) ids.push(stream.watch({ key: b(`k${i}`) }));
      const prefix = stream.watch({ key: b('k1'), rangeEnd: b('k2') });
      for (let i = 0; i < 500; i += 7) m.put({ key: b(`k${i}`), value: b('') });
      for (let i = 0; i < 500; i++) assert.equal(events(ids[i]!).length, i % 7 === 0 ? 1 : 0);
      assert.equal(events(prefix).length, [...Array(500).keys()].filter((i) => i % 7 === 0 && `k${i}` >= 'k1' && `k${i}` < 'k2').length);
    }));

  test('progress: requestProgress when synced / after catch-up; periodic notify skips watchers that got events', () =>
    withStore((m) => {
      let accept = true;
      const got: WatchResponse[] = [];
      const stream = m.watchHub.newStream((r) => {
        got.push(r);
        return accept;
      });
      stream.requestProgress();
      assert.deepEqual(got.pop(), { watchId: -1, events: [], revision: 1 });
      const a = stream.watch({ key: b('a'), progressNotify: true });
      const c = stream.watch({ key: b('c'), progressNotify: true });
      got.length = 0;
      m.put({ key: b('a'), value: b('') }); // 2
      m.watchHub.notifyProgress();
      assert.deepEqual(got.slice(1), [{ watchId: c, events: [], revision: 2 }]); // a got an event: no progress
      got.length = 0;
      m.watchHub.notifyProgress();
      assert.deepEqual(got.map((r) => r.watchId).sort(), [a, c].sort());
      // blocked stream with pending events: the progress response waits until they are out
      got.length = 0;
      accept = false;
      m.put({ key: b('a'), value: b('') }); // 3: sent, stream now blocked
      m.put({ key: b('a'), value: b('') }); // 4: queued
      stream.requestProgress();
      assert.deepEqual(got.map((r) => r.revision), [3]);
      accept = true;
      stream.resume();
      assert.deepEqual(got.map((r) => [r.watchId, r.revision]), [[a, 3], [a, 4], [-1, 4]]);
    }));

  test('a blocked stream queues events with values of their own, not views of the store\'s value slabs', () =>
    withStore((m) => {
      const got: WatchResponse[] = [];
      let accept = true;
      const stream = m.watchHub.newStream((r) => {
        got.push(r);
        return accept;
      });
      const w1 = stream.watch({ key: b('k'), prevKv: true });
      const w2 = stream.watch({ key: b('k'), prevKv: true });
      m.put({ key: b('k'), value: b('v1') }); // 2
      accept = false;
      m.put({ key: b('k'), value: b('v2') }); // 3: sent, the stream is blocked now
      for (let i = 3; i <= 5; i++) m.put({ key: b('k'), value: b(`v${i}`) }); // 4..6: queued
      got.length = 0;
      accept = true;
      stream.resume();
      const queued = got.filter((r) => r.events.length > 0);
      // (the stream blocked while it took revision 3: the second watcher's is queued too)
      for (const w of [w1, w2]) for (const rev of [4, 5, 6]) assert.ok(queued.some((r) => r.watchId === w && r.revision === rev), `watcher ${w} gets ${rev}`);
      for (const r of queued) {
        const ev = r.events[0]!;
        assert.equal(str(ev.kv.value), `v${r.revision - 1}`);
        assert.equal(str(ev.prevKv!.value), `v${r.revision - 2}`);
        for (const v of [ev.kv.value, ev.prevKv!.value]) assert.equal(v.buffer.byteLength, v.byteLength, 'a buffer of its own');
      }
      // The two watchers' queues share one copy of each event.
      const at4 = queued.filter((r) => r.revision === 4);
      assert.equal(at4.length, 2);
      assert.equal(at4[0]!.events[0], at4[1]!.events[0]);
    }));

  test('restore from a snapshot: watchers continue from the new history', () =>
    withStore(async (m1) =>
      withStore(async (m2) => {
        m1.put({ key: b('a'), value: b('1') }); // 2
        for (let i = 0; i < 5; i++) m2.put({ key: b('a'), value: b(`s${i}`) }); // 2..6
        const { stream, events } = recorder(m1);
        const id = stream.watch({ key: b('a') });
        await m1.restore(m2.saveSnapshot());
        assert.deepEqual(events(id), ['PUT a@3', 'PUT a@4', 'PUT a@5', 'PUT a@6']);
        m1.put({ key: b('a'), value: b('x') });
        assert.deepEqual(events(id).slice(-1), ['PUT a@7']);
      }),
    ));

  for (const [pendingMax, seed0] of [[WATCH_PENDING_EVENTS_MAX, 12345], [16, 777], [3, 4242]] as const) {
  test(`slow consumers (randomized vs a model, pending bound ${pendingMax}): every event once, in order, no gaps`, () =>
    withStore((m) => {
      let seed: number = seed0;
      let victims = 0;
      const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff), seed % n);
      type W = { id: number; lo: string; hi: string | null | undefined; start: number; prev: boolean; seen: string[] };
      const model: { key: string; rev: number; type: string; prevRev: number }[] = [];
      const live = new Map<string, number>();
      const streams = Array.from({ length: 4 }, () => {
        const st = { accept: true, ws: [] as W[], got: [] as WatchResponse[], stream: undefined as unknown as ReturnType<typeof m.watchHub.newStream> };
        st.stream = m.watchHub.newStream((r) => {
          st.got.push(r);
          const w = st.ws.find((x) => x.id === r.watchId);
          for (const e of r.events) w!.seen.push(`${e.type} ${str(e.kv.key)}@${e.kv.modRevision}:${e.prevKv?.modRevision ?? 0}`);
          return st.accept;
        });
        return st;
      });
      let sawUnsynced = false;
      const key = () => `k${rnd(30).toString().padStart(2, '0')}`;
      const addWatcher = () => {
        const st = streams[rnd(streams.length)]!;
        const lo = key();
        const kind = rnd(3);
        const hi = kind === 0 ? undefined : kind === 1 ? null : `k${(rnd(30) + 5).toString().padStart(2, '0')}`;
        if (typeof hi === 'string' && lo >= hi) return;
        const start = rnd(2) === 0 ? 0 : 1 + rnd(m.currentRevision() + 1);
        const w: W = { id: 1001 + st.ws.length, lo, hi, start: start === 0 ? m.currentRevision() + 1 : start, prev: rnd(2) === 0, seen: [] };
        st.ws.push(w);
        // replay responses arrive inside watch(): the id is chosen by the client beforehand
        assert.equal(st.stream.watch({ key: b(lo), rangeEnd: hi === undefined ? undefined : hi === null ? b('\0') : b(hi), startRevision: start, prevKv: w.prev, watchId: w.id }), w.id);
      };
      for (let step = 0; step < 6000; step++) {
        const op = rnd(100);
        if (op < 2) addWatcher();
        else if (op < 6) {
          const st = streams[rnd(streams.length)]!;
          st.accept = rnd(3) !== 0;
          if (st.accept) st.stream.resume();
        } else {
          const rev = m.currentRevision() + 1;
          const k = key();
          if (op < 80) {
            m.put({ key: b(k), value: b(`${step}`) });
            model.push({ key: k, rev, type: 'PUT', prevRev: live.get(k) ?? 0 });
            live.set(k, rev);
          } else if (op < 90) {
            const end = `k${(rnd(30) + 1).toString().padStart(2, '0')}`;
            const ks = [...live.keys()].filter((x) => x >= k && x < end).sort();
            m.deleteRange({ key: b(k), rangeEnd: b(end) });
            for (const x of ks) model.push({ key: x, rev, type: 'DELETE', prevRev: live.get(x)! }), live.delete(x);
          } else {
            const k2 = k === 'k00' ? 'k01' : 'k00';
            m.txn({ success: [{ requestPut: { key: b(k), value: b('t') } }, { requestPut: { key: b(k2), value: b('t') } }] });
            for (const x of [k, k2]) model.push({ key: x, rev, type: 'PUT', prevRev: live.get(x) ?? 0 }), live.set(x, rev);
          }
        }
        if (streams.some((st) => st.stream.unsyncedCount() > 0)) sawUnsynced = true;
        victims = streams.reduce((n, st) => n + st.stream.victimCount(), 0);
      }
      for (const st of streams) {
        st.accept = true;
        st.stream.resume();
        assert.equal(st.stream.unsyncedCount(), 0);
      }
      assert.ok(sawUnsynced, 'some watcher should have been behind');
      if (pendingMax < 100) assert.ok(victims > 10, `watchers pushed past the pending bound: ${victims}`);
      let checked = 0;
      for (const st of streams) {
        for (const w of st.ws) {
          const want = model
            .filter((e) => e.rev >= w.start && (w.hi === undefined ? e.key === w.lo : e.key >= w.lo && (w.hi === null || e.key < w.hi)))
            .map((e) => `${e.type} ${e.key}@${e.rev}:${w.prev ? e.prevRev : 0}`);
          assert.deepEqual(w.seen, want, `watcher ${w.id} [${w.lo}, ${w.hi}) from ${w.start}`);
          checked += want.length;
        }
      }
      assert.ok(checked > 1000);
    }, pendingMax));
  }
});
