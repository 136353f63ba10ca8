// `tsetcd --help` documents every flag etcd 3.4.23 has, with etcd's default, and says which
// ones tsetcd ignores or refuses. The list below is `etcd --help` of /usr/bin/etcd 3.4.23
// (flag and default as printed), plus the hidden flags etcd accepts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMemberArgs } from '../../src/api/config/index.js';

const etcdHelpFlags: Array<[string, string]> = [
  ['name', "'default'"],
  ['data-dir', "'${name}.etcd'"],
  ['wal-dir', "''"],
  ['snapshot-count', "'100000'"],
  ['heartbeat-interval', "'100'"],
  ['election-timeout', "'1000'"],
  ['initial-election-tick-advance', "'true'"],
  ['listen-peer-urls', "'http://localhost:2380'"],
  ['listen-client-urls', "'http://localhost:2379'"],
  ['max-snapshots', "'5'"],
  ['max-wals', "'5'"],
  ['quota-backend-bytes', "'0'"],
  ['backend-batch-interval', "''"],
  ['backend-batch-limit', "'0'"],
  ['max-txn-ops', "'128'"],
  ['max-request-bytes', "'1572864'"],
  ['max-concurrent-streams', "'math.MaxUint32'"],
  ['grpc-keepalive-min-time', "'5s'"],
  ['grpc-keepalive-interval', "'2h'"],
  ['grpc-keepalive-timeout', "'20s'"],
  ['initial-advertise-peer-urls', "'http://localhost:2380'"],
  ['initial-cluster', "'default=http://localhost:2380'"],
  ['initial-cluster-state', "'new'"],
  ['initial-cluster-token', "'etcd-cluster'"],
  ['advertise-client-urls', "'http://localhost:2379'"],
  ['discovery', "''"],
  ['discovery-fallback', "'proxy'"],
  ['discovery-proxy', "''"],
  ['discovery-srv', "''"],
  ['discovery-srv-name', "''"],
  ['strict-reconfig-check', "'true'"],
  ['pre-vote', "'false'"],
  ['auto-compaction-retention', "'0'"],
  ['auto-compaction-mode', "'periodic'"],
  ['enable-v2', "'false'"],
  ['cert-file', "''"],
  ['key-file', "''"],
  ['client-cert-auth', "'false'"],
  ['client-crl-file', "''"],
  ['client-cert-allowed-hostname', "''"],
  ['trusted-ca-file', "''"],
  ['auto-tls', "'false'"],
  ['peer-cert-file', "''"],
  ['peer-key-file', "''"],
  ['peer-client-cert-auth', "'false'"],
  ['peer-trusted-ca-file', "''"],
  ['peer-cert-allowed-cn', "''"],
  ['peer-cert-allowed-hostname', "''"],
  ['peer-auto-tls', "'false'"],
  ['peer-crl-file', "''"],
  ['cipher-suites', "''"],
  ['cors', "'*'"],
  ['host-whitelist', "'*'"],
  ['auth-token', "'simple'"],
  ['bcrypt-cost', "10"],
  ['auth-token-ttl', "300"],
  ['enable-pprof', "'false'"],
  ['metrics', "'basic'"],
  ['listen-metrics-urls', "''"],
  ['logger', "'capnslog'"],
  ['log-outputs', "'default'"],
  ['log-level', "'info'"],
  ['proxy', "'off'"],
  ['proxy-failure-wait', "5000"],
  ['proxy-refresh-interval', "30000"],
  ['proxy-dial-timeout', "1000"],
  ['proxy-write-timeout', "5000"],
  ['proxy-read-timeout', "0"],
  ['experimental-initial-corrupt-check', "'false'"],
  ['experimental-corrupt-check-time', "'0s'"],
  ['experimental-enable-v2v3', "''"],
  ['experimental-backend-bbolt-freelist-type', "'array'"],
  ['experimental-enable-lease-checkpoint', "'false'"],
  ['experimental-compaction-batch-limit', "1000"],
  ['experimental-peer-skip-client-san-verification', "'false'"],
  ['experimental-watch-progress-notify-interval', "'10m'"],
  ['experimental-warning-apply-duration', "'100ms'"],
  ['force-new-cluster', "'false'"],
  ['debug', "'false'"],
  ['log-package-levels', "''"],
];
const hiddenFlags = ['enable-grpc-gateway', 'unsafe-no-fsync', 'experimental-enable-lease-checkpoint-persist', 'log-output'];
const legacyFlags = ['cluster-active-size', 'cluster-remove-delay', 'cluster-sync-interval', 'config', 'force',
  'max-result-buffer', 'max-retry-attempts', 'peer-heartbeat-interval', 'peer-election-timeout', 'retry-interval', 'snapshot', 'v', 'vv'];

function help(): string {
  const r = parseMemberArgs(['--help'], {});
  assert.equal(r.kind, 'help');
  return r.kind === 'help' ? r.text : '';
}

test('help lists every etcd flag with etcd\'s default', () => {
  const text = help();
  assert.equal(etcdHelpFlags.length, 80);
  for (const [name, shown] of etcdHelpFlags) {
    assert.ok(text.includes(`  --${name} ${shown}`), `--${name} ${shown} missing from help`);
  }
  for (const name of [...hiddenFlags, ...legacyFlags]) assert.match(text, new RegExp(`--${name}\\b`));
});

test('every flag in the help is accepted by the parser, and unknown ones are not', () => {
  for (const [name] of etcdHelpFlags) {
    const r = parseMemberArgs([`--${name}=`], {});
    assert.ok(r.kind !== 'error' || !r.message.startsWith('flag provided but not defined'), `--${name} not defined`);
  }
  assert.equal(parseMemberArgs(['--experimental-memory-mlock'], {}).kind, 'error');
});

test('help marks the flags tsetcd ignores or refuses', () => {
  const line = (name: string): string => help().split('\n').find((l) => l.startsWith(`  --${name} `)) ?? '';
  assert.match(line('enable-pprof'), /\[ignored by tsetcd/);
  assert.match(line('backend-batch-limit'), /\[ignored by tsetcd/);
  assert.match(line('discovery'), /\[refused by tsetcd/);
  assert.match(line('proxy'), /\[refused by tsetcd/);
  assert.match(line('experimental-enable-v2v3'), /\[refused by tsetcd/);
  assert.doesNotMatch(line('name'), /ignored|refused/);
  assert.match(help(), /ETCD_INITIAL_CLUSTER_TOKEN/);
});
