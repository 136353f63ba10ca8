import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Net, ids } from './net.js';

test('smoke: 3 nodes elect a leader and replicate', () => {
  const net = Net.cluster(3);
  const [a, b, c] = ids(3);
  net.campaign(a!);
  assert.deepEqual(net.leaders(), [a]);
  net.propose(a!, 'x');
  net.propose(b!, 'y');
  for (const id of [a!, b!, c!]) assert.deepEqual(net.appliedData(id), ['x', 'y']);
});
