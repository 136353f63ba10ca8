// Member and cluster ids equal etcd's for the same --initial-cluster and token.
// Expected values were observed with /usr/bin/etcd 3.4.23 (ports 23814-23821):
//  - `etcd --name n1 --initial-cluster n1=http://127.0.0.1:23815 --initial-cluster-token tsetcd-test-token ...`
//    then `etcdctl member list -w json`: member 810928704809610342 (0b40ff5c4c582c66),
//    cluster_id 16170802790938415630 (e06a3b7636c7920e).
//  - `etcd --name a --initial-cluster-token dcos --initial-cluster
//    'a=http://127.0.0.1:23817,b=http://127.0.0.1:23818,c=http://127.0.0.1:23819,c=http://10.0.0.1:2380'`
//    then `curl -i http://127.0.0.1:23817/members` (peer port): a=9163034704771521684,
//    b=17427522771532997600, c=11033885381340611740, header X-Etcd-Cluster-Id: da48851ac653ccb4.
//  - plain `etcd` defaults (default=http://localhost:2380, token etcd-cluster): log line
//    "starting member 8e9e05c52164694d in cluster cdf818194e3a8c32".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deriveIds, etcdIdText, memberIdOf } from '../../src/api/config/index.js';
import { config } from './helpers.js';

const hex = (decimal: string): string => BigInt(decimal).toString(16).padStart(16, '0');

test('one member, custom token: ids equal etcd\'s', () => {
  const ids = deriveIds([{ name: 'n1', peerUrls: [new URL('http://127.0.0.1:23815')] }], 'tsetcd-test-token');
  assert.equal(ids.memberIds.get('n1'), hex('810928704809610342'));
  assert.equal(ids.memberIds.get('n1'), '0b40ff5c4c582c66');
  assert.equal(ids.clusterId, hex('16170802790938415630'));
  assert.equal(etcdIdText(ids.memberIds.get('n1') ?? ''), 'b40ff5c4c582c66'); // etcd's unpadded form
});

test('three members, one with two peer URLs: ids equal etcd\'s', () => {
  const c = config(['--name', 'a', '--initial-cluster-token', 'dcos',
    '--listen-peer-urls', 'http://127.0.0.1:23817', '--initial-advertise-peer-urls', 'http://127.0.0.1:23817',
    '--initial-cluster', 'a=http://127.0.0.1:23817,b=http://127.0.0.1:23818,c=http://127.0.0.1:23819,c=http://10.0.0.1:2380']);
  const ids = deriveIds(c.initialCluster, c.initialClusterToken);
  assert.equal(ids.memberIds.get('a'), hex('9163034704771521684'));
  assert.equal(ids.memberIds.get('b'), hex('17427522771532997600'));
  assert.equal(ids.memberIds.get('c'), hex('11033885381340611740'));
  assert.equal(ids.clusterId, 'da48851ac653ccb4');
});

test('etcd\'s defaults give its well-known ids', () => {
  const c = config([]);
  const ids = deriveIds(c.initialCluster, c.initialClusterToken);
  assert.equal(ids.memberIds.get('default'), '8e9e05c52164694d');
  assert.equal(ids.clusterId, 'cdf818194e3a8c32');
});

test('the token and the URL order matter as in etcd; the name does not', () => {
  const u1 = new URL('http://127.0.0.1:23819');
  const u2 = new URL('http://10.0.0.1:2380');
  assert.equal(memberIdOf([u1, u2], 'dcos'), memberIdOf([u2, u1], 'dcos'));
  assert.notEqual(memberIdOf([u1], 'dcos'), memberIdOf([u1], 'other'));
  assert.equal(deriveIds([{ name: 'x', peerUrls: [u1] }], 't').memberIds.get('x'), deriveIds([{ name: 'y', peerUrls: [u1] }], 't').memberIds.get('y'));
  // A runtime-added member also hashes the time, so it differs from the bootstrap id.
  assert.notEqual(memberIdOf([u1], 'dcos', 1700000000), memberIdOf([u1], 'dcos'));
});

test('URLs keep etcd\'s text (explicit default ports) for hashing', () => {
  const c = config(['--initial-cluster', 'default=http://localhost:80', '--initial-advertise-peer-urls', 'http://localhost:80']);
  const viaConfig = deriveIds(c.initialCluster, 'etcd-cluster').memberIds.get('default');
  const viaNewUrl = deriveIds([{ name: 'default', peerUrls: [new URL('http://localhost:80')] }], 'etcd-cluster').memberIds.get('default');
  assert.equal(viaConfig, viaNewUrl);
  assert.notEqual(viaConfig, deriveIds([{ name: 'default', peerUrls: [new URL('http://localhost:2380')] }], 'etcd-cluster').memberIds.get('default'));
});
