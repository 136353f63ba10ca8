// MemberMetrics against what etcd 3.4.23 exposes: family names, types and HELP texts, histogram
// buckets, label sets, counters moving on events, the text format, and the two HTTP servers.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import Fastify, { type FastifyInstance } from 'fastify';
import { MemberMetrics, registerMetricsRoute, createMetricsServer, METRICS_CONTENT_TYPE, type MetricsServer } from '../../src/api/metrics/index.js';

// Captured from a real etcd 3.4.23 (/usr/bin/etcd) on loopback: `# TYPE` and `# HELP` lines of
// `curl http://127.0.0.1:30210/metrics`, joined over three runs (a fresh one-member cluster; a
// two-member cluster with --enable-v2 --metrics=extensive after v2 and v3 traffic; the same after
// stopping the other member). go_* families (Go runtime: go_gc_duration_seconds, go_goroutines,
// go_info, go_memstats_*, go_threads) are left out: tsetcd is not a Go process; prom-client's
// nodejs_* families stand in for them.
const ETCD_FAMILIES: ReadonlyArray<readonly [string, string, string]> = [
  ['etcd_cluster_version', 'gauge', "Which version is running. 1 for 'cluster_version' label with current cluster version"],
  ['etcd_debugging_auth_revision', 'gauge', 'The current revision of auth store.'],
  ['etcd_debugging_disk_backend_commit_rebalance_duration_seconds', 'histogram', 'The latency distributions of commit.rebalance called by bboltdb backend.'],
  ['etcd_debugging_disk_backend_commit_spill_duration_seconds', 'histogram', 'The latency distributions of commit.spill called by bboltdb backend.'],
  ['etcd_debugging_disk_backend_commit_write_duration_seconds', 'histogram', 'The latency distributions of commit.write called by bboltdb backend.'],
  ['etcd_debugging_lease_granted_total', 'counter', 'The total number of granted leases.'],
  ['etcd_debugging_lease_renewed_total', 'counter', 'The number of renewed leases seen by the leader.'],
  ['etcd_debugging_lease_revoked_total', 'counter', 'The total number of revoked leases.'],
  ['etcd_debugging_lease_ttl_total', 'histogram', 'Bucketed histogram of lease TTLs.'],
  ['etcd_debugging_mvcc_compact_revision', 'gauge', 'The revision of the last compaction in store.'],
  ['etcd_debugging_mvcc_current_revision', 'gauge', 'The current revision of store.'],
  ['etcd_debugging_mvcc_db_compaction_keys_total', 'counter', 'Total number of db keys compacted.'],
  ['etcd_debugging_mvcc_db_compaction_pause_duration_milliseconds', 'histogram', 'Bucketed histogram of db compaction pause duration.'],
  ['etcd_debugging_mvcc_db_compaction_total_duration_milliseconds', 'histogram', 'Bucketed histogram of db compaction total duration.'],
  ['etcd_debugging_mvcc_db_total_size_in_bytes', 'gauge', 'Total size of the underlying database physically allocated in bytes.'],
  ['etcd_debugging_mvcc_delete_total', 'counter', 'Total number of deletes seen by this member.'],
  ['etcd_debugging_mvcc_events_total', 'counter', 'Total number of events sent by this member.'],
  ['etcd_debugging_mvcc_index_compaction_pause_duration_milliseconds', 'histogram', 'Bucketed histogram of index compaction pause duration.'],
  ['etcd_debugging_mvcc_keys_total', 'gauge', 'Total number of keys.'],
  ['etcd_debugging_mvcc_pending_events_total', 'gauge', 'Total number of pending events to be sent.'],
  ['etcd_debugging_mvcc_put_total', 'counter', 'Total number of puts seen by this member.'],
  ['etcd_debugging_mvcc_range_total', 'counter', 'Total number of ranges seen by this member.'],
  ['etcd_debugging_mvcc_slow_watcher_total', 'gauge', 'Total number of unsynced slow watchers.'],
  ['etcd_debugging_mvcc_total_put_size_in_bytes', 'gauge', 'The total size of put kv pairs seen by this member.'],
  ['etcd_debugging_mvcc_txn_total', 'counter', 'Total number of txns seen by this member.'],
  ['etcd_debugging_mvcc_watch_stream_total', 'gauge', 'Total number of watch streams.'],
  ['etcd_debugging_mvcc_watcher_total', 'gauge', 'Total number of watchers.'],
  ['etcd_debugging_server_lease_expired_total', 'counter', 'The total number of expired leases.'],
  ['etcd_debugging_snap_save_marshalling_duration_seconds', 'histogram', 'The marshalling cost distributions of save called by snapshot.'],
  ['etcd_debugging_snap_save_total_duration_seconds', 'histogram', 'The total latency distributions of save called by snapshot.'],
  ['etcd_debugging_store_expires_total', 'counter', 'Total number of expired keys.'],
  ['etcd_debugging_store_reads_total', 'counter', 'Total number of reads action by (get/getRecursive), local to this member.'],
  ['etcd_debugging_store_watch_requests_total', 'counter', 'Total number of incoming watch requests (new or reestablished).'],
  ['etcd_debugging_store_watchers', 'gauge', 'Count of currently active watchers.'],
  ['etcd_debugging_store_writes_total', 'counter', 'Total number of writes (e.g. set/compareAndDelete) seen by this member.'],
  ['etcd_disk_backend_commit_duration_seconds', 'histogram', 'The latency distributions of commit called by backend.'],
  ['etcd_disk_backend_defrag_duration_seconds', 'histogram', 'The latency distribution of backend defragmentation.'],
  ['etcd_disk_backend_snapshot_duration_seconds', 'histogram', 'The latency distribution of backend snapshots.'],
  ['etcd_disk_defrag_inflight', 'gauge', 'Whether or not defrag is active on the member. 1 means active, 0 means not.'],
  ['etcd_disk_wal_fsync_duration_seconds', 'histogram', 'The latency distributions of fsync called by WAL.'],
  ['etcd_disk_wal_write_bytes_total', 'gauge', 'Total number of bytes written in WAL.'],
  ['etcd_grpc_proxy_cache_hits_total', 'gauge', 'Total number of cache hits'],
  ['etcd_grpc_proxy_cache_keys_total', 'gauge', 'Total number of keys/ranges cached'],
  ['etcd_grpc_proxy_cache_misses_total', 'gauge', 'Total number of cache misses'],
  ['etcd_grpc_proxy_events_coalescing_total', 'counter', 'Total number of events coalescing'],
  ['etcd_grpc_proxy_watchers_coalescing_total', 'gauge', 'Total number of current watchers coalescing'],
  ['etcd_http_failed_total', 'counter', 'Counter of handle failures of requests (non-watches), by method (GET/PUT etc.) and code (400, 500 etc.).'],
  ['etcd_http_received_total', 'counter', 'Counter of requests received into the system (successfully parsed and authd).'],
  ['etcd_http_successful_duration_seconds', 'histogram', 'Bucketed histogram of processing time (s) of successfully handled requests (non-watches), by method (GET/PUT etc.).'],
  ['etcd_mvcc_db_open_read_transactions', 'gauge', 'The number of currently open read transactions'],
  ['etcd_mvcc_db_total_size_in_bytes', 'gauge', 'Total size of the underlying database physically allocated in bytes.'],
  ['etcd_mvcc_db_total_size_in_use_in_bytes', 'gauge', 'Total size of the underlying database logically in use in bytes.'],
  ['etcd_mvcc_delete_total', 'counter', 'Total number of deletes seen by this member.'],
  ['etcd_mvcc_hash_duration_seconds', 'histogram', 'The latency distribution of storage hash operation.'],
  ['etcd_mvcc_hash_rev_duration_seconds', 'histogram', 'The latency distribution of storage hash by revision operation.'],
  ['etcd_mvcc_put_total', 'counter', 'Total number of puts seen by this member.'],
  ['etcd_mvcc_range_total', 'counter', 'Total number of ranges seen by this member.'],
  ['etcd_mvcc_txn_total', 'counter', 'Total number of txns seen by this member.'],
  ['etcd_network_active_peers', 'gauge', 'The current number of active peer connections.'],
  ['etcd_network_client_grpc_received_bytes_total', 'counter', 'The total number of bytes received from grpc clients.'],
  ['etcd_network_client_grpc_sent_bytes_total', 'counter', 'The total number of bytes sent to grpc clients.'],
  ['etcd_network_disconnected_peers_total', 'counter', 'The total number of disconnected peers.'],
  ['etcd_network_peer_received_bytes_total', 'counter', 'The total number of bytes received from peers.'],
  ['etcd_network_peer_round_trip_time_seconds', 'histogram', 'Round-Trip-Time histogram between peers'],
  ['etcd_network_peer_sent_bytes_total', 'counter', 'The total number of bytes sent to peers.'],
  ['etcd_network_peer_sent_failures_total', 'counter', 'The total number of send failures from peers.'],
  ['etcd_server_client_requests_total', 'counter', 'The total number of client requests per client version.'],
  ['etcd_server_go_version', 'gauge', "Which Go version server is running with. 1 for 'server_go_version' label with current version."],
  ['etcd_server_has_leader', 'gauge', 'Whether or not a leader exists. 1 is existence, 0 is not.'],
  ['etcd_server_health_failures', 'counter', 'The total number of failed health checks'],
  ['etcd_server_health_success', 'counter', 'The total number of successful health checks'],
  ['etcd_server_heartbeat_send_failures_total', 'counter', 'The total number of leader heartbeat send failures (likely overloaded from slow disk).'],
  ['etcd_server_id', 'gauge', "Server or member ID in hexadecimal format. 1 for 'server_id' label with current ID."],
  ['etcd_server_is_leader', 'gauge', 'Whether or not this member is a leader. 1 if is, 0 otherwise.'],
  ['etcd_server_is_learner', 'gauge', 'Whether or not this member is a learner. 1 if is, 0 otherwise.'],
  ['etcd_server_leader_changes_seen_total', 'counter', 'The number of leader changes seen.'],
  ['etcd_server_learner_promote_successes', 'counter', 'The total number of successful learner promotions while this member is leader.'],
  ['etcd_server_proposals_applied_total', 'gauge', 'The total number of consensus proposals applied.'],
  ['etcd_server_proposals_committed_total', 'gauge', 'The total number of consensus proposals committed.'],
  ['etcd_server_proposals_failed_total', 'counter', 'The total number of failed proposals seen.'],
  ['etcd_server_proposals_pending', 'gauge', 'The current number of pending proposals to commit.'],
  ['etcd_server_quota_backend_bytes', 'gauge', 'Current backend storage quota size in bytes.'],
  ['etcd_server_read_indexes_failed_total', 'counter', 'The total number of failed read indexes seen.'],
  ['etcd_server_slow_apply_total', 'counter', 'The total number of slow apply requests (likely overloaded from slow disk).'],
  ['etcd_server_slow_read_indexes_total', 'counter', "The total number of pending read indexes not in sync with leader's or timed out read index requests."],
  ['etcd_server_snapshot_apply_in_progress_total', 'gauge', '1 if the server is applying the incoming snapshot. 0 if none.'],
  ['etcd_server_version', 'gauge', "Which version is running. 1 for 'server_version' label with current version."],
  ['etcd_snap_db_fsync_duration_seconds', 'histogram', 'The latency distributions of fsyncing .snap.db file'],
  ['etcd_snap_db_save_total_duration_seconds', 'histogram', 'The total latency distributions of v3 snapshot save'],
  ['etcd_snap_fsync_duration_seconds', 'histogram', 'The latency distributions of fsync called by snap.'],
  ['grpc_server_handled_total', 'counter', 'Total number of RPCs completed on the server, regardless of success or failure.'],
  ['grpc_server_handling_seconds', 'histogram', 'Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.'],
  ['grpc_server_msg_received_total', 'counter', 'Total number of RPC stream messages received on the server.'],
  ['grpc_server_msg_sent_total', 'counter', 'Total number of gRPC stream messages sent by the server.'],
  ['grpc_server_started_total', 'counter', 'Total number of RPCs started on the server.'],
  ['os_fd_limit', 'gauge', 'The file descriptor limit.'],
  ['os_fd_used', 'gauge', 'The number of used file descriptors.'],
  ['process_cpu_seconds_total', 'counter', 'Total user and system CPU time spent in seconds.'],
  ['process_max_fds', 'gauge', 'Maximum number of open file descriptors.'],
  ['process_open_fds', 'gauge', 'Number of open file descriptors.'],
  ['process_resident_memory_bytes', 'gauge', 'Resident memory size in bytes.'],
  ['process_start_time_seconds', 'gauge', 'Start time of the process since unix epoch in seconds.'],
  ['process_virtual_memory_bytes', 'gauge', 'Virtual memory size in bytes.'],
  ['process_virtual_memory_max_bytes', 'gauge', 'Maximum amount of virtual memory available in bytes.'],
  ['promhttp_metric_handler_requests_in_flight', 'gauge', 'Current number of scrapes being served.'],
  ['promhttp_metric_handler_requests_total', 'counter', 'Total number of scrapes by HTTP status code.'],
];

// Families etcd 3.4 registers with labels and so prints only once a series exists (none did in
// the runs above); names, types and HELP from etcd 3.4's etcdserver/metrics.go and
// etcdserver/api/rafthttp/metrics.go.
const ETCD_LABELED_FAMILIES: ReadonlyArray<readonly [string, string, string]> = [
  ['etcd_server_learner_promote_failures', 'counter', 'The total number of failed learner promotions (likely learner not ready) while this member is leader.'],
  ['etcd_network_peer_received_failures_total', 'counter', 'The total number of receive failures from peers.'],
  ['etcd_network_snapshot_send_success', 'counter', 'Total number of successful snapshot sends'],
  ['etcd_network_snapshot_send_inflights_total', 'gauge', 'Total number of inflight snapshot sends'],
  ['etcd_network_snapshot_send_failures', 'counter', 'Total number of snapshot send failures'],
  ['etcd_network_snapshot_send_total_duration_seconds', 'histogram', 'Total latency distributions of v3 snapshot sends'],
  ['etcd_network_snapshot_receive_success', 'counter', 'Total number of successful snapshot receives'],
  ['etcd_network_snapshot_receive_inflights_total', 'gauge', 'Total number of inflight snapshot receives'],
  ['etcd_network_snapshot_receive_failures', 'counter', 'Total number of snapshot receive failures'],
  ['etcd_network_snapshot_receive_total_duration_seconds', 'histogram', 'Total latency distributions of v3 snapshot receives'],
];

// `le` values of every histogram in the same captures, in order.
const ETCD_BUCKETS: Readonly<Record<string, string>> = {
  etcd_debugging_disk_backend_commit_rebalance_duration_seconds: '0.001 0.002 0.004 0.008 0.016 0.032 0.064 0.128 0.256 0.512 1.024 2.048 4.096 8.192 +Inf',
  etcd_debugging_disk_backend_commit_spill_duration_seconds: '0.001 0.002 0.004 0.008 0.016 0.032 0.064 0.128 0.256 0.512 1.024 2.048 4.096 8.192 +Inf',
  etcd_debugging_disk_backend_commit_write_duration_seconds: '0.001 0.002 0.004 0.008 0.016 0.032 0.064 0.128 0.256 0.512 1.024 2.048 4.096 8.192 +Inf',
  etcd_debugging_lease_ttl_total: '1 2 4 8 16 32 64 128 256 512 1024 2048 4096 8192 16384 32768 65536 131072 262144 524288 1.048576e+06 2.097152e+06 4.194304e+06 8.388608e+06 +Inf',
  etcd_debugging_mvcc_db_compaction_pause_duration_milliseconds: '1 2 4 8 16 32 64 128 256 512 1024 2048 4096 +Inf',
  etcd_debugging_mvcc_db_compaction_total_duration_milliseconds: '100 200 400 800 1600 3200 6400 12800 25600 51200 102400 204800 409600 819200 +Inf',
  etcd_debugging_mvcc_index_compaction_pause_duration_milliseconds: '0.5 1 2 4 8 16 32 64 128 256 512 1024 2048 4096 +Inf',
  etcd_debugging_snap_save_marshalling_duration_seconds: '0.001 0.002 0.004 0.008 0.016 0.032 0.064 0.128 0.256 0.512 1.024 2.048 4.096 8.192 +Inf',
  etcd_debugging_snap_save_total_duration_seconds: '0.001 0.002 0.004 0.008 0.016 0.032 0.064 0.128 0.256 0.512 1.024 2.048 4.096 8.192 +Inf',
  etcd_disk_backend_commit_duration_seconds: '0.001 0.002 0.004 0.008 0.016 0.032 0.064 0.128 0.256 0.512 1.024 2.048 4.096 8.192 +Inf',
  etcd_disk_backend_defrag_duration_seconds: '0.1 0.2 0.4 0.8 1.6 3.2 6.4 12.8 25.6 51.2 102.4 204.8 409.6 +Inf',
  etcd_disk_backend_snapshot_duration_seconds: '0.01 0.02 0.04 0.08 0.16 0.32 0.64 1.28 2.56 5.12 10.24 20.48 40.96 81.92 163.84 327.68 655.36 +Inf',
  etcd_disk_wal_fsync_duration_seconds: '0.001 0.002 0.004 0.008 0.016 0.032 0.064 0.128 0.256 0.512 1.024 2.048 4.096 8.192 +Inf',
  etcd_http_successful_duration_seconds: '0.0005 0.001 0.002 0.004 0.008 0.016 0.032 0.064 0.128 0.256 0.512 1.024 2.048 +Inf',
  etcd_mvcc_hash_duration_seconds: '0.01 0.02 0.04 0.08 0.16 0.32 0.64 1.28 2.56 5.12 10.24 20.48 40.96 81.92 163.84 +Inf',
  etcd_mvcc_hash_rev_duration_seconds: '0.01 0.02 0.04 0.08 0.16 0.32 0.64 1.28 2.56 5.12 10.24 20.48 40.96 81.92 163.84 +Inf',
  etcd_network_peer_round_trip_time_seconds: '0.0001 0.0002 0.0004 0.0008 0.0016 0.0032 0.0064 0.0128 0.0256 0.0512 0.1024 0.2048 0.4096 0.8192 1.6384 3.2768 +Inf',
  etcd_snap_db_fsync_duration_seconds: '0.001 0.002 0.004 0.008 0.016 0.032 0.064 0.128 0.256 0.512 1.024 2.048 4.096 8.192 +Inf',
  etcd_snap_db_save_total_duration_seconds: '0.1 0.2 0.4 0.8 1.6 3.2 6.4 12.8 25.6 51.2 +Inf',
  etcd_snap_fsync_duration_seconds: '0.001 0.002 0.004 0.008 0.016 0.032 0.064 0.128 0.256 0.512 1.024 2.048 4.096 8.192 +Inf',
  grpc_server_handling_seconds: '0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5 10 +Inf',
};

interface Family {
  type: string;
  help: string;
  samples: Array<{ name: string; labels: Record<string, string>; value: number }>;
}

const SAMPLE_RE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*)?\})? (\S+)$/;
const LABEL_RE = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Parses the Prometheus text format strictly: every line is `# HELP`, `# TYPE` or a sample of
 *  the family declared just before it; the body ends with one newline. */
function parse(text: string): Map<string, Family> {
  assert.ok(text.endsWith('\n') && !text.endsWith('\n\n'), 'body ends with exactly one newline');
  const out = new Map<string, Family>();
  let current: { name: string; fam: Family } | undefined;
  for (const line of text.slice(0, -1).split('\n')) {
    const help = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line);
    if (help !== null) {
      assert.ok(!out.has(help[1]!), `family ${help[1]} declared twice`);
      current = { name: help[1]!, fam: { type: '', help: help[2]!, samples: [] } };
      out.set(help[1]!, current.fam);
      continue;
    }
    const type = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (type !== null) {
      assert.equal(type[1], current?.name, `TYPE after its HELP: ${line}`);
      current!.fam.type = type[2]!;
      continue;
    }
    const m = SAMPLE_RE.exec(line);
    assert.ok(m !== null, `not a comment nor name{labels} value: ${JSON.stringify(line)}`);
    const value = Number(m[3]);
    assert.ok(!Number.isNaN(value) || /^nan$/i.test(m[3]!), `value of ${line}`);
    const name = m[1]!;
    assert.ok(current !== undefined, `sample before any family: ${line}`);
    const base = current.name;
    const ok = name === base || (current.fam.type === 'histogram' && [`${base}_bucket`, `${base}_sum`, `${base}_count`].includes(name)) || (current.fam.type === 'summary' && [`${base}_sum`, `${base}_count`].includes(name));
    assert.ok(ok, `sample ${name} outside its family ${base}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL_RE)) labels[l[1]!] = l[2]!;
    current.fam.samples.push({ name, labels, value });
  }
  return out;
}

function value(fams: Map<string, Family>, name: string, labels: Record<string, string> = {}): number | undefined {
  const base = name.replace(/_(bucket|sum|count)$/, '');
  const fam = fams.get(name) ?? fams.get(base);
  const s = fam?.samples.find((x) => x.name === name && Object.keys(labels).every((k) => x.labels[k] === labels[k]) && Object.keys(x.labels).length === Object.keys(labels).length);
  return s?.value;
}

async function scrape(m: MemberMetrics): Promise<Map<string, Family>> {
  return parse(await m.scrape());
}

const ID = 'f24f92dcb605750d';
const PEER = 'cdeb280618cd335d';

describe('MemberMetrics: etcd 3.4 families', () => {
  it('serves every family etcd 3.4.23 exposes, with its type and HELP text', async () => {
    const m = new MemberMetrics({ memberId: ID, extensive: true });
    const fams = await scrape(m);
    for (const [name, type, help] of [...ETCD_FAMILIES, ...ETCD_LABELED_FAMILIES]) {
      const f = fams.get(name);
      assert.ok(f !== undefined, `missing family ${name}`);
      assert.equal(f.type, type, `type of ${name}`);
      assert.equal(f.help, help, `HELP of ${name}`);
    }
    assert.ok(fams.has('process_resident_memory_bytes'));
    assert.ok((value(fams, 'process_resident_memory_bytes') ?? 0) > 0);
  });

  it('families come sorted by name, as Go prints them', async () => {
    const names = [...(await scrape(new MemberMetrics({ memberId: ID }))).keys()];
    assert.deepEqual(names, [...names].sort());
  });

  it('grpc_server_handling_seconds only with --metrics=extensive', async () => {
    assert.equal((await scrape(new MemberMetrics({ memberId: ID }))).has('grpc_server_handling_seconds'), false);
    assert.equal((await scrape(new MemberMetrics({ memberId: ID, extensive: true }))).has('grpc_server_handling_seconds'), true);
  });

  it("histograms have etcd's buckets, le values spelled as etcd's", async () => {
    const m = new MemberMetrics({ memberId: ID, extensive: true });
    m.observeHttpSuccess('GET', 0.001);
    m.observePeerRtt(PEER, 0.0002);
    const fams = await scrape(m);
    for (const [name, les] of Object.entries(ETCD_BUCKETS)) {
      const f = fams.get(name);
      assert.ok(f !== undefined, name);
      const first = f.samples.find((s) => s.name === `${name}_bucket`);
      assert.ok(first !== undefined, `${name} has a series`);
      const rest = { ...first.labels };
      delete rest.le;
      const got = f.samples.filter((s) => s.name === `${name}_bucket` && Object.entries(rest).every(([k, v]) => s.labels[k] === v)).map((s) => s.labels.le);
      assert.equal(got.join(' '), les, name);
    }
  });

  it('identity gauges: server version, cluster version (major.minor), go_version = our runtime, server id', async () => {
    const m = new MemberMetrics({ memberId: ID });
    m.collectFrom({ snapshot: () => ({ clusterVersion: '3.4.0' }) });
    const fams = await scrape(m);
    assert.equal(value(fams, 'etcd_server_version', { server_version: '3.4.23' }), 1);
    assert.equal(value(fams, 'etcd_cluster_version', { cluster_version: '3.4' }), 1);
    assert.equal(value(fams, 'etcd_server_go_version', { server_go_version: process.version }), 1);
    assert.equal(value(fams, 'etcd_server_id', { server_id: ID }), 1);
    assert.equal(value(fams, 'etcd_debugging_mvcc_compact_revision'), -1, 'before any compaction, as etcd');
  });

  it('gRPC series exist at 0 for every etcd method and code before any call (697 handled series, as etcd 3.4.23)', async () => {
    const text = await new MemberMetrics({ memberId: ID }).scrape();
    const fams = parse(text);
    assert.equal(fams.get('grpc_server_handled_total')!.samples.length, 41 * 17);
    assert.equal(fams.get('grpc_server_started_total')!.samples.length, 41);
    assert.equal(fams.get('grpc_server_msg_received_total')!.samples.length, 41);
    assert.equal(fams.get('grpc_server_msg_sent_total')!.samples.length, 41);
    // Exact lines from etcd 3.4.23's scrape (label order and sample order as Go's client).
    const lines = text.split('\n');
    const at = lines.indexOf('grpc_server_handled_total{grpc_code="Aborted",grpc_method="Alarm",grpc_service="etcdserverpb.Maintenance",grpc_type="unary"} 0');
    assert.ok(at > 0);
    assert.equal(lines[at + 1], 'grpc_server_handled_total{grpc_code="Aborted",grpc_method="AuthDisable",grpc_service="etcdserverpb.Auth",grpc_type="unary"} 0');
    assert.ok(lines.includes('grpc_server_started_total{grpc_method="Watch",grpc_service="grpc.health.v1.Health",grpc_type="server_stream"} 0'));
    assert.ok(lines.includes('grpc_server_msg_sent_total{grpc_method="LeaseKeepAlive",grpc_service="etcdserverpb.Lease",grpc_type="bidi_stream"} 0'));
  });
});

describe('MemberMetrics: events move the series', () => {
  it('raft and server events', async () => {
    const m = new MemberMetrics({ memberId: ID });
    m.onLeaderChange('', false);
    let fams = await scrape(m);
    assert.equal(value(fams, 'etcd_server_has_leader'), 0);
    assert.equal(value(fams, 'etcd_server_leader_changes_seen_total'), 0);
    m.onLeaderChange(ID, true);
    m.onLeaderChange(ID, true); // same leader: no change
    m.onLeaderChange(PEER, false);
    m.setProposalsCommitted(12);
    m.setProposalsApplied(11);
    m.setProposalsPending(3);
    m.onProposalFailed();
    m.onProposalFailed();
    m.onSlowApply();
    m.onHeartbeatSendFailure();
    m.onReadIndexFailed();
    m.onSlowReadIndex();
    m.onLearnerPromote(true);
    m.onLearnerPromote(false, 'Learner not ready');
    m.onHealthCheck(true);
    m.onHealthCheck(false);
    m.onClientRequest('unary', '3.4');
    m.onClientRequest('unary', '3.4');
    m.onClientRequest('stream', '');
    fams = await scrape(m);
    assert.equal(value(fams, 'etcd_server_has_leader'), 1);
    assert.equal(value(fams, 'etcd_server_is_leader'), 0);
    assert.equal(value(fams, 'etcd_server_leader_changes_seen_total'), 2);
    assert.equal(value(fams, 'etcd_server_proposals_committed_total'), 12);
    assert.equal(value(fams, 'etcd_server_proposals_applied_total'), 11);
    assert.equal(value(fams, 'etcd_server_proposals_pending'), 3);
    assert.equal(value(fams, 'etcd_server_proposals_failed_total'), 2);
    assert.equal(value(fams, 'etcd_server_slow_apply_total'), 1);
    assert.equal(value(fams, 'etcd_server_heartbeat_send_failures_total'), 1);
    assert.equal(value(fams, 'etcd_server_read_indexes_failed_total'), 1);
    assert.equal(value(fams, 'etcd_server_slow_read_indexes_total'), 1);
    assert.equal(value(fams, 'etcd_server_learner_promote_successes'), 1);
    assert.equal(value(fams, 'etcd_server_learner_promote_failures', { Reason: 'Learner not ready' }), 1);
    assert.equal(value(fams, 'etcd_server_health_success'), 1);
    assert.equal(value(fams, 'etcd_server_health_failures'), 1);
    assert.equal(value(fams, 'etcd_server_client_requests_total', { client_api_version: '3.4', type: 'unary' }), 2);
    assert.equal(value(fams, 'etcd_server_client_requests_total', { client_api_version: 'unknown', type: 'stream' }), 1);
  });

  it('disk histograms count and sum observations into the right bucket', async () => {
    const m = new MemberMetrics({ memberId: ID });
    m.observeWalFsync(0.0015);
    m.observeWalFsync(0.003);
    m.observeWalFsync(20);
    m.observeBackendCommit(0.001);
    m.addWalWriteBytes(1200);
    const fams = await scrape(m);
    assert.equal(value(fams, 'etcd_disk_wal_fsync_duration_seconds_count'), 3);
    assert.ok(Math.abs(value(fams, 'etcd_disk_wal_fsync_duration_seconds_sum')! - 20.0045) < 1e-9);
    assert.equal(value(fams, 'etcd_disk_wal_fsync_duration_seconds_bucket', { le: '0.001' }), 0);
    assert.equal(value(fams, 'etcd_disk_wal_fsync_duration_seconds_bucket', { le: '0.002' }), 1);
    assert.equal(value(fams, 'etcd_disk_wal_fsync_duration_seconds_bucket', { le: '0.004' }), 2);
    assert.equal(value(fams, 'etcd_disk_wal_fsync_duration_seconds_bucket', { le: '8.192' }), 2);
    assert.equal(value(fams, 'etcd_disk_wal_fsync_duration_seconds_bucket', { le: '+Inf' }), 3);
    assert.equal(value(fams, 'etcd_disk_backend_commit_duration_seconds_bucket', { le: '0.001' }), 1, 'a bound is inclusive');
    assert.equal(value(fams, 'etcd_disk_wal_write_bytes_total'), 1200);
  });

  it("mvcc counters follow etcd's txn rule, with their etcd_debugging_ twins", async () => {
    const m = new MemberMetrics({ memberId: ID });
    m.onMvccTxnEnd(1, 0, 0, 0); // a plain range: not a txn
    m.onMvccTxnEnd(0, 1, 0, 10); // a plain put
    m.onMvccTxnEnd(1, 2, 1, 20); // a txn of four ops
    m.onMvccEventsSent(5);
    const fams = await scrape(m);
    for (const p of ['etcd_mvcc_', 'etcd_debugging_mvcc_']) {
      assert.equal(value(fams, `${p}range_total`), 2, p);
      assert.equal(value(fams, `${p}put_total`), 3, p);
      assert.equal(value(fams, `${p}delete_total`), 1, p);
      assert.equal(value(fams, `${p}txn_total`), 1, p);
    }
    assert.equal(value(fams, 'etcd_debugging_mvcc_total_put_size_in_bytes'), 30);
    assert.equal(value(fams, 'etcd_debugging_mvcc_events_total'), 5);
  });

  it('lease and v2 store counters', async () => {
    const m = new MemberMetrics({ memberId: ID });
    m.onLeaseGranted(60);
    m.onLeaseRenewed();
    m.onLeaseRevoked();
    m.onLeaseExpired();
    m.onStoreRead('get');
    m.onStoreRead('get');
    m.onStoreRead('getRecursive');
    m.onStoreWrite('set');
    m.onStoreExpire();
    m.onStoreWatchRequest();
    const fams = await scrape(m);
    assert.equal(value(fams, 'etcd_debugging_lease_granted_total'), 1);
    assert.equal(value(fams, 'etcd_debugging_lease_ttl_total_bucket', { le: '32' }), 0);
    assert.equal(value(fams, 'etcd_debugging_lease_ttl_total_bucket', { le: '64' }), 1);
    assert.equal(value(fams, 'etcd_debugging_lease_renewed_total'), 1);
    assert.equal(value(fams, 'etcd_debugging_lease_revoked_total'), 1);
    assert.equal(value(fams, 'etcd_debugging_server_lease_expired_total'), 1);
    assert.equal(value(fams, 'etcd_debugging_store_reads_total', { action: 'get' }), 2);
    assert.equal(value(fams, 'etcd_debugging_store_reads_total', { action: 'getRecursive' }), 1);
    assert.equal(value(fams, 'etcd_debugging_store_writes_total', { action: 'set' }), 1);
    assert.equal(value(fams, 'etcd_debugging_store_expires_total'), 1);
    assert.equal(value(fams, 'etcd_debugging_store_watch_requests_total'), 1);
  });

  it('v2 HTTP counters by method and code', async () => {
    const m = new MemberMetrics({ memberId: ID });
    m.onHttpRequest('GET');
    m.onHttpRequest('GET');
    m.onHttpRequest('DELETE');
    m.onHttpFailed('GET', 404);
    m.onHttpFailed('DELETE', 404);
    m.observeHttpSuccess('GET', 0.0001);
    const fams = await scrape(m);
    assert.equal(value(fams, 'etcd_http_received_total', { method: 'GET' }), 2);
    assert.equal(value(fams, 'etcd_http_received_total', { method: 'DELETE' }), 1);
    assert.equal(value(fams, 'etcd_http_failed_total', { code: '404', method: 'GET' }), 1);
    assert.equal(value(fams, 'etcd_http_successful_duration_seconds_count', { method: 'GET' }), 1);
    assert.equal(value(fams, 'etcd_http_successful_duration_seconds_bucket', { method: 'GET', le: '0.0005' }), 1);
  });

  it('gRPC: held method handles, codes by number, handling seconds when extensive, client bytes', async () => {
    const m = new MemberMetrics({ memberId: ID, extensive: true });
    const range = m.grpcMethod('etcdserverpb.KV', 'Range');
    assert.equal(m.grpcMethodByPath('/etcdserverpb.KV/Range'), range, 'one handle per method');
    range.started();
    range.msgReceived();
    range.msgSent();
    range.handled(0, 0.002);
    m.onGrpcStarted('unary', 'etcdserverpb.KV', 'Range');
    m.onGrpcHandled('unary', 'etcdserverpb.KV', 'Range', 11);
    const lock = m.grpcMethodByPath('/v3lockpb.Lock/Lock');
    lock.started();
    lock.handled(14);
    m.addClientGrpcReceivedBytes(43);
    m.addClientGrpcSentBytes(174);
    const fams = await scrape(m);
    const kv = { grpc_method: 'Range', grpc_service: 'etcdserverpb.KV', grpc_type: 'unary' };
    assert.equal(value(fams, 'grpc_server_started_total', kv), 2);
    assert.equal(value(fams, 'grpc_server_msg_received_total', kv), 1);
    assert.equal(value(fams, 'grpc_server_msg_sent_total', kv), 1);
    assert.equal(value(fams, 'grpc_server_handled_total', { ...kv, grpc_code: 'OK' }), 1);
    assert.equal(value(fams, 'grpc_server_handled_total', { ...kv, grpc_code: 'OutOfRange' }), 1);
    assert.equal(value(fams, 'grpc_server_handling_seconds_count', kv), 1);
    assert.equal(value(fams, 'grpc_server_handling_seconds_bucket', { ...kv, le: '0.005' }), 1);
    assert.equal(value(fams, 'grpc_server_handled_total', { grpc_code: 'Unavailable', grpc_method: 'Lock', grpc_service: 'v3lockpb.Lock', grpc_type: 'unary' }), 1);
    assert.equal(value(fams, 'etcd_network_client_grpc_received_bytes_total'), 43);
    assert.equal(value(fams, 'etcd_network_client_grpc_sent_bytes_total'), 174);
  });

  it('snapshot send/receive series per peer', async () => {
    const m = new MemberMetrics({ memberId: ID });
    m.onSnapshotSendStart(PEER);
    let fams = await scrape(m);
    assert.equal(value(fams, 'etcd_network_snapshot_send_inflights_total', { To: PEER }), 1);
    m.onSnapshotSendEnd(PEER, true, 0.5);
    m.onSnapshotReceiveStart(PEER);
    m.onSnapshotReceiveEnd(PEER, false, 1);
    fams = await scrape(m);
    assert.equal(value(fams, 'etcd_network_snapshot_send_inflights_total', { To: PEER }), 0);
    assert.equal(value(fams, 'etcd_network_snapshot_send_success', { To: PEER }), 1);
    assert.equal(value(fams, 'etcd_network_snapshot_send_total_duration_seconds_count', { To: PEER }), 1);
    assert.equal(value(fams, 'etcd_network_snapshot_receive_failures', { From: PEER }), 1);
  });

  it('a hot-path increment is a field write: a million handled() calls stay far under a second', () => {
    const m = new MemberMetrics({ memberId: ID, processMetrics: false });
    const put = m.grpcMethod('etcdserverpb.KV', 'Put');
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < 1_000_000; i++) {
      put.started();
      put.handled(0);
      m.onMvccPut(1, 10);
    }
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    assert.ok(ms < 1000, `took ${ms} ms`);
  });
});

describe('MemberMetrics: scrape-time sources', () => {
  it('gauges come from the sources at each scrape; later sources override', async () => {
    const m = new MemberMetrics({ memberId: ID });
    let rev = 5;
    m.collectFrom({ snapshot: () => ({ lead: ID, isLeader: true, committedIndex: 9, appliedIndex: 9, quotaBackendBytes: 2147483648, dbTotalSizeBytes: 20480, dbTotalSizeInUseBytes: 16384, currentRevision: rev, compactRevision: 2, keysTotal: 3, watchers: 4, watchStreams: 2, slowWatchers: 1, pendingEvents: 0, authRevision: 7, v2Watchers: 1, walBytesWritten: 999, isLearner: false }) });
    m.collectFrom({ snapshot: async () => ({ keysTotal: 30 }) });
    let fams = await scrape(m);
    assert.equal(value(fams, 'etcd_server_has_leader'), 1);
    assert.equal(value(fams, 'etcd_server_is_leader'), 1);
    assert.equal(value(fams, 'etcd_server_leader_changes_seen_total'), 1);
    assert.equal(value(fams, 'etcd_server_proposals_committed_total'), 9);
    assert.equal(value(fams, 'etcd_server_quota_backend_bytes'), 2147483648);
    assert.equal(value(fams, 'etcd_mvcc_db_total_size_in_bytes'), 20480);
    assert.equal(value(fams, 'etcd_debugging_mvcc_db_total_size_in_bytes'), 20480);
    assert.equal(value(fams, 'etcd_mvcc_db_total_size_in_use_in_bytes'), 16384);
    assert.equal(value(fams, 'etcd_debugging_mvcc_current_revision'), 5);
    assert.equal(value(fams, 'etcd_debugging_mvcc_compact_revision'), 2);
    assert.equal(value(fams, 'etcd_debugging_mvcc_keys_total'), 30);
    assert.equal(value(fams, 'etcd_debugging_mvcc_watcher_total'), 4);
    assert.equal(value(fams, 'etcd_debugging_mvcc_watch_stream_total'), 2);
    assert.equal(value(fams, 'etcd_debugging_mvcc_slow_watcher_total'), 1);
    assert.equal(value(fams, 'etcd_debugging_auth_revision'), 7);
    assert.equal(value(fams, 'etcd_debugging_store_watchers'), 1);
    assert.equal(value(fams, 'etcd_disk_wal_write_bytes_total'), 999);
    assert.ok(value(fams, 'os_fd_used')! > 0);
    assert.ok(value(fams, 'os_fd_limit')! >= value(fams, 'os_fd_used')!);
    rev = 8;
    fams = await scrape(m);
    assert.equal(value(fams, 'etcd_debugging_mvcc_current_revision'), 8);
    assert.equal(value(fams, 'etcd_server_leader_changes_seen_total'), 1, 'the same leader again is no change');
  });

  it('peer transport stats: byte and failure counters add deltas (and survive a stats reset), active/disconnected, RTT', async () => {
    const m = new MemberMetrics({ memberId: ID });
    let st = { connected: true, sentBytes: 100, receivedBytes: 50, droppedMessages: 0, rttMs: 0.25 as number | null };
    m.collectFrom({ snapshot: () => ({ peers: { [PEER]: st } }) });
    let fams = await scrape(m);
    assert.equal(value(fams, 'etcd_network_peer_sent_bytes_total', { To: PEER }), 100);
    assert.equal(value(fams, 'etcd_network_peer_received_bytes_total', { From: PEER }), 50);
    assert.equal(value(fams, 'etcd_network_active_peers', { Local: ID, Remote: PEER }), 1);
    assert.equal(value(fams, 'etcd_network_peer_round_trip_time_seconds_count', { To: PEER }), 1);
    assert.equal(value(fams, 'etcd_network_peer_round_trip_time_seconds_bucket', { To: PEER, le: '0.0002' }), 0);
    assert.equal(value(fams, 'etcd_network_peer_round_trip_time_seconds_bucket', { To: PEER, le: '0.0004' }), 1);
    st = { connected: false, sentBytes: 150, receivedBytes: 50, droppedMessages: 8, rttMs: 0.25 };
    fams = await scrape(m);
    assert.equal(value(fams, 'etcd_network_peer_sent_bytes_total', { To: PEER }), 150);
    assert.equal(value(fams, 'etcd_network_peer_sent_failures_total', { To: PEER }), 8);
    assert.equal(value(fams, 'etcd_network_active_peers', { Local: ID, Remote: PEER }), 0);
    assert.equal(value(fams, 'etcd_network_disconnected_peers_total', { Local: ID, Remote: PEER }), 1);
    // The peer was removed and added again: the transport's counts restart at 0.
    st = { connected: true, sentBytes: 30, receivedBytes: 5, droppedMessages: 0, rttMs: null };
    fams = await scrape(m);
    assert.equal(value(fams, 'etcd_network_peer_sent_bytes_total', { To: PEER }), 180);
    assert.equal(value(fams, 'etcd_network_peer_received_bytes_total', { From: PEER }), 55);
  });

  it('promhttp_metric_handler_*: this scrape is in flight and counted after it, as in Go', async () => {
    const m = new MemberMetrics({ memberId: ID, processMetrics: false });
    let fams = await scrape(m);
    assert.equal(value(fams, 'promhttp_metric_handler_requests_in_flight'), 1);
    assert.equal(value(fams, 'promhttp_metric_handler_requests_total', { code: '200' }), 0);
    assert.equal(value(fams, 'promhttp_metric_handler_requests_total', { code: '503' }), 0);
    fams = await scrape(m);
    assert.equal(value(fams, 'promhttp_metric_handler_requests_total', { code: '200' }), 1);
  });
});

function get(port: number, path: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      })
      .on('error', reject);
  });
}

describe('/metrics over HTTP', () => {
  let app: FastifyInstance;
  let server: MetricsServer;
  let healthy = true;
  const metrics = new MemberMetrics({ memberId: ID });
  before(async () => {
    app = Fastify();
    registerMetricsRoute(app, metrics);
    await app.ready();
    server = await createMetricsServer([new URL('http://127.0.0.1:0')], { metrics, health: () => healthy });
  });
  after(async () => {
    await app.close();
    await server.close();
  });

  it('client port route: 200, etcd content type, parseable body', async () => {
    const r = await app.inject({ method: 'GET', url: '/metrics' });
    assert.equal(r.statusCode, 200);
    assert.equal(r.headers['content-type'], METRICS_CONTENT_TYPE);
    assert.equal(METRICS_CONTENT_TYPE, 'text/plain; version=0.0.4; charset=utf-8');
    assert.ok(parse(r.body).has('etcd_server_has_leader'));
  });

  it('--listen-metrics-urls server: /metrics, /health (200 / 503, counted), 404 elsewhere (etcd 3.4.23 bodies)', async () => {
    const port = server.addresses[0]!.port;
    const r = await get(port, '/metrics');
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
    assert.ok(parse(r.body).has('etcd_disk_wal_fsync_duration_seconds'));
    const h = await get(port, '/health');
    assert.equal(h.status, 200);
    assert.equal(h.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(h.body, '{"health":"true"}');
    healthy = false;
    const u = await get(port, '/health');
    assert.equal(u.status, 503);
    assert.equal(u.body, '{"health":"false"}');
    const n = await get(port, '/v2/keys');
    assert.equal(n.status, 404);
    assert.equal(n.body, '404 page not found\n');
    const fams = parse(await metrics.scrape());
    assert.equal(value(fams, 'etcd_server_health_success'), 1);
    assert.equal(value(fams, 'etcd_server_health_failures'), 1);
  });
});

describe('/metrics next to the client HTTP API', () => {
  it('the route lives beside registerClientHttp: CORS headers as etcd 3.4.23 sends on the client port, other paths keep their 404', async () => {
    const { registerClientHttp } = await import('../../src/api/http/client.js');
    const { FakeBackend } = await import('../api/v2fake.js');
    const app = Fastify();
    registerClientHttp(app, new FakeBackend(), { enableV2: true, corsOrigins: ['*'], hostWhitelist: [] });
    registerMetricsRoute(app, new MemberMetrics({ memberId: ID, processMetrics: false }));
    await app.ready();
    try {
      const r = await app.inject({ method: 'GET', url: '/metrics' });
      assert.equal(r.statusCode, 200);
      assert.equal(r.headers['content-type'], METRICS_CONTENT_TYPE);
      assert.equal(r.headers['access-control-allow-origin'], '*');
      assert.equal(r.headers['access-control-allow-methods'], 'POST, GET, OPTIONS, PUT, DELETE');
      assert.ok(parse(r.body).has('etcd_server_id'));
      const n = await app.inject({ method: 'GET', url: '/metricsx' });
      assert.equal(n.statusCode, 404);
    } finally {
      await app.close();
    }
  });
});
