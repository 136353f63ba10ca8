// The dashboard's reading of a member's /metrics: families, histogram buckets, and quantiles
// computed as PromQL's histogram_quantile does (checked against values worked by hand).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bucketDelta, buckets, parseMetrics, quantile, scalar } from '../../src/framework/dashboard/prom.js';

const TEXT = `# HELP etcd_server_is_leader Whether or not this member is a leader. 1 if is, 0 otherwise.
# TYPE etcd_server_is_leader gauge
etcd_server_is_leader 1
etcd_server_proposals_committed_total 1234
etcd_disk_backend_commit_duration_seconds_bucket{le="0.001"} 10
etcd_disk_backend_commit_duration_seconds_bucket{le="0.002"} 30
etcd_disk_backend_commit_duration_seconds_bucket{le="0.004"} 40
etcd_disk_backend_commit_duration_seconds_bucket{le="+Inf"} 40
etcd_disk_backend_commit_duration_seconds_sum 0.05
etcd_disk_backend_commit_duration_seconds_count 40
etcd_cluster_version{cluster_version="3.4"} 1
`;

test('parse the wanted families only; scalars and buckets', () => {
  const m = parseMetrics(TEXT, new Set(['etcd_server_is_leader', 'etcd_server_proposals_committed_total', 'etcd_disk_backend_commit_duration_seconds_bucket']));
  assert.equal(scalar(m, 'etcd_server_is_leader'), 1);
  assert.equal(scalar(m, 'etcd_server_proposals_committed_total'), 1234);
  assert.equal(scalar(m, 'etcd_cluster_version'), undefined);
  assert.deepEqual(buckets(m, 'etcd_disk_backend_commit_duration_seconds'), [[0.001, 10], [0.002, 30], [0.004, 40], [Infinity, 40]]);
});

test('histogram_quantile: interpolation inside the bucket, +Inf, no observations', () => {
  const b: [number, number][] = [[0.001, 10], [0.002, 30], [0.004, 40], [Infinity, 40]];
  assert.equal(quantile(0.25, b), 0.001); // rank 10: the top of the first bucket
  assert.equal(quantile(0.5, b), 0.0015); // rank 20: halfway through (0.001, 0.002]
  assert.ok(Math.abs(quantile(0.875, b)! - 0.003) < 1e-12); // rank 35: halfway through (0.002, 0.004]
  assert.equal(quantile(0.99, [[0.001, 1], [Infinity, 10]]), 0.001); // in +Inf: the highest finite bound
  assert.equal(quantile(0.5, [[0.001, 0], [Infinity, 0]]), undefined);
});

test('bucket deltas over a scrape interval; a restarted member gives none', () => {
  const a: [number, number][] = [[0.001, 10], [Infinity, 12]];
  assert.deepEqual(bucketDelta([[0.001, 15], [Infinity, 20]], a), [[0.001, 5], [Infinity, 8]]);
  assert.equal(bucketDelta([[0.001, 1], [Infinity, 1]], a), undefined);
});
