// The table of etcd 3.4.23's server flags: name, Go type, default (as `etcd --help` prints
// it), help text, and what tsetcd does with it. Everything else in this folder (command-line
// parsing, ETCD_* variables, the YAML config file, --help) is driven from this one table.

export type FlagType =
  | 'string' | 'bool' | 'int' | 'int64' | 'uint' | 'uint32' | 'uint64' | 'duration'
  | 'urls'      // flags.UniqueURLs: comma list of URLs, "" keeps the current value
  | 'strings'   // flags.UniqueStringsValue: comma list, de-duplicated, sorted
  | 'select'    // flags.SelectiveStringValue: one of `choices`
  | 'legacy';   // flags.IgnoredFlag: boolean-like, warned about and ignored

/**
 * H/h: honoured (parsed into MemberConfig). I: accepted and ignored (listed in
 * MemberConfig.ignored when set). X: refused when set to anything but its default.
 */
export type Support = 'H' | 'h' | 'I' | 'X';

export type Group =
  | 'Member' | 'Clustering' | 'Security' | 'Auth' | 'Profiling and Monitoring' | 'Logging'
  | 'v2 Proxy (to be deprecated in v4)' | 'Experimental feature' | 'Unsafe feature'
  | 'TO BE DEPRECATED' | 'Hidden (not listed by etcd --help)' | 'Legacy (etcd accepts and ignores)';

export interface FlagDef {
  name: string;
  type: FlagType;
  /** The default in Go syntax, parsed like a command-line value. */
  defaultValue: string;
  /** The default as `etcd --help` shows it (quoted, or a symbolic name). */
  defaultShown: string;
  group: Group;
  support: Support;
  help: string;
  choices?: readonly string[];
  /** Why tsetcd ignores or refuses it (help text and messages). */
  note?: string;
}

function f(
  name: string, type: FlagType, defaultValue: string, group: Group, support: Support, help: string,
  extra: { choices?: readonly string[]; note?: string; shown?: string } = {},
): FlagDef {
  const quoted = type === 'uint' && /^(bcrypt-cost|auth-token-ttl|proxy-|experimental-compaction)/.test(name)
    ? defaultValue : `'${defaultValue}'`;
  const def: FlagDef = { name, type, defaultValue, defaultShown: extra.shown ?? quoted, group, support, help };
  if (extra.choices) def.choices = extra.choices;
  if (extra.note) def.note = extra.note;
  return def;
}

const M: Group = 'Member';
const C: Group = 'Clustering';
const S: Group = 'Security';

export const flagDefs: readonly FlagDef[] = [
  f('name', 'string', 'default', M, 'H', 'Human-readable name for this member.'),
  f('data-dir', 'string', '', M, 'H', 'Path to the data directory.', { shown: "'${name}.etcd'" }),
  f('wal-dir', 'string', '', M, 'H', 'Path to the dedicated wal directory.'),
  f('snapshot-count', 'uint64', '100000', M, 'H', 'Number of committed transactions to trigger a snapshot to disk.'),
  f('heartbeat-interval', 'uint', '100', M, 'H', 'Time (in milliseconds) of a heartbeat interval.'),
  f('election-timeout', 'uint', '1000', M, 'H', 'Time (in milliseconds) for an election to timeout. See tuning documentation for details.'),
  f('initial-election-tick-advance', 'bool', 'true', M, 'h', 'Whether to fast-forward initial election ticks on boot for faster election.'),
  f('listen-peer-urls', 'urls', 'http://localhost:2380', M, 'H', 'List of URLs to listen on for peer traffic.'),
  f('listen-client-urls', 'urls', 'http://localhost:2379', M, 'H', 'List of URLs to listen on for client traffic.'),
  f('max-snapshots', 'uint', '5', M, 'H', 'Maximum number of snapshot files to retain (0 is unlimited).'),
  f('max-wals', 'uint', '5', M, 'H', 'Maximum number of wal files to retain (0 is unlimited).'),
  f('quota-backend-bytes', 'int64', '0', M, 'H', 'Raise alarms when backend size exceeds the given quota (0 defaults to low space quota).'),
  f('backend-batch-interval', 'duration', '0', M, 'I', 'BackendBatchInterval is the maximum time before commit the backend transaction.', { shown: "''", note: 'bbolt tuning; tsetcd writes its backend every 100 ms or 10,000 ops, these flags\' defaults' }),
  f('backend-batch-limit', 'int', '0', M, 'I', 'BackendBatchLimit is the maximum operations before commit the backend transaction.', { note: 'bbolt tuning' }),
  f('max-txn-ops', 'uint', '128', M, 'H', 'Maximum number of operations permitted in a transaction.'),
  f('max-request-bytes', 'uint', '1572864', M, 'H', 'Maximum client request size in bytes the server will accept.'),
  f('max-concurrent-streams', 'uint32', '4294967295', M, 'h', 'Maximum concurrent streams that each client can open at a time.', { shown: "'math.MaxUint32'" }),
  f('grpc-keepalive-min-time', 'duration', '5s', M, 'h', 'Minimum duration interval that a client should wait before pinging server.'),
  f('grpc-keepalive-interval', 'duration', '2h', M, 'h', 'Frequency duration of server-to-client ping to check if a connection is alive (0 to disable).'),
  f('grpc-keepalive-timeout', 'duration', '20s', M, 'h', 'Additional duration of wait before closing a non-responsive connection (0 to disable).'),

  f('initial-advertise-peer-urls', 'urls', 'http://localhost:2380', C, 'H', "List of this member's peer URLs to advertise to the rest of the cluster."),
  f('initial-cluster', 'string', 'default=http://localhost:2380', C, 'H', 'Initial cluster configuration for bootstrapping.'),
  f('initial-cluster-state', 'select', 'new', C, 'H', "Initial cluster state ('new' or 'existing').", { choices: ['new', 'existing'] }),
  f('initial-cluster-token', 'string', 'etcd-cluster', C, 'H', 'Initial cluster token for the etcd cluster during bootstrap.\nSpecifying this can protect you from unintended cross-cluster interaction when running multiple clusters.'),
  f('advertise-client-urls', 'urls', 'http://localhost:2379', C, 'H', "List of this member's client URLs to advertise to the public.\nThe client URLs advertised should be accessible to machines that talk to etcd cluster. etcd client libraries parse these URLs to connect to the cluster."),
  f('discovery', 'string', '', C, 'X', 'Discovery URL used to bootstrap the cluster.', { note: 'the public discovery service is not supported; use --initial-cluster' }),
  f('discovery-fallback', 'select', 'proxy', C, 'I', "Expected behavior ('exit' or 'proxy') when discovery services fails.\n\"proxy\" supports v2 API only.", { choices: ['exit', 'proxy'], note: 'only meaningful with --discovery' }),
  f('discovery-proxy', 'string', '', C, 'I', 'HTTP proxy to use for traffic to discovery service.', { note: 'only meaningful with --discovery' }),
  f('discovery-srv', 'string', '', C, 'h', 'DNS srv domain used to bootstrap the cluster.'),
  f('discovery-srv-name', 'string', '', C, 'h', 'Suffix to the dns srv name queried when bootstrapping.'),
  f('strict-reconfig-check', 'bool', 'true', C, 'H', 'Reject reconfiguration requests that would cause quorum loss.'),
  f('pre-vote', 'bool', 'false', C, 'h', 'Enable to run an additional Raft election phase.'),
  f('auto-compaction-retention', 'string', '0', C, 'H', 'Auto compaction retention length. 0 means disable auto compaction.'),
  f('auto-compaction-mode', 'string', 'periodic', C, 'H', "Interpret 'auto-compaction-retention' one of: periodic|revision. 'periodic' for duration based retention, defaulting to hours if no time unit is provided (e.g. '5m'). 'revision' for revision number based retention."),
  f('enable-v2', 'bool', 'false', C, 'H', 'Accept etcd V2 client requests.'),

  f('cert-file', 'string', '', S, 'H', 'Path to the client server TLS cert file.'),
  f('key-file', 'string', '', S, 'H', 'Path to the client server TLS key file.'),
  f('client-cert-auth', 'bool', 'false', S, 'H', 'Enable client cert authentication.'),
  f('client-crl-file', 'string', '', S, 'h', 'Path to the client certificate revocation list file.'),
  f('client-cert-allowed-hostname', 'string', '', S, 'h', 'Allowed TLS hostname for client cert authentication.'),
  f('trusted-ca-file', 'string', '', S, 'H', 'Path to the client server TLS trusted CA cert file.'),
  f('auto-tls', 'bool', 'false', S, 'H', 'Client TLS using generated certificates.'),
  f('peer-cert-file', 'string', '', S, 'H', 'Path to the peer server TLS cert file.'),
  f('peer-key-file', 'string', '', S, 'H', 'Path to the peer server TLS key file.'),
  f('peer-client-cert-auth', 'bool', 'false', S, 'H', 'Enable peer client cert authentication.'),
  f('peer-trusted-ca-file', 'string', '', S, 'H', 'Path to the peer server TLS trusted CA file.'),
  f('peer-cert-allowed-cn', 'string', '', S, 'h', 'Required CN for client certs connecting to the peer endpoint.'),
  f('peer-cert-allowed-hostname', 'string', '', S, 'h', 'Allowed TLS hostname for inter peer authentication.'),
  f('peer-auto-tls', 'bool', 'false', S, 'H', 'Peer TLS using self-generated certificates if --peer-key-file and --peer-cert-file are not provided.'),
  f('peer-crl-file', 'string', '', S, 'h', 'Path to the peer certificate revocation list file.'),
  f('cipher-suites', 'strings', '', S, 'h', 'Comma-separated list of supported TLS cipher suites between client/server and peers (empty will be auto-populated by Go).'),
  f('cors', 'strings', '*', S, 'h', 'Comma-separated whitelist of origins for CORS, or cross-origin resource sharing, (empty or * means allow all).'),
  f('host-whitelist', 'strings', '*', S, 'h', 'Acceptable hostnames from HTTP client requests, if server is not secure (empty or * means allow all).'),

  f('auth-token', 'string', 'simple', 'Auth', 'H', "Specify a v3 authentication token type and its options ('simple' or 'jwt')."),
  f('bcrypt-cost', 'uint', '10', 'Auth', 'H', 'Specify the cost / strength of the bcrypt algorithm for hashing auth passwords. Valid values are between 4 and 31.'),
  f('auth-token-ttl', 'uint', '300', 'Auth', 'H', 'Time (in seconds) of the auth-token-ttl.'),

  f('enable-pprof', 'bool', 'false', 'Profiling and Monitoring', 'I', 'Enable runtime profiling data via HTTP server. Address is at client URL + "/debug/pprof/"', { note: 'Go profiling; /debug/pprof stays 404 in tsetcd' }),
  f('metrics', 'string', 'basic', 'Profiling and Monitoring', 'h', "Set level of detail for exported metrics, specify 'extensive' to include histogram metrics."),
  f('listen-metrics-urls', 'urls', '', 'Profiling and Monitoring', 'H', 'List of URLs to listen on for the metrics and health endpoints.'),

  f('logger', 'string', 'capnslog', 'Logging', 'h', "Specify 'zap' for structured logging or 'capnslog'. [WARN] 'capnslog' will be deprecated in v3.5."),
  f('log-outputs', 'strings', 'default', 'Logging', 'h', "Specify 'stdout' or 'stderr' to skip journald logging even when running under systemd, or list of comma separated output targets."),
  f('log-level', 'string', 'info', 'Logging', 'H', 'Configures log level. Only supports debug, info, warn, error, panic, or fatal.'),

  f('proxy', 'select', 'off', 'v2 Proxy (to be deprecated in v4)', 'X', "Proxy mode setting ('off', 'readonly' or 'on').", { choices: ['off', 'readonly', 'on'], note: "the v2 proxy is not supported; only 'off' is accepted" }),
  f('proxy-failure-wait', 'uint', '5000', 'v2 Proxy (to be deprecated in v4)', 'I', 'Time (in milliseconds) an endpoint will be held in a failed state.', { note: 'v2 proxy only' }),
  f('proxy-refresh-interval', 'uint', '30000', 'v2 Proxy (to be deprecated in v4)', 'I', 'Time (in milliseconds) of the endpoints refresh interval.', { note: 'v2 proxy only' }),
  f('proxy-dial-timeout', 'uint', '1000', 'v2 Proxy (to be deprecated in v4)', 'I', 'Time (in milliseconds) for a dial to timeout.', { note: 'v2 proxy only' }),
  f('proxy-write-timeout', 'uint', '5000', 'v2 Proxy (to be deprecated in v4)', 'I', 'Time (in milliseconds) for a write to timeout.', { note: 'v2 proxy only' }),
  f('proxy-read-timeout', 'uint', '0', 'v2 Proxy (to be deprecated in v4)', 'I', 'Time (in milliseconds) for a read to timeout.', { note: 'v2 proxy only' }),

  f('experimental-initial-corrupt-check', 'bool', 'false', 'Experimental feature', 'h', 'Enable to check data corruption before serving any client/peer traffic.'),
  f('experimental-corrupt-check-time', 'duration', '0s', 'Experimental feature', 'h', 'Duration of time between cluster corruption check passes.'),
  f('experimental-enable-v2v3', 'string', '', 'Experimental feature', 'X', 'Serve v2 requests through the v3 backend under a given prefix.', { note: 'v2-over-v3 emulation is not supported; tsetcd serves v2 from its own v2 store (--enable-v2)' }),
  f('experimental-backend-bbolt-freelist-type', 'string', 'array', 'Experimental feature', 'I', 'ExperimentalBackendFreelistType specifies the type of freelist that boltdb backend uses(array and map are supported types).', { note: 'bbolt only' }),
  f('experimental-enable-lease-checkpoint', 'bool', 'false', 'Experimental feature', 'h', 'ExperimentalEnableLeaseCheckpoint enables primary lessor to persist lease remainingTTL to prevent indefinite auto-renewal of long lived leases.'),
  f('experimental-compaction-batch-limit', 'int', '1000', 'Experimental feature', 'I', 'ExperimentalCompactionBatchLimit sets the maximum revisions deleted in each compaction batch.', { shown: '1000', note: 'bbolt tuning' }),
  f('experimental-peer-skip-client-san-verification', 'bool', 'false', 'Experimental feature', 'h', 'Skip verification of SAN field in client certificate for peer connections.'),
  f('experimental-watch-progress-notify-interval', 'duration', '10m', 'Experimental feature', 'H', 'Duration of periodical watch progress notification.'),
  f('experimental-warning-apply-duration', 'duration', '100ms', 'Experimental feature', 'I', 'Warning is generated if requests take more than this duration.', { note: 'slow-apply warning not emitted' }),

  f('force-new-cluster', 'bool', 'false', 'Unsafe feature', 'H', 'Force to create a new one-member cluster.'),

  f('debug', 'bool', 'false', 'TO BE DEPRECATED', 'h', "Enable debug-level logging for etcd. [WARN] Will be deprecated in v3.5. Use '--log-level=debug' instead."),
  f('log-package-levels', 'string', '', 'TO BE DEPRECATED', 'I', "Specify a particular log level for each etcd package (eg: 'etcdmain=CRITICAL,etcdserver=DEBUG').", { note: 'capnslog per-package levels' }),

  f('enable-grpc-gateway', 'bool', 'true', 'Hidden (not listed by etcd --help)', 'H', 'Enable GRPC gateway.'),
  f('unsafe-no-fsync', 'bool', 'false', 'Hidden (not listed by etcd --help)', 'h', 'Disables fsync, unsafe, will cause data loss.'),
  f('experimental-enable-lease-checkpoint-persist', 'bool', 'false', 'Hidden (not listed by etcd --help)', 'h', 'Enable persisting remainingTTL to prevent indefinite auto-renewal of long lived leases. Requires --experimental-enable-lease-checkpoint.'),
  f('log-output', 'strings', 'default', 'Hidden (not listed by etcd --help)', 'h', "[TO BE DEPRECATED IN v3.5] use '--log-outputs' (used only when --log-outputs is not set)."),

  f('config-file', 'string', '', M, 'H', 'Path to the server configuration file. Note that if a configuration file is provided, other command line flags and environment variables will be ignored.'),
  f('version', 'bool', 'false', M, 'H', 'Print the version and exit.'),
];

/** etcd's pkg/flags.IgnoredFlag names: accepted as booleans, warned about, ignored. */
export const legacyFlagNames: readonly string[] = [
  'cluster-active-size', 'cluster-remove-delay', 'cluster-sync-interval', 'config', 'force',
  'max-result-buffer', 'max-retry-attempts', 'peer-heartbeat-interval', 'peer-election-timeout',
  'retry-interval', 'snapshot', 'v', 'vv',
];

const legacyDefs: FlagDef[] = legacyFlagNames.map((name) =>
  f(name, 'legacy', 'false', 'Legacy (etcd accepts and ignores)', 'I', 'No longer supported; ignored.', { note: 'legacy' }));

export const allFlagDefs: readonly FlagDef[] = [...flagDefs, ...legacyDefs];

export const flagByName: ReadonlyMap<string, FlagDef> = new Map(allFlagDefs.map((d) => [d.name, d]));

/** pkg/flags.FlagToEnv: "initial-cluster-token" -> "ETCD_INITIAL_CLUSTER_TOKEN". */
export function flagToEnv(name: string): string {
  return `ETCD_${name.toUpperCase().replaceAll('-', '_')}`;
}
