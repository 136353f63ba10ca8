// A write and a linearizable read sent to a member that has lost its quorum (both other members
// frozen): each waits out etcd's request timeout (5 s + 2 x election timeout) and gets etcd's
// "request timed out", the same on etcd and tsetcd; and the member serves again once the others
// are back.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { implsFromEnv, tsetcdAvailable, withCluster } from '../harness/cluster.js';

const impls = implsFromEnv('COMPAT_IMPL', tsetcdAvailable() ? 'both' : 'etcd');
const BASE_PORT: Record<string, number> = { etcd: 26940, tsetcd: 26950 };
/** The harness's election timeout is etcd's default, 1000 ms: a request timeout of 7 s. */
const REQUEST_TIMEOUT_MS = 7000;
/** How late an answer may come past the request timeout (tsetcd checks once per heartbeat). */
const LATE_MS = 3000;

const b64 = (s: string): string => Buffer.from(s).toString('base64');

async function post(url: string, body: object): Promise<{ status: number; text: string; ms: number }> {
  const t0 = Date.now();
  const r = await fetch(url, { method: 'POST', body: JSON.stringify(body), signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS + 15_000) });
  return { status: r.status, text: await r.text(), ms: Date.now() - t0 };
}

const TIMED_OUT = '{"error":"etcdserver: request timed out","message":"etcdserver: request timed out","code":14}';

describe('no quorum: requests time out with etcd\'s error', () => {
  for (const impl of impls) {
    it(impl, async () => {
      await withCluster({ impl, size: 3, basePort: BASE_PORT[impl]! }, async (c) => {
        const leader = await c.waitLeader();
        const url = c.members[leader]!.clientUrl;
        assert.equal((await post(`${url}/v3/kv/put`, { key: b64('q'), value: b64('1') })).status, 200);
        const others = [1, 2].map((d) => (leader + d) % 3);
        for (const i of others) c.pause(i);
        try {
          const [put, range] = await Promise.all([post(`${url}/v3/kv/put`, { key: b64('q'), value: b64('2') }), post(`${url}/v3/kv/range`, { key: b64('q') })]);
          for (const [what, r] of [['put', put], ['range', range]] as const) {
            assert.equal(r.status, 503, `${what}: ${r.text}`);
            assert.equal(r.text.trim(), TIMED_OUT, what);
            assert.ok(r.ms >= REQUEST_TIMEOUT_MS - 500 && r.ms <= REQUEST_TIMEOUT_MS + LATE_MS, `${what} answered after ${r.ms} ms`);
          }
        } finally {
          for (const i of others) c.resume(i);
        }
        // The write that timed out may still commit (etcd does not take it back); the member
        // serves again either way.
        await c.waitLeader();
        const after = await post(`${c.members[await c.waitLeader()]!.clientUrl}/v3/kv/put`, { key: b64('q'), value: b64('3') });
        assert.equal(after.status, 200, after.text);
      });
    });
  }
});
