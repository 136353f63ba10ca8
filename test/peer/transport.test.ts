// PeerTransport over loopback: what a member sees when it sends raft messages to its peers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import v8 from 'node:v8';
import vm from 'node:vm';
import type { Message, MsgApp, MsgHeartbeat, MsgSnap } from '../../src/raft/message.js';
import { PEER_QUEUE_BYTES_MAX, PEER_QUEUE_MESSAGES_MAX } from '../../src/api/peer/transport.js';
import { encodeFrame } from '../../src/api/peer/codec.js';
import { FrameKind } from '../../src/api/peer/frame.js';
import { encodeHotFrame } from '../../src/api/peer/hot-codec.js';
import { PEER_PROTOCOL_VERSION } from '../../src/api/peer/types.js';
import { app, closedWithin, heartbeat, member, rawConnect, stalledListener, waitFor, CLUSTER } from './helpers.js';

const A = 'aaaaaaaaaaaaaaaa';
const B = 'bbbbbbbbbbbbbbbb';
const C = 'cccccccccccccccc';
const T = { timeout: 30_000 };

function commits(got: readonly Message[], from: string): number[] {
  return got.filter((m) => m.from === from).map((m) => (m as MsgHeartbeat).commit);
}
const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

test('two members exchange messages in order, both ways', T, async () => {
  const a = await member(A);
  const b = await member(B);
  try {
    a.t.addPeer(B, [b.url]);
    b.t.addPeer(A, [a.url]);
    for (let i = 0; i < 500; i++) a.t.send([heartbeat(A, B, i)]);
    b.t.send(range(500).map((i) => heartbeat(B, A, i)));
    await waitFor('all delivered', () => a.got.length === 500 && b.got.length === 500);
    assert.deepEqual(commits(b.got, A), range(500));
    assert.deepEqual(commits(a.got, B), range(500));
    const m = b.got[0] as MsgHeartbeat;
    assert.equal(m.type, 'MsgHeartbeat');
    assert.equal(m.to, B);
    assert.ok(m.context instanceof Uint8Array);
    const s = a.t.stats()[B]!;
    assert.equal(s.connected, true);
    assert.equal(s.sentMessages, 500);
    assert.ok(s.rttMs !== null && s.rttMs >= 0 && s.rttMs < 1000);
    assert.ok(a.t.activeSince(B) instanceof Date);
    assert.equal(b.t.stats()[A]!.receivedMessages, 500);
    assert.equal(b.t.stats()[A]!.receivedBytes, s.sentBytes);
    assert.deepEqual(a.unreachable, []);
  } finally {
    await a.t.close();
    await b.t.close();
  }
});

test('three members: each receives every peer\'s messages in that peer\'s order', T, async () => {
  const ids = [A, B, C];
  const ms = await Promise.all(ids.map((id) => member(id)));
  try {
    for (const x of ms) for (const y of ms) if (x !== y) x.t.addPeer(y.t.localId, [y.url]);
    for (let i = 0; i < 300; i++) {
      for (const x of ms) x.t.send(ms.filter((y) => y !== x).map((y) => heartbeat(x.t.localId, y.t.localId, i)));
    }
    await waitFor('all delivered', () => ms.every((x) => x.got.length === 600));
    for (const x of ms) {
      for (const y of ms) if (x !== y) assert.deepEqual(commits(x.got, y.t.localId), range(300), `${y.t.localId} -> ${x.t.localId}`);
    }
  } finally {
    await Promise.all(ms.map((x) => x.t.close()));
  }
});

test('batching: 10,000 small messages arrive in order in far fewer socket writes', T, async () => {
  const a = await member(A);
  const b = await member(B);
  try {
    a.t.addPeer(B, [b.url]);
    await waitFor('connected', () => a.t.activeSince(B) !== null);
    const writesBefore = a.t.stats()[B]!.socketWrites;
    // One send() call per message, yielding to the event loop every 1,000 (a busy leader: a
    // synchronous burst beyond PEER_QUEUE_MESSAGES_MAX would be dropped by design).
    for (let i = 0; i < 10_000; i++) {
      a.t.send([heartbeat(A, B, i)]);
      if (i % 1000 === 999) await new Promise((r) => setImmediate(r));
    }
    await waitFor('10k delivered', () => b.got.length === 10_000);
    assert.deepEqual(commits(b.got, A), range(10_000));
    const writes = a.t.stats()[B]!.socketWrites - writesBefore;
    assert.ok(writes >= 1 && writes <= 100, `10,000 messages took ${writes} socket writes`);
    assert.equal(a.t.stats()[B]!.droppedMessages, 0);
  } finally {
    await a.t.close();
    await b.t.close();
  }
});

test('a 20 MiB snapshot arrives intact and is reported sent', T, async () => {
  const a = await member(A);
  const b = await member(B);
  try {
    a.t.addPeer(B, [b.url]);
    const data = new Uint8Array(20 * 1024 * 1024);
    for (let i = 0; i < data.length; i += 4096) data[i] = (i / 4096) & 0xff;
    data[data.length - 1] = 0x5a;
    const snap: MsgSnap = {
      type: 'MsgSnap', from: A, to: B, term: 7,
      snapshot: { metadata: { index: 1000, term: 6, confState: { voters: [A, B], learners: [] } }, data },
    };
    a.t.send([heartbeat(A, B, 1), snap, heartbeat(A, B, 2)]);
    await waitFor('snapshot acked', () => a.snapshots.length === 1, 20_000);
    assert.deepEqual(a.snapshots, [{ peer: B, failed: false }]);
    await waitFor('all delivered', () => b.got.length === 3);
    assert.deepEqual(b.got.map((m) => m.type), ['MsgHeartbeat', 'MsgSnap', 'MsgHeartbeat']);
    const got = b.got[1] as MsgSnap;
    assert.equal(got.snapshot.metadata.index, 1000);
    assert.deepEqual(got.snapshot.metadata.confState, { voters: [A, B], learners: [] });
    const digest = (u: Uint8Array): string => createHash('sha256').update(u).digest('hex');
    assert.equal(got.snapshot.data.length, data.length);
    assert.equal(digest(got.snapshot.data), digest(data));
  } finally {
    await a.t.close();
    await b.t.close();
  }
});

test('peer down: messages dropped with onUnreachable, snapshot fails; when it comes up, messages flow', T, async () => {
  const port = 23830;
  const a = await member(A);
  let b = await member(B, { listen: false });
  try {
    a.t.addPeer(B, [new URL(`http://127.0.0.1:${port}`)]);
    await waitFor('first dial failed', () => a.t.stats()[B]!.failures >= 1);
    a.t.send([heartbeat(A, B, 1), heartbeat(A, B, 2)]);
    a.t.send([{ type: 'MsgSnap', from: A, to: B, term: 1, snapshot: { metadata: { index: 1, term: 1, confState: { voters: [A], learners: [] } }, data: new Uint8Array(10) } }]);
    await waitFor('unreachable reported', () => a.unreachable.includes(B) && a.snapshots.length === 1);
    assert.deepEqual(a.snapshots, [{ peer: B, failed: true }]);
    assert.ok(a.t.stats()[B]!.droppedMessages >= 3);
    assert.equal(a.t.activeSince(B), null);

    await b.t.close();
    b = await member(B, { port });
    await waitFor('reconnected', () => a.t.activeSince(B) !== null, 5000);
    a.t.send([heartbeat(A, B, 10), heartbeat(A, B, 11)]);
    await waitFor('delivered after reconnect', () => b.got.length === 2);
    assert.deepEqual(commits(b.got, A), [10, 11]);

    // The peer restarts: the connection breaks, then is re-established on its own.
    await b.t.close();
    await waitFor('loss noticed', () => a.t.activeSince(B) === null);
    b = await member(B, { port });
    await waitFor('reconnected again', () => a.t.activeSince(B) !== null, 5000);
    a.t.send([heartbeat(A, B, 20)]);
    await waitFor('delivered after restart', () => b.got.length === 1);
    assert.deepEqual(commits(b.got, A), [20]);
  } finally {
    await a.t.close();
    await b.t.close();
  }
});

test('a different cluster id is refused on both sides, with etcd\'s log message', T, async () => {
  const a = await member(A, { clusterId: '1111111111111111' });
  const b = await member(B);
  try {
    a.t.addPeer(B, [b.url]);
    await waitFor('dialer logged mismatch', () => a.logs.some((l) => l.msg === 'request cluster ID mismatch'));
    assert.ok(b.logs.some((l) => l.msg === 'rejected peer connection' && String(l.obj.reason).includes('cluster ID mismatch')));
    a.t.send([heartbeat(A, B, 1)]);
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(b.got, []);
    assert.equal(a.t.activeSince(B), null);
    assert.equal(a.t.stats()[B]!.connected, false);
  } finally {
    await a.t.close();
    await b.t.close();
  }
});

test('a dialer asking for another member id (stale address) is refused', T, async () => {
  const a = await member(A);
  const b = await member(B);
  try {
    a.t.addPeer(C, [b.url]); // C's "address" is actually B's
    await waitFor('listener refused', () => b.logs.some((l) => l.msg === 'rejected peer connection' && String(l.obj.reason).includes('member ID mismatch')));
    a.t.send([heartbeat(A, C, 1)]);
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(b.got, []);
    assert.equal(a.t.activeSince(C), null);
  } finally {
    await a.t.close();
    await b.t.close();
  }
});

test('garbage and malformed frames close that connection; the listener keeps serving real peers', T, async () => {
  const a = await member(A);
  const b = await member(B);
  try {
    // 1. Random bytes (a huge length prefix).
    const s1 = await rawConnect(b.url);
    s1.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    await closedWithin(s1, 2000);
    // 2. Zero-length frame.
    const s2 = await rawConnect(b.url);
    s2.write(Buffer.from([0, 0, 0, 0, 1, 2, 3]));
    await closedWithin(s2, 2000);
    // 3. A good handshake, then bytes that are not msgpack.
    const hs = encodeFrame(FrameKind.handshake, { clusterId: CLUSTER, from: C, to: B, protocolVersion: PEER_PROTOCOL_VERSION });
    const s3 = await rawConnect(b.url);
    const bad = Buffer.from([0, 0, 0, 3, FrameKind.message, 0xc1, 0xc1]);
    s3.write(Buffer.concat([hs, bad]));
    await closedWithin(s3, 2000);
    // 4. A good handshake, then msgpack that is not a raft message.
    const s4 = await rawConnect(b.url);
    s4.write(Buffer.concat([hs, encodeFrame(FrameKind.message, { type: 'MsgApp', from: C, to: B, term: -1 })]));
    await closedWithin(s4, 2000);
    // 4b. A good handshake, then a hot-message frame whose body is cut short.
    const s4b = await rawConnect(b.url);
    const hot = encodeHotFrame(heartbeat(C, B, 1) as never);
    const cut = Buffer.from(hot.subarray(0, hot.length - 3));
    cut.writeUInt32BE(cut.length - 4, 0);
    s4b.write(Buffer.concat([hs, cut]));
    await closedWithin(s4b, 2000);
    // 5. A message addressed to another member is dropped, the connection stays.
    const s5 = await rawConnect(b.url);
    s5.write(Buffer.concat([hs, encodeFrame(FrameKind.message, heartbeat(C, A, 1))]));
    s5.write(encodeFrame(FrameKind.message, heartbeat(A, B, 1))); // from is not the handshake's C
    await waitFor('misaddressed dropped', () => b.t.droppedMisaddressed === 2);
    assert.deepEqual(b.got, []);
    assert.equal(s5.destroyed, false);
    s5.destroy();
    assert.ok(b.logs.filter((l) => l.msg === 'closed inbound peer connection' && l.level === 'warn').length >= 5);

    a.t.addPeer(B, [b.url]);
    a.t.send([heartbeat(A, B, 42)]);
    await waitFor('real peer served', () => b.got.length === 1);
    assert.deepEqual(commits(b.got, A), [42]);
  } finally {
    await a.t.close();
    await b.t.close();
  }
});

test('queue limits: a stalled peer makes messages drop, counted, with memory bounded', T, async () => {
  const gc = (() => {
    v8.setFlagsFromString('--expose-gc');
    return vm.runInNewContext('gc') as () => void;
  })();
  const stalled = await stalledListener(B);
  const stalled2 = await stalledListener(C);
  const a = await member(A, { listen: false });
  try {
    a.t.addPeer(B, [stalled.url]);
    await waitFor('connected', () => a.t.activeSince(B) !== null);
    // By count: 1 KiB messages, many more than PEER_QUEUE_MESSAGES_MAX.
    for (let round = 0; round < 20; round++) {
      a.t.send(range(2000).map((i) => app(A, B, round * 2000 + i, 1024)));
      await new Promise((r) => setImmediate(r));
    }
    let s = a.t.stats()[B]!;
    assert.ok(s.queuedMessages <= PEER_QUEUE_MESSAGES_MAX, `queued ${s.queuedMessages}`);
    assert.ok(s.droppedMessages > 0, 'some messages dropped');
    assert.equal(s.sentMessages + s.queuedMessages + s.droppedMessages, 40_000);
    await waitFor('unreachable', () => a.unreachable.includes(B));

    // By bytes, to another stalled peer: 1 MiB messages, far more than PEER_QUEUE_BYTES_MAX.
    a.t.addPeer(C, [stalled2.url]);
    await waitFor('connected', () => a.t.activeSince(C) !== null);
    gc();
    const before = process.memoryUsage().arrayBuffers;
    for (let i = 0; i < 300; i++) {
      a.t.send([app(A, C, i, 1024 * 1024)]);
      if (i % 10 === 0) await new Promise((r) => setImmediate(r));
    }
    gc();
    const grownBytes = process.memoryUsage().arrayBuffers - before;
    s = a.t.stats()[C]!;
    assert.ok(s.queuedBytes <= PEER_QUEUE_BYTES_MAX, `queued ${s.queuedBytes} bytes`);
    assert.ok(s.queuedBytes > PEER_QUEUE_BYTES_MAX - 2 * 1024 * 1024, `the byte limit binds: queued ${s.queuedBytes} bytes`);
    assert.ok(s.droppedMessages >= 200, `dropped ${s.droppedMessages} of 300 1 MiB messages`);
    assert.equal(s.sentMessages + s.queuedMessages + s.droppedMessages, 300);
    await waitFor('unreachable', () => a.unreachable.includes(C));
    assert.ok(grownBytes < PEER_QUEUE_BYTES_MAX + 48 * 1024 * 1024, `buffers grew by ${grownBytes} bytes for 300 MiB sent`);
  } finally {
    await a.t.close();
    await stalled.close();
    await stalled2.close();
  }
});

test('messages to unknown or removed peers are dropped; MsgSnap to them fails', T, async () => {
  const a = await member(A);
  const b = await member(B);
  try {
    a.t.addPeer(B, [b.url]);
    a.t.send([heartbeat(A, B, 1)]);
    await waitFor('delivered', () => b.got.length === 1);
    a.t.removePeer(B);
    a.t.send([heartbeat(A, B, 2), { type: 'MsgSnap', from: A, to: B, term: 1, snapshot: { metadata: { index: 1, term: 1, confState: { voters: [A], learners: [] } }, data: new Uint8Array(1) } }]);
    await waitFor('snapshot failure', () => a.snapshots.length === 1);
    assert.deepEqual(a.snapshots, [{ peer: B, failed: true }]);
    assert.equal(a.t.droppedUnknownPeer, 2);
    assert.equal(a.t.hasPeer(B), false);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(b.got.length, 1);
  } finally {
    await a.t.close();
    await b.t.close();
  }
});

test('updatePeer moves the connection to the peer\'s new address', T, async () => {
  const a = await member(A);
  let b = await member(B);
  try {
    a.t.addPeer(B, [b.url]);
    await waitFor('connected', () => a.t.activeSince(B) !== null);
    await b.t.close();
    b = await member(B);
    a.t.updatePeer(B, [b.url]);
    await waitFor('connected to new url', () => a.t.stats()[B]!.url === b.url.href && a.t.activeSince(B) !== null);
    a.t.send([heartbeat(A, B, 5)]);
    await waitFor('delivered', () => b.got.length === 1);
    const m = b.got[0] as MsgApp | MsgHeartbeat;
    assert.equal(m.from, A);
  } finally {
    await a.t.close();
    await b.t.close();
  }
});
