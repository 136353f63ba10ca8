// /v2/keys over fastify with an in-test backend (real V2Store, synchronous writes).
// Bodies marked "etcd 3.4.23" were captured from a real etcd 3.4.23 --enable-v2 on loopback
// (indexes normalised to this test's store).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { startApp, type FakeBackend } from './v2fake.js';
import { request, requestLines } from '../harness/http.js';

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

let app: FastifyInstance;
let backend: FakeBackend;
let url: string;

before(async () => {
  ({ app, backend, url } = await startApp());
});
after(async () => {
  await app.close();
});

async function put(path: string, body: string, method = 'PUT'): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  const r = await app.inject({ method: method as 'PUT', url: path, headers: FORM, payload: body });
  return { status: r.statusCode, headers: r.headers, body: r.body };
}

describe('v2 keys: writes and reads', () => {
  it('PUT a new key answers 201 set with all headers (etcd 3.4.23)', async () => {
    const r = await put('/v2/keys/foo', 'value=bar');
    assert.equal(r.status, 201);
    assert.equal(r.headers['content-type'], 'application/json');
    assert.equal(r.headers['x-etcd-cluster-id'], '31f33c6577b4c440');
    assert.equal(r.headers['x-etcd-index'], '1');
    assert.equal(r.headers['x-raft-index'], String(backend.raft));
    assert.equal(r.headers['x-raft-term'], '2');
    assert.equal(r.headers['access-control-allow-origin'], '*');
    assert.equal(r.body, '{"action":"set","node":{"key":"/foo","value":"bar","modifiedIndex":1,"createdIndex":1}}\n');
  });

  it('PUT again answers 200 with prevNode (etcd 3.4.23)', async () => {
    const r = await put('/v2/keys/foo', 'value=bar2');
    assert.equal(r.status, 200);
    assert.equal(
      r.body,
      '{"action":"set","node":{"key":"/foo","value":"bar2","modifiedIndex":2,"createdIndex":2},"prevNode":{"key":"/foo","value":"bar","modifiedIndex":1,"createdIndex":1}}\n',
    );
  });

  it('GET returns the node; HEAD the same headers without a body', async () => {
    const g = await app.inject({ method: 'GET', url: '/v2/keys/foo' });
    assert.equal(g.statusCode, 200);
    assert.equal(g.body, '{"action":"get","node":{"key":"/foo","value":"bar2","modifiedIndex":2,"createdIndex":2}}\n');
    const h = await app.inject({ method: 'HEAD', url: '/v2/keys/foo' });
    assert.equal(h.statusCode, 200);
    assert.equal(h.body, '');
    assert.equal(h.headers['x-etcd-index'], '2');
    assert.equal(h.headers['content-type'], 'application/json');
  });

  it('HEAD of a missing key answers 404 with no body', async () => {
    const h = await app.inject({ method: 'HEAD', url: '/v2/keys/nope' });
    assert.equal(h.statusCode, 404);
    assert.equal(h.body, '');
  });

  it('the form body wins over the query string; without a form content type only the query counts', async () => {
    const r = await put('/v2/keys/foo?value=q', 'value=body');
    assert.equal(JSON.parse(r.body).node.value, 'body');
    const r2 = await app.inject({ method: 'PUT', url: '/v2/keys/foo?value=q', headers: { 'content-type': 'text/plain' }, payload: 'value=body' });
    assert.equal(r2.statusCode, 200);
    assert.equal(JSON.parse(r2.body).node.value, 'q');
  });

  it('decodes + and %XX, takes the first of repeated values', async () => {
    const r = await put('/v2/keys/foo', 'value=a+b%20c%C3%A9&value=second');
    assert.equal(JSON.parse(r.body).node.value, 'a b cé');
  });

  it('a form content type with charset and capitals still counts', async () => {
    const r = await app.inject({ method: 'PUT', url: '/v2/keys/foo', headers: { 'content-type': 'Application/X-WWW-Form-Urlencoded; charset=utf-8' }, payload: 'value=cs' });
    assert.equal(JSON.parse(r.body).node.value, 'cs');
  });

  it('PUT without value sets an empty value (etcd 3.4.23)', async () => {
    const r = await app.inject({ method: 'PUT', url: '/v2/keys/x' });
    assert.equal(r.statusCode, 201);
    assert.match(r.body, /^\{"action":"set","node":\{"key":"\/x","value":"","modifiedIndex":\d+,"createdIndex":\d+\}\}\n$/);
  });

  it('ttl sets expiration computed at this member (nowMs + ttl*1000) and ttl', async () => {
    const r = await put('/v2/keys/t?ttl=5', 'value=x');
    assert.equal(r.status, 201);
    assert.equal(backend.lastWrite?.expirationMs, backend.clock + 5000);
    const n = JSON.parse(r.body).node;
    assert.equal(n.ttl, 5);
    assert.equal(n.expiration, new Date(backend.clock + 5000).toISOString().replace('.000Z', 'Z'));
  });

  it('ttl= (empty) means no TTL; prevExist=true update drops the TTL', async () => {
    const r = await put('/v2/keys/t?prevExist=true&ttl=', 'value=y');
    assert.equal(r.status, 200);
    const ev = JSON.parse(r.body);
    assert.equal(ev.action, 'update');
    assert.equal(ev.node.ttl, undefined);
    assert.equal(ev.prevNode.ttl, 5);
  });

  it('refresh=true with a ttl updates without a value', async () => {
    await put('/v2/keys/rf?ttl=10', 'value=keep');
    const r = await put('/v2/keys/rf?refresh=true&ttl=20&prevExist=true', '');
    assert.equal(r.status, 200);
    const ev = JSON.parse(r.body);
    assert.equal(ev.action, 'update');
    assert.equal(ev.node.value, 'keep');
    assert.equal(ev.node.ttl, 20);
    assert.equal(backend.lastWrite?.refresh, true);
  });

  it('prevExist=false creates (201 create) then fails 105', async () => {
    const r = await put('/v2/keys/c?prevExist=false', 'value=1');
    assert.equal(r.status, 201);
    assert.equal(JSON.parse(r.body).action, 'create');
    const r2 = await put('/v2/keys/c?prevExist=false', 'value=1');
    assert.equal(r2.status, 412);
    assert.equal(JSON.parse(r2.body).errorCode, 105);
  });

  it('prevValue / prevIndex compare-and-swap, 101 with both values in the cause (etcd 3.4.23)', async () => {
    await put('/v2/keys/cas', 'value=bar2');
    const idx = backend.store.index();
    const bad = await put('/v2/keys/cas', 'value=1&prevValue=zz');
    assert.equal(bad.status, 412);
    assert.equal(bad.headers['x-etcd-index'], String(idx));
    assert.equal(bad.body, `{"errorCode":101,"message":"Compare failed","cause":"[zz != bar2]","index":${idx}}\n`);
    const bad2 = await put('/v2/keys/cas', 'value=1&prevIndex=1');
    assert.equal(bad2.body, `{"errorCode":101,"message":"Compare failed","cause":"[1 != ${idx}]","index":${idx}}\n`);
    const ok = await put('/v2/keys/cas', 'value=new&prevValue=bar2');
    assert.equal(ok.status, 200);
    assert.equal(JSON.parse(ok.body).action, 'compareAndSwap');
  });

  it('noValueOnSuccess=true drops node and prevNode (etcd 3.4.23)', async () => {
    const r = await put('/v2/keys/foo', 'value=1&noValueOnSuccess=true');
    assert.equal(r.status, 200);
    assert.equal(r.body, '{"action":"set"}\n');
  });

  it('POST creates an in-order key (etcd 3.4.23 shape)', async () => {
    const r = await put('/v2/keys/dq', 'value=a', 'POST');
    assert.equal(r.status, 201);
    const i = backend.store.index();
    assert.equal(r.body, `{"action":"create","node":{"key":"/dq/${String(i).padStart(20, '0')}","value":"a","modifiedIndex":${i},"createdIndex":${i}}}\n`);
  });

  it('dir=true creates a directory; GET lists one level; sorted and recursive', async () => {
    await put('/v2/keys/d/b', 'value=2');
    await put('/v2/keys/d/a', 'value=1');
    await put('/v2/keys/d/s/deep', 'value=3');
    const g = await app.inject({ method: 'GET', url: '/v2/keys/d?sorted=true' });
    const ev = JSON.parse(g.body);
    assert.deepEqual(ev.node.nodes.map((n: { key: string }) => n.key), ['/d/a', '/d/b', '/d/s']);
    assert.equal(ev.node.nodes[2].nodes, undefined);
    const rec = JSON.parse((await app.inject({ method: 'GET', url: '/v2/keys/d?recursive=true&sorted=true' })).body);
    assert.equal(rec.node.nodes[2].nodes[0].key, '/d/s/deep');
    const mk = await put('/v2/keys/newdir?dir=true', '');
    assert.equal(mk.status, 201);
    assert.equal(JSON.parse(mk.body).node.dir, true);
  });

  it('DELETE a key, a dir needs dir/recursive (102), compareAndDelete', async () => {
    const notFile = await app.inject({ method: 'DELETE', url: '/v2/keys/d' });
    assert.equal(notFile.statusCode, 403);
    assert.equal(JSON.parse(notFile.body).errorCode, 102);
    const notEmpty = await app.inject({ method: 'DELETE', url: '/v2/keys/d?dir=true' });
    assert.equal(notEmpty.statusCode, 403);
    assert.equal(JSON.parse(notEmpty.body).errorCode, 108);
    const rec = await app.inject({ method: 'DELETE', url: '/v2/keys/d?recursive=true' });
    assert.equal(rec.statusCode, 200);
    assert.equal(JSON.parse(rec.body).action, 'delete');
    await put('/v2/keys/cad', 'value=v');
    const cad = await app.inject({ method: 'DELETE', url: '/v2/keys/cad?prevValue=v' });
    assert.equal(JSON.parse(cad.body).action, 'compareAndDelete');
  });

  it('DELETE ignores a form body, as Go only parses POST/PUT/PATCH bodies', async () => {
    await put('/v2/keys/delbody', 'value=v');
    const r = await app.inject({ method: 'DELETE', url: '/v2/keys/delbody', headers: FORM, payload: 'prevValue=zzz' });
    assert.equal(r.statusCode, 200);
    assert.equal(JSON.parse(r.body).action, 'delete');
  });

  it('GET /v2/keys and /v2/keys/ read the root', async () => {
    for (const p of ['/v2/keys', '/v2/keys/']) {
      const r = await app.inject({ method: 'GET', url: p });
      assert.equal(r.statusCode, 200);
      assert.match(r.body, /^\{"action":"get","node":\{"dir":true,"nodes":\[/);
    }
  });

  it('quorum=true GET goes through raft as QGET', async () => {
    const r = await app.inject({ method: 'GET', url: '/v2/keys/foo?quorum=true' });
    assert.equal(r.statusCode, 200);
    assert.equal(backend.lastWrite?.method, 'QGET');
    assert.equal(JSON.parse(r.body).action, 'get');
  });

  it('a write that times out answers 300 with the error text as cause', async () => {
    backend.failWrites = new Error('etcdserver: request timed out');
    try {
      const r = await put('/v2/keys/foo', 'value=z');
      assert.equal(r.status, 500);
      assert.equal(r.headers['x-etcd-index'], '0');
      assert.equal(r.body, '{"errorCode":300,"message":"Raft Internal Error","cause":"etcdserver: request timed out","index":0}\n');
    } finally {
      backend.failWrites = undefined;
    }
  });

  it('unclean paths are redirected 301 with the query kept (etcd 3.4.23)', async () => {
    const r = await app.inject({ method: 'GET', url: '/v2/keys//a/../b?x=1' });
    assert.equal(r.statusCode, 301);
    assert.equal(r.headers.location, '/v2/keys/b?x=1');
    assert.equal(r.body, '<a href="/v2/keys/b?x=1">Moved Permanently</a>.\n\n');
    const p = await app.inject({ method: 'PUT', url: '/v2/keys//a' });
    assert.equal(p.statusCode, 301);
    assert.equal(p.body, '');
  });

  it('405 with Allow for other methods (etcd 3.4.23)', async () => {
    const r = await app.inject({ method: 'PATCH', url: '/v2/keys/foo' });
    assert.equal(r.statusCode, 405);
    assert.equal(r.headers.allow, 'HEAD,GET,PUT,POST,DELETE');
    assert.equal(r.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(r.headers['x-etcd-cluster-id'], undefined);
    assert.equal(r.body, 'Method Not Allowed\n');
  });
});

// Each: [method, url, form body, status, exact body] — the request errors were captured from etcd 3.4.23.
const ERRORS: Array<[string, string, string, number, string]> = [
  ['PUT', '/v2/keys/foo?wait=true', 'value=x', 400, '{"errorCode":209,"message":"Invalid field","cause":"\\"wait\\" can only be used with GET requests","index":0}'],
  ['DELETE', '/v2/keys/foo?wait=true', '', 400, '{"errorCode":209,"message":"Invalid field","cause":"\\"wait\\" can only be used with GET requests","index":0}'],
  ['PUT', '/v2/keys/foo', 'ttl=abc&value=x', 400, '{"errorCode":202,"message":"The given TTL in POST form is not a number","cause":"invalid value for \\"ttl\\"","index":0}'],
  ['PUT', '/v2/keys/foo?ttl=-1', 'value=x', 400, '{"errorCode":202,"message":"The given TTL in POST form is not a number","cause":"invalid value for \\"ttl\\"","index":0}'],
  ['PUT', '/v2/keys/foo', 'prevIndex=abc&value=x', 400, '{"errorCode":203,"message":"The given index in POST form is not a number","cause":"invalid value for \\"prevIndex\\"","index":0}'],
  ['DELETE', '/v2/keys/foo?prevIndex=-1', '', 400, '{"errorCode":203,"message":"The given index in POST form is not a number","cause":"invalid value for \\"prevIndex\\"","index":0}'],
  ['DELETE', '/v2/keys/foo?prevIndex=+1', '', 400, '{"errorCode":203,"message":"The given index in POST form is not a number","cause":"invalid value for \\"prevIndex\\"","index":0}'],
  ['GET', '/v2/keys/foo?waitIndex=x&wait=true', '', 400, '{"errorCode":203,"message":"The given index in POST form is not a number","cause":"invalid value for \\"waitIndex\\"","index":0}'],
  ['PUT', '/v2/keys/foo', 'prevValue=&value=x', 400, '{"errorCode":201,"message":"PrevValue is Required in POST form","cause":"\\"prevValue\\" cannot be empty","index":0}'],
  ['PUT', '/v2/keys/foo', 'refresh=true&value=x&ttl=5', 400, '{"errorCode":211,"message":"Value provided on refresh","cause":"A value was provided on a refresh","index":0}'],
  ['PUT', '/v2/keys/foo', 'refresh=true', 400, '{"errorCode":212,"message":"A TTL must be provided on refresh","cause":"No TTL value set","index":0}'],
  ['PUT', '/v2/keys/foo', 'ttl=&refresh=true', 400, '{"errorCode":212,"message":"A TTL must be provided on refresh","cause":"No TTL value set","index":0}'],
  ['PUT', '/v2/keys/foo', 'refresh=xx&value=a&ttl=3', 400, '{"errorCode":209,"message":"Invalid field","cause":"invalid value for refresh","index":0}'],
  ['PUT', '/v2/keys/foo', 'recursive=maybe', 400, '{"errorCode":209,"message":"Invalid field","cause":"invalid value for \\"recursive\\"","index":0}'],
  ['PUT', '/v2/keys/foo?prevExist=x', 'value=1', 400, '{"errorCode":209,"message":"Invalid field","cause":"invalid value for prevExist","index":0}'],
  ['PUT', '/v2/keys/foo?dir=x', 'value=1', 400, '{"errorCode":209,"message":"Invalid field","cause":"invalid value for \\"dir\\"","index":0}'],
  ['GET', '/v2/keys/foo?stream=x&wait=true', '', 400, '{"errorCode":209,"message":"Invalid field","cause":"invalid value for \\"stream\\"","index":0}'],
  ['GET', '/v2/keys/foo?sorted=x', '', 400, '{"errorCode":209,"message":"Invalid field","cause":"invalid value for \\"sorted\\"","index":0}'],
  ['GET', '/v2/keys/foo?quorum=x', '', 400, '{"errorCode":209,"message":"Invalid field","cause":"invalid value for \\"quorum\\"","index":0}'],
  ['GET', '/v2/keys/foo?wait=xx', '', 400, '{"errorCode":209,"message":"Invalid field","cause":"invalid value for \\"wait\\"","index":0}'],
  ['PUT', '/v2/keys/foo?noValueOnSuccess=x', 'value=1', 400, '{"errorCode":209,"message":"Invalid field","cause":"invalid value for \\"noValueOnSuccess\\"","index":0}'],
  ['PUT', '/v2/keys/foo', 'value=%zz', 400, '{"errorCode":210,"message":"Invalid POST form","cause":"invalid URL escape \\"%zz\\"","index":0}'],
  ['PUT', '/v2/keys/foo?value=%zz', '', 400, '{"errorCode":210,"message":"Invalid POST form","cause":"invalid URL escape \\"%zz\\"","index":0}'],
  ['PUT', '/v2/keys/foo?value=a;b=c', '', 400, '{"errorCode":210,"message":"Invalid POST form","cause":"invalid semicolon separator in query","index":0}'],
  // The store's errors carry the current index (normalised with IDX).
  ['PUT', '/v2/keys/', 'value=1', 400, '{"errorCode":107,"message":"Root is read only","cause":"/","index":IDX}'],
  ['GET', '/v2/keys/nope', '', 404, '{"errorCode":100,"message":"Key not found","cause":"/nope","index":IDX}'],
  ['POST', '/v2/keys/foo', '', 400, '{"errorCode":104,"message":"Not a directory","cause":"/foo","index":IDX}'],
  ['PUT', '/v2/keys/foo/x', 'value=1', 400, '{"errorCode":104,"message":"Not a directory","cause":"/foo","index":IDX}'],
  ['PUT', '/v2/keys/nodir', 'prevValue=a&value=b', 403, '{"errorCode":102,"message":"Not a file","cause":"/nodir","index":IDX}'],
  ['PUT', '/v2/keys/missing?prevExist=true', 'value=b', 404, '{"errorCode":100,"message":"Key not found","cause":"/missing","index":IDX}'],
  ['GET', '/v2/keys/foo?wait=true&waitIndex=1', '', 400, 'OUTDATED'],
];

describe('v2 keys: errors', () => {
  before(async () => {
    await put('/v2/keys/foo', 'value=bar2');
    await put('/v2/keys/nodir?dir=true', '');
  });
  for (const [method, u, body, status, expected] of ERRORS) {
    it(`${method} ${u} ${body} -> ${status}`, async () => {
      if (expected === 'OUTDATED') {
        // Push the event at index 1 out of the 1000-event history first.
        for (let i = 0; i < 1001; i++) backend.store.apply({ method: 'PUT', path: '/churn', val: String(i) });
      }
      const idx = backend.store.index();
      const r = await app.inject({ method: method as 'GET', url: u, headers: body === '' ? {} : FORM, ...(body === '' ? {} : { payload: body }) });
      assert.equal(r.statusCode, status);
      assert.equal(r.headers['content-type'], 'application/json');
      assert.equal(r.headers['x-etcd-cluster-id'], '31f33c6577b4c440');
      if (expected === 'OUTDATED') {
        const e = JSON.parse(r.body);
        assert.equal(e.errorCode, 401);
        assert.equal(e.message, 'The event in requested index is outdated and cleared');
        assert.match(e.cause, /^the requested history has been cleared \[\d+\/1\]$/);
        return;
      }
      const want = expected.replace('IDX', String(idx));
      assert.equal(r.body, want + '\n');
      assert.equal(r.headers['x-etcd-index'], String(JSON.parse(want).index));
      assert.equal(r.headers['x-raft-index'], undefined);
    });
  }

  it('a form body over 10 MiB answers 210 "http: POST too large" and closes (etcd 3.4.23)', async () => {
    const big = 'value=' + 'a'.repeat(10 * 1024 * 1024 + 1);
    const r = await request({ method: 'PUT', url: `${url}/v2/keys/big`, headers: FORM, body: big, timeoutMs: 10000 });
    assert.equal(r.status, 400);
    assert.equal(r.headers.connection, 'close');
    assert.equal(r.body, '{"errorCode":210,"message":"Invalid POST form","cause":"http: POST too large","index":0}\n');
  });

  it('a 2 MB value is accepted (etcd takes it too)', async () => {
    const r = await request({ method: 'PUT', url: `${url}/v2/keys/big`, headers: FORM, body: 'value=' + 'a'.repeat(2_000_000), timeoutMs: 10000 });
    assert.equal(r.status, 201);
  });
});

describe('v2 keys: watch', () => {
  it('long poll flushes 200 headers at once, then one event', async () => {
    const s = requestLines(`${url}/v2/keys/w?wait=true`, 1, 5000);
    const head = await s.ready;
    assert.equal(head.status, 200);
    assert.equal(head.headers['x-etcd-index'], String(backend.store.index()));
    assert.equal(head.headers['transfer-encoding'], 'chunked');
    await put('/v2/keys/w', 'value=1');
    const done = await s.done;
    const ev = JSON.parse(done.lines[0]!);
    assert.equal(ev.action, 'set');
    assert.equal(ev.node.value, '1');
  });

  it('stream=true writes one JSON line per event and skips refreshes', async () => {
    const s = requestLines(`${url}/v2/keys/w?wait=true&stream=true`, 2, 5000);
    await s.ready;
    await put('/v2/keys/w', 'value=2&ttl=100');
    await put('/v2/keys/w?refresh=true&ttl=200&prevExist=true', '');
    await put('/v2/keys/w', 'value=3');
    const done = await s.done;
    assert.deepEqual(done.lines.map((l) => JSON.parse(l).node.value), ['2', '3']);
  });

  it('waitIndex replays from history; recursive watches see children', async () => {
    const first = backend.store.index();
    await put('/v2/keys/wr/a', 'value=x');
    const r = await request({ method: 'GET', url: `${url}/v2/keys/wr?wait=true&recursive=true&waitIndex=${first + 1}` });
    assert.equal(r.status, 200);
    assert.equal(JSON.parse(r.body).node.key, '/wr/a');
  });

  it('the watcher is removed when the client disconnects', async () => {
    const before = backend.store.statsJson()['watchers'];
    const s = requestLines(`${url}/v2/keys/gone?wait=true`, 1, 5000);
    await s.ready;
    assert.equal(backend.store.statsJson()['watchers'], (before ?? 0) + 1);
    s.abort();
    const deadline = Date.now() + 2000;
    while (backend.store.statsJson()['watchers'] !== before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.equal(backend.store.statsJson()['watchers'], before);
  });
});
