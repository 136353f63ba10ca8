// /v2/members, /v2/machines, /v2/stats, /version, /health, CORS, 404s and --enable-v2=false.
// Bodies marked "etcd 3.4.23" were captured from a real etcd 3.4.23 --enable-v2 on loopback.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { startApp, type FakeBackend } from './v2fake.js';

const JSON_HDR = { 'content-type': 'application/json' };

let app: FastifyInstance;
let backend: FakeBackend;
before(async () => {
  ({ app, backend } = await startApp());
});
after(async () => {
  await app.close();
});

describe('v2 members and machines', () => {
  it('GET /v2/members lists members (etcd 3.4.23)', async () => {
    const r = await app.inject({ method: 'GET', url: '/v2/members' });
    assert.equal(r.statusCode, 200);
    assert.equal(r.headers['content-type'], 'application/json');
    assert.equal(r.headers['x-etcd-cluster-id'], '31f33c6577b4c440');
    assert.equal(r.body, '{"members":[{"id":"e9aa06881b74bca1","name":"default","peerURLs":["http://127.0.0.1:23871"],"clientURLs":["http://127.0.0.1:23870"]}]}\n');
  });

  it('GET /v2/members/leader (etcd 3.4.23); 503 During election without a leader', async () => {
    const r = await app.inject({ method: 'GET', url: '/v2/members/leader' });
    assert.equal(r.body, '{"id":"e9aa06881b74bca1","name":"default","peerURLs":["http://127.0.0.1:23871"],"clientURLs":["http://127.0.0.1:23870"]}\n');
    backend.leader = undefined;
    try {
      const n = await app.inject({ method: 'GET', url: '/v2/members/leader' });
      assert.equal(n.statusCode, 503);
      assert.equal(n.body, '{"message":"During election"}');
    } finally {
      backend.leader = 'e9aa06881b74bca1';
    }
  });

  it('GET /v2/members/xyz is 404 Not found (etcd 3.4.23)', async () => {
    const r = await app.inject({ method: 'GET', url: '/v2/members/xyz' });
    assert.equal(r.statusCode, 404);
    assert.equal(r.body, '{"message":"Not found"}');
  });

  it('POST needs application/json: 415 (etcd 3.4.23)', async () => {
    const r = await app.inject({ method: 'POST', url: '/v2/members', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: '{"peerURLs":["http://127.0.0.1:23899"]}' });
    assert.equal(r.statusCode, 415);
    assert.equal(r.body, '{"message":"Bad Content-Type application/x-www-form-urlencoded, accept application/json"}');
  });

  it('POST with a bad URL or no URLs is 400 (etcd 3.4.23 text)', async () => {
    const r = await app.inject({ method: 'POST', url: '/v2/members', headers: JSON_HDR, payload: '{"peerURLs":["notaurl"]}' });
    assert.equal(r.statusCode, 400);
    assert.equal(r.body, '{"message":"URL scheme must be http, https, unix, or unixs: notaurl"}');
    const e = await app.inject({ method: 'POST', url: '/v2/members', headers: JSON_HDR, payload: '{}' });
    assert.equal(e.statusCode, 400);
    assert.equal(e.body, '{"message":"no valid URLs given"}');
    const bad = await app.inject({ method: 'POST', url: '/v2/members', headers: JSON_HDR, payload: '{bad' });
    assert.equal(bad.statusCode, 400);
  });

  it('POST an existing peer URL is 409 (etcd 3.4.23)', async () => {
    const r = await app.inject({ method: 'POST', url: '/v2/members', headers: JSON_HDR, payload: '{"peerURLs":["http://127.0.0.1:23871"]}' });
    assert.equal(r.statusCode, 409);
    assert.equal(r.body, '{"message":"membership: peerURL exists"}');
  });

  it('POST adds a member: 201 with empty name and clientURLs', async () => {
    const r = await app.inject({ method: 'POST', url: '/v2/members', headers: { 'content-type': 'application/json; charset=utf-8' }, payload: '{"peerURLs":["http://127.0.0.1:23899"]}' });
    assert.equal(r.statusCode, 201);
    assert.equal(r.body, '{"id":"a0b0c0d0e0f1011","name":"","peerURLs":["http://127.0.0.1:23899"],"clientURLs":[]}\n');
  });

  it('PUT updates peer URLs: 204; unknown id 404 (etcd 3.4.23)', async () => {
    const r = await app.inject({ method: 'PUT', url: '/v2/members/a0b0c0d0e0f1011', headers: JSON_HDR, payload: '{"peerURLs":["http://127.0.0.1:23898"]}' });
    assert.equal(r.statusCode, 204);
    assert.deepEqual(backend.memberList[1]?.peerUrls, ['http://127.0.0.1:23898']);
    const n = await app.inject({ method: 'PUT', url: '/v2/members/1234', headers: JSON_HDR, payload: '{"peerURLs":["http://127.0.0.1:23897"]}' });
    assert.equal(n.statusCode, 404);
    assert.equal(n.body, '{"message":"No such member: 1234"}');
  });

  it('DELETE: 204, then 410; bad id 404; no id 405 (etcd 3.4.23)', async () => {
    const r = await app.inject({ method: 'DELETE', url: '/v2/members/a0b0c0d0e0f1011' });
    assert.equal(r.statusCode, 204);
    const again = await app.inject({ method: 'DELETE', url: '/v2/members/a0b0c0d0e0f1011' });
    assert.equal(again.statusCode, 410);
    assert.equal(again.body, '{"message":"Member permanently removed: a0b0c0d0e0f1011"}');
    const zz = await app.inject({ method: 'DELETE', url: '/v2/members/zz' });
    assert.equal(zz.statusCode, 404);
    assert.equal(zz.body, '{"message":"No such member: zz"}');
    const none = await app.inject({ method: 'DELETE', url: '/v2/members' });
    assert.equal(none.statusCode, 405);
    assert.equal(none.headers.allow, undefined);
    assert.equal(none.body, 'Method Not Allowed\n');
  });

  it('PATCH /v2/members is 405 with Allow (etcd 3.4.23)', async () => {
    const r = await app.inject({ method: 'PATCH', url: '/v2/members' });
    assert.equal(r.statusCode, 405);
    assert.equal(r.headers.allow, 'GET,POST,DELETE,PUT');
  });

  it('GET /v2/machines is the client URLs as text (etcd 3.4.23); POST is 405', async () => {
    const r = await app.inject({ method: 'GET', url: '/v2/machines' });
    assert.equal(r.statusCode, 200);
    assert.equal(r.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(r.body, 'http://127.0.0.1:23870');
    const p = await app.inject({ method: 'POST', url: '/v2/machines' });
    assert.equal(p.statusCode, 405);
    assert.equal(p.headers.allow, 'GET,HEAD');
  });
});

describe('v2 stats, version, health', () => {
  it('stats/store is the store counters without newline; POST 405 Allow GET', async () => {
    const r = await app.inject({ method: 'GET', url: '/v2/stats/store' });
    assert.equal(r.statusCode, 200);
    assert.equal(r.headers['content-type'], 'application/json');
    assert.match(r.body, /^\{"getsSuccess":\d+,"getsFail":\d+,"setsSuccess":\d+,.*"watchers":\d+\}$/);
    const p = await app.inject({ method: 'POST', url: '/v2/stats/store' });
    assert.equal(p.statusCode, 405);
    assert.equal(p.headers.allow, 'GET');
  });

  it('stats/self and stats/leader; leader on a follower is 403 not current leader', async () => {
    assert.equal((await app.inject({ method: 'GET', url: '/v2/stats/self' })).body, '{"name":"default","id":"e9aa06881b74bca1","state":"StateLeader"}');
    assert.equal((await app.inject({ method: 'GET', url: '/v2/stats/leader' })).body, '{"leader":"e9aa06881b74bca1","followers":{}}');
    backend.isLeader = false;
    try {
      const r = await app.inject({ method: 'GET', url: '/v2/stats/leader' });
      assert.equal(r.statusCode, 403);
      assert.equal(r.body, '{"message":"not current leader"}');
    } finally {
      backend.isLeader = true;
    }
  });

  it('/version (etcd 3.4.23); POST 405', async () => {
    const r = await app.inject({ method: 'GET', url: '/version' });
    assert.equal(r.headers['content-type'], 'application/json');
    assert.equal(r.body, '{"etcdserver":"3.4.23","etcdcluster":"3.4.0"}');
    assert.equal((await app.inject({ method: 'POST', url: '/version' })).statusCode, 405);
  });

  it('/health 200 text (etcd 3.4.23), 503 via http.Error when unhealthy', async () => {
    const r = await app.inject({ method: 'GET', url: '/health' });
    assert.equal(r.statusCode, 200);
    assert.equal(r.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(r.body, '{"health":"true"}');
    backend.healthy = false;
    try {
      const u = await app.inject({ method: 'GET', url: '/health' });
      assert.equal(u.statusCode, 503);
      assert.equal(u.headers['x-content-type-options'], 'nosniff');
      assert.equal(u.body, '{"health":"false"}\n');
    } finally {
      backend.healthy = true;
    }
    const p = await app.inject({ method: 'POST', url: '/health' });
    assert.equal(p.statusCode, 405);
    assert.equal(p.headers.allow, 'GET');
  });
});

describe('CORS, unknown paths', () => {
  it('OPTIONS answers 200 empty with the CORS headers (etcd 3.4.23)', async () => {
    const r = await app.inject({ method: 'OPTIONS', url: '/v2/keys/foo' });
    assert.equal(r.statusCode, 200);
    assert.equal(r.body, '');
    assert.equal(r.headers['access-control-allow-origin'], '*');
    assert.equal(r.headers['access-control-allow-methods'], 'POST, GET, OPTIONS, PUT, DELETE');
    assert.equal(r.headers['access-control-allow-headers'], 'accept, content-type, authorization');
  });

  for (const p of ['/nothing', '/v2/nothing', '/v2', '/v2/stats/', '/v2/machines/', '/version/']) {
    it(`${p} is 404 page not found (etcd 3.4.23)`, async () => {
      const r = await app.inject({ method: 'GET', url: p });
      assert.equal(r.statusCode, 404);
      assert.equal(r.headers['content-type'], 'text/plain; charset=utf-8');
      assert.equal(r.body, '404 page not found\n');
      assert.equal(r.headers['access-control-allow-origin'], '*');
    });
  }
});

describe('--enable-v2=false, --cors list, --host-whitelist', () => {
  it('v2 paths are 404 while /health and /version answer', async () => {
    const s = await startApp({ enableV2: false });
    try {
      for (const p of ['/v2/keys/foo', '/v2/members', '/v2/stats/self', '/v2/auth/enable']) {
        const r = await s.app.inject({ method: 'GET', url: p });
        assert.equal(r.statusCode, 404, p);
        assert.equal(r.body, '404 page not found\n');
      }
      assert.equal((await s.app.inject({ method: 'GET', url: '/health' })).statusCode, 200);
      assert.equal((await s.app.inject({ method: 'GET', url: '/version' })).statusCode, 200);
    } finally {
      await s.app.close();
    }
  });

  it('a CORS origin list echoes only listed origins', async () => {
    const s = await startApp({ corsOrigins: ['http://ok.example'] });
    try {
      const ok = await s.app.inject({ method: 'GET', url: '/version', headers: { origin: 'http://ok.example' } });
      assert.equal(ok.headers['access-control-allow-origin'], 'http://ok.example');
      const no = await s.app.inject({ method: 'GET', url: '/version', headers: { origin: 'http://evil.example' } });
      assert.equal(no.headers['access-control-allow-origin'], undefined);
    } finally {
      await s.app.close();
    }
  });

  it('a host whitelist rejects other Host headers', async () => {
    const s = await startApp({ hostWhitelist: ['good.example'] });
    try {
      const ok = await s.app.inject({ method: 'GET', url: '/version', headers: { host: 'good.example:2379' } });
      assert.equal(ok.statusCode, 200);
      const no = await s.app.inject({ method: 'GET', url: '/version', headers: { host: 'evil.example:2379' } });
      assert.equal(no.statusCode, 421);
    } finally {
      await s.app.close();
    }
  });
});
