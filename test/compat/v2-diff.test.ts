// Differential test of the v2 HTTP API: one script of requests against real etcd 3.4 (reference)
// and against a candidate (tsetcd, or a second etcd with DIFF_IMPL=etcd to validate the
// normaliser). Status codes, chosen headers and JSON bodies must match after normalisation.
// Env: DIFF_IMPL=etcd|tsetcd (candidate; default tsetcd when built, else etcd).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, tsetcdAvailable, type Cluster, type Impl } from '../harness/cluster.js';
import { request } from '../harness/http.js';
import { runStep, compare, type Side, type Step, type Observation } from './v2diff.js';

const REF_BASE = 24000;
const CAND_BASE = 24100;
const MAX_REQUEST_BYTES = 4096;
const candImpl: Impl = (process.env.DIFF_IMPL as Impl | undefined) ?? (tsetcdAvailable() ? 'tsetcd' : 'etcd');

const ROOT = 'root:rootpw';
const ALICE = 'alice:alicepw';
const K = '/v2/keys';

/** Writes n distinct keys with bounded concurrency (to push the 1000-event history window). */
function bulkWrites(n: number) {
  return async (s: Side): Promise<void> => {
    let next = 0;
    const url = s.clients[s.leader]!;
    const worker = async (): Promise<void> => {
      while (next < n) {
        const i = next++;
        const r = await request({ method: 'PUT', url: `${url}${K}/bulk/k${i % 50}`, headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `value=v${i}` });
        if (r.status >= 300) throw new Error(`${s.label}: bulk write ${i}: ${r.status} ${r.body}`);
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
  };
}

const big = 'b'.repeat(MAX_REQUEST_BYTES + 2000);

// One line per case. `expect` is the status real etcd answers (checked on the reference side).
const steps: Step[] = [
  // ---- basic set/get/create/update/delete
  { name: 'GET root (empty)', path: `${K}/`, expect: 200 },
  { name: 'GET /v2/keys without slash', path: `${K}`, expect: 200 },
  { name: 'PUT new key (201 set)', method: 'PUT', path: `${K}/foo`, form: { value: 'bar' }, expect: 201, capture: { fooIdx: 'node.modifiedIndex' } },
  { name: 'GET key', path: `${K}/foo`, expect: 200 },
  { name: 'PUT existing key (200 set + prevNode)', method: 'PUT', path: `${K}/foo`, form: { value: 'baz' }, expect: 200, capture: { fooIdx2: 'node.modifiedIndex' } },
  { name: 'HEAD key', method: 'HEAD', path: `${K}/foo`, expect: 200 },
  { name: 'HEAD missing key', method: 'HEAD', path: `${K}/nope`, expect: 404 },
  { name: 'PUT value in query string', method: 'PUT', path: `${K}/qs`, query: 'value=fromquery', expect: 201 },
  { name: 'PUT form body wins over query', method: 'PUT', path: `${K}/qs`, query: 'value=fromquery', form: { value: 'frombody' }, expect: 200 },
  { name: 'PUT empty value', method: 'PUT', path: `${K}/empty`, form: { value: '' }, expect: 201 },
  { name: 'PUT no value at all', method: 'PUT', path: `${K}/novalue`, expect: 201 },
  { name: 'PUT utf-8 and spaces', method: 'PUT', path: `${K}/utf`, form: { value: 'héllo wörld ✓ &=?' }, expect: 201 },
  { name: 'PUT value above --max-request-bytes', method: 'PUT', path: `${K}/big`, form: { value: big }, expect: 201 },
  { name: 'GET big value', path: `${K}/big`, expect: 200 },
  { name: 'PUT prevExist=false (create)', method: 'PUT', path: `${K}/created`, form: { value: 'c1', prevExist: 'false' }, expect: 201 },
  { name: 'PUT prevExist=true (update)', method: 'PUT', path: `${K}/created`, form: { value: 'c2', prevExist: 'true' }, expect: 200 },
  { name: 'PUT prevValue match (CAS)', method: 'PUT', path: `${K}/created`, form: { value: 'c3', prevValue: 'c2' }, expect: 200, capture: { casIdx: 'node.modifiedIndex' } },
  { name: 'PUT prevIndex match (CAS)', method: 'PUT', path: `${K}/created`, query: 'prevIndex={{casIdx}}', form: { value: 'c4' }, expect: 200 },
  { name: 'PUT prevValue+prevIndex match', method: 'PUT', path: `${K}/foo`, form: { value: 'b5', prevValue: 'baz', prevIndex: '{{fooIdx2}}' }, expect: 200 },
  { name: 'DELETE key', method: 'DELETE', path: `${K}/empty`, expect: 200 },
  { name: 'DELETE prevValue match (CAD)', method: 'DELETE', path: `${K}/utf`, query: 'prevValue=h%C3%A9llo%20w%C3%B6rld%20%E2%9C%93%20%26%3D%3F', expect: 200 },
  { name: 'PUT key for CAD by index', method: 'PUT', path: `${K}/cad`, form: { value: 'x' }, expect: 201, capture: { cadIdx: 'node.modifiedIndex' } },
  { name: 'DELETE prevIndex match (CAD)', method: 'DELETE', path: `${K}/cad`, query: 'prevIndex={{cadIdx}}', expect: 200 },
  // ---- noValueOnSuccess
  { name: 'noValueOnSuccess on set', method: 'PUT', path: `${K}/nv`, form: { value: '1', noValueOnSuccess: 'true' }, expect: 201 },
  { name: 'noValueOnSuccess on update', method: 'PUT', path: `${K}/nv`, form: { value: '2', prevExist: 'true', noValueOnSuccess: 'true' }, expect: 200 },
  { name: 'noValueOnSuccess on CAS', method: 'PUT', path: `${K}/nv`, form: { value: '3', prevValue: '2', noValueOnSuccess: 'true' }, expect: 200 },
  { name: 'noValueOnSuccess on create', method: 'PUT', path: `${K}/nv2`, form: { value: '1', prevExist: 'false', noValueOnSuccess: 'true' }, expect: 201 },
  { name: 'noValueOnSuccess on POST', method: 'POST', path: `${K}/nvq`, form: { value: '1', noValueOnSuccess: 'true' }, expect: 201 },
  { name: 'noValueOnSuccess on DELETE', method: 'DELETE', path: `${K}/nv2`, query: 'noValueOnSuccess=true', expect: 200 },
  { name: 'noValueOnSuccess=false', method: 'PUT', path: `${K}/nv`, form: { value: '4', noValueOnSuccess: 'false' }, expect: 200 },
  // ---- directories
  { name: 'PUT dir=true', method: 'PUT', path: `${K}/dir`, form: { dir: 'true' }, expect: 201 },
  { name: 'PUT dir=true on existing dir', method: 'PUT', path: `${K}/dir`, form: { dir: 'true' }, expect: 403 },
  { name: 'PUT children out of order: c', method: 'PUT', path: `${K}/dir/c`, form: { value: '3' }, expect: 201 },
  { name: 'PUT child a', method: 'PUT', path: `${K}/dir/a`, form: { value: '1' }, expect: 201 },
  { name: 'PUT grandchild b/x', method: 'PUT', path: `${K}/dir/b/x`, form: { value: '2' }, expect: 201 },
  { name: 'GET dir (one level)', path: `${K}/dir`, query: 'sorted=true', expect: 200 },
  { name: 'GET dir recursive sorted', path: `${K}/dir`, query: 'recursive=true&sorted=true', expect: 200 },
  { name: 'GET dir trailing slash', path: `${K}/dir/`, query: 'sorted=true', expect: 200 },
  { name: 'GET quorum=true', path: `${K}/dir/a`, query: 'quorum=true', expect: 200 },
  { name: 'GET quorum=true dir recursive', path: `${K}/dir`, query: 'quorum=true&recursive=true&sorted=true', expect: 200 },
  { name: 'PUT dir ttl update (prevExist)', method: 'PUT', path: `${K}/dir`, form: { dir: 'true', prevExist: 'true', ttl: '100' }, expect: 200 },
  { name: 'GET dir with ttl', path: `${K}/dir`, query: 'sorted=true', expect: 200 },
  { name: 'PUT dir remove ttl (ttl= prevExist)', method: 'PUT', path: `${K}/dir`, form: { dir: 'true', prevExist: 'true', ttl: '' }, expect: 200 },
  { name: 'PUT value on a dir', method: 'PUT', path: `${K}/dir`, form: { value: 'x' }, expect: 403 },
  { name: 'CAS on a dir', method: 'PUT', path: `${K}/dir`, form: { value: 'x', prevValue: 'y' }, expect: 403 },
  { name: 'DELETE dir without dir=true', method: 'DELETE', path: `${K}/dir`, expect: 403 },
  { name: 'DELETE non-empty dir dir=true', method: 'DELETE', path: `${K}/dir`, query: 'dir=true', expect: 403 },
  { name: 'PUT empty dir', method: 'PUT', path: `${K}/edir`, form: { dir: 'true' }, expect: 201 },
  { name: 'DELETE empty dir dir=true', method: 'DELETE', path: `${K}/edir`, query: 'dir=true', expect: 200 },
  { name: 'DELETE dir recursive', method: 'DELETE', path: `${K}/dir`, query: 'recursive=true', expect: 200 },
  { name: 'DELETE file with dir=true', method: 'DELETE', path: `${K}/qs`, query: 'dir=true', expect: 200 },
  // ---- hidden keys and path normalisation
  { name: 'PUT hidden key', method: 'PUT', path: `${K}/hdir/_hidden`, form: { value: 'h' }, expect: 201 },
  { name: 'PUT visible sibling', method: 'PUT', path: `${K}/hdir/seen`, form: { value: 's' }, expect: 201 },
  { name: 'GET dir hides _ keys', path: `${K}/hdir`, expect: 200 },
  { name: 'GET recursive hides _ keys', path: `${K}/hdir`, query: 'recursive=true', expect: 200 },
  { name: 'GET hidden key directly', path: `${K}/hdir/_hidden`, expect: 200 },
  // Go's ServeMux answers unclean paths with 301 + Location of the cleaned path (path.Clean).
  { name: 'PUT path with // and .. (301)', method: 'PUT', path: `${K}//norm/../normed`, form: { value: 'n' }, expect: 301 },
  { name: 'PUT path with double slash (301)', method: 'PUT', path: `${K}/a//b`, form: { value: 'ab' }, expect: 301 },
  { name: 'redirect did not write /a/b', path: `${K}/a/b`, expect: 404 },
  { name: 'GET path with ./ (301)', path: `${K}/hdir/./seen`, query: 'sorted=true', expect: 301 },
  { name: 'GET path with trailing /..', path: `${K}/hdir/seen/..`, expect: 301 },
  { name: 'PUT key with trailing slash', method: 'PUT', path: `${K}/trail/`, form: { value: 't' }, expect: 201 },
  { name: 'GET key with trailing slash', path: `${K}/trail/`, expect: 200 },
  // ---- in-order keys (POST)
  { name: 'POST in-order 1', method: 'POST', path: `${K}/queue`, form: { value: 'job1' }, expect: 201 },
  { name: 'POST in-order 2', method: 'POST', path: `${K}/queue`, form: { value: 'job2' }, expect: 201 },
  { name: 'POST in-order with ttl', method: 'POST', path: `${K}/queue`, form: { value: 'job3', ttl: '100' }, expect: 201 },
  { name: 'POST in-order dir', method: 'POST', path: `${K}/queue`, form: { dir: 'true' }, expect: 201 },
  { name: 'POST without value', method: 'POST', path: `${K}/queue2`, expect: 201 },
  { name: 'GET queue sorted', path: `${K}/queue`, query: 'sorted=true&recursive=true', expect: 200 },
  { name: 'POST under a file (104)', method: 'POST', path: `${K}/foo`, form: { value: 'x' }, expect: 400 },
  // ---- TTL, refresh
  { name: 'PUT ttl=100', method: 'PUT', path: `${K}/ttlkey`, form: { value: 't', ttl: '100' }, expect: 201 },
  { name: 'GET ttl key', path: `${K}/ttlkey`, expect: 200 },
  { name: 'watch ttlkey (refresh must not notify)', bg: 'wref', path: `${K}/ttlkey`, query: 'wait=true' },
  { name: 'PUT refresh ttl', method: 'PUT', path: `${K}/ttlkey`, form: { ttl: '200', refresh: 'true', prevExist: 'true' }, expect: 200 },
  { name: 'PUT refresh without prevExist', method: 'PUT', path: `${K}/ttlkey`, form: { ttl: '300', refresh: 'true' }, expect: 200 },
  { name: 'PUT remove ttl', method: 'PUT', path: `${K}/ttlkey`, form: { value: 't2', ttl: '', prevExist: 'true' }, expect: 200 },
  { name: 'await watcher: sees the update, not the refresh', await: 'wref' },
  { name: 'PUT ttl=1 key', method: 'PUT', path: `${K}/expiring`, form: { value: 'e', ttl: '1' }, expect: 201 },
  { name: 'watch expiring key', bg: 'wexp', path: `${K}/expiring`, query: 'wait=true' },
  { name: 'sleep 2.5 s', sleepMs: 2500 },
  { name: 'GET expired key (100)', path: `${K}/expiring`, expect: 404 },
  { name: 'await watcher: expire event', await: 'wexp' },
  // ---- watches
  { name: 'watch key long-poll', bg: 'w1', path: `${K}/watched`, query: 'wait=true' },
  { name: 'write watched key', method: 'PUT', path: `${K}/watched`, form: { value: 'w1' }, expect: 201, capture: { wIdx: 'node.modifiedIndex' } },
  { name: 'await long-poll', await: 'w1' },
  { name: 'watch recursive', bg: 'w2', path: `${K}/wdir`, query: 'wait=true&recursive=true' },
  { name: 'write under watched dir', method: 'PUT', path: `${K}/wdir/sub/k`, form: { value: 'deep' }, expect: 201 },
  { name: 'await recursive watch', await: 'w2' },
  { name: 'more writes to watched', method: 'PUT', path: `${K}/watched`, form: { value: 'w2' }, expect: 200 },
  { name: 'DELETE watched', method: 'DELETE', path: `${K}/watched`, expect: 200 },
  { name: 'waitIndex from history (first)', path: `${K}/watched`, query: 'wait=true&waitIndex={{wIdx}}', expect: 200 },
  { name: 'waitIndex from history (next)', path: `${K}/watched`, query: 'wait=true&waitIndex={{wIdx+1}}', expect: 200 },
  { name: 'waitIndex recursive from history', path: `${K}/wdir`, query: 'wait=true&recursive=true&waitIndex=1', expect: 200 },
  { name: 'stream=true watch (2 events)', bg: 's1', lines: 2, path: `${K}/streamed`, query: 'wait=true&stream=true' },
  { name: 'stream write 1', method: 'PUT', path: `${K}/streamed`, form: { value: 's1' }, expect: 201 },
  { name: 'stream write 2 (CAS)', method: 'PUT', path: `${K}/streamed`, form: { value: 's2', prevValue: 's1' }, expect: 200 },
  { name: 'await stream', await: 's1' },
  { name: 'watch sees CAD', bg: 'w3', path: `${K}/streamed`, query: 'wait=true' },
  { name: 'CAD streamed', method: 'DELETE', path: `${K}/streamed`, query: 'prevValue=s2', expect: 200 },
  { name: 'await CAD watch', await: 'w3' },
  // ---- error cases: v2 codes 100-110
  { name: 'E100 GET missing', path: `${K}/missing`, expect: 404 },
  { name: 'E100 DELETE missing', method: 'DELETE', path: `${K}/missing`, expect: 404 },
  { name: 'E100 update missing', method: 'PUT', path: `${K}/missing`, form: { value: 'x', prevExist: 'true' }, expect: 404 },
  { name: 'E100 CAS missing', method: 'PUT', path: `${K}/missing`, form: { value: 'x', prevValue: 'y' }, expect: 404 },
  { name: 'E104 GET under a file', path: `${K}/foo/child`, expect: 400 },
  { name: 'E101 CAS wrong value', method: 'PUT', path: `${K}/foo`, form: { value: 'x', prevValue: 'wrong' }, expect: 412 },
  { name: 'E101 CAS wrong index', method: 'PUT', path: `${K}/foo`, form: { value: 'x', prevIndex: '1' }, expect: 412, causeNumbers: true },
  { name: 'E101 CAS wrong both', method: 'PUT', path: `${K}/foo`, form: { value: 'x', prevValue: 'no', prevIndex: '1' }, expect: 412, causeNumbers: true },
  { name: 'E101 CAD wrong value', method: 'DELETE', path: `${K}/foo`, query: 'prevValue=wrong', expect: 412 },
  { name: 'E101 CAD wrong index', method: 'DELETE', path: `${K}/foo`, query: 'prevIndex=1', expect: 412, causeNumbers: true },
  { name: 'E102 CAD on a dir', method: 'DELETE', path: `${K}/hdir`, query: 'prevValue=x', expect: 403 },
  { name: 'E104 PUT key under a file', method: 'PUT', path: `${K}/foo/child`, form: { value: 'x' }, expect: 400 },
  { name: 'E104 mkdir under a file', method: 'PUT', path: `${K}/foo/d`, form: { dir: 'true' }, expect: 400 },
  { name: 'E105 create existing', method: 'PUT', path: `${K}/foo`, form: { value: 'x', prevExist: 'false' }, expect: 412 },
  { name: 'E105 create existing dir', method: 'PUT', path: `${K}/hdir`, form: { dir: 'true', prevExist: 'false' }, expect: 412 },
  { name: 'E107 PUT root', method: 'PUT', path: `${K}/`, form: { value: 'x' }, expect: 400 },
  { name: 'E107 DELETE root', method: 'DELETE', path: `${K}/`, query: 'recursive=true', expect: 400 },
  { name: 'POST on root creates an in-order key in /', method: 'POST', path: `${K}/`, form: { value: 'x' }, expect: 201 },
  { name: 'E108 DELETE dir=true non-empty', method: 'DELETE', path: `${K}/hdir`, query: 'dir=true', expect: 403 },
  // ---- error cases: 200-212 (form validation)
  { name: 'E201 prevValue empty', method: 'PUT', path: `${K}/foo`, form: { value: 'x', prevValue: '' }, expect: 400 },
  { name: 'E202 ttl not a number', method: 'PUT', path: `${K}/foo`, form: { value: 'x', ttl: 'abc' }, expect: 400 },
  { name: 'E202 ttl negative', method: 'PUT', path: `${K}/foo`, form: { value: 'x', ttl: '-1' }, expect: 400 },
  { name: 'E202 ttl float', method: 'PUT', path: `${K}/foo`, form: { value: 'x', ttl: '1.5' }, expect: 400 },
  { name: 'E203 prevIndex not a number', method: 'PUT', path: `${K}/foo`, form: { value: 'x', prevIndex: 'abc' }, expect: 400 },
  { name: 'E203 waitIndex not a number', path: `${K}/foo`, query: 'wait=true&waitIndex=abc', expect: 400 },
  { name: 'E203 prevIndex negative', method: 'DELETE', path: `${K}/foo`, query: 'prevIndex=-5', expect: 400 },
  { name: 'E209 recursive bad bool', path: `${K}/foo`, query: 'recursive=maybe', expect: 400 },
  { name: 'E209 sorted bad bool', path: `${K}/foo`, query: 'sorted=2', expect: 400 },
  { name: 'E209 wait bad bool', path: `${K}/foo`, query: 'wait=yes', expect: 400 },
  { name: 'E209 quorum bad bool', path: `${K}/foo`, query: 'quorum=x', expect: 400 },
  { name: 'E209 stream bad bool', path: `${K}/foo`, query: 'stream=x', expect: 400 },
  { name: 'E209 dir bad bool', method: 'PUT', path: `${K}/foo`, form: { dir: 'x' }, expect: 400 },
  { name: 'E209 prevExist bad bool', method: 'PUT', path: `${K}/foo`, form: { value: 'x', prevExist: 'x' }, expect: 400 },
  { name: 'E209 refresh bad bool', method: 'PUT', path: `${K}/foo`, form: { ttl: '5', refresh: 'x' }, expect: 400 },
  { name: 'E209 noValueOnSuccess bad bool', method: 'PUT', path: `${K}/foo`, form: { value: 'x', noValueOnSuccess: 'x' }, expect: 400 },
  { name: 'E209 wait on PUT', method: 'PUT', path: `${K}/foo`, form: { value: 'x', wait: 'true' }, expect: 400 },
  { name: 'bools: T/1/TRUE accepted', path: `${K}/hdir`, query: 'recursive=T&sorted=1&quorum=TRUE', expect: 200 },
  { name: 'E210 bad escape in query', path: `${K}/foo`, query: 'value=%zz', expect: 400 },
  { name: 'E210 bad escape in form', method: 'PUT', path: `${K}/foo`, form: 'value=%zz', expect: 400 },
  { name: 'E211 value on refresh', method: 'PUT', path: `${K}/foo`, form: { value: 'x', ttl: '5', refresh: 'true' }, expect: 400 },
  { name: 'E212 refresh without ttl', method: 'PUT', path: `${K}/foo`, form: { refresh: 'true', prevExist: 'true' }, expect: 400 },
  { name: 'refresh on missing key', method: 'PUT', path: `${K}/missing`, form: { ttl: '5', refresh: 'true' }, expect: 404 },
  // ---- 401: history cleared
  { name: 'write 1100 events', run: bulkWrites(1100) },
  { name: 'E401 waitIndex outdated', path: `${K}/bulk`, query: 'wait=true&recursive=true&waitIndex=1', expect: 400, causeNumbers: true },
  // ---- HTTP-level errors
  { name: '405 PATCH on keys', method: 'PATCH', path: `${K}/foo`, expect: 405 },
  { name: '405 POST /health', method: 'POST', path: '/health', expect: 405 },
  { name: '405 PUT /version', method: 'PUT', path: '/version', expect: 405 },
  { name: '405 POST /v2/machines', method: 'POST', path: '/v2/machines', expect: 405 },
  { name: '405 POST /v2/stats/self', method: 'POST', path: '/v2/stats/self', expect: 405 },
  { name: '405 PATCH /v2/members', method: 'PATCH', path: '/v2/members', expect: 405 },
  { name: '405 POST /v2/auth/enable', method: 'POST', path: '/v2/auth/enable', expect: 405 },
  { name: '404 page not found /v2/nothing', path: '/v2/nothing', expect: 404 },
  { name: '404 page not found /nothing', path: '/nothing', expect: 404 },
  { name: '404 /v2/stats/nothing', path: '/v2/stats/nothing', expect: 404 },
  { name: 'OPTIONS (CORS)', method: 'OPTIONS', path: `${K}/foo`, expect: 200 },
  // ---- members, machines, stats, misc
  { name: 'GET /v2/members', path: '/v2/members', expect: 200 },
  { name: 'GET /v2/members (follower)', path: '/v2/members', member: 'follower', expect: 200 },
  { name: 'GET /v2/members/leader', path: '/v2/members/leader', expect: 200, cmp: 'shape' },
  { name: 'GET /v2/machines', path: '/v2/machines', expect: 200 },
  { name: 'GET /v2/stats/self (leader)', path: '/v2/stats/self', expect: 200, cmp: 'shape' },
  { name: 'GET /v2/stats/self (follower)', path: '/v2/stats/self', member: 'follower', expect: 200, cmp: 'shape' },
  { name: 'GET /v2/stats/leader', path: '/v2/stats/leader', expect: 200, cmp: 'shape' },
  { name: 'GET /v2/stats/leader on follower (403)', path: '/v2/stats/leader', member: 'follower', expect: 403 },
  { name: 'GET /v2/stats/store', path: '/v2/stats/store', expect: 200, cmp: 'shape' },
  { name: 'GET /version', path: '/version', expect: 200, cmp: 'shape' },
  { name: 'GET /health', path: '/health', expect: 200 },
  // etcd rejects reconfiguration ("unhealthy cluster", 500) until every peer has been active 5 s.
  { name: 'wait until the cluster is 6 s old', run: async (s) => { const ms = s.readyAtMs + 6000 - Date.now(); if (ms > 0) await new Promise((r) => setTimeout(r, ms)); } },
  { name: 'POST /v2/members bad JSON', method: 'POST', path: '/v2/members', body: '{"peerURLs":', contentType: 'application/json', expect: 400 },
  { name: 'POST /v2/members 415', method: 'POST', path: '/v2/members', body: '{"peerURLs":["http://127.0.0.1:{{xport}}"]}', contentType: 'text/plain', expect: 415 },
  { name: 'POST /v2/members bad URL', method: 'POST', path: '/v2/members', json: { peerURLs: ['not a url'] }, expect: 400 },
  { name: 'POST /v2/members existing peer URL (409)', method: 'POST', path: '/v2/members', json: { peerURLs: ['{{peer0}}'] }, expect: 409 },
  { name: 'POST /v2/members add', method: 'POST', path: '/v2/members', json: { peerURLs: ['http://127.0.0.1:{{xport}}'] }, expect: 201, capture: { newId: 'id' } },
  { name: 'GET /v2/members with unstarted', path: '/v2/members', expect: 200 },
  { name: 'PUT /v2/members/<id> update', method: 'PUT', path: '/v2/members/{{newId}}', json: { peerURLs: ['http://127.0.0.1:{{xport+1}}'] }, expect: 204 },
  { name: 'PUT /v2/members/<missing>', method: 'PUT', path: '/v2/members/abcdef12', json: { peerURLs: ['http://127.0.0.1:{{xport+2}}'] }, expect: 404 },
  { name: 'DELETE /v2/members/<id>', method: 'DELETE', path: '/v2/members/{{newId}}', expect: 204 },
  { name: 'DELETE removed member (410)', method: 'DELETE', path: '/v2/members/{{newId}}', expect: 410 },
  { name: 'DELETE /v2/members/<missing> (404)', method: 'DELETE', path: '/v2/members/abcdef12', expect: 404 },
  { name: 'DELETE /v2/members/<bad id>', method: 'DELETE', path: '/v2/members/zzz', expect: 404 },
  // ---- v2 auth
  { name: 'GET /v2/auth/enable', path: '/v2/auth/enable', expect: 200 },
  { name: 'GET /v2/auth/users (none)', path: '/v2/auth/users', expect: 200 },
  { name: 'GET /v2/auth/roles', path: '/v2/auth/roles', expect: 200 },
  { name: 'PUT /v2/auth/enable without root (409)', method: 'PUT', path: '/v2/auth/enable', expect: 409 },
  { name: 'GET missing user (404)', path: '/v2/auth/users/nobody', expect: 404 },
  { name: 'PUT user bad JSON', method: 'PUT', path: '/v2/auth/users/x', body: '{', contentType: 'application/json', expect: 400 },
  { name: 'PUT user name mismatch', method: 'PUT', path: '/v2/auth/users/x', json: { user: 'y', password: 'p' }, expect: 400 },
  { name: 'create root user', method: 'PUT', path: '/v2/auth/users/root', json: { user: 'root', password: 'rootpw' }, expect: 201 },
  { name: 'create alice', method: 'PUT', path: '/v2/auth/users/alice', json: { user: 'alice', password: 'alicepw' }, expect: 201 },
  { name: 'PUT alice again with password (200 update)', method: 'PUT', path: '/v2/auth/users/alice', json: { user: 'alice', password: 'alicepw' }, expect: 200 },
  { name: 'create role reader', method: 'PUT', path: '/v2/auth/roles/reader', json: { role: 'reader', permissions: { kv: { read: ['/pub/*'], write: [] } } }, expect: 201 },
  { name: 'GET role reader', path: '/v2/auth/roles/reader', expect: 200 },
  { name: 'grant role write to reader', method: 'PUT', path: '/v2/auth/roles/reader', json: { role: 'reader', grant: { kv: { read: [], write: ['/pub/w'] } } }, expect: 200 },
  { name: 'revoke perm not held (400)', method: 'PUT', path: '/v2/auth/roles/reader', json: { role: 'reader', revoke: { kv: { read: ['/nothere'] } } }, expect: 400 },
  { name: 'grant alice reader', method: 'PUT', path: '/v2/auth/users/alice', json: { user: 'alice', grant: ['reader'] }, expect: 200 },
  { name: 'grant alice reader again (409)', method: 'PUT', path: '/v2/auth/users/alice', json: { user: 'alice', grant: ['reader'] }, expect: 409 },
  // etcd 3.4 quirk: granting a missing role succeeds and stores it; reading the user then fails with 404.
  { name: 'grant alice missing role (200!)', method: 'PUT', path: '/v2/auth/users/alice', json: { user: 'alice', grant: ['nosuchrole'] }, expect: 200 },
  { name: 'GET user alice (404: role nosuchrole)', path: '/v2/auth/users/alice', expect: 404 },
  { name: 'GET user root', path: '/v2/auth/users/root', expect: 200 },
  { name: 'GET users', path: '/v2/auth/users', expect: 200 },
  { name: 'GET roles', path: '/v2/auth/roles', expect: 200 },
  { name: 'update missing user (404)', method: 'PUT', path: '/v2/auth/users/bob', json: { user: 'bob', grant: ['reader'] }, expect: 404 },
  { name: 'PUT /v2/auth/enable', method: 'PUT', path: '/v2/auth/enable', expect: 200 },
  { name: 'PUT /v2/auth/enable again (409)', method: 'PUT', path: '/v2/auth/enable', auth: ROOT, expect: 409 },
  { name: 'GET /v2/auth/enable (on)', path: '/v2/auth/enable', expect: 200 },
  { name: 'guest can still read', path: `${K}/foo`, expect: 200 },
  { name: 'roles list shows guest', path: '/v2/auth/roles', auth: ROOT, expect: 200 },
  { name: 'GET role guest', path: '/v2/auth/roles/guest', auth: ROOT, expect: 200 },
  { name: 'revoke guest', method: 'PUT', path: '/v2/auth/roles/guest', auth: ROOT, json: { role: 'guest', revoke: { kv: { read: ['/*'], write: ['/*'] } } }, expect: 200 },
  { name: 'E110 anonymous read (401)', path: `${K}/foo`, expect: 401 },
  { name: 'E110 anonymous write (401)', method: 'PUT', path: `${K}/foo`, form: { value: 'x' }, expect: 401 },
  { name: 'E110 wrong password', path: `${K}/foo`, auth: 'root:wrong', expect: 401 },
  { name: 'E110 unknown user', path: `${K}/foo`, auth: 'mallory:x', expect: 401 },
  { name: 'root reads', path: `${K}/foo`, auth: ROOT, expect: 200 },
  { name: 'alice writes pub/w', method: 'PUT', path: `${K}/pub/w`, auth: ALICE, form: { value: 'a' }, expect: 201 },
  { name: 'alice reads pub/w', path: `${K}/pub/w`, auth: ALICE, expect: 200 },
  { name: 'alice write outside grant (401)', method: 'PUT', path: `${K}/pub/other`, auth: ALICE, form: { value: 'a' }, expect: 401 },
  { name: 'alice read outside grant (401)', path: `${K}/foo`, auth: ALICE, expect: 401 },
  { name: 'anonymous GET users (401)', path: '/v2/auth/users', expect: 401 },
  { name: 'alice GET users (401)', path: '/v2/auth/users', auth: ALICE, expect: 401 },
  { name: 'anonymous members add (401)', method: 'POST', path: '/v2/members', json: { peerURLs: ['http://127.0.0.1:{{xport+3}}'] }, expect: 401 },
  { name: 'delete root while on (403)', method: 'DELETE', path: '/v2/auth/users/root', auth: ROOT, expect: 403 },
  { name: 'alice disables auth (401)', method: 'DELETE', path: '/v2/auth/enable', auth: ALICE, expect: 401 },
  { name: 'alice changes own password', method: 'PUT', path: '/v2/auth/users/alice', auth: ROOT, json: { user: 'alice', password: 'newpw' }, expect: 200 },
  { name: 'old password refused', path: `${K}/pub/w`, auth: ALICE, expect: 401 },
  { name: 'new password works', path: `${K}/pub/w`, auth: 'alice:newpw', expect: 200 },
  { name: 'root disables auth', method: 'DELETE', path: '/v2/auth/enable', auth: ROOT, expect: 200 },
  { name: 'disable again (409)', method: 'DELETE', path: '/v2/auth/enable', expect: 409 },
  { name: 'anonymous read after disable', path: `${K}/foo`, expect: 200 },
  { name: 'revoke alice role', method: 'PUT', path: '/v2/auth/users/alice', json: { user: 'alice', revoke: ['reader'] }, expect: 200 },
  { name: 'DELETE role reader', method: 'DELETE', path: '/v2/auth/roles/reader', expect: 200 },
  { name: 'DELETE role missing (404)', method: 'DELETE', path: '/v2/auth/roles/reader', expect: 404 },
  { name: 'DELETE role root (403)', method: 'DELETE', path: '/v2/auth/roles/root', expect: 403 },
  { name: 'DELETE user alice', method: 'DELETE', path: '/v2/auth/users/alice', expect: 200 },
  { name: 'DELETE user missing (404)', method: 'DELETE', path: '/v2/auth/users/alice', expect: 404 },
  { name: 'final users list', path: '/v2/auth/users', expect: 200 },
  // ---- final state read back
  { name: 'final GET root recursive sorted', path: `${K}/`, query: 'recursive=true&sorted=true', expect: 200 },
];

interface Setup {
  cluster: Cluster;
  side: Side;
}

async function setup(impl: Impl, base: number, label: string): Promise<Setup> {
  const cluster = await startCluster({ impl, size: 3, basePort: base, extraFlags: ['--max-request-bytes', String(MAX_REQUEST_BYTES)] });
  const leader = await cluster.waitLeader(10000);
  const ports = new Map<string, string>();
  for (let i = 0; i < 3; i++) {
    ports.set(String(base + 2 * i), `m${i}.client`);
    ports.set(String(base + 2 * i + 1), `m${i}.peer`);
  }
  for (let i = 0; i < 8; i++) ports.set(String(base + 50 + i), `x${i}`);
  const vars = new Map<string, string>([
    ['xport', String(base + 50)],
    ['peer0', cluster.members[0]!.peerUrl],
  ]);
  return { cluster, side: { label, clients: cluster.clientUrls(), leader, vars, ports, bgs: new Map(), readyAtMs: Date.now() } };
}

test(`v2 differential: etcd (reference) vs ${candImpl} (candidate)`, { timeout: 240_000 }, async (t) => {
  assert.ok(steps.filter((s) => s.expect !== undefined && s.expect >= 400).length >= 30, 'at least 30 error cases');
  const ref = await setup('etcd', REF_BASE, 'etcd');
  t.after(() => ref.cluster.destroy());
  const cand = await setup(candImpl, CAND_BASE, candImpl);
  t.after(() => cand.cluster.destroy());

  const mismatches: string[] = [];
  const scriptErrors: string[] = [];
  for (const step of steps) {
    // Both sides run each step at the same moment, so timing-dependent steps (TTLs) line up.
    const [r, c] = await Promise.allSettled([runStep(step, ref.side), runStep(step, cand.side)]);
    if (r.status === 'rejected') throw new Error(`reference failed at step "${step.name}": ${(r.reason as Error).message}`);
    const refObs = r.value as Observation | undefined;
    if (process.env.DIFF_VERBOSE === '1' && refObs) process.stdout.write(`# ${step.name}: ${refObs.status} ${refObs.raw.slice(0, 300).trim()}\n`);
    if (refObs && step.expect !== undefined && refObs.status !== step.expect) {
      scriptErrors.push(`script error: reference answered ${refObs.status} to "${step.name}", the script expects ${step.expect}: ${refObs.raw.slice(0, 300)}`);
    }
    if (c.status === 'rejected') {
      mismatches.push(`✗ ${step.name}\n    candidate failed: ${(c.reason as Error).message}`);
      continue;
    }
    if (!refObs || !c.value) continue;
    const lines = compare(step, refObs, ref.side, c.value, cand.side);
    if (lines.length > 0) mismatches.push(`✗ ${step.name} (${step.method ?? 'GET'} ${step.path ?? ''}${step.query ? '?' + step.query : ''})\n    ${lines.join('\n    ')}`);
  }
  const compared = steps.filter((s) => !s.run && !s.bg && !(s.sleepMs !== undefined && !s.path)).length;
  t.diagnostic(`${compared} compared steps, ${mismatches.length} mismatches`);
  if (mismatches.length > 0) {
    process.stdout.write(`\n=== v2 differential: ${mismatches.length} of ${compared} steps differ (etcd vs ${candImpl}) ===\n${mismatches.join('\n')}\n`);
  }
  assert.deepEqual(scriptErrors, [], 'the reference (real etcd) must answer what the script expects');
  assert.equal(mismatches.length, 0, `${mismatches.length} of ${compared} steps differ from etcd (see the diff above)`);
});
