// The binary layout of the hot raft messages: every field survives the round trip, a MsgApp's
// entries encoded once serve every follower, decoded entries never alias a shared chunk, and
// every malformed body is refused with a reason instead of throwing or reaching raft.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeHotBody, encodeHotFrame, isHot } from '../../src/api/peer/hot-codec.js';
import { FRAME_HEADER_BYTES, FrameKind } from '../../src/api/peer/frame.js';
import type { Message } from '../../src/raft/message.js';
import type { Entry } from '../../src/raft/types.js';

const A = 'fc760ce9cee9fa07';
const B = '1562e846d7165918';
const C = '7f246c8211bd861b';

function entries(n: number, from = 1): Entry[] {
  return Array.from({ length: n }, (_, i) => ({
    term: 3 + (i % 2),
    index: from + i,
    type: i % 5 === 4 ? ('confChange' as const) : ('normal' as const),
    data: Buffer.from(i % 7 === 0 ? '' : `cmd-${from + i}-${'x'.repeat(i * 13)}`),
  }));
}

const samples: Message[] = [
  { type: 'MsgApp', from: A, to: B, term: 7, logTerm: 6, index: 41, commit: 40, entries: entries(12, 42) },
  { type: 'MsgApp', from: A, to: B, term: 2 ** 40, logTerm: 0, index: 0, commit: Number.MAX_SAFE_INTEGER, entries: [] },
  { type: 'MsgProp', from: B, to: A, term: 0, entries: entries(3, 0) },
  { type: 'MsgAppResp', from: B, to: A, term: 7, index: 52, reject: false, rejectHint: 0, logTerm: 0 },
  { type: 'MsgAppResp', from: B, to: A, term: 7, index: 52, reject: true, rejectHint: 44, logTerm: 5 },
  { type: 'MsgHeartbeat', from: A, to: C, term: 9, commit: 1234, context: Buffer.from('read-ctx') },
  { type: 'MsgHeartbeat', from: A, to: C, term: 9, commit: 0, context: new Uint8Array(0) },
  { type: 'MsgHeartbeatResp', from: C, to: A, term: 9, context: Buffer.from([0, 255, 7]) },
];

function body(f: Buffer): Buffer {
  assert.equal(f[4], FrameKind.hotMessage);
  assert.equal(f.readUInt32BE(0), f.length - 4);
  return f.subarray(FRAME_HEADER_BYTES);
}

/** Message with byte fields as plain Buffers, for deepEqual across Uint8Array/Buffer views. */
function plain(m: Message): unknown {
  return JSON.parse(JSON.stringify(m, (_k, v: unknown) => (v instanceof Uint8Array || (v as { type?: string })?.type === 'Buffer' ? Buffer.from(v as Uint8Array).toString('hex') : v)));
}

test('every hot message type round-trips with all its fields', () => {
  for (const m of samples) {
    assert.ok(isHot(m), m.type);
    for (const shared of [false, true]) {
      const got = decodeHotBody(body(encodeHotFrame(m as never)), shared);
      assert.notEqual(typeof got, 'string', String(got));
      assert.deepEqual(plain(got as Message), plain(m), `${m.type} shared=${shared}`);
    }
  }
  assert.equal(isHot({ type: 'MsgVote', from: A, to: B, term: 1, logTerm: 1, index: 1, transfer: false }), false);
});

test('one Ready\'s MsgApp to each follower: same entries, each frame addressed to its own follower', () => {
  const es = entries(20, 100);
  const toB = encodeHotFrame({ type: 'MsgApp', from: A, to: B, term: 4, logTerm: 4, index: 99, commit: 90, entries: es });
  const toC = encodeHotFrame({ type: 'MsgApp', from: A, to: C, term: 4, logTerm: 4, index: 99, commit: 91, entries: es });
  const b = decodeHotBody(body(toB), false) as Message & { entries: Entry[]; commit: number };
  const c = decodeHotBody(body(toC), false) as Message & { entries: Entry[]; commit: number };
  assert.equal(b.to, B);
  assert.equal(c.to, C);
  assert.equal(b.commit, 90);
  assert.equal(c.commit, 91);
  assert.deepEqual((plain(b) as { entries: unknown }).entries, (plain(c) as { entries: unknown }).entries);
  // Different entries of the same length right after must not reuse the previous block.
  const other = entries(20, 200);
  const d = decodeHotBody(body(encodeHotFrame({ type: 'MsgApp', from: A, to: B, term: 4, logTerm: 4, index: 199, commit: 90, entries: other })), false) as unknown as { entries: Entry[] };
  assert.equal(d.entries[0]!.index, 200);
  assert.deepEqual(Buffer.from(d.entries[19]!.data), Buffer.from(other[19]!.data));
});

test('entries decoded from a shared chunk do not alias it', () => {
  const f = encodeHotFrame({ type: 'MsgApp', from: A, to: B, term: 1, logTerm: 1, index: 0, commit: 0, entries: entries(4, 1) });
  const chunk = Buffer.from(f); // stands for the socket chunk the frame arrived in
  const got = decodeHotBody(chunk.subarray(FRAME_HEADER_BYTES), true) as unknown as { entries: Entry[] };
  const before = Buffer.from(got.entries[1]!.data);
  chunk.fill(0xee);
  assert.deepEqual(Buffer.from(got.entries[1]!.data), before);
});

test('malformed bodies are refused with a reason, never thrown', () => {
  for (const m of samples) {
    const b = body(encodeHotFrame(m as never));
    // Every truncation.
    for (let n = 0; n < b.length; n++) {
      const r = decodeHotBody(b.subarray(0, n), false);
      assert.equal(typeof r, 'string', `${m.type} cut at ${n} of ${b.length} decoded`);
    }
    // Trailing garbage.
    assert.match(decodeHotBody(Buffer.concat([b, Buffer.from([0])]), false) as string, /trailing/);
  }
  const app = body(encodeHotFrame(samples[0] as never));
  const termAt = 1 + 1 + A.length + 1 + B.length;
  const bad = (mutate: (b: Buffer) => void): string => {
    const b = Buffer.from(app);
    mutate(b);
    return decodeHotBody(b, false) as string;
  };
  assert.match(bad((b) => (b[0] = 99)), /unknown hot message type 99/);
  assert.match(bad((b) => b.writeDoubleBE(1.5, termAt)), /term is not a non-negative integer/);
  assert.match(bad((b) => b.writeDoubleBE(-1, termAt)), /term is not a non-negative integer/);
  assert.match(bad((b) => b.writeDoubleBE(NaN, termAt + 8)), /logTerm/);
  assert.match(bad((b) => b.writeDoubleBE(2 ** 60, termAt + 16)), /index/);
  // An entry count over raft's limit, or more than the body can hold, is refused before anything
  // is allocated for it.
  assert.match(bad((b) => b.writeUInt32BE(0xffffffff, termAt + 32)), /over the limit/);
  assert.match(bad((b) => b.writeUInt32BE(60000, termAt + 32)), /truncated/);
  // An entry type other than normal/confChange.
  assert.match(bad((b) => (b[termAt + 32 + 4 + 16] = 2)), /entry type 2/);
  // A reject flag other than 0/1.
  const resp = body(encodeHotFrame(samples[3] as never));
  const r2 = Buffer.from(resp);
  r2[r2.length - 1] = 2;
  assert.match(decodeHotBody(r2, false) as string, /reject flag 2/);
});
