// The options schema, validation on install and update, and `package describe --config`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { checkUpdate, defaultOptions, resolveOptions } from '../../src/framework/options.js';
import { TestService } from './helpers.js';

test('package describe --config prints every option of the package with type, default, enum and description', async () => {
  const svc = new TestService();
  try {
    const schema = await svc.json<{ properties: Record<string, { properties: Record<string, { type: string; default: unknown; description: string; enum?: string[] }> }> }>(['package', 'describe', '--config']);
    const expected: Record<string, [string, unknown]> = {
      'service.name': ['string', 'etcd'], 'service.user': ['string', 'root'], 'service.service_account': ['string', ''],
      'service.service_account_secret': ['string', ''], 'service.virtual_network_enabled': ['boolean', false],
      'service.virtual_network_name': ['string', 'dcos'], 'service.virtual_network_plugin_labels': ['string', ''],
      'service.log_level': ['string', 'INFO'], 'service.deploy_strategy': ['string', 'parallel'], 'service.update_strategy': ['string', 'serial'],
      'node.count': ['integer', 3], 'node.placement_constraint': ['string', '[["hostname", "UNIQUE"]]'], 'node.cpus': ['number', 1],
      'node.mem': ['integer', 256], 'node.disk': ['integer', 100], 'node.disk_type': ['string', 'ROOT'],
      'etcd.client_port': ['integer', 2379], 'etcd.peer_port': ['integer', 2380], 'etcd.tls_enabled': ['boolean', false],
      'etcd.use_auto_tls': ['boolean', false], 'etcd.initial_cluster_token': ['string', 'dcos'], 'etcd.heartbeat_interval': ['integer', 100],
      'etcd.election_timeout': ['integer', 1000], 'etcd.snapshot_count': ['integer', 100000],
      'service.vip_address': ['string', '127.0.0.1'], 'node.first_address': ['string', '127.0.1.1'],
    };
    for (const [path, [type, def]] of Object.entries(expected)) {
      const [g, k] = path.split('.') as [string, string];
      const o = schema.properties[g]?.properties[k];
      assert.ok(o !== undefined, `${path} missing`);
      assert.equal(o.type, type, path);
      assert.deepEqual(o.default, def, path);
      assert.ok(o.description.length > 10, `${path} has a description`);
    }
    assert.deepEqual(schema.properties.service!.properties.log_level!.enum, ['OFF', 'FATAL', 'ERROR', 'WARN', 'INFO', 'DEBUG', 'TRACE', 'ALL']);
    assert.deepEqual(schema.properties.node!.properties.disk_type!.enum, ['ROOT', 'MOUNT']);
    // Options without an effect here say so.
    assert.match(schema.properties.node!.properties.cpus!.description, /no effect/);
  } finally {
    await svc.destroy();
  }
});

test('validation: one clear error per problem', () => {
  const r = resolveOptions({ node: { count: 2, mem: 'x' }, etcd: { heartbeat_interval: 300, election_timeout: 1000, use_auto_tls: true, bogus: 1 }, nope: {} });
  assert.equal(r.options, undefined);
  assert.deepEqual(r.errors, ['node.count must be at least 3, got 2', 'node.mem must be an integer, got "x"', "unknown option 'etcd.bogus'", "unknown option group 'nope' (known: service, node, etcd)", 'etcd.election_timeout (1000) must be at least 5 x etcd.heartbeat_interval (300), i.e. >= 1500', 'etcd.use_auto_tls requires etcd.tls_enabled']);
  const r2 = resolveOptions({ etcd: { heartbeat_interval: 300, election_timeout: 1000, use_auto_tls: true } });
  assert.deepEqual(r2.errors, ['etcd.election_timeout (1000) must be at least 5 x etcd.heartbeat_interval (300), i.e. >= 1500', 'etcd.use_auto_tls requires etcd.tls_enabled']);
  assert.deepEqual(resolveOptions({ service: { deploy_strategy: 'random' } }).errors, ["service.deploy_strategy must be one of parallel, serial, got 'random'"]);
  assert.deepEqual(resolveOptions({}).options, defaultOptions());
});

test('update checks: no shrink, no TLS toggle, no port/token/disk change', () => {
  const old = defaultOptions();
  const next = resolveOptions({ node: { count: 5 }, etcd: { heartbeat_interval: 50, election_timeout: 500 } }).options!;
  assert.deepEqual(checkUpdate(old, next), []);
  const bad = resolveOptions({ etcd: { tls_enabled: true, client_port: 3379, peer_port: 3380, initial_cluster_token: 'x' }, node: { disk_type: 'MOUNT' } }).options!;
  const errs = checkUpdate({ ...old, node: { ...old.node, count: 5 } }, bad);
  assert.equal(errs.length, 6);
  assert.match(errs[0]!, /node.count cannot shrink \(5 -> 3\)/);
  assert.match(errs[1]!, /etcd.tls_enabled cannot be toggled/);
  assert.match(errs.join('\n'), /client_port cannot change[\s\S]*peer_port cannot change[\s\S]*initial_cluster_token cannot change[\s\S]*disk_type cannot change/);
});

test('install with invalid options prints the errors, exits 1 and creates nothing', async () => {
  const svc = new TestService();
  try {
    const f = svc.writeOptions({ node: { count: 1 }, etcd: { heartbeat_interval: 500 } });
    const r = await svc.cli(['package', 'install', `--options=${f}`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /node.count must be at least 3, got 1/);
    assert.match(r.stderr, /election_timeout \(1000\) must be at least 5 x etcd.heartbeat_interval \(500\)/);
    assert.equal(existsSync(svc.root), false);
    const u = await svc.cli(['plan', 'status', 'deploy']);
    assert.equal(u.code, 2);
    assert.match(u.stderr, /not installed/);
  } finally {
    await svc.destroy();
  }
});
