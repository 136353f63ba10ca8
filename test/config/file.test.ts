// --config-file: etcd's YAML keys; when given, flags and ETCD_* variables are ignored.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { config, failure, run, texts } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'tsetcd-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));
function yamlFile(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

const full = yamlFile('full.yaml', `
name: cfgnode
data-dir: /var/lib/etcd/cfgnode
wal-dir: /var/lib/etcd/wal
snapshot-count: 5000
heartbeat-interval: 50
election-timeout: 500
listen-client-urls: http://127.0.0.1:23824
advertise-client-urls: http://127.0.0.1:23824
listen-peer-urls: http://127.0.0.1:23825
initial-advertise-peer-urls: http://127.0.0.1:23825
initial-cluster: cfgnode=http://127.0.0.1:23825,b=http://127.0.0.1:23826
initial-cluster-token: tok
initial-cluster-state: new
enable-v2: yes
grpc-keepalive-min-time: 2000000000
log-outputs: [stderr]
cors: "https://a.example,https://b.example"
client-transport-security:
  cert-file: /etc/ssl/c.pem
  key-file: /etc/ssl/k.pem
  client-cert-auth: true
  trusted-ca-file: /etc/ssl/ca.pem
peer-transport-security:
  auto-tls: true
`);

test('config file keys become the configuration', () => {
  const r = run(['--config-file', full]);
  const c = r.config;
  assert.equal(c.name, 'cfgnode');
  assert.equal(c.dataDir, '/var/lib/etcd/cfgnode');
  assert.equal(c.walDir, '/var/lib/etcd/wal');
  assert.equal(c.snapshotCount, 5000);
  assert.equal(c.heartbeatIntervalMs, 50);
  assert.equal(c.electionTimeoutMs, 500);
  assert.deepEqual(texts(c.listenClientUrls), ['http://127.0.0.1:23824/']);
  assert.deepEqual(c.initialCluster.map((m) => m.name), ['cfgnode', 'b']);
  assert.equal(c.initialClusterToken, 'tok');
  assert.equal(c.enableV2, true); // YAML 1.1 "yes", as etcd's go-yaml reads it
  assert.equal(c.grpcKeepaliveMinTimeMs, 2000); // a number is nanoseconds in etcd's file format
  assert.deepEqual(c.logOutputs, ['stderr']);
  assert.deepEqual(c.cors, ['https://a.example', 'https://b.example']);
  assert.deepEqual(c.clientTls, {
    certFile: '/etc/ssl/c.pem', keyFile: '/etc/ssl/k.pem', trustedCaFile: '/etc/ssl/ca.pem', clientCertAuth: true,
    autoTls: false, crlFile: '', allowedHostname: '', allowedCn: '',
  });
  assert.equal(c.peerTls.autoTls, true);
  assert.equal(c.configFile, full);
  assert.ok(r.info.some((l) => l.includes('Other configuration command line flags and environment variables will be ignored')));
});

test('with a config file, other flags and ETCD_* variables are ignored (even conflicting ones)', () => {
  const r = run(['--config-file', full, '--name', 'flagname'], { ETCD_NAME: 'envname', ETCD_ELECTION_TIMEOUT: '1' });
  assert.equal(r.config.name, 'cfgnode');
  assert.equal(r.config.electionTimeoutMs, 500);
  assert.ok(r.warnings.some((w) => w.includes('--name')));
});

test('ETCD_CONFIG_FILE names the config file too', () => {
  assert.equal(config([], { ETCD_CONFIG_FILE: full }).name, 'cfgnode');
});

test('config file defaults are etcd\'s, and the same validation applies', () => {
  const minimal = config(['--config-file', yamlFile('min.yaml', 'name: default\n')]);
  assert.equal(minimal.dataDir, 'default.etcd');
  assert.deepEqual(texts(minimal.listenClientUrls), ['http://localhost:2379/']);
  assert.equal(config(['--config-file', yamlFile('empty.yaml', '')]).name, 'default');
  assert.equal(failure(['--config-file', yamlFile('bad-election.yaml', 'election-timeout: 90\n')]).message,
    "error verifying flags, --election-timeout[90ms] should be at least as 5 times as --heartbeat-interval[100ms]. See 'tsetcd --help'.");
  // In a file, listen-client-urls alone keeps the default advertise URL (etcd does the same).
  assert.deepEqual(texts(config(['--config-file', yamlFile('lc.yaml', 'listen-client-urls: http://127.0.0.1:23824\n')]).advertiseClientUrls),
    ['http://localhost:2379/']);
  assert.match(failure(['--config-file', yamlFile('proxy.yaml', 'proxy: on\n')]).message, /does not support --proxy=on/);
});

test('config file errors use etcd\'s wording', () => {
  const missing = join(dir, 'nonexist.yaml');
  assert.deepEqual(failure(['--config-file', missing]), {
    exitCode: 1, message: `error verifying flags, open ${missing}: no such file or directory. See 'tsetcd --help'.`,
  });
  assert.equal(failure(['--config-file', yamlFile('type.yaml', 'heartbeat-interval: abc\n')]).message,
    "error verifying flags, error unmarshaling JSON: while decoding JSON: json: cannot unmarshal string into Go struct field configYAML.heartbeat-interval of type uint. See 'tsetcd --help'.");
  assert.match(failure(['--config-file', yamlFile('syntax.yaml', 'a: [1, 2\n')]).message, /^error verifying flags, error converting YAML to JSON: yaml: /);
  assert.match(failure(['--config-file', yamlFile('url.yaml', 'listen-peer-urls: ftp://127.0.0.1:1\n')]).message,
    /URL scheme must be http, https, unix, or unixs: ftp:\/\/127\.0\.0\.1:1/);
});

test('unknown keys are accepted with a warning', () => {
  const r = run(['--config-file', yamlFile('unknown.yaml', 'bogus-key: 5\nenable-pprof: true\n')]);
  assert.ok(r.warnings.some((w) => w.includes('"bogus-key"')));
  assert.deepEqual(r.config.ignored, ['enable-pprof']);
});
