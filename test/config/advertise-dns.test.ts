// The DNS half of etcd's bootstrap check (--initial-advertise-peer-urls vs this member's
// --initial-cluster entry), which parseMemberArgs leaves to start-up when host names are involved.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkAdvertiseMatchesCluster } from '../../src/api/config/index.js';
import { config } from './helpers.js';

const base = ['--listen-peer-urls', 'http://127.0.0.1:23827'];

test('a host name that resolves to the advertised IP matches', async () => {
  const c = config([...base, '--initial-advertise-peer-urls', 'http://127.0.0.1:23827', '--initial-cluster', 'default=http://localhost:23827']);
  assert.equal(await checkAdvertiseMatchesCluster(c), null);
});

test('a host name that resolves elsewhere is refused with etcd\'s message', async () => {
  const c = config([...base, '--initial-advertise-peer-urls', 'http://127.0.0.2:23827', '--initial-cluster', 'default=http://localhost:23827']);
  assert.equal(await checkAdvertiseMatchesCluster(c),
    '--initial-cluster has default=http://localhost:23827 but missing from --initial-advertise-peer-urls=http://127.0.0.2:23827 (resolved urls: "http://127.0.0.2:23827" != "http://127.0.0.1:23827")');
});
