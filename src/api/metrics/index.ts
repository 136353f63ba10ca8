// A member's /metrics: etcd 3.4's metric families (names, types, labels, HELP texts and
// histogram buckets as etcd 3.4.23 exposes them), so etcd's dashboards and alert rules
// (grafana.json, etcd3_alert.rules.yml, etcd-mixin) work unchanged against tsetcd.
//
// Two ways values get in:
// - events: the member calls cheap methods (one field write; hot-path children are held);
// - scrape-time reads: sources registered with collectFrom() are asked for a MetricsSnapshot at
//   each scrape (db size, revisions, watchers, peer transport stats, ...).
// Rendering is prom-client's Registry (with its default process_* metrics), families sorted by
// name and label values sorted, as Go's client prints them.
import { Registry, collectDefaultMetrics, type Metric } from 'prom-client';
import { CounterVec, GaugeVec, HistogramVec, exponentialBuckets, type CounterChild, type GaugeChild, type HistogramChild } from './cells.js';
import { GRPC_CODE_NAMES, GRPC_METHODS, type GrpcType } from './grpc-methods.js';
import { fdLimit, fdUsed, virtualMemoryMaxBytes } from './process.js';

export { GRPC_CODE_NAMES, GRPC_METHODS, type GrpcType } from './grpc-methods.js';
export { registerMetricsRoute, createMetricsServer, type MetricsServer, type MetricsServerOptions } from './http.js';

/** etcd's Content-Type for /metrics (Prometheus text format 0.0.4). */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** The server version etcd labels itself with; tsetcd speaks 3.4.23's API. */
export const METRICS_SERVER_VERSION = '3.4.23';

export interface MemberMetricsOptions {
  /** This member's id in hex (etcd_server_id{server_id}, Local label of peer gauges). */
  readonly memberId: string;
  /** --metrics=extensive adds grpc_server_handling_seconds. */
  readonly extensive?: boolean;
  readonly serverVersion?: string;
  /** prom-client's default process_* / nodejs_* metrics (default true). */
  readonly processMetrics?: boolean;
}

/** One peer as PeerTransport.stats() reports it (the fields the metrics use). */
export interface PeerStatsLike {
  readonly connected: boolean;
  readonly sentBytes: number;
  readonly receivedBytes: number;
  /** Messages to the peer dropped (etcd counts each as a send failure). */
  readonly droppedMessages: number;
  readonly rttMs: number | null;
}

/** What a source knows at scrape time; a field left out keeps the last value set. */
export interface MetricsSnapshot {
  readonly lead?: string;
  readonly isLeader?: boolean;
  readonly isLearner?: boolean;
  /** Raft commit index (etcd_server_proposals_committed_total). */
  readonly committedIndex?: number;
  /** Applied index (etcd_server_proposals_applied_total). */
  readonly appliedIndex?: number;
  readonly pendingProposals?: number;
  /** Cluster version, e.g. "3.4.0" (shown as "3.4"); "" while not decided. */
  readonly clusterVersion?: string;
  readonly quotaBackendBytes?: number;
  readonly dbTotalSizeBytes?: number;
  readonly dbTotalSizeInUseBytes?: number;
  readonly dbOpenReadTransactions?: number;
  readonly currentRevision?: number;
  /** -1 before the first compaction (as etcd). */
  readonly compactRevision?: number;
  readonly keysTotal?: number;
  readonly watchers?: number;
  readonly watchStreams?: number;
  readonly slowWatchers?: number;
  readonly pendingEvents?: number;
  readonly authRevision?: number;
  /** v2 store watchers (etcd_debugging_store_watchers). */
  readonly v2Watchers?: number;
  /** Bytes written to the WAL since start (WalStats.bytesWritten). */
  readonly walBytesWritten?: number;
  readonly snapshotApplyInProgress?: boolean;
  readonly defragInflight?: boolean;
  /** Peers by hex id, e.g. PeerTransport.stats(). */
  readonly peers?: Readonly<Record<string, PeerStatsLike>>;
}

export interface MetricsSource {
  /** Called at each scrape; may be async (the backend's size is). */
  snapshot(): MetricsSnapshot | Promise<MetricsSnapshot>;
}

/** A gRPC method's series, resolved once (at service registration) and kept by the caller. */
export class GrpcMethodMetrics {
  private readonly handledByCode: CounterChild[];
  constructor(
    private readonly startedChild: CounterChild,
    handled: (code: string) => CounterChild,
    private readonly receivedChild: CounterChild,
    private readonly sentChild: CounterChild,
    private readonly handlingChild: HistogramChild | undefined,
  ) {
    this.handledByCode = GRPC_CODE_NAMES.map((c) => handled(c));
  }
  started(): void {
    this.startedChild.inc();
  }
  /** `code`: the gRPC status number (0 OK .. 16 Unauthenticated); `seconds` feeds
   *  grpc_server_handling_seconds under --metrics=extensive. */
  handled(code: number, seconds?: number): void {
    (this.handledByCode[code] ?? this.handledByCode[2]!).inc();
    if (seconds !== undefined) this.handlingChild?.observe(seconds);
  }
  msgReceived(): void {
    this.receivedChild.inc();
  }
  msgSent(): void {
    this.sentChild.inc();
  }
}

interface PeerSeries {
  readonly sentBytes: CounterChild;
  readonly receivedBytes: CounterChild;
  readonly sentFailures: CounterChild;
  readonly active: GaugeChild;
  readonly rtt: HistogramChild;
  /** Last cumulative values read from the transport, to add only the difference (a re-added
   *  peer's stats start again at 0; the counters must not go back). */
  lastSent: number;
  lastReceived: number;
  lastDropped: number;
  lastRttMs: number | null;
  wasConnected: boolean;
  /** RTT samples come from observePeerRtt(); the scrape-time sampling of rttMs stops. */
  rttObserved: boolean;
}

const DEF_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const B_DISK = exponentialBuckets(0.001, 2, 14);

export class MemberMetrics {
  readonly registry = new Registry();
  readonly memberId: string;
  readonly extensive: boolean;
  private readonly families: Array<CounterVec | GaugeVec | HistogramVec> = [];
  private readonly sources: MetricsSource[] = [];

  // ---- server ----
  private readonly hasLeader: GaugeChild;
  private readonly isLeader: GaugeChild;
  private readonly isLearner: GaugeChild;
  private readonly leaderChanges: CounterChild;
  private readonly heartbeatSendFailures: CounterChild;
  private readonly slowApplies: CounterChild;
  private readonly proposalsCommitted: GaugeChild;
  private readonly proposalsApplied: GaugeChild;
  private readonly proposalsPending: GaugeChild;
  private readonly proposalsFailed: CounterChild;
  private readonly slowReadIndexes: CounterChild;
  private readonly readIndexesFailed: CounterChild;
  private readonly leaseExpired: CounterChild;
  private readonly quotaBackendBytes: GaugeChild;
  private readonly clusterVersion: GaugeVec;
  private readonly learnerPromoteSucceed: CounterChild;
  private readonly learnerPromoteFailed: CounterVec;
  private readonly healthSuccess: CounterChild;
  private readonly healthFailures: CounterChild;
  private readonly snapshotApplyInProgress: GaugeChild;
  private readonly clientRequests: CounterVec;
  // ---- disk, snapshots ----
  private readonly walFsync: HistogramChild;
  private readonly walWriteBytes: GaugeChild;
  private readonly backendCommit: HistogramChild;
  private readonly backendSnapshot: HistogramChild;
  private readonly backendDefrag: HistogramChild;
  private readonly defragInflight: GaugeChild;
  private readonly snapFsync: HistogramChild;
  private readonly snapDbFsync: HistogramChild;
  private readonly snapDbSaveTotal: HistogramChild;
  private readonly snapSaveTotal: HistogramChild;
  private readonly snapSaveMarshalling: HistogramChild;
  // ---- mvcc ----
  private readonly mvccPut: CounterChild;
  private readonly mvccDelete: CounterChild;
  private readonly mvccRange: CounterChild;
  private readonly mvccTxn: CounterChild;
  private readonly dbgPut: CounterChild;
  private readonly dbgDelete: CounterChild;
  private readonly dbgRange: CounterChild;
  private readonly dbgTxn: CounterChild;
  private readonly totalPutSize: GaugeChild;
  private readonly mvccEvents: CounterChild;
  private readonly mvccHash: HistogramChild;
  private readonly mvccHashRev: HistogramChild;
  private readonly dbCompactionKeys: CounterChild;
  private readonly dbCompactionPause: HistogramChild;
  private readonly dbCompactionTotal: HistogramChild;
  private readonly indexCompactionPause: HistogramChild;
  private readonly dbTotalSize: GaugeChild;
  private readonly dbgDbTotalSize: GaugeChild;
  private readonly dbInUse: GaugeChild;
  private readonly dbOpenReadTxns: GaugeChild;
  private readonly currentRevision: GaugeChild;
  private readonly compactRevision: GaugeChild;
  private readonly keysTotal: GaugeChild;
  private readonly watcherTotal: GaugeChild;
  private readonly watchStreamTotal: GaugeChild;
  private readonly slowWatcherTotal: GaugeChild;
  private readonly pendingEvents: GaugeChild;
  private readonly authRevision: GaugeChild;
  // ---- lease ----
  private readonly leaseGranted: CounterChild;
  private readonly leaseRenewed: CounterChild;
  private readonly leaseRevoked: CounterChild;
  private readonly leaseTtl: HistogramChild;
  // ---- v2 store ----
  private readonly storeReads: CounterVec;
  private readonly storeWrites: CounterVec;
  private readonly storeExpires: CounterChild;
  private readonly storeWatchRequests: CounterChild;
  private readonly storeWatchers: GaugeChild;
  // ---- v2 http ----
  private readonly httpReceived: CounterVec;
  private readonly httpFailed: CounterVec;
  private readonly httpSuccess: HistogramVec;
  // ---- network ----
  private readonly grpcReceivedBytes: CounterChild;
  private readonly grpcSentBytes: CounterChild;
  private readonly activePeers: GaugeVec;
  private readonly disconnectedPeers: CounterVec;
  private readonly peerSentBytes: CounterVec;
  private readonly peerReceivedBytes: CounterVec;
  private readonly peerSentFailures: CounterVec;
  private readonly peerReceivedFailures: CounterVec;
  private readonly peerRtt: HistogramVec;
  private readonly snapshotSendSuccess: CounterVec;
  private readonly snapshotSendFailures: CounterVec;
  private readonly snapshotSendInflights: GaugeVec;
  private readonly snapshotSendSeconds: HistogramVec;
  private readonly snapshotReceiveSuccess: CounterVec;
  private readonly snapshotReceiveFailures: CounterVec;
  private readonly snapshotReceiveInflights: GaugeVec;
  private readonly snapshotReceiveSeconds: HistogramVec;
  private readonly peers = new Map<string, PeerSeries>();
  // ---- grpc ----
  private readonly grpcStarted: CounterVec;
  private readonly grpcHandled: CounterVec;
  private readonly grpcMsgReceived: CounterVec;
  private readonly grpcMsgSent: CounterVec;
  private readonly grpcHandling: HistogramVec | undefined;
  private readonly grpcByService = new Map<string, Map<string, GrpcMethodMetrics>>();
  // ---- process, scrape handler ----
  private readonly osFdUsed: GaugeChild;
  private readonly osFdLimit: GaugeChild;
  private readonly vmMaxBytes: GaugeChild;
  private readonly scrapesInFlight: GaugeChild;
  private readonly scrapes200: CounterChild;
  private readonly scrapes500: CounterChild;

  constructor(opts: MemberMetricsOptions) {
    this.memberId = opts.memberId;
    this.extensive = opts.extensive === true;
    const c = (name: string, help: string): CounterChild => this.counterVec(name, help, []).child();
    const g = (name: string, help: string): GaugeChild => this.gaugeVec(name, help, []).child();
    const h = (name: string, help: string, buckets: readonly number[]): HistogramChild => this.histogramVec(name, help, [], buckets).child();

    // etcdserver/metrics.go
    this.hasLeader = g('etcd_server_has_leader', 'Whether or not a leader exists. 1 is existence, 0 is not.');
    this.isLeader = g('etcd_server_is_leader', 'Whether or not this member is a leader. 1 if is, 0 otherwise.');
    this.isLearner = g('etcd_server_is_learner', 'Whether or not this member is a learner. 1 if is, 0 otherwise.');
    this.leaderChanges = c('etcd_server_leader_changes_seen_total', 'The number of leader changes seen.');
    this.heartbeatSendFailures = c('etcd_server_heartbeat_send_failures_total', 'The total number of leader heartbeat send failures (likely overloaded from slow disk).');
    this.slowApplies = c('etcd_server_slow_apply_total', 'The total number of slow apply requests (likely overloaded from slow disk).');
    this.proposalsCommitted = g('etcd_server_proposals_committed_total', 'The total number of consensus proposals committed.');
    this.proposalsApplied = g('etcd_server_proposals_applied_total', 'The total number of consensus proposals applied.');
    this.proposalsPending = g('etcd_server_proposals_pending', 'The current number of pending proposals to commit.');
    this.proposalsFailed = c('etcd_server_proposals_failed_total', 'The total number of failed proposals seen.');
    this.slowReadIndexes = c('etcd_server_slow_read_indexes_total', "The total number of pending read indexes not in sync with leader's or timed out read index requests.");
    this.readIndexesFailed = c('etcd_server_read_indexes_failed_total', 'The total number of failed read indexes seen.');
    this.leaseExpired = c('etcd_debugging_server_lease_expired_total', 'The total number of expired leases.');
    this.quotaBackendBytes = g('etcd_server_quota_backend_bytes', 'Current backend storage quota size in bytes.');
    this.gaugeVec('etcd_server_version', "Which version is running. 1 for 'server_version' label with current version.", ['server_version']).child(opts.serverVersion ?? METRICS_SERVER_VERSION).set(1);
    // Not Go: the label carries the Node.js version tsetcd runs on, under etcd's name and HELP.
    this.gaugeVec('etcd_server_go_version', "Which Go version server is running with. 1 for 'server_go_version' label with current version.", ['server_go_version']).child(process.version).set(1);
    this.gaugeVec('etcd_server_id', "Server or member ID in hexadecimal format. 1 for 'server_id' label with current ID.", ['server_id']).child(opts.memberId).set(1);
    this.clusterVersion = this.gaugeVec('etcd_cluster_version', "Which version is running. 1 for 'cluster_version' label with current cluster version", ['cluster_version']);
    this.learnerPromoteSucceed = c('etcd_server_learner_promote_successes', 'The total number of successful learner promotions while this member is leader.');
    this.learnerPromoteFailed = this.counterVec('etcd_server_learner_promote_failures', 'The total number of failed learner promotions (likely learner not ready) while this member is leader.', ['Reason']);
    this.healthSuccess = c('etcd_server_health_success', 'The total number of successful health checks');
    this.healthFailures = c('etcd_server_health_failures', 'The total number of failed health checks');
    this.snapshotApplyInProgress = g('etcd_server_snapshot_apply_in_progress_total', '1 if the server is applying the incoming snapshot. 0 if none.');
    this.clientRequests = this.counterVec('etcd_server_client_requests_total', 'The total number of client requests per client version.', ['type', 'client_api_version']);

    // wal, backend, snap
    this.walFsync = h('etcd_disk_wal_fsync_duration_seconds', 'The latency distributions of fsync called by WAL.', B_DISK);
    this.walWriteBytes = g('etcd_disk_wal_write_bytes_total', 'Total number of bytes written in WAL.');
    this.backendCommit = h('etcd_disk_backend_commit_duration_seconds', 'The latency distributions of commit called by backend.', B_DISK);
    // bbolt's commit phases: no such phases in tsetcd's backend; the families exist, empty.
    h('etcd_debugging_disk_backend_commit_rebalance_duration_seconds', 'The latency distributions of commit.rebalance called by bboltdb backend.', B_DISK);
    h('etcd_debugging_disk_backend_commit_spill_duration_seconds', 'The latency distributions of commit.spill called by bboltdb backend.', B_DISK);
    h('etcd_debugging_disk_backend_commit_write_duration_seconds', 'The latency distributions of commit.write called by bboltdb backend.', B_DISK);
    this.backendSnapshot = h('etcd_disk_backend_snapshot_duration_seconds', 'The latency distribution of backend snapshots.', exponentialBuckets(0.01, 2, 17));
    this.backendDefrag = h('etcd_disk_backend_defrag_duration_seconds', 'The latency distribution of backend defragmentation.', exponentialBuckets(0.1, 2, 13));
    this.defragInflight = g('etcd_disk_defrag_inflight', 'Whether or not defrag is active on the member. 1 means active, 0 means not.');
    this.snapFsync = h('etcd_snap_fsync_duration_seconds', 'The latency distributions of fsync called by snap.', B_DISK);
    this.snapDbFsync = h('etcd_snap_db_fsync_duration_seconds', 'The latency distributions of fsyncing .snap.db file', B_DISK);
    this.snapDbSaveTotal = h('etcd_snap_db_save_total_duration_seconds', 'The total latency distributions of v3 snapshot save', exponentialBuckets(0.1, 2, 10));
    this.snapSaveTotal = h('etcd_debugging_snap_save_total_duration_seconds', 'The total latency distributions of save called by snapshot.', B_DISK);
    this.snapSaveMarshalling = h('etcd_debugging_snap_save_marshalling_duration_seconds', 'The marshalling cost distributions of save called by snapshot.', B_DISK);

    // mvcc
    this.mvccRange = c('etcd_mvcc_range_total', 'Total number of ranges seen by this member.');
    this.mvccPut = c('etcd_mvcc_put_total', 'Total number of puts seen by this member.');
    this.mvccDelete = c('etcd_mvcc_delete_total', 'Total number of deletes seen by this member.');
    this.mvccTxn = c('etcd_mvcc_txn_total', 'Total number of txns seen by this member.');
    this.dbgRange = c('etcd_debugging_mvcc_range_total', 'Total number of ranges seen by this member.');
    this.dbgPut = c('etcd_debugging_mvcc_put_total', 'Total number of puts seen by this member.');
    this.dbgDelete = c('etcd_debugging_mvcc_delete_total', 'Total number of deletes seen by this member.');
    this.dbgTxn = c('etcd_debugging_mvcc_txn_total', 'Total number of txns seen by this member.');
    this.keysTotal = g('etcd_debugging_mvcc_keys_total', 'Total number of keys.');
    this.watchStreamTotal = g('etcd_debugging_mvcc_watch_stream_total', 'Total number of watch streams.');
    this.watcherTotal = g('etcd_debugging_mvcc_watcher_total', 'Total number of watchers.');
    this.slowWatcherTotal = g('etcd_debugging_mvcc_slow_watcher_total', 'Total number of unsynced slow watchers.');
    this.mvccEvents = c('etcd_debugging_mvcc_events_total', 'Total number of events sent by this member.');
    this.pendingEvents = g('etcd_debugging_mvcc_pending_events_total', 'Total number of pending events to be sent.');
    this.indexCompactionPause = h('etcd_debugging_mvcc_index_compaction_pause_duration_milliseconds', 'Bucketed histogram of index compaction pause duration.', exponentialBuckets(0.5, 2, 14));
    this.dbCompactionPause = h('etcd_debugging_mvcc_db_compaction_pause_duration_milliseconds', 'Bucketed histogram of db compaction pause duration.', exponentialBuckets(1, 2, 13));
    this.dbCompactionTotal = h('etcd_debugging_mvcc_db_compaction_total_duration_milliseconds', 'Bucketed histogram of db compaction total duration.', exponentialBuckets(100, 2, 14));
    this.dbCompactionKeys = c('etcd_debugging_mvcc_db_compaction_keys_total', 'Total number of db keys compacted.');
    this.dbgDbTotalSize = g('etcd_debugging_mvcc_db_total_size_in_bytes', 'Total size of the underlying database physically allocated in bytes.');
    this.dbTotalSize = g('etcd_mvcc_db_total_size_in_bytes', 'Total size of the underlying database physically allocated in bytes.');
    this.dbInUse = g('etcd_mvcc_db_total_size_in_use_in_bytes', 'Total size of the underlying database logically in use in bytes.');
    this.dbOpenReadTxns = g('etcd_mvcc_db_open_read_transactions', 'The number of currently open read transactions');
    this.mvccHash = h('etcd_mvcc_hash_duration_seconds', 'The latency distribution of storage hash operation.', exponentialBuckets(0.01, 2, 15));
    this.mvccHashRev = h('etcd_mvcc_hash_rev_duration_seconds', 'The latency distribution of storage hash by revision operation.', exponentialBuckets(0.01, 2, 15));
    this.currentRevision = g('etcd_debugging_mvcc_current_revision', 'The current revision of store.');
    this.compactRevision = g('etcd_debugging_mvcc_compact_revision', 'The revision of the last compaction in store.');
    this.compactRevision.set(-1);
    this.totalPutSize = g('etcd_debugging_mvcc_total_put_size_in_bytes', 'The total size of put kv pairs seen by this member.');
    this.authRevision = g('etcd_debugging_auth_revision', 'The current revision of auth store.');
    this.authRevision.set(1);

    // lease
    this.leaseGranted = c('etcd_debugging_lease_granted_total', 'The total number of granted leases.');
    this.leaseRevoked = c('etcd_debugging_lease_revoked_total', 'The total number of revoked leases.');
    this.leaseRenewed = c('etcd_debugging_lease_renewed_total', 'The number of renewed leases seen by the leader.');
    this.leaseTtl = h('etcd_debugging_lease_ttl_total', 'Bucketed histogram of lease TTLs.', exponentialBuckets(1, 2, 24));

    // v2 store. etcd 3.4 also defines reads_failed_total / writes_failed_total but never
    // registers them, so they are not exposed here either.
    this.storeReads = this.counterVec('etcd_debugging_store_reads_total', 'Total number of reads action by (get/getRecursive), local to this member.', ['action']);
    this.storeWrites = this.counterVec('etcd_debugging_store_writes_total', 'Total number of writes (e.g. set/compareAndDelete) seen by this member.', ['action']);
    this.storeExpires = c('etcd_debugging_store_expires_total', 'Total number of expired keys.');
    this.storeWatchRequests = c('etcd_debugging_store_watch_requests_total', 'Total number of incoming watch requests (new or reestablished).');
    this.storeWatchers = g('etcd_debugging_store_watchers', 'Count of currently active watchers.');

    // v2 http
    this.httpReceived = this.counterVec('etcd_http_received_total', 'Counter of requests received into the system (successfully parsed and authd).', ['method']);
    this.httpFailed = this.counterVec('etcd_http_failed_total', 'Counter of handle failures of requests (non-watches), by method (GET/PUT etc.) and code (400, 500 etc.).', ['method', 'code']);
    this.httpSuccess = this.histogramVec('etcd_http_successful_duration_seconds', 'Bucketed histogram of processing time (s) of successfully handled requests (non-watches), by method (GET/PUT etc.).', ['method'], exponentialBuckets(0.0005, 2, 13));

    // network
    this.grpcSentBytes = c('etcd_network_client_grpc_sent_bytes_total', 'The total number of bytes sent to grpc clients.');
    this.grpcReceivedBytes = c('etcd_network_client_grpc_received_bytes_total', 'The total number of bytes received from grpc clients.');
    this.activePeers = this.gaugeVec('etcd_network_active_peers', 'The current number of active peer connections.', ['Local', 'Remote']);
    this.disconnectedPeers = this.counterVec('etcd_network_disconnected_peers_total', 'The total number of disconnected peers.', ['Local', 'Remote']);
    this.peerSentBytes = this.counterVec('etcd_network_peer_sent_bytes_total', 'The total number of bytes sent to peers.', ['To']);
    this.peerReceivedBytes = this.counterVec('etcd_network_peer_received_bytes_total', 'The total number of bytes received from peers.', ['From']);
    this.peerSentFailures = this.counterVec('etcd_network_peer_sent_failures_total', 'The total number of send failures from peers.', ['To']);
    this.peerReceivedFailures = this.counterVec('etcd_network_peer_received_failures_total', 'The total number of receive failures from peers.', ['From']);
    this.peerRtt = this.histogramVec('etcd_network_peer_round_trip_time_seconds', 'Round-Trip-Time histogram between peers', ['To'], exponentialBuckets(0.0001, 2, 16));
    this.snapshotSendSuccess = this.counterVec('etcd_network_snapshot_send_success', 'Total number of successful snapshot sends', ['To']);
    this.snapshotSendInflights = this.gaugeVec('etcd_network_snapshot_send_inflights_total', 'Total number of inflight snapshot sends', ['To']);
    this.snapshotSendFailures = this.counterVec('etcd_network_snapshot_send_failures', 'Total number of snapshot send failures', ['To']);
    this.snapshotSendSeconds = this.histogramVec('etcd_network_snapshot_send_total_duration_seconds', 'Total latency distributions of v3 snapshot sends', ['To'], exponentialBuckets(0.1, 2, 10));
    this.snapshotReceiveSuccess = this.counterVec('etcd_network_snapshot_receive_success', 'Total number of successful snapshot receives', ['From']);
    this.snapshotReceiveInflights = this.gaugeVec('etcd_network_snapshot_receive_inflights_total', 'Total number of inflight snapshot receives', ['From']);
    this.snapshotReceiveFailures = this.counterVec('etcd_network_snapshot_receive_failures', 'Total number of snapshot receive failures', ['From']);
    this.snapshotReceiveSeconds = this.histogramVec('etcd_network_snapshot_receive_total_duration_seconds', 'Total latency distributions of v3 snapshot receives', ['From'], exponentialBuckets(0.1, 2, 10));

    // grpc-prometheus (server side)
    const gl = ['grpc_type', 'grpc_service', 'grpc_method'];
    this.grpcStarted = this.counterVec('grpc_server_started_total', 'Total number of RPCs started on the server.', gl);
    this.grpcHandled = this.counterVec('grpc_server_handled_total', 'Total number of RPCs completed on the server, regardless of success or failure.', [...gl, 'grpc_code']);
    this.grpcMsgReceived = this.counterVec('grpc_server_msg_received_total', 'Total number of RPC stream messages received on the server.', gl);
    this.grpcMsgSent = this.counterVec('grpc_server_msg_sent_total', 'Total number of gRPC stream messages sent by the server.', gl);
    this.grpcHandling = this.extensive
      ? this.histogramVec('grpc_server_handling_seconds', 'Histogram of response latency (seconds) of gRPC that had been application-level handled by the server.', gl, DEF_BUCKETS)
      : undefined;
    for (const m of GRPC_METHODS) if (m.preinitialized) this.grpcMethod(m.service, m.method, m.type);

    // grpc-proxy families, registered by etcd even on a plain member; always 0 here.
    g('etcd_grpc_proxy_cache_hits_total', 'Total number of cache hits');
    g('etcd_grpc_proxy_cache_misses_total', 'Total number of cache misses');
    g('etcd_grpc_proxy_cache_keys_total', 'Total number of keys/ranges cached');
    c('etcd_grpc_proxy_events_coalescing_total', 'Total number of events coalescing');
    g('etcd_grpc_proxy_watchers_coalescing_total', 'Total number of current watchers coalescing');

    // process and scrape handler
    this.osFdUsed = g('os_fd_used', 'The number of used file descriptors.');
    this.osFdLimit = g('os_fd_limit', 'The file descriptor limit.');
    this.vmMaxBytes = g('process_virtual_memory_max_bytes', 'Maximum amount of virtual memory available in bytes.');
    this.scrapesInFlight = g('promhttp_metric_handler_requests_in_flight', 'Current number of scrapes being served.');
    const scrapes = this.counterVec('promhttp_metric_handler_requests_total', 'Total number of scrapes by HTTP status code.', ['code']);
    this.scrapes200 = scrapes.child('200');
    this.scrapes500 = scrapes.child('500');
    scrapes.child('503');
    // Registered in name order: the Registry renders in registration order, Go's client sorted.
    const all: Array<{ readonly name: string }> = [...this.families];
    if (opts.processMetrics !== false) {
      const defaults = new Registry();
      collectDefaultMetrics({ register: defaults });
      all.push(...defaults.getMetricsAsArray());
    }
    all.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    // Our families implement the shape the Registry renders (name, help, type, get()); see cells.ts.
    for (const m of all) this.registry.registerMetric(m as unknown as Metric);
  }

  private counterVec(name: string, help: string, labels: readonly string[]): CounterVec {
    const f = new CounterVec(name, help, labels);
    this.families.push(f);
    return f;
  }
  private gaugeVec(name: string, help: string, labels: readonly string[]): GaugeVec {
    const f = new GaugeVec(name, help, labels);
    this.families.push(f);
    return f;
  }
  private histogramVec(name: string, help: string, labels: readonly string[], buckets: readonly number[]): HistogramVec {
    const f = new HistogramVec(name, help, labels, buckets);
    this.families.push(f);
    return f;
  }

  // ---- raft and server events ---------------------------------------------------------------

  private lastLead = '';
  /** A soft-state change: `lead` is the leader's id ('' for none). A change to a new leader
   *  counts in leader_changes_seen_total (etcd's rule: lead != none && lead != previous). */
  onLeaderChange(lead: string, isLeader: boolean): void {
    if (lead !== '' && lead !== this.lastLead) this.leaderChanges.inc();
    this.lastLead = lead;
    this.hasLeader.set(lead === '' ? 0 : 1);
    this.isLeader.set(isLeader ? 1 : 0);
  }
  setLearner(isLearner: boolean): void {
    this.isLearner.set(isLearner ? 1 : 0);
  }
  /** Raft commit index (etcd keeps proposals_committed_total at it). */
  setProposalsCommitted(index: number): void {
    this.proposalsCommitted.set(index);
  }
  /** Applied index. */
  setProposalsApplied(index: number): void {
    this.proposalsApplied.set(index);
  }
  setProposalsPending(n: number): void {
    this.proposalsPending.set(n);
  }
  onProposalFailed(): void {
    this.proposalsFailed.inc();
  }
  onHeartbeatSendFailure(): void {
    this.heartbeatSendFailures.inc();
  }
  onSlowApply(): void {
    this.slowApplies.inc();
  }
  onSlowReadIndex(): void {
    this.slowReadIndexes.inc();
  }
  onReadIndexFailed(): void {
    this.readIndexesFailed.inc();
  }
  onLearnerPromote(ok: boolean, reason = 'Learner not ready'): void {
    if (ok) this.learnerPromoteSucceed.inc();
    else this.learnerPromoteFailed.child(reason).inc();
  }
  /** /health answered (etcd counts every check on /health). */
  onHealthCheck(ok: boolean): void {
    (ok ? this.healthSuccess : this.healthFailures).inc();
  }
  private readonly clientRequestChildren = { unary: new Map<string, CounterChild>(), stream: new Map<string, CounterChild>() };
  /** A v3 client request; `clientApiVersion` from the "client-api-version" metadata ("" when
   *  absent: etcd labels it "unknown"). */
  onClientRequest(type: 'unary' | 'stream', clientApiVersion: string): void {
    const m = this.clientRequestChildren[type];
    let ch = m.get(clientApiVersion);
    if (ch === undefined) {
      ch = this.clientRequests.child(type, clientApiVersion === '' ? 'unknown' : clientApiVersion);
      m.set(clientApiVersion, ch);
    }
    ch.inc();
  }

  // ---- disk ----------------------------------------------------------------------------------

  observeWalFsync(seconds: number): void {
    this.walFsync.observe(seconds);
  }
  addWalWriteBytes(n: number): void {
    this.walWriteBytes.inc(n);
  }
  observeBackendCommit(seconds: number): void {
    this.backendCommit.observe(seconds);
  }
  observeBackendSnapshot(seconds: number): void {
    this.backendSnapshot.observe(seconds);
  }
  observeDefrag(seconds: number): void {
    this.backendDefrag.observe(seconds);
  }
  setDefragInflight(active: boolean): void {
    this.defragInflight.set(active ? 1 : 0);
  }
  /** A snapshot file written and fsynced (total save time, and the fsync alone). */
  observeSnapSave(totalSeconds: number, fsyncSeconds?: number, marshalSeconds?: number): void {
    this.snapSaveTotal.observe(totalSeconds);
    if (fsyncSeconds !== undefined) this.snapFsync.observe(fsyncSeconds);
    if (marshalSeconds !== undefined) this.snapSaveMarshalling.observe(marshalSeconds);
  }
  /** A v3 database snapshot received from the leader saved (total, and its fsync). */
  observeSnapDbSave(totalSeconds: number, fsyncSeconds?: number): void {
    this.snapDbSaveTotal.observe(totalSeconds);
    if (fsyncSeconds !== undefined) this.snapDbFsync.observe(fsyncSeconds);
  }
  setSnapshotApplyInProgress(active: boolean): void {
    this.snapshotApplyInProgress.set(active ? 1 : 0);
  }

  // ---- mvcc, lease, v2 store -----------------------------------------------------------------

  onMvccRange(n = 1): void {
    this.mvccRange.inc(n);
    this.dbgRange.inc(n);
  }
  onMvccPut(n = 1, bytes = 0): void {
    this.mvccPut.inc(n);
    this.dbgPut.inc(n);
    this.totalPutSize.inc(bytes);
  }
  onMvccDelete(n = 1): void {
    this.mvccDelete.inc(n);
    this.dbgDelete.inc(n);
  }
  onMvccTxn(): void {
    this.mvccTxn.inc();
    this.dbgTxn.inc();
  }
  /** One MVCC transaction ended, with etcd's counting rule (metrics_txn.go): each range, put and
   *  delete counts, and the transaction counts as a txn when it did more than one of them. */
  onMvccTxnEnd(ranges: number, puts: number, deletes: number, putBytes: number): void {
    if (ranges + puts + deletes > 1) this.onMvccTxn();
    if (ranges > 0) this.onMvccRange(ranges);
    if (puts > 0 || putBytes > 0) this.onMvccPut(puts, putBytes);
    if (deletes > 0) this.onMvccDelete(deletes);
  }
  /** Watch events sent to clients. */
  onMvccEventsSent(n: number): void {
    this.mvccEvents.inc(n);
  }
  observeMvccHash(seconds: number): void {
    this.mvccHash.observe(seconds);
  }
  observeMvccHashRev(seconds: number): void {
    this.mvccHashRev.observe(seconds);
  }
  /** A compaction: index pause, db pause and total durations in milliseconds, keys removed. */
  onCompaction(indexPauseMs: number, dbPauseMs: number, totalMs: number, keys: number): void {
    this.indexCompactionPause.observe(indexPauseMs);
    this.dbCompactionPause.observe(dbPauseMs);
    this.dbCompactionTotal.observe(totalMs);
    this.dbCompactionKeys.inc(keys);
  }
  onLeaseGranted(ttlSeconds: number): void {
    this.leaseGranted.inc();
    this.leaseTtl.observe(ttlSeconds);
  }
  onLeaseRenewed(): void {
    this.leaseRenewed.inc();
  }
  onLeaseRevoked(): void {
    this.leaseRevoked.inc();
  }
  /** The leader found a lease expired (etcd_debugging_server_lease_expired_total). */
  onLeaseExpired(): void {
    this.leaseExpired.inc();
  }
  private readonly storeReadChildren = new Map<string, CounterChild>();
  private readonly storeWriteChildren = new Map<string, CounterChild>();
  /** v2 store read: action "get" or "getRecursive" (failed reads count too, as in etcd). */
  onStoreRead(action: string): void {
    let ch = this.storeReadChildren.get(action);
    if (ch === undefined) this.storeReadChildren.set(action, (ch = this.storeReads.child(action)));
    ch.inc();
  }
  /** v2 store write: action "set", "create", "update", "delete", "compareAndSwap", ... */
  onStoreWrite(action: string): void {
    let ch = this.storeWriteChildren.get(action);
    if (ch === undefined) this.storeWriteChildren.set(action, (ch = this.storeWrites.child(action)));
    ch.inc();
  }
  onStoreExpire(n = 1): void {
    this.storeExpires.inc(n);
  }
  onStoreWatchRequest(): void {
    this.storeWatchRequests.inc();
  }

  // ---- v2 HTTP (etcd counts /v2/keys requests; watches are neither failures nor timed) ------

  private readonly httpReceivedChildren = new Map<string, CounterChild>();
  private readonly httpSuccessChildren = new Map<string, HistogramChild>();
  private readonly httpFailedChildren = new Map<string, Map<number, CounterChild>>();
  onHttpRequest(method: string): void {
    let ch = this.httpReceivedChildren.get(method);
    if (ch === undefined) this.httpReceivedChildren.set(method, (ch = this.httpReceived.child(method)));
    ch.inc();
  }
  onHttpFailed(method: string, code: number): void {
    let byCode = this.httpFailedChildren.get(method);
    if (byCode === undefined) this.httpFailedChildren.set(method, (byCode = new Map()));
    let ch = byCode.get(code);
    if (ch === undefined) byCode.set(code, (ch = this.httpFailed.child(method, String(code))));
    ch.inc();
  }
  observeHttpSuccess(method: string, seconds: number): void {
    let ch = this.httpSuccessChildren.get(method);
    if (ch === undefined) this.httpSuccessChildren.set(method, (ch = this.httpSuccess.child(method)));
    ch.observe(seconds);
  }

  // ---- gRPC ----------------------------------------------------------------------------------

  /** The series of one method; resolve it once per method (e.g. when wrapping the service's
   *  handlers) and keep it. Unknown methods get series on first use; `type` is needed then. */
  grpcMethod(service: string, method: string, type: GrpcType = 'unary'): GrpcMethodMetrics {
    let byMethod = this.grpcByService.get(service);
    if (byMethod === undefined) this.grpcByService.set(service, (byMethod = new Map()));
    let m = byMethod.get(method);
    if (m === undefined) {
      m = new GrpcMethodMetrics(
        this.grpcStarted.child(type, service, method),
        (code) => this.grpcHandled.child(type, service, method, code),
        this.grpcMsgReceived.child(type, service, method),
        this.grpcMsgSent.child(type, service, method),
        this.grpcHandling?.child(type, service, method),
      );
      byMethod.set(method, m);
    }
    return m;
  }
  /** From a full path ("/etcdserverpb.KV/Range", as grpc-js names handlers). */
  grpcMethodByPath(path: string, type: GrpcType = 'unary'): GrpcMethodMetrics {
    const slash = path.lastIndexOf('/');
    return this.grpcMethod(path.slice(path.startsWith('/') ? 1 : 0, slash), path.slice(slash + 1), type);
  }
  onGrpcStarted(type: GrpcType, service: string, method: string): void {
    this.grpcMethod(service, method, type).started();
  }
  onGrpcHandled(type: GrpcType, service: string, method: string, code: number, seconds?: number): void {
    this.grpcMethod(service, method, type).handled(code, seconds);
  }
  onGrpcMsgReceived(type: GrpcType, service: string, method: string): void {
    this.grpcMethod(service, method, type).msgReceived();
  }
  onGrpcMsgSent(type: GrpcType, service: string, method: string): void {
    this.grpcMethod(service, method, type).msgSent();
  }
  /** Bytes of gRPC messages from/to clients (etcd_network_client_grpc_*_bytes_total). */
  addClientGrpcReceivedBytes(n: number): void {
    this.grpcReceivedBytes.inc(n);
  }
  addClientGrpcSentBytes(n: number): void {
    this.grpcSentBytes.inc(n);
  }

  // ---- peers ---------------------------------------------------------------------------------

  private peer(id: string): PeerSeries {
    let p = this.peers.get(id);
    if (p === undefined) {
      p = {
        sentBytes: this.peerSentBytes.child(id),
        receivedBytes: this.peerReceivedBytes.child(id),
        sentFailures: this.peerSentFailures.child(id),
        active: this.activePeers.child(this.memberId, id),
        rtt: this.peerRtt.child(id),
        lastSent: 0,
        lastReceived: 0,
        lastDropped: 0,
        lastRttMs: null,
        wasConnected: false,
        rttObserved: false,
      };
      this.peers.set(id, p);
    }
    return p;
  }
  /** One round-trip sample to a peer. Once called for a peer, its smoothed rttMs from the
   *  transport stats is no longer sampled at scrape time. */
  observePeerRtt(to: string, seconds: number): void {
    const p = this.peer(to);
    p.rttObserved = true;
    p.rtt.observe(seconds);
  }
  onPeerReceiveFailure(from: string): void {
    this.peerReceivedFailures.child(from).inc();
  }
  onPeerDisconnected(remote: string): void {
    this.disconnectedPeers.child(this.memberId, remote).inc();
  }
  onSnapshotSendStart(to: string): void {
    this.snapshotSendInflights.child(to).inc();
  }
  onSnapshotSendEnd(to: string, ok: boolean, seconds: number): void {
    this.snapshotSendInflights.child(to).dec();
    if (ok) {
      this.snapshotSendSuccess.child(to).inc();
      this.snapshotSendSeconds.child(to).observe(seconds);
    } else {
      this.snapshotSendFailures.child(to).inc();
    }
  }
  onSnapshotReceiveStart(from: string): void {
    this.snapshotReceiveInflights.child(from).inc();
  }
  onSnapshotReceiveEnd(from: string, ok: boolean, seconds: number): void {
    this.snapshotReceiveInflights.child(from).dec();
    if (ok) {
      this.snapshotReceiveSuccess.child(from).inc();
      this.snapshotReceiveSeconds.child(from).observe(seconds);
    } else {
      this.snapshotReceiveFailures.child(from).inc();
    }
  }

  private applyPeers(peers: Readonly<Record<string, PeerStatsLike>>): void {
    for (const [id, s] of Object.entries(peers)) {
      const p = this.peer(id);
      p.sentBytes.inc(delta(s.sentBytes, p.lastSent));
      p.receivedBytes.inc(delta(s.receivedBytes, p.lastReceived));
      p.sentFailures.inc(delta(s.droppedMessages, p.lastDropped));
      p.lastSent = s.sentBytes;
      p.lastReceived = s.receivedBytes;
      p.lastDropped = s.droppedMessages;
      p.active.set(s.connected ? 1 : 0);
      // A drop seen between two scrapes; a flap shorter than the scrape interval is missed
      // unless the transport reports it through onPeerDisconnected.
      if (p.wasConnected && !s.connected) this.onPeerDisconnected(id);
      p.wasConnected = s.connected;
      // The transport keeps a smoothed RTT, not samples: each new value is one observation.
      if (!p.rttObserved && s.connected && s.rttMs !== null && s.rttMs !== p.lastRttMs) p.rtt.observe(s.rttMs / 1000);
      p.lastRttMs = s.rttMs;
    }
  }

  // ---- scrape --------------------------------------------------------------------------------

  /** Adds a scrape-time source; later sources override fields of earlier ones. */
  collectFrom(source: MetricsSource): void {
    this.sources.push(source);
  }

  private async collect(): Promise<void> {
    // Read in parallel, applied in registration order (later sources override).
    const snaps = await Promise.all(this.sources.map((src) => src.snapshot()));
    for (const s of snaps) this.apply(s);
    this.osFdUsed.set(fdUsed());
    this.osFdLimit.set(fdLimit());
    this.vmMaxBytes.set(virtualMemoryMaxBytes());
  }

  private apply(s: MetricsSnapshot): void {
    if (s.lead !== undefined) {
      if (s.lead !== this.lastLead || s.isLeader !== undefined) this.onLeaderChange(s.lead, s.isLeader ?? this.isLeader.value === 1);
    } else if (s.isLeader !== undefined) {
      this.isLeader.set(s.isLeader ? 1 : 0);
    }
    if (s.isLearner !== undefined) this.setLearner(s.isLearner);
    if (s.committedIndex !== undefined) this.proposalsCommitted.set(s.committedIndex);
    if (s.appliedIndex !== undefined) this.proposalsApplied.set(s.appliedIndex);
    if (s.pendingProposals !== undefined) this.proposalsPending.set(s.pendingProposals);
    if (s.clusterVersion !== undefined) {
      this.clusterVersion.clear();
      const mm = /^(\d+)\.(\d+)/.exec(s.clusterVersion);
      if (mm !== null) this.clusterVersion.child(`${mm[1]}.${mm[2]}`).set(1);
    }
    if (s.quotaBackendBytes !== undefined) this.quotaBackendBytes.set(s.quotaBackendBytes);
    if (s.dbTotalSizeBytes !== undefined) {
      this.dbTotalSize.set(s.dbTotalSizeBytes);
      this.dbgDbTotalSize.set(s.dbTotalSizeBytes);
    }
    if (s.dbTotalSizeInUseBytes !== undefined) this.dbInUse.set(s.dbTotalSizeInUseBytes);
    if (s.dbOpenReadTransactions !== undefined) this.dbOpenReadTxns.set(s.dbOpenReadTransactions);
    if (s.currentRevision !== undefined) this.currentRevision.set(s.currentRevision);
    if (s.compactRevision !== undefined) this.compactRevision.set(s.compactRevision);
    if (s.keysTotal !== undefined) this.keysTotal.set(s.keysTotal);
    if (s.watchers !== undefined) this.watcherTotal.set(s.watchers);
    if (s.watchStreams !== undefined) this.watchStreamTotal.set(s.watchStreams);
    if (s.slowWatchers !== undefined) this.slowWatcherTotal.set(s.slowWatchers);
    if (s.pendingEvents !== undefined) this.pendingEvents.set(s.pendingEvents);
    if (s.authRevision !== undefined) this.authRevision.set(s.authRevision);
    if (s.v2Watchers !== undefined) this.storeWatchers.set(s.v2Watchers);
    if (s.walBytesWritten !== undefined) this.walWriteBytes.set(s.walBytesWritten);
    if (s.snapshotApplyInProgress !== undefined) this.setSnapshotApplyInProgress(s.snapshotApplyInProgress);
    if (s.defragInflight !== undefined) this.setDefragInflight(s.defragInflight);
    if (s.peers !== undefined) this.applyPeers(s.peers);
  }

  /** The /metrics body in the Prometheus text format (METRICS_CONTENT_TYPE). Families sorted by
   *  name, no blank lines, as etcd's promhttp handler writes it. */
  async scrape(): Promise<string> {
    this.scrapesInFlight.inc();
    try {
      await this.collect();
      const text = await this.registry.metrics();
      this.scrapes200.inc();
      // The Registry separates families by a blank line; etcd's output has none.
      return text.replace(/\n\n/g, '\n');
    } catch (err) {
      this.scrapes500.inc();
      throw err;
    } finally {
      this.scrapesInFlight.dec();
    }
  }
}

/** What a cumulative transport counter added since the last read; a reset (peer re-added)
 *  counts from zero again. */
function delta(now: number, last: number): number {
  return now >= last ? now - last : now;
}
