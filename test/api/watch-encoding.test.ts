// The watch stream's events fast path: the bytes it assembles are exactly what protobufjs
// encodes for the same WatchResponse, for every event shape and id size.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodedEventsResponse } from '../../src/api/v3/watch.js';
import { eventWire, headerWire, long } from '../../src/api/v3/convert.js';
import { type } from '../../src/api/v3/proto.js';
import type { MvccEvent, KeyValue } from '../../src/store/mvcc/types.js';

const WatchResponseT = type('etcdserverpb.WatchResponse');

const kv = (key: string, value: Buffer, rev: number, version: number, lease = 0n): KeyValue => ({ key: Buffer.from(key), value, createRevision: 2, modRevision: rev, version, lease });

test('fast-path WatchResponse bytes equal protobufjs\'s encoding of the same response', () => {
  const header = { clusterId: 0xcdef0123456789abn, memberId: 0x8e9e05c52164694dn, revision: 0, raftTerm: 7 };
  const events: MvccEvent[] = [
    { type: 'PUT', kv: kv('a', Buffer.from('x'), 9, 1) },
    { type: 'PUT', kv: kv('big', Buffer.alloc(300, 7), 10, 3, 0x694d8e9e05c52164n), prevKv: kv('big', Buffer.alloc(200, 1), 9, 2) },
    { type: 'DELETE', kv: { key: Buffer.from('gone'), value: Buffer.alloc(0), createRevision: 0, modRevision: 11, version: 0, lease: 0n } },
    { type: 'PUT', kv: kv('', Buffer.alloc(0), 12, 1) },
  ];
  for (const watchId of [0, 1, 127, 128, 300, 2 ** 31, 2 ** 40]) {
    for (const evs of [events.slice(0, 1), events, events.slice(2)]) {
      for (const revision of [12, 2 ** 35]) {
        const r = { watchId, events: evs, revision };
        const want = WatchResponseT.encode({ header: headerWire(header, revision), watch_id: watchId === 0 ? undefined : long(BigInt(watchId)), events: evs.map(eventWire) }).finish();
        const got = encodedEventsResponse(header, r);
        assert.deepEqual(got, Buffer.from(want), `watchId ${watchId}, ${evs.length} events, revision ${revision}`);
        // Twice: the second answer comes from the per-event and header caches.
        assert.deepEqual(encodedEventsResponse(header, r), Buffer.from(want));
      }
    }
  }
  // A new term at the same revision must not reuse the cached header.
  const r = { watchId: 5, events: events.slice(0, 1), revision: 12 };
  encodedEventsResponse(header, r);
  const t8 = { ...header, raftTerm: 8 };
  assert.deepEqual(encodedEventsResponse(t8, r), Buffer.from(WatchResponseT.encode({ header: headerWire(t8, 12), watch_id: 5, events: [eventWire(events[0]!)] }).finish()));
});
