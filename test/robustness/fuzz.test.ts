// Bad input at the client door (seeded, bounded): invalid v2 requests aimed at protected keys,
// malformed JSON-gateway bodies, garbage gRPC messages, and raw garbage / truncated requests on
// the client socket. Every invalid request gets an error, the member stays up and keeps
// answering another client throughout, and the protected data (v2 and v3) never changes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { startCluster, tsetcdAvailable, sleep } from '../harness/cluster.js';
import { Prng } from './prng.js';

const skip = !tsetcdAvailable() && 'tsetcd is not built';
const SEED = Number(process.env.ROBUST_FUZZ_SEED ?? 4242);
const N = Number(process.env.ROBUST_FUZZ_COUNT ?? 400);

async function req(url: string, init: RequestInit & { timeoutMs?: number } = {}): Promise<{ status: number; text: string }> {
  try {
    const r = await fetch(url, { ...init, signal: AbortSignal.timeout(init.timeoutMs ?? 5000) });
    return { status: r.status, text: await r.text() };
  } catch (e) {
    return { status: 0, text: String((e as Error).message) };
  }
}

/** A snapshot of the protected data: v2 /keep recursively, v3 keys under keep/ via the gateway. */
async function protectedState(url: string): Promise<string> {
  const v2 = await req(`${url}/v2/keys/keep?recursive=true&sorted=true`);
  const v3 = await req(`${url}/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key: Buffer.from('keep/').toString('base64'), range_end: Buffer.from('keep0').toString('base64') }) });
  const v2n = (JSON.parse(v2.text) as { node?: { nodes?: { key: string; value: string; modifiedIndex: number }[] } }).node?.nodes ?? [];
  const v3n = (JSON.parse(v3.text) as { kvs?: { key: string; value: string; mod_revision: string }[] }).kvs ?? [];
  return JSON.stringify({ v2: v2n.map((n) => [n.key, n.value, n.modifiedIndex]), v3: v3n.map((k) => [k.key, k.value, k.mod_revision]) });
}

/** Definitely-invalid v2 requests against protected keys: each must be refused with an error. */
function badV2(rnd: Prng, base: string): { method: string; url: string; body?: string | Buffer; headers?: Record<string, string> } {
  const key = `${base}/v2/keys/keep/k${rnd.int(5)}`;
  const form = { 'content-type': 'application/x-www-form-urlencoded' };
  const junk = (): string => encodeURIComponent(rnd.bytes(1 + rnd.int(8)).toString('latin1'));
  const cases = [
    () => ({ method: 'PUT', url: `${key}?prevIndex=${rnd.pick(['abc', '-1', '1e3', '0x10', junk()])}`, body: 'value=x', headers: form }),
    () => ({ method: 'PUT', url: `${key}?ttl=${rnd.pick(['abc', '-5', '1.5', junk()])}`, body: 'value=x', headers: form }),
    () => ({ method: 'PUT', url: `${key}?prevExist=${rnd.pick(['maybe', '2', 'yes', junk()])}`, body: 'value=x', headers: form }),
    () => ({ method: 'PUT', url: key, body: `value=x&prevValue=nope-${rnd.int(1e6)}`, headers: form }),
    () => ({ method: 'PUT', url: key, body: `value=x&prevIndex=${1e9 + rnd.int(1e6)}`, headers: form }),
    () => ({ method: 'PUT', url: key, body: 'value=x&prevExist=false', headers: form }),
    () => ({ method: 'DELETE', url: `${base}/v2/keys/keep?dir=true` }),
    () => ({ method: 'DELETE', url: `${key}?prevValue=nope` }),
    () => ({ method: 'DELETE', url: `${key}?prevIndex=${rnd.pick(['x', '99999999'])}` }),
    () => ({ method: 'PUT', url: `${base}/v2/keys/`, body: 'value=x', headers: form }),
    () => ({ method: rnd.pick(['PATCH', 'FOO']), url: key, body: 'value=x', headers: form }),
    () => ({ method: 'GET', url: `${key}?wait=true&waitIndex=${rnd.pick(['x', '-1'])}` }),
    () => ({ method: 'PUT', url: `${key}?prevIndex=0&prevValue=${junk()}`, body: `value=${junk()}&prevValue=${junk()}`, headers: form }),
  ];
  return rnd.pick(cases)();
}

/** Malformed JSON-gateway bodies. */
function badGateway(rnd: Prng, base: string): { url: string; body: string | Buffer } {
  const path = rnd.pick(['/v3/kv/put', '/v3/kv/range', '/v3/kv/txn', '/v3/kv/deleterange', '/v3/lease/grant', '/v3/kv/compaction', '/v3/auth/authenticate']);
  const bodies = [
    () => '{',
    () => '{"key": 5}',
    () => `{"key": "${rnd.bytes(6).toString('latin1')}"}`,
    // etcd's gateway ignores unknown fields, so only wrongly typed known fields are invalid for
    // every route: range_end (bytes) as a number, value (bytes) as an object.
    () => '{"key": "a2VlcC9rMA==", "range_end": 7, "value": {"x": 1}}',
    () => '[]',
    () => 'null',
    () => rnd.bytes(1 + rnd.int(200)),
    () => `{"compare": [{"target": "NOPE", "key": "a2VlcC9rMA=="}], "success": 7}`,
    () => '{"key": "", "value": "eA=="}',
    () => '{"TTL": "abc"}',
    () => JSON.stringify({ key: 'a2VlcC9rMA==', value: Buffer.alloc(2 * 1024 * 1024, 0x62).toString('base64') }),
  ];
  return { url: `${base}${path}`, body: rnd.pick(bodies)() };
}

/** Raw bytes on the client socket: garbage, truncated HTTP/1.1, a bad HTTP/2 preface. */
function rawJunk(rnd: Prng): Buffer {
  const cases = [
    () => rnd.bytes(1 + rnd.int(4096)),
    () => Buffer.from(`PUT /v2/keys/keep/k0 HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nvalue=trunc`),
    () => Buffer.from(`GET /v2/keys/${'a'.repeat(100000)} HTTP/1.1\r\nHost: x\r\n\r\n`),
    () => Buffer.from(`GET / HTTP/1.1\r\n${'X-A: b\r\n'.repeat(5000)}\r\n`),
    () => Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), rnd.bytes(rnd.int(2000))]),
    () => Buffer.from('PRI * HTTP/2.0\r\n\r\nS'),
    () => Buffer.from(`POST /v3/kv/put HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFF\r\n${'z'.repeat(100)}`),
  ];
  return rnd.pick(cases)();
}

function sendRaw(port: number, data: Buffer): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const done = (): void => {
      s.destroy();
      resolve();
    };
    s.setTimeout(1500, done);
    s.on('error', done);
    s.on('close', done);
    s.on('connect', () => s.end(data));
    s.on('data', () => undefined);
  });
}

test('fuzz: invalid v2, gateway, gRPC and raw requests get errors; the member stays up; data unchanged', { skip, timeout: 300_000 }, async () => {
  const c = await startCluster({ impl: 'tsetcd', size: 1, basePort: 31450 });
  const url = c.members[0]!.clientUrl;
  const port = Number(new URL(url).port);
  const rnd = new Prng(SEED);
  const grpcClient = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  let stopProbe = false;
  const probeFailures: string[] = [];
  try {
    for (let i = 0; i < 5; i++) {
      assert.equal((await req(`${url}/v2/keys/keep/k${i}`, { method: 'PUT', body: new URLSearchParams({ value: `v${i}` }) })).status, 201);
      assert.equal((await req(`${url}/v3/kv/put`, { method: 'POST', body: JSON.stringify({ key: Buffer.from(`keep/k${i}`).toString('base64'), value: Buffer.from(`v${i}`).toString('base64') }) })).status, 200);
    }
    const before = await protectedState(url);
    // Another client keeps working throughout.
    const probe = (async () => {
      let n = 0;
      while (!stopProbe) {
        const r = await req(`${url}/v2/keys/probe/p`, { method: 'PUT', body: new URLSearchParams({ value: String(n++) }), timeoutMs: 5000 });
        if (r.status !== 200 && r.status !== 201) probeFailures.push(`${r.status} ${r.text.slice(0, 100)}`);
        await sleep(50);
      }
    })();
    const counts = { v2: 0, gateway: 0, grpc: 0, raw: 0 };
    const accepted: string[] = [];
    let changedBy: string | undefined;
    for (let i = 0; i < N; i++) {
      const kind = rnd.pick(['v2', 'v2', 'gateway', 'grpc', 'raw'] as const);
      counts[kind]++;
      let what: string = kind;
      if (kind === 'v2') {
        const b = badV2(rnd, url);
        const r = await req(b.url, { method: b.method, body: b.body, headers: b.headers });
        if (r.status === 0 || r.status < 400) accepted.push(`v2 ${b.method} ${b.url.slice(0, 120)} -> ${r.status} ${r.text.slice(0, 120)}`);
      } else if (kind === 'gateway') {
        const b = badGateway(rnd, url);
        const r = await req(b.url, { method: 'POST', body: b.body });
        what = `gateway ${b.url} ${String(b.body).slice(0, 100)} -> ${r.status} ${r.text.slice(0, 100)}`;
        // A body that happens to be valid JSON for a read (e.g. range on "") may succeed; a write
        // to a protected key is caught by the final comparison.
        if (r.status === 0) accepted.push(`gateway ${b.url} -> no answer`);
      } else if (kind === 'grpc') {
        const method = rnd.pick(['/etcdserverpb.KV/Put', '/etcdserverpb.KV/Txn', '/etcdserverpb.KV/DeleteRange', '/etcdserverpb.Lease/LeaseGrant', '/etcdserverpb.KV/Range', '/etcdserverpb.Maintenance/Status', '/etcdserverpb.Nope/Nope']);
        const big = rnd.chance(0.1);
        const payload = big ? Buffer.alloc(3 * 1024 * 1024, 0x0a) : rnd.bytes(rnd.int(300));
        const status = await new Promise<number>((resolve) => {
          grpcClient.makeUnaryRequest(method, (b: Buffer) => b, (b: Buffer) => b, payload, { deadline: Date.now() + 5000 }, (err) => resolve(err ? (err.code ?? -1) : 0));
        });
        what = `grpc ${method} ${payload.subarray(0, 64).toString('hex')} -> ${status}`;
        if (status === grpc.status.DEADLINE_EXCEEDED || status === grpc.status.UNAVAILABLE) accepted.push(`grpc ${method} (${payload.length} bytes) -> status ${status}`);
      } else {
        await sendRaw(port, rawJunk(rnd));
      }
      // Which request changed the protected data, if one did: the minimal excerpt.
      if (changedBy === undefined && (await protectedState(url)) !== before) changedBy = `request ${i}: ${what}`;
    }
    stopProbe = true;
    await probe;
    assert.ok(c.isRunning(0), 'the member died');
    assert.deepEqual(accepted, [], 'requests that were not refused with an error (or got no answer)');
    assert.deepEqual(probeFailures, [], 'another client was refused while the fuzz ran');
    // The protected keys: v2 /keep and v3 keep/ are exactly as before.
    const after = await protectedState(url);
    assert.equal(after, before, `protected data changed, first by ${changedBy}`);
    const health = await req(`${url}/health`);
    assert.equal(health.status, 200);
    console.log(`fuzz seed ${SEED}: ${N} requests (${JSON.stringify(counts)}), member up, protected data unchanged`);
  } finally {
    stopProbe = true;
    grpcClient.close();
    await c.destroy();
  }
});
