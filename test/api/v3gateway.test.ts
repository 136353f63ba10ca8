// The JSON gateway against bodies captured from real etcd 3.4.23 (one member, fresh data dir,
// the same request sequence; the fake backend uses that member's cluster and member ids).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import Fastify, { type FastifyInstance } from 'fastify';
import { registerGateway } from '../../src/api/v3/gateway.js';
import { FakeBackend } from './v3-fake-backend.js';

let app: FastifyInstance;
let backend: FakeBackend;
const H = (rev: number) => `{"cluster_id":"13293900831049582161","member_id":"6544555743592146608","revision":"${rev}","raft_term":"2"}`;

before(async () => {
  backend = new FakeBackend();
  app = Fastify();
  registerGateway(app, backend, { maxRequestBytes: 1536 * 1024, maxTxnOps: 128 });
  await app.listen({ port: 0, host: '127.0.0.1' });
});
after(() => app.close());

async function post(url: string, body: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  // curl -d sends application/x-www-form-urlencoded; the gateway must read it as JSON anyway.
  const r = await app.inject({ method: 'POST', url, payload: body, headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers } });
  return { status: r.statusCode, body: r.body };
}

test('KV routes answer etcd\'s JSON byte for byte', async () => {
  // curl -s $E/v3/kv/put -d '{"key":"Zm9v","value":"YmFy"}'
  assert.equal((await post('/v3/kv/put', '{"key":"Zm9v","value":"YmFy"}')).body, `{"header":${H(2)}}`);
  // curl -s $E/v3/kv/range -d '{"key":"Zm9v"}'
  assert.equal((await post('/v3/kv/range', '{"key":"Zm9v"}')).body,
    `{"header":${H(2)},"kvs":[{"key":"Zm9v","create_revision":"2","mod_revision":"2","version":"1","value":"YmFy"}],"count":"1"}`);
  // missing key: header only
  assert.equal((await post('/v3/kv/range', '{"key":"eA=="}')).body, `{"header":${H(2)}}`);
  assert.equal((await post('/v3/kv/put', '{"key":"Zm9v","value":"YmF6","prev_kv":true}')).body,
    `{"header":${H(3)},"prev_kv":{"key":"Zm9v","create_revision":"2","mod_revision":"2","version":"1","value":"YmFy"}}`);
  assert.equal((await post('/v3/kv/txn', '{"compare":[{"key":"Zm9v","result":"EQUAL","target":"VALUE","value":"YmF6"}],"success":[{"request_range":{"key":"Zm9v"}},{"request_put":{"key":"YQ==","value":"Yg=="}},{"request_delete_range":{"key":"eA=="}}]}')).body,
    `{"header":${H(4)},"succeeded":true,"responses":[{"response_range":{"header":{"revision":"3"},"kvs":[{"key":"Zm9v","create_revision":"2","mod_revision":"3","version":"2","value":"YmF6"}],"count":"1"}},{"response_put":{"header":{"revision":"4"}}},{"response_delete_range":{"header":{"revision":"4"}}}]}`);
  assert.equal((await post('/v3/kv/txn', '{"compare":[{"key":"Zm9v","result":"EQUAL","target":"VALUE","value":"YmF6"}],"success":[{"request_txn":{}}]}')).body,
    `{"header":${H(4)},"succeeded":true,"responses":[{"response_txn":{"header":{},"succeeded":true}}]}`);
  assert.deepEqual(await post('/v3/kv/range', '{"key":"Zm9v","revision":100}'), {
    status: 400, body: '{"error":"etcdserver: mvcc: required revision is a future revision","message":"etcdserver: mvcc: required revision is a future revision","code":11}',
  });
  assert.deepEqual(await post('/v3/kv/put', '{"value":"YmF6"}'), {
    status: 400, body: '{"error":"etcdserver: key is not provided","message":"etcdserver: key is not provided","code":3}',
  });
  assert.equal((await post('/v3/kv/deleterange', '{"key":"YQ==","prev_kv":true}')).body,
    `{"header":${H(5)},"deleted":"1","prev_kvs":[{"key":"YQ==","create_revision":"4","mod_revision":"4","version":"1","value":"Yg=="}]}`);
  assert.equal((await post('/v3/kv/compaction', '{"revision":2}')).body, `{"header":${H(5)}}`);
  // lowerCamel input names, keys_only, the /v3beta alias
  assert.equal((await post('/v3beta/kv/range', '{"key":"Zm9v","rangeEnd":"Zm9w","keysOnly":true}')).body,
    `{"header":${H(5)},"kvs":[{"key":"Zm9v","create_revision":"2","mod_revision":"3","version":"2"}],"count":"1"}`);
  assert.equal((await post('/v3/kv/range', '{"key":"Zm9v","count_only":true}')).body, `{"header":${H(5)},"count":"1"}`);
  // an empty body is an empty request
  assert.equal((await post('/v3/kv/range', '')).status, 400);
  assert.equal((await post('/v3/kv/range', 'notjson')).status, 400);
});

test('lease routes, with the /v3/kv/lease aliases and etcd\'s 404 for an unknown lease', async () => {
  assert.equal((await post('/v3/lease/grant', '{"TTL":30,"ID":"7587870435577620000"}')).body, `{"header":${H(5)},"ID":"7587870435577620000","TTL":"30"}`);
  assert.equal((await post('/v3/lease/timetolive', '{"ID":"7587870435577620000","keys":true}')).body, `{"header":${H(5)},"ID":"7587870435577620000","TTL":"29","grantedTTL":"30"}`);
  assert.equal((await post('/v3/kv/lease/leases', '{}')).body, `{"header":${H(5)},"leases":[{"ID":"7587870435577620000"}]}`);
  assert.equal((await post('/v3/lease/revoke', '{"ID":"7587870435577620000"}')).body, `{"header":${H(5)}}`);
  assert.deepEqual(await post('/v3/kv/lease/revoke', '{"ID":"7587870435577620000"}'), {
    status: 404, body: '{"error":"etcdserver: requested lease not found","message":"etcdserver: requested lease not found","code":5}',
  });
});

test('cluster, maintenance and auth routes', async () => {
  assert.equal((await post('/v3/cluster/member/list', '{}')).body,
    '{"header":{"cluster_id":"13293900831049582161","member_id":"6544555743592146608","raft_term":"2"},"members":[{"ID":"6544555743592146608","name":"e1","peerURLs":["http://127.0.0.1:26201"],"clientURLs":["http://127.0.0.1:26200"]}]}');
  assert.equal((await post('/v3/maintenance/status', '{}')).body,
    `{"header":${H(5)},"version":"3.4.23","dbSize":"20480","leader":"6544555743592146608","raftIndex":"13","raftTerm":"2","raftAppliedIndex":"13","dbSizeInUse":"16384"}`);
  assert.equal((await post('/v3/maintenance/hash', '{}')).body, `{"header":${H(5)},"hash":2971411877}`);
  assert.equal((await post('/v3/maintenance/alarm', '{}')).body, '{}');
  assert.equal((await post('/v3/auth/user/list', '{}')).body, `{"header":${H(5)},"users":["root"]}`);
  assert.equal((await post('/v3/auth/enable', '{}')).status, 412);
  // curl -H 'Authorization: abc' $E/v3/kv/range
  assert.deepEqual(await post('/v3/kv/range', '{"key":"Zm9v"}', { authorization: 'abc' }), {
    status: 401, body: '{"error":"etcdserver: invalid auth token","message":"etcdserver: invalid auth token","code":16}',
  });
  const tok = JSON.parse((await post('/v3/auth/authenticate', '{"name":"root","password":"pw"}')).body).token;
  assert.equal((await post('/v3/kv/range', '{"key":"Zm9v"}', { authorization: tok })).status, 200);
  assert.equal(backend.lastAuth?.username, 'root');
  assert.equal((await post('/v3/auth/role/get', '{"role":"r"}')).body, `{"header":${H(5)},"perm":[{"permType":"READWRITE","key":"YQ==","range_end":"Yg=="}]}`);
});

function streamLines(path: string, body: string, n: number): Promise<string[]> {
  const { port } = app.server.address() as { port: number };
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: 'POST' }, (res) => {
      let buf = '';
      const t = setTimeout(() => { req.destroy(); reject(new Error(`only got: ${buf}`)); }, 3000);
      res.on('data', (d) => {
        buf += d;
        const lines = buf.split('\n').filter((l) => l !== '');
        if (lines.length >= n) { clearTimeout(t); req.destroy(); resolve(lines.slice(0, n)); }
      });
    });
    req.on('error', () => undefined);
    req.end(body);
  });
}

test('/v3/watch streams {"result":...} lines as etcd does', async () => {
  // Captured: a watch from a compacted revision, then a progress request on its own stream.
  const lines = await streamLines('/v3/watch', '{"create_request":{"key":"Zm9v","start_revision":1}}', 2);
  assert.equal(lines[0], `{"result":{"header":${H(5)},"created":true}}`);
  assert.equal(lines[1], '{"result":{"header":{"cluster_id":"13293900831049582161","member_id":"6544555743592146608","raft_term":"2"},"canceled":true,"compact_revision":"2"}}');
  const prog = await streamLines('/v3/watch', '{"progress_request":{}}', 1);
  assert.equal(prog[0], `{"result":{"header":${H(5)},"watch_id":"-1"}}`);
  const live = streamLines('/v3/watch', '{"create_request":{"key":"Zm9v","prev_kv":true}}', 2);
  await new Promise((r) => setTimeout(r, 100));
  await post('/v3/kv/put', '{"key":"Zm9v","value":"cXV4"}');
  const got = await live;
  assert.equal(got[1], `{"result":{"header":${H(6)},"events":[{"kv":{"key":"Zm9v","create_revision":"2","mod_revision":"6","version":"3","value":"cXV4"},"prev_kv":{"key":"Zm9v","create_revision":"2","mod_revision":"3","version":"2","value":"YmF6"}}]}}`);
  const ka = await streamLines('/v3/lease/keepalive', '{"ID":"1"}', 1);
  assert.equal(ka[0], `{"result":{"header":${H(6)},"ID":"1"}}`);
});
