// A linearizable read whose ReadIndex request went to a leader that then stopped answering: the
// member asks again (etcd's readIndexRetryTime) and the new leader serves it. Without the retry
// the read waits out the whole request timeout and fails with "request timed out".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { withCluster } from '../harness/cluster.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

async function post(url: string, body: object): Promise<{ status: number; json: any }> {
  const r = await fetch(url, { method: 'POST', body: JSON.stringify(body), signal: AbortSignal.timeout(30_000) });
  return { status: r.status, json: await r.json() };
}

test('a linearizable read outlives a frozen leader: it is asked again of the new one', async () => {
  await withCluster({ impl: 'tsetcd', size: 3, basePort: 28010 }, async (c) => {
    const leader = await c.waitLeader();
    const f = (leader + 1) % 3;
    const url = c.members[f]!.clientUrl;
    assert.equal((await post(`${url}/v3/kv/put`, { key: b64('rk'), value: b64('1') })).status, 200);
    // Frozen, its sockets stay open: the ReadIndex request sent to it is never answered.
    c.pause(leader);
    try {
      const r = await post(`${url}/v3/kv/range`, { key: b64('rk') });
      assert.equal(r.status, 200, JSON.stringify(r.json));
      assert.equal(Buffer.from(r.json.kvs[0].value, 'base64').toString(), '1');
      assert.notEqual(await c.waitLeader(), leader);
    } finally {
      c.resume(leader);
    }
  });
});
