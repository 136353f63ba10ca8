// The gRPC series of /metrics on a live one-member cluster, tsetcd next to real etcd 3.4: the
// same etcdctl calls (a put, a get, a put etcd refuses, a watch the client walks away from) must
// move grpc_server_started/handled/msg_received/msg_sent_total and
// etcd_network_client_grpc_received_bytes_total the same way on both. Response sizes differ by a
// few bytes (random member and cluster ids in every header), so the sent-bytes counter is checked
// against a response the test reads itself.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { startCluster, type Cluster, type Impl } from '../harness/cluster.js';
import { etcdctl, etcdctlBackground } from '../harness/etcdctl.js';
import { type as pbType } from '../../src/api/v3/proto.js';

const BASE: Record<Impl, number> = { tsetcd: 30240, etcd: 30260 };

async function scrape(c: Cluster): Promise<Map<string, number>> {
  const text = await (await fetch(`${c.members[0]!.clientUrl}/metrics`)).text();
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^((?:grpc_server_(?:started|handled|msg_received|msg_sent)_total|etcd_network_client_grpc_(?:received|sent)_bytes_total)(?:\{[^}]*\})?) (\S+)$/.exec(line);
    if (m && Number(m[2]) !== 0) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

/** The non-zero series after the etcdctl calls, and the sent-bytes check. */
async function run(impl: Impl): Promise<{ series: Map<string, number>; sentDelta: number; responseBytes: number }> {
  const c = await startCluster({ impl, size: 1, basePort: BASE[impl], enableV2: false });
  try {
    const ep = { api: 3 as const, endpoints: [c.members[0]!.clientUrl.replace('http://', '')] };
    assert.equal((await etcdctl(['put', 'foo', 'bar'], ep)).code, 0);
    assert.equal((await etcdctl(['get', 'foo'], ep)).stdout, 'foo\nbar\n');
    const bad = await etcdctl(['put', '', 'x'], ep);
    assert.match(bad.stderr, /key is not provided/);
    const w = etcdctlBackground(['watch', 'foo', '--rev=1'], ep);
    await w.waitFor(/bar\n/, 10000);
    w.child.kill('SIGKILL');
    await w.closed;
    // The server sees the watch stream go away; give it a moment to count it.
    let series = await scrape(c);
    for (let i = 0; i < 50 && ![...series.keys()].some((k) => k.includes('grpc_method="Watch"') && k.startsWith('grpc_server_handled_total')); i++) {
      await new Promise((r) => setTimeout(r, 100));
      series = await scrape(c);
    }
    // One Range through a raw client: the sent-bytes counter grows by its response's size.
    const before = (await scrape(c)).get('etcd_network_client_grpc_sent_bytes_total') ?? 0;
    const client = new grpc.Client(ep.endpoints[0]!, grpc.credentials.createInsecure());
    const res = await new Promise<Buffer>((resolve, reject) => {
      const req = Buffer.from(pbType('etcdserverpb.RangeRequest').encode({ key: Buffer.from('foo') }).finish());
      client.makeUnaryRequest('/etcdserverpb.KV/Range', (b: Buffer) => b, (b: Buffer) => b, req, (err, r) => (err ? reject(err) : resolve(r!)));
    });
    client.close();
    const afterSent = (await scrape(c)).get('etcd_network_client_grpc_sent_bytes_total') ?? 0;
    return { series, sentDelta: afterSent - before, responseBytes: res.length };
  } finally {
    await c.destroy();
  }
}

describe('gRPC metrics on a live member, tsetcd against etcd 3.4', () => {
  const results = new Map<Impl, Awaited<ReturnType<typeof run>>>();
  after(() => results.clear());

  it('etcdctl put/get/bad put/abandoned watch move the grpc_server_* series and received bytes as on etcd', async () => {
    for (const impl of ['etcd', 'tsetcd'] as const) results.set(impl, await run(impl));
    const strip = (m: Map<string, number>): Record<string, number> =>
      Object.fromEntries([...m].filter(([k]) => !k.startsWith('etcd_network_client_grpc_sent_bytes_total')).sort());
    const etcd = strip(results.get('etcd')!.series);
    assert.equal(etcd['grpc_server_handled_total{grpc_code="InvalidArgument",grpc_method="Put",grpc_service="etcdserverpb.KV",grpc_type="unary"}'], 1,
      'etcd counts the refused put (the check itself is sound)');
    assert.deepEqual(strip(results.get('tsetcd')!.series), etcd);
  });

  it('etcd_network_client_grpc_sent_bytes_total grows by the size of the response message', () => {
    for (const impl of ['etcd', 'tsetcd'] as const) {
      const r = results.get(impl)!;
      assert.ok(r.responseBytes > 0);
      assert.equal(r.sentDelta, r.responseBytes, impl);
    }
  });
});
