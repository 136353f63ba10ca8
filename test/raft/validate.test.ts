import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Net, ids } from './net.js';
import type { Message } from '../../src/raft/message.js';
import { MAX_ENTRIES_PER_MESSAGE } from '../../src/raft/limits.js';

const [A, B, C] = ids(3) as [string, string, string];
const ent = (index: number, term = 1) => ({ term, index, type: 'normal' as const, data: new Uint8Array(1) });

const bad: [string, unknown][] = [
  ['unknown type', { type: 'MsgBogus', from: A, to: B, term: 1 }],
  ['empty from', { type: 'MsgHeartbeat', from: '', to: B, term: 5, commit: 0, context: new Uint8Array(0) }],
  ['negative term', { type: 'MsgHeartbeat', from: A, to: B, term: -1, commit: 0, context: new Uint8Array(0) }],
  ['fractional commit', { type: 'MsgHeartbeat', from: A, to: B, term: 5, commit: 1.5, context: new Uint8Array(0) }],
  ['NaN index', { type: 'MsgApp', from: A, to: B, term: 5, index: NaN, logTerm: 1, entries: [], commit: 0 }],
  ['infinite term', { type: 'MsgVote', from: A, to: B, term: Infinity, index: 0, logTerm: 0, transfer: false }],
  ['non-contiguous entries', { type: 'MsgApp', from: A, to: B, term: 5, index: 1, logTerm: 1, entries: [ent(2), ent(4)], commit: 0 }],
  ['entries not after index', { type: 'MsgApp', from: A, to: B, term: 5, index: 1, logTerm: 1, entries: [ent(3)], commit: 0 }],
  ['entry term above message term', { type: 'MsgApp', from: A, to: B, term: 5, index: 1, logTerm: 1, entries: [ent(2, 9)], commit: 0 }],
  ['entry data not bytes', { type: 'MsgApp', from: A, to: B, term: 5, index: 1, logTerm: 1, entries: [{ ...ent(2), data: 'x' }], commit: 0 }],
  ['entry bad type', { type: 'MsgApp', from: A, to: B, term: 5, index: 1, logTerm: 1, entries: [{ ...ent(2), type: 'weird' }], commit: 0 }],
  ['too many entries', { type: 'MsgApp', from: A, to: B, term: 5, index: 0, logTerm: 0, entries: Array.from({ length: MAX_ENTRIES_PER_MESSAGE + 1 }, (_, i) => ent(i + 1)), commit: 0 }],
  ['snapshot without metadata', { type: 'MsgSnap', from: A, to: B, term: 5, snapshot: { data: new Uint8Array(0) } }],
  ['missing reject flag', { type: 'MsgAppResp', from: A, to: B, term: 5, index: 1, rejectHint: 0, logTerm: 0 }],
  ['empty proposal', { type: 'MsgProp', from: A, to: B, term: 0, entries: [] }],
  ['not an object', 42],
];

for (const [name, msg] of bad) {
  test(`a malformed message is rejected with a logged reason: ${name}`, () => {
    const net = Net.cluster(3);
    const b = net.get(B);
    const before = b.node.status();
    b.node.step(msg as Message);
    assert.deepEqual(b.node.status(), before);
    assert.equal(b.node.hasReady(), false);
    const warn = b.logger.lines.find((l) => l.msg === 'raft: rejected malformed message');
    assert.ok(warn, 'no warning logged');
    assert.equal(typeof (warn.obj as { reason?: unknown }).reason, 'string');
  });
}

test('a message addressed to another member is ignored', () => {
  const net = Net.cluster(3);
  const b = net.get(B);
  const before = b.node.status();
  b.node.step({ type: 'MsgHeartbeat', from: A, to: C, term: 7, commit: 0, context: new Uint8Array(0) });
  assert.deepEqual(b.node.status(), before);
  assert.equal(b.node.hasReady(), false);
});

test('a well-formed message with the same shape is accepted (the checks can pass)', () => {
  const net = Net.cluster(3);
  const b = net.get(B);
  b.node.step({ type: 'MsgHeartbeat', from: A, to: B, term: 5, commit: 0, context: new Uint8Array(0) });
  assert.equal(b.node.status().term, 5);
  assert.equal(b.node.status().lead, A);
});
