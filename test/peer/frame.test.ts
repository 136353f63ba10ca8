// The frame decoder: any split of the byte stream gives back the same frames.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FrameDecoder, PEER_FRAME_BYTES_MAX } from '../../src/api/peer/frame.js';
import { decodeBody, encodeFrame, messageProblem } from '../../src/api/peer/codec.js';
import { app, heartbeat } from './helpers.js';

function decodeAll(chunks: Buffer[], max = PEER_FRAME_BYTES_MAX): { values: unknown[]; error: string | null } {
  const dec = new FrameDecoder(max);
  const values: unknown[] = [];
  for (const c of chunks) {
    const error = dec.push(c, (kind, body, shared) => {
      assert.equal(kind, 3);
      values.push(decodeBody(body, shared));
      return true;
    });
    if (error !== null) return { values, error };
  }
  assert.equal(dec.bufferedBytes, 0);
  return { values, error: null };
}

const frames = Array.from({ length: 200 }, (_, i) => encodeFrame(3, i % 3 === 0 ? app('a', 'b', i, i * 37) : heartbeat('a', 'b', i)));
const stream = Buffer.concat(frames);
const expected = frames.map((f) => decodeBody(f.subarray(5), false));

test('one chunk with many frames, byte-at-a-time, and random splits all decode the same', () => {
  assert.deepEqual(decodeAll([stream]).values, expected);
  const bytes = Array.from({ length: stream.length }, (_, i) => stream.subarray(i, i + 1));
  assert.deepEqual(decodeAll(bytes).values, expected);
  let seed = 12345;
  const rnd = (n: number): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff), seed % n);
  for (let trial = 0; trial < 20; trial++) {
    const chunks: Buffer[] = [];
    for (let off = 0; off < stream.length; ) {
      const n = 1 + rnd(trial % 2 === 0 ? 10 : 3000);
      chunks.push(stream.subarray(off, off + n));
      off += n;
    }
    assert.deepEqual(decodeAll(chunks).values, expected, `trial ${trial}`);
  }
});

test('entries decoded from a shared chunk do not pin it; from an assembled frame they are views', () => {
  const { values } = decodeAll([stream]);
  const data = (values[3] as { entries: { data: Uint8Array }[] }).entries[0]!.data;
  assert.equal(data.buffer.byteLength, data.byteLength, 'copied out of the chunk');
  for (const v of values) assert.equal(messageProblem(v), null);
});

test('a 64 MiB frame split into 64 KiB chunks decodes in linear time', () => {
  const big = encodeFrame(3, app('a', 'b', 1, 64 * 1024 * 1024));
  const chunks: Buffer[] = [];
  for (let off = 0; off < big.length; off += 65536) chunks.push(big.subarray(off, off + 65536));
  const t0 = performance.now();
  const { values } = decodeAll(chunks);
  const ms = performance.now() - t0;
  assert.equal((values[0] as { entries: { data: Uint8Array }[] }).entries[0]!.data.length, 64 * 1024 * 1024);
  assert.ok(ms < 2000, `took ${ms} ms`);
});

test('bad lengths are reported, never thrown', () => {
  assert.match(decodeAll([Buffer.from([0, 0, 0, 0, 9])]).error ?? '', /length 0/);
  assert.match(decodeAll([Buffer.from([0xff, 0xff, 0xff, 0xff])]).error ?? '', /exceeds limit/);
  assert.match(decodeAll([Buffer.from([0, 0]), Buffer.from([0x20, 0x01, 3])], 4096).error ?? '', /exceeds limit/);
});

test('messageProblem rejects what raft must never see', () => {
  assert.equal(messageProblem(heartbeat('a', 'b', 1)), null);
  assert.notEqual(messageProblem({ type: 'MsgBogus', from: 'a', to: 'b', term: 1 }), null);
  assert.notEqual(messageProblem({ type: 'MsgApp', from: 'a', to: 'b', term: 1, logTerm: 1, index: 1, commit: 1, entries: [{ term: 1, index: 2, type: 'normal', data: 'x' }] }), null);
  assert.notEqual(messageProblem({ type: 'MsgHeartbeat', from: 'a', to: 'b', term: 1.5, commit: 1, context: new Uint8Array() }), null);
  assert.notEqual(messageProblem([1, 2]), null);
  assert.notEqual(messageProblem(null), null);
});
