// coalesceAppends: a leader's commit-only MsgApp folds into another MsgApp to the same peer in
// the same batch, never losing the higher commit, never reordering a peer's messages.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { coalesceAppends } from '../../src/server/member.js';
import type { Message, MsgApp } from '../../src/raft/message.js';
import type { Entry } from '../../src/raft/types.js';

const L = 'aaaa', P1 = 'bbbb', P2 = 'cccc';
const ents = (from: number, n: number): Entry[] => Array.from({ length: n }, (_, i) => ({ term: 2, index: from + i, type: 'normal', data: new Uint8Array([i]) }));
const app = (to: string, index: number, n: number, commit: number, term = 2): MsgApp => ({ type: 'MsgApp', from: L, to, term, logTerm: 2, index, commit, entries: ents(index + 1, n) });
const brief = (ms: readonly Message[]): string[] => ms.map((m) => (m.type === 'MsgApp' ? `${m.to} app@${m.index}+${m.entries.length} c${m.commit}` : `${m.to} ${m.type}`));

test('a commit-only MsgApp after one with entries folds its commit into it', () => {
  const out = coalesceAppends([app(P1, 10, 3, 5), app(P2, 10, 3, 5), app(P1, 13, 0, 8), app(P2, 13, 0, 8)]);
  assert.deepEqual(brief(out), [`${P1} app@10+3 c8`, `${P2} app@10+3 c8`]);
});

test('a commit-only MsgApp before one with entries is replaced by it, keeping the higher commit', () => {
  assert.deepEqual(brief(coalesceAppends([app(P1, 10, 0, 6), app(P1, 10, 2, 6)])), [`${P1} app@10+2 c6`]);
  assert.deepEqual(brief(coalesceAppends([app(P1, 10, 0, 7), app(P1, 10, 2, 6)])), [`${P1} app@10+2 c7`]);
});

test('nothing merges across another message to the same peer, across terms, or between two appends with entries', () => {
  const hb: Message = { type: 'MsgHeartbeat', from: L, to: P1, term: 2, commit: 5, context: new Uint8Array(0) };
  const a = [app(P1, 10, 3, 5), hb, app(P1, 13, 0, 8)];
  assert.equal(coalesceAppends(a), a);
  const b = [app(P1, 10, 3, 5, 2), app(P1, 13, 0, 8, 3)];
  assert.equal(coalesceAppends(b), b);
  const c = [app(P1, 10, 3, 5), app(P1, 13, 2, 5)];
  assert.equal(coalesceAppends(c), c);
  const one = [app(P1, 10, 3, 5)];
  assert.equal(coalesceAppends(one), one);
});
