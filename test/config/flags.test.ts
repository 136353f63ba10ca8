// `tsetcd [etcd flags]`: defaults, Go flag syntax, ETCD_* variables, and the exit codes and
// messages etcd 3.4.23 gives (each expected message was observed by running /usr/bin/etcd).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMemberArgs } from '../../src/api/config/index.js';
import { config, failure, loopback, run, texts } from './helpers.js';

test('no flags: the one-member cluster `etcd` starts with', () => {
  const c = config([]);
  assert.equal(c.name, 'default');
  assert.equal(c.dataDir, 'default.etcd');
  assert.equal(c.walDir, '');
  assert.deepEqual(texts(c.listenClientUrls), ['http://localhost:2379/']);
  assert.deepEqual(texts(c.advertiseClientUrls), ['http://localhost:2379/']);
  assert.deepEqual(texts(c.listenPeerUrls), ['http://localhost:2380/']);
  assert.deepEqual(texts(c.initialAdvertisePeerUrls), ['http://localhost:2380/']);
  assert.deepEqual(c.listenMetricsUrls, []);
  assert.deepEqual(c.initialCluster.map((m) => [m.name, texts(m.peerUrls)]), [['default', ['http://localhost:2380/']]]);
  assert.equal(c.initialClusterState, 'new');
  assert.equal(c.initialClusterToken, 'etcd-cluster');
  assert.equal(c.snapshotCount, 100000);
  assert.equal(c.heartbeatIntervalMs, 100);
  assert.equal(c.electionTimeoutMs, 1000);
  assert.equal(c.maxSnapshots, 5);
  assert.equal(c.maxWals, 5);
  assert.equal(c.quotaBackendBytes, 0);
  assert.equal(c.maxTxnOps, 128);
  assert.equal(c.maxRequestBytes, 1572864);
  assert.equal(c.maxConcurrentStreams, 4294967295);
  assert.equal(c.grpcKeepaliveMinTimeMs, 5000);
  assert.equal(c.grpcKeepaliveIntervalMs, 2 * 3600 * 1000);
  assert.equal(c.grpcKeepaliveTimeoutMs, 20000);
  assert.equal(c.experimentalWatchProgressNotifyIntervalMs, 600000);
  assert.equal(c.strictReconfigCheck, true);
  assert.equal(c.preVote, false);
  assert.equal(c.enableV2, false);
  assert.equal(c.enableGrpcGateway, true);
  assert.equal(c.forceNewCluster, false);
  assert.equal(c.autoCompactionRetention, '0');
  assert.equal(c.autoCompactionMode, 'periodic');
  assert.equal(c.logger, 'capnslog');
  assert.equal(c.logLevel, 'info');
  assert.deepEqual(c.logOutputs, ['default']);
  assert.deepEqual(c.cors, ['*']);
  assert.deepEqual(c.hostWhitelist, ['*']);
  assert.equal(c.authToken, 'simple');
  assert.equal(c.bcryptCost, 10);
  assert.equal(c.authTokenTtlS, 300);
  assert.equal(c.metrics, 'basic');
  assert.equal(c.clientTls.certFile, '');
  assert.equal(c.peerTls.autoTls, false);
  assert.deepEqual(c.ignored, []);
});

test('Go flag syntax: -flag, --flag=value, --flag value, bare booleans', () => {
  const c = config(['-name=n1', '--data-dir', '/tmp/d', '--enable-v2', '-pre-vote=true', '--strict-reconfig-check=false',
    '--initial-cluster', 'n1=http://localhost:2380', '--snapshot-count=0x10', '--grpc-keepalive-timeout', '1m30s']);
  assert.equal(c.name, 'n1');
  assert.equal(c.dataDir, '/tmp/d');
  assert.equal(c.enableV2, true);
  assert.equal(c.preVote, true);
  assert.equal(c.strictReconfigCheck, false);
  assert.equal(c.snapshotCount, 16);
  assert.equal(c.grpcKeepaliveTimeoutMs, 90000);
});

test('a non-boolean flag takes the next argument, and a boolean does not', () => {
  // `etcd --enable-v2 false` refuses the stray argument with exit 1.
  assert.deepEqual(failure(['--enable-v2', 'false']), {
    exitCode: 1, message: "error verifying flags, 'false' is not a valid flag. See 'tsetcd --help'.",
  });
  assert.deepEqual(failure(['--', '--name', 'x']).message, "error verifying flags, '--name' is not a valid flag. See 'tsetcd --help'.");
});

test('--name alone names the member and its one-member cluster, as etcd does', () => {
  const c = config(['--name', 'solo', '--initial-advertise-peer-urls', 'http://127.0.0.1:23823', '--listen-peer-urls', 'http://127.0.0.1:23823']);
  assert.equal(c.dataDir, 'solo.etcd');
  assert.deepEqual(c.initialCluster.map((m) => [m.name, texts(m.peerUrls)]), [['solo', ['http://127.0.0.1:23823/']]]);
});

test('flag syntax errors exit 2 with Go flag wording and the usage', () => {
  const unknown = failure(['--foo']);
  assert.equal(unknown.exitCode, 2);
  assert.match(unknown.message, /^flag provided but not defined: -foo\nUsage:/);
  assert.equal(failure(['---name', 'x']).message.split('\n')[0], 'bad flag syntax: ---name');
  assert.equal(failure(['--name']).message.split('\n')[0], 'flag needs an argument: -name');
  assert.equal(failure(['--snapshot-count', 'abc']).message.split('\n')[0], 'invalid value "abc" for flag -snapshot-count: parse error');
  assert.equal(failure(['--heartbeat-interval', '-5']).exitCode, 2);
  assert.equal(failure(['--enable-v2=maybe']).message.split('\n')[0], 'invalid boolean value "maybe" for -enable-v2: parse error');
  assert.equal(failure(['--initial-cluster-state', 'foo']).message.split('\n')[0], 'invalid value "foo" for flag -initial-cluster-state: invalid value');
  assert.equal(failure(['--grpc-keepalive-min-time', '5']).message.split('\n')[0], 'invalid value "5" for flag -grpc-keepalive-min-time: parse error');
  assert.equal(failure(['--max-concurrent-streams', 'x']).message.split('\n')[0],
    'invalid value "x" for flag -max-concurrent-streams: strconv.ParseUint: parsing "x": invalid syntax');
});

test('bad URLs are refused with etcd\'s messages', () => {
  const first = (argv: string[]): string => failure(argv).message.split('\n')[0] ?? '';
  assert.equal(first(['--listen-client-urls', 'ftp://127.0.0.1:1']),
    'invalid value "ftp://127.0.0.1:1" for flag -listen-client-urls: URL scheme must be http, https, unix, or unixs: ftp://127.0.0.1:1');
  assert.equal(first(['--listen-client-urls', '127.0.0.1:1']),
    'invalid value "127.0.0.1:1" for flag -listen-client-urls: parse "127.0.0.1:1": first path segment in URL cannot contain colon');
  assert.equal(first(['--listen-client-urls', 'http://127.0.0.1']),
    'invalid value "http://127.0.0.1" for flag -listen-client-urls: URL address does not have the form "host:port": http://127.0.0.1');
  assert.equal(first(['--listen-client-urls', 'http://127.0.0.1:1/p']),
    'invalid value "http://127.0.0.1:1/p" for flag -listen-client-urls: URL must not contain a path: http://127.0.0.1:1/p');
  assert.equal(first(['--listen-peer-urls', 'http://example.com:23811']),
    "error verifying flags, expected IP in URL for binding (http://example.com:23811). See 'tsetcd --help'.");
  assert.equal(first(['--advertise-client-urls', 'http://:23811']),
    'error verifying flags, --advertise-client-urls "http://:23811" must be "host:port" (unexpected empty host (http://:23811)). See \'tsetcd --help\'.');
  assert.equal(first(['--initial-cluster', 'default=ftp://x:1']),
    'error setting up initial cluster: URL scheme must be http, https, unix, or unixs: ftp://x:1');
});

test('URL lists are de-duplicated and sorted, unix sockets parse', () => {
  const c = config(['--listen-client-urls', 'http://127.0.0.2:1,http://127.0.0.1:1,http://127.0.0.1:1,unix://localhost:5',
    '--advertise-client-urls', 'http://127.0.0.1:1']);
  assert.deepEqual(c.listenClientUrls.map((u) => u.href), ['http://127.0.0.1:1/', 'http://127.0.0.2:1/', 'unix://localhost:5']);
});

test('timing validation: election >= 5 x heartbeat, both > 0, election <= 50000', () => {
  assert.deepEqual(failure(['--election-timeout', '100']), {
    exitCode: 1,
    message: "error verifying flags, --election-timeout[100ms] should be at least as 5 times as --heartbeat-interval[100ms]. See 'tsetcd --help'.",
  });
  assert.equal(failure(['--heartbeat-interval', '0']).message,
    "error verifying flags, --heartbeat-interval must be >0 (set to 0ms). See 'tsetcd --help'.");
  assert.equal(failure(['--election-timeout', '60000', '--heartbeat-interval', '1000']).message,
    "error verifying flags, --election-timeout[60000ms] is too long, and should be set less than 50000ms. See 'tsetcd --help'.");
  assert.equal(config(['--election-timeout', '500', '--heartbeat-interval', '100']).electionTimeoutMs, 500);
  assert.equal(config(['--election-timeout', '50000', '--heartbeat-interval', '100']).electionTimeoutMs, 50000);
});

test('--advertise-client-urls is required once --listen-client-urls is set', () => {
  const e = failure(['--listen-client-urls', 'http://127.0.0.1:23822']);
  assert.equal(e.exitCode, 1);
  assert.match(e.message, /^error verifying flags, --advertise-client-urls is required when --listen-client-urls is set explicitly/);
  // Also when the listen URL comes from the environment.
  failure([], { ETCD_LISTEN_CLIENT_URLS: 'http://127.0.0.1:23822' });
  assert.deepEqual(texts(config(loopback).advertiseClientUrls), ['http://127.0.0.1:23822/']);
});

test('the member must be in --initial-cluster, with the peer URLs it advertises', () => {
  assert.equal(failure([...loopback, '--name', 'foo']).message,
    'couldn\'t find local name "foo" in the initial cluster configuration');
  assert.equal(failure([...loopback, '--initial-cluster', 'default=http://127.0.0.1:9999']).message,
    '--initial-cluster has default=http://127.0.0.1:9999 but missing from --initial-advertise-peer-urls=http://127.0.0.1:23823 (resolved urls: "http://127.0.0.1:23823" != "http://127.0.0.1:9999")');
  assert.equal(failure([...loopback, '--initial-cluster', 'default=http://127.0.0.1:23823,default=http://127.0.0.1:23824']).message,
    '--initial-cluster has default=http://127.0.0.1:23824 but missing from --initial-advertise-peer-urls=http://127.0.0.1:23823 (len(["http://127.0.0.1:23823"]) != len(["http://127.0.0.1:23823" "http://127.0.0.1:23824"]))');
  assert.equal(failure([...loopback, '--initial-cluster', 'default=http://127.0.0.1:23823,other=http://127.0.0.1:23823']).message,
    'initial cluster default=http://127.0.0.1:23823,other=http://127.0.0.1:23823 has duplicate url');
  // Joining an existing cluster: the advertised URLs are not compared (etcd does not either).
  const joining = config([...loopback, '--initial-cluster-state', 'existing', '--initial-cluster', 'default=http://127.0.0.1:9999,b=http://127.0.0.1:9998']);
  assert.equal(joining.initialClusterState, 'existing');
  assert.deepEqual(joining.initialCluster.map((m) => m.name), ['default', 'b']);
  // Host names are left to the DNS check at start (the DC/OS package relies on it).
  config([...loopback, '--initial-cluster', 'default=http://etcd-0.example:23823']);
});

test('other validations: compaction, logger, log outputs, auth token', () => {
  const verifying = (argv: string[]): string => failure(argv).message;
  assert.equal(verifying(['--auto-compaction-mode', 'foo']), 'error verifying flags, unknown auto-compaction-mode "foo". See \'tsetcd --help\'.');
  assert.equal(verifying(['--logger', 'foo']), 'error verifying flags, unknown logger option "foo". See \'tsetcd --help\'.');
  assert.equal(verifying(['--log-outputs', 'stdout,stderr']),
    'error verifying flags, --logger=capnslog supports only 1 value in \'--log-outputs\', got ["stderr" "stdout"]. See \'tsetcd --help\'.');
  assert.equal(verifying(['--log-outputs', 'foo']),
    'error verifying flags, unknown log-output "foo" (only supports "default", "stderr", "stdout"). See \'tsetcd --help\'.');
  assert.match(verifying(['--log-level', 'foo']), /unknown level "foo"/);
  assert.equal(verifying(['--auto-compaction-retention', 'xx']), 'error parsing CompactionRetention: time: invalid duration "xx"');
  // etcd 3.4 logs the reason and exits with "auth: invalid auth options" (checked against it).
  assert.equal(verifying(['--auth-token', 'foo']), 'auth: invalid auth options (unknown token type: foo)');
  assert.equal(verifying(['--auth-token', 'simple,foo']), 'auth: invalid auth options (invalid token specific option: simple,foo)');
  assert.equal(verifying(['--auth-token', 'jwt,sign-method=HS256,,ttl=5m']), 'auth: invalid auth options (invalid token specific option: jwt,sign-method=HS256,,ttl=5m)');
  assert.equal(verifying(['--auth-token', 'jwt,sign-method=RS256,ttl=5m=3']), 'auth: invalid auth options (invalid token specific option: jwt,sign-method=RS256,ttl=5m=3)');
  assert.equal(verifying(['--auth-token', 'jwt,sign-method=RS256,sign-method=RS256']),
    'auth: invalid auth options (invalid token specific option, duplicated parameters (sign-method): jwt,sign-method=RS256,sign-method=RS256)');
  assert.equal(config(['--auth-token', 'simple,a=b']).authToken, 'simple,a=b');
  assert.deepEqual(config(['--logger', 'zap', '--log-outputs', 'stderr,/tmp/x.log']).logOutputs, ['/tmp/x.log', 'stderr']);
  assert.equal(config(['--debug']).logLevel, 'debug');
  const periodic = config(['--auto-compaction-retention', '2']);
  assert.equal(periodic.autoCompactionRetentionMs, 2 * 3600_000);
  assert.equal(config(['--auto-compaction-retention', '30m']).autoCompactionRetentionMs, 1800_000);
  const revision = config(['--auto-compaction-mode', 'revision', '--auto-compaction-retention', '1000']);
  assert.equal(revision.autoCompactionRetentionRevisions, 1000);
  assert.equal(revision.autoCompactionRetentionMs, 0);
  const cost = run(['--bcrypt-cost', '2']);
  assert.equal(cost.config.bcryptCost, 10);
  assert.ok(cost.warnings.some((w) => w.includes('bcrypt')));
});

test('TLS flags are parsed; https without key material is refused', () => {
  const c = config(['--cert-file', 'c.pem', '--key-file', 'k.pem', '--trusted-ca-file', 'ca.pem', '--client-cert-auth',
    '--peer-auto-tls', '--peer-client-cert-auth', '--listen-client-urls', 'https://127.0.0.1:23822',
    '--advertise-client-urls', 'https://127.0.0.1:23822']);
  assert.equal(c.clientTls.certFile, 'c.pem');
  assert.equal(c.clientTls.keyFile, 'k.pem');
  assert.equal(c.clientTls.trustedCaFile, 'ca.pem');
  assert.equal(c.clientTls.clientCertAuth, true);
  assert.equal(c.peerTls.autoTls, true);
  assert.equal(c.peerTls.clientCertAuth, true);
  assert.equal(failure(['--listen-client-urls', 'https://127.0.0.1:23822', '--advertise-client-urls', 'https://127.0.0.1:23822']).message,
    'TLS key/cert (--cert-file, --key-file) must be provided for client url https://127.0.0.1:23822 with HTTPS scheme');
  assert.equal(config(['--auto-tls', '--listen-client-urls', 'https://127.0.0.1:23822', '--advertise-client-urls', 'https://127.0.0.1:23822']).clientTls.autoTls, true);
});

test('ETCD_* variables set flags; unknown ones are warned about; each use is logged', () => {
  const r = run([], {
    ETCD_NAME: 'n1', ETCD_INITIAL_CLUSTER: 'n1=http://localhost:2380', ETCD_INITIAL_CLUSTER_TOKEN: 'dcos',
    ETCD_ENABLE_V2: 'true', ETCD_HEARTBEAT_INTERVAL: '200', ETCD_ELECTION_TIMEOUT: '2000', ETCD_FOO: '1',
    ETCD_DATA_DIR: '', PATH: '/bin',
  });
  assert.equal(r.config.name, 'n1');
  assert.equal(r.config.dataDir, 'n1.etcd'); // an empty variable is ignored
  assert.equal(r.config.initialClusterToken, 'dcos');
  assert.equal(r.config.enableV2, true);
  assert.equal(r.config.heartbeatIntervalMs, 200);
  assert.equal(r.config.electionTimeoutMs, 2000);
  assert.ok(r.warnings.includes('unrecognized environment variable ETCD_FOO=1'));
  assert.ok(r.info.includes('recognized and used environment variable ETCD_INITIAL_CLUSTER_TOKEN=dcos'));
  assert.equal(failure([], { ETCD_SNAPSHOT_COUNT: 'abc' }).message,
    'error verifying flags, invalid value "abc" for ETCD_SNAPSHOT_COUNT: parse error. See \'tsetcd --help\'.');
});

test('a flag set both on the command line and in ETCD_* is fatal, as in etcd 3.4', () => {
  // Observed: `ETCD_NAME=x etcd --name y` exits 1 with this message (the brief expected etcd to
  // prefer the flag; real etcd 3.4.23 refuses).
  assert.deepEqual(failure(['--name', 'y'], { ETCD_NAME: 'x' }), {
    exitCode: 1,
    message: 'conflicting environment variable "ETCD_NAME" is shadowed by corresponding command-line flag (either unset environment variable or disable flag)',
  });
});

test('refused flags say what to use instead; ignored flags are listed', () => {
  assert.equal(failure(['--discovery', 'https://discovery.etcd.io/x']).message, 'tsetcd does not support --discovery; use --initial-cluster');
  assert.match(failure(['--proxy', 'on']).message, /^tsetcd does not support --proxy=on/);
  assert.match(failure(['--proxy=readonly']).message, /^tsetcd does not support --proxy=readonly/);
  assert.match(failure(['--experimental-enable-v2v3', '/v2']).message, /^tsetcd does not support --experimental-enable-v2v3/);
  assert.match(failure(['gateway', 'start']).message, /does not support `etcd gateway`/);
  assert.match(failure([], { ETCD_DISCOVERY: 'https://discovery.etcd.io/x' }).message, /does not support --discovery/);
  assert.deepEqual(config(['--proxy', 'off']).ignored, []);
  const r = run(['--enable-pprof', '--backend-batch-limit', '10', '--snapshot', '--log-package-levels', 'etcdmain=DEBUG']);
  assert.deepEqual(r.config.ignored.sort(), ['backend-batch-limit', 'enable-pprof', 'log-package-levels', 'snapshot']);
  assert.ok(r.warnings.includes('flag "-snapshot" is no longer supported - ignoring.'));
});

test('--version and --help', () => {
  const v = parseMemberArgs(['--version'], {});
  assert.equal(v.kind, 'version');
  if (v.kind !== 'version') return;
  assert.match(v.text, /^tsetcd Version: \d+\.\d+\.\d+\nAPI Version: 3\.4\n/);
  assert.match(v.text, /etcd 3\.4\.23/);
  assert.equal(parseMemberArgs(['--version=false', '--election-timeout', '1'], {}).kind, 'error');
  for (const h of [['-h'], ['--help'], ['-help'], ['--name', 'x', '-h']]) assert.equal(parseMemberArgs(h, {}).kind, 'help');
  // Go parses left to right: an unknown flag before -h is an error.
  assert.equal(parseMemberArgs(['--foo', '-h'], {}).kind, 'error');
});
