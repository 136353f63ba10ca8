// The member's configuration, from etcd 3.4's command line, ETCD_* environment variables, or
// its YAML --config-file, validated the way etcd validates it (same checks, same order, same
// messages where practical), so `tsetcd` is a drop-in for `etcd` in scripts and unit files.
import { lookup } from 'node:dns/promises';
import { parseArgv } from './argv.js';
import { ConfigFileError, loadConfigFile } from './file.js';
import { allFlagDefs, flagByName, flagToEnv } from './flags.js';
import { GoParseError, isIpLiteral, parseGoDurationNs, parseGoUrls, urlText, type GoUrl } from './go.js';
import { helpText, usageLine, versionText } from './help.js';
import { FlagValues, parseValue, type FlagValue } from './values.js';

export { deriveIds, memberIdOf, clusterIdOf, formatId, etcdIdText } from './ids.js';
export { urlText } from './go.js';
export { helpText, versionText, etcdCompatibleVersion, apiVersion } from './help.js';
export { flagDefs, allFlagDefs, flagToEnv, type FlagDef } from './flags.js';

export interface TlsConfig {
  certFile: string;
  keyFile: string;
  trustedCaFile: string;
  /**
   * The --client-cert-auth / --peer-client-cert-auth flag as given. Note etcd 3.4 also
   * requires client certificates whenever trustedCaFile is set (etcd-io/etcd#11124).
   */
  clientCertAuth: boolean;
  autoTls: boolean;
  crlFile: string;
  /** --client-cert-allowed-hostname / --peer-cert-allowed-hostname. */
  allowedHostname: string;
  /** --peer-cert-allowed-cn ('' for the client side). */
  allowedCn: string;
}

export interface MemberConfig {
  name: string;
  dataDir: string;
  walDir: string;
  snapshotCount: number;
  heartbeatIntervalMs: number;
  electionTimeoutMs: number;
  initialElectionTickAdvance: boolean;
  maxSnapshots: number;
  maxWals: number;
  /** As given: 0 means etcd's default quota (2 GiB); negative disables the quota. */
  quotaBackendBytes: number;
  maxTxnOps: number;
  maxRequestBytes: number;
  listenClientUrls: URL[];
  advertiseClientUrls: URL[];
  listenPeerUrls: URL[];
  initialAdvertisePeerUrls: URL[];
  listenMetricsUrls: URL[];
  /** In --initial-cluster order; each member's URLs sorted as etcd sorts them. */
  initialCluster: Array<{ name: string; peerUrls: URL[] }>;
  initialClusterState: 'new' | 'existing';
  initialClusterToken: string;
  /** DNS SRV bootstrap (--discovery-srv): initialCluster is then empty. */
  discoverySrv: string;
  discoverySrvName: string;
  strictReconfigCheck: boolean;
  preVote: boolean;
  enableV2: boolean;
  forceNewCluster: boolean;
  autoCompactionRetention: string;
  autoCompactionMode: 'periodic' | 'revision';
  /** Periodic mode: the retention window (0 = auto compaction off). */
  autoCompactionRetentionMs: number;
  /** Revision mode: how many revisions to keep (0 = auto compaction off). */
  autoCompactionRetentionRevisions: number;
  logger: 'capnslog' | 'zap';
  logLevel: 'debug' | 'info' | 'warn' | 'error' | 'panic' | 'fatal';
  logOutputs: string[];
  cors: string[];
  hostWhitelist: string[];
  cipherSuites: string[];
  authToken: string;
  bcryptCost: number;
  authTokenTtlS: number;
  enableGrpcGateway: boolean;
  experimentalWatchProgressNotifyIntervalMs: number;
  experimentalInitialCorruptCheck: boolean;
  experimentalCorruptCheckTimeMs: number;
  experimentalEnableLeaseCheckpoint: boolean;
  experimentalEnableLeaseCheckpointPersist: boolean;
  experimentalPeerSkipClientSanVerification: boolean;
  unsafeNoFsync: boolean;
  maxConcurrentStreams: number;
  grpcKeepaliveMinTimeMs: number;
  grpcKeepaliveIntervalMs: number;
  grpcKeepaliveTimeoutMs: number;
  metrics: 'basic' | 'extensive';
  enablePprof: boolean;
  clientTls: TlsConfig;
  peerTls: TlsConfig;
  /** The --config-file the configuration came from ('' when from flags and environment). */
  configFile: string;
  /** Flags that were set but that tsetcd ignores as harmless; the server logs them at start. */
  ignored: string[];
}

export type ParseResult =
  | {
    kind: 'run';
    config: MemberConfig;
    /** Lines etcd logs at warning level while parsing (unknown ETCD_* variables, ...). */
    warnings: string[];
    /** Lines etcd logs at info level ("recognized and used environment variable ..."). */
    info: string[];
  }
  | { kind: 'help'; text: string }
  | { kind: 'version'; text: string }
  | { kind: 'error'; message: string; exitCode: number };

type ErrorResult = Extract<ParseResult, { kind: 'error' }>;

/** A configuration error exits 1, as etcd's "error verifying flags" does. */
class ConfigError extends Error {
  constructor(message: string, readonly verifying = true) {
    super(message);
  }
}

/** Checks an --auth-token value ("type,opt=value,...") as etcd 3.4's NewTokenProvider does:
 *  every option is one key=value pair, no key twice, and the type is simple or jwt. What each option means is the token provider's business (jwt.ts). etcd logs
 *  the reason and exits with "auth: invalid auth options"; here both are in the message.
 *  An empty type, which etcd takes as a provider that refuses every Authenticate, is refused
 *  here at start. */
function checkAuthToken(value: string): void {
  const [type, ...opts] = value.split(',');
  const invalid = (why: string): ConfigError => new ConfigError(`auth: invalid auth options (${why})`, false);
  const seen = new Set<string>();
  for (const opt of opts) {
    const pair = opt.split('=');
    if (pair.length !== 2) throw invalid(`invalid token specific option: ${value}`);
    if (seen.has(pair[0]!)) throw invalid(`invalid token specific option, duplicated parameters (${pair[0]}): ${value}`);
    seen.add(pair[0]!);
  }
  if (type !== 'simple' && type !== 'jwt') throw invalid(`unknown token type: ${type}`);
}

function errorResult(err: ConfigError): ErrorResult {
  return {
    kind: 'error',
    exitCode: 1,
    message: err.verifying ? `error verifying flags, ${err.message}. See 'tsetcd --help'.` : err.message,
  };
}

/** Go's %q of a []string: ["a" "b"]. */
function goQuoteList(xs: readonly string[]): string {
  return `[${xs.map((x) => JSON.stringify(x)).join(' ')}]`;
}

const defaultInitialCluster = 'default=http://localhost:2380';
const maxElectionMs = 50000;
const logLevels = ['debug', 'info', 'warn', 'error', 'panic', 'fatal'] as const;

/**
 * Parse `tsetcd [etcd flags]` (argv without the program name) and the environment exactly
 * like `etcd` 3.4.23 would. Pure apart from reading the --config-file.
 */
export function parseMemberArgs(argv: string[], env: NodeJS.ProcessEnv): ParseResult {
  const first = argv[0];
  if (first === 'gateway' || first === 'grpc-proxy') {
    return { kind: 'error', exitCode: 1, message: `tsetcd does not support \`etcd ${first}\` (etcd's proxies); point clients at the members or at the framework's VIP` };
  }
  const values = new FlagValues();
  const parsed = parseArgv(argv, values);
  if (parsed.kind === 'help') return { kind: 'help', text: helpText() };
  if (parsed.kind === 'error') return { kind: 'error', exitCode: 2, message: `${parsed.message}\n${usageLine}` };
  const warnings = [...parsed.warnings];
  const info: string[] = [];
  try {
    if (parsed.rest.length > 0) throw new ConfigError(`'${parsed.rest[0] ?? ''}' is not a valid flag`);
    if (values.bool('version')) return { kind: 'version', text: versionText() };

    let configFile = values.str('config-file');
    // etcd reads ETCD_CONFIG_FILE on its own: it decides whether the environment counts at all.
    if (configFile === '') configFile = env[flagToEnv('config-file')] ?? '';
    let effective = values;
    if (configFile !== '') {
      info.push(`Loading server configuration from ${JSON.stringify(configFile)}. Other configuration command line flags and environment variables will be ignored if provided.`);
      const ignoredFlags = [...parsed.setOnCommandLine].filter((n) => n !== 'config-file' && flagByName.get(n)?.type !== 'legacy');
      if (ignoredFlags.length > 0) warnings.push(`ignoring command-line flags because --config-file is given: ${ignoredFlags.map((n) => `--${n}`).join(' ')}`);
      effective = new FlagValues();
      effective.set('config-file', configFile, values.isSet('config-file') ? 'flag' : 'env');
      try {
        warnings.push(...loadConfigFile(configFile, effective));
      } catch (err) {
        if (err instanceof ConfigFileError) throw new ConfigError(err.message);
        throw err;
      }
    } else {
      applyEnv(values, parsed.setOnCommandLine, env, warnings, info);
    }
    const config = buildConfig(effective, configFile !== '', warnings);
    return { kind: 'run', config, warnings, info };
  } catch (err) {
    if (err instanceof ConfigError) return errorResult(err);
    throw err;
  }
}

/** pkg/flags.SetFlagsFromEnv + verifyEnv. */
function applyEnv(
  values: FlagValues, setOnCommandLine: ReadonlySet<string>, env: NodeJS.ProcessEnv,
  warnings: string[], info: string[],
): void {
  const used = new Set<string>();
  const byName = [...allFlagDefs].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const def of byName) {
    const key = flagToEnv(def.name);
    if (setOnCommandLine.has(def.name)) continue;
    const text = env[key];
    if (text === undefined || text === '') continue;
    used.add(key);
    try {
      values.set(def.name, parseValueForEnv(def.name, text, values), 'env');
    } catch (err) {
      const why = err instanceof GoParseError ? err.message : String(err);
      throw new ConfigError(`invalid value ${JSON.stringify(text)} for ${key}: ${why}`);
    }
    if (def.type === 'legacy') warnings.push(`flag "-${def.name}" is no longer supported - ignoring.`);
    info.push(`recognized and used environment variable ${key}=${text}`);
  }
  const shadowing = new Set([...setOnCommandLine].map(flagToEnv));
  for (const [key, text] of Object.entries(env)) {
    if (used.has(key)) continue;
    if (shadowing.has(key)) {
      throw new ConfigError(
        `conflicting environment variable ${JSON.stringify(key)} is shadowed by corresponding command-line flag (either unset environment variable or disable flag)`,
        false,
      );
    }
    if (key.startsWith('ETCD_') && key !== flagToEnv('config-file')) warnings.push(`unrecognized environment variable ${key}=${text ?? ''}`);
  }
}

function parseValueForEnv(name: string, text: string, values: FlagValues): FlagValue {
  const def = flagByName.get(name);
  if (!def) throw new Error(`unknown flag ${name}`);
  return parseValue(def, text, values.values.get(name));
}

function toUrls(xs: readonly GoUrl[]): URL[] {
  return xs.map((x) => x.url);
}

/** embed.checkBindURLs: listeners bind to IPs (or localhost), never to names. */
function checkBindUrls(urls: readonly GoUrl[]): void {
  for (const u of urls) {
    if (u.url.protocol === 'unix:' || u.url.protocol === 'unixs:') continue;
    if (u.hostname === 'localhost') continue;
    if (!isIpLiteral(u.hostname)) throw new ConfigError(`expected IP in URL for binding (${u.text})`);
  }
}

/** embed.checkHostURLs. */
function checkHostUrls(flag: string, urls: readonly GoUrl[]): void {
  for (const u of urls) {
    if (u.hostname === '') {
      throw new ConfigError(`--${flag} ${JSON.stringify(urls.map((x) => x.text).join(','))} must be "host:port" (unexpected empty host (${u.text}))`);
    }
  }
}

/** types.NewURLsMap: "a=u1,a=u2,b=u3", names in order of first appearance. */
function parseInitialCluster(text: string): Array<{ name: string; urls: GoUrl[] }> {
  const byName = new Map<string, string[]>();
  for (const part of text.split(',')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = eq >= 0 ? part.slice(0, eq) : part;
    const value = eq >= 0 ? part.slice(eq + 1) : '';
    const list = byName.get(name) ?? [];
    list.push(value);
    byName.set(name, list);
  }
  const out: Array<{ name: string; urls: GoUrl[] }> = [];
  for (const [name, urls] of byName) {
    try {
      out.push({ name, urls: parseGoUrls(urls) });
    } catch (err) {
      throw new ConfigError(`error setting up initial cluster: ${(err as Error).message}`, false);
    }
  }
  return out;
}

/** types.URLsMap.String(): sorted name=url pairs. */
function urlsMapText(members: ReadonlyArray<{ name: string; urls: readonly GoUrl[] }>): string {
  return members.flatMap((m) => m.urls.map((u) => `${m.name}=${u.text}`)).sort().join(',');
}

/** Hosts whose equality only DNS can decide. */
function needsResolution(urls: readonly GoUrl[]): boolean {
  return urls.some((u) => u.url.protocol !== 'unix:' && u.url.protocol !== 'unixs:' && !isIpLiteral(u.hostname));
}

/**
 * ServerConfig.advertiseMatchesCluster without DNS. Returns an error message, or null when
 * the URLs match or only name resolution can tell (see checkAdvertiseMatchesCluster).
 */
function advertiseMismatch(name: string, advertised: readonly GoUrl[], inCluster: readonly GoUrl[], resolved?: { ap: string[]; ic: string[] }): string | null {
  const apTexts = advertised.map((u) => u.text).sort();
  const icTexts = inCluster.map((u) => u.text).sort();
  let reason: string;
  if (apTexts.length !== icTexts.length) {
    reason = `len(${goQuoteList(apTexts)}) != len(${goQuoteList(icTexts)})`;
  } else if (resolved) {
    if (resolved.ap.join(',') === resolved.ic.join(',')) return null;
    reason = `resolved urls: ${JSON.stringify(resolved.ap.join(','))} != ${JSON.stringify(resolved.ic.join(','))}`;
  } else {
    if (apTexts.join(',') === icTexts.join(',')) return null;
    if (needsResolution(advertised) || needsResolution(inCluster)) {
      // Only DNS can equate different host names, but never different schemes or ports.
      const schemePorts = (urls: readonly GoUrl[]): string => urls.map((u) => `${u.url.protocol}${u.port}`).sort().join(',');
      if (schemePorts(advertised) === schemePorts(inCluster)) return null;
    }
    reason = `resolved urls: ${JSON.stringify(apTexts.join(','))} != ${JSON.stringify(icTexts.join(','))}`;
  }
  const apSet = new Set(apTexts);
  const icSet = new Set(icTexts);
  const missingFromAp = icTexts.filter((t) => !apSet.has(t));
  if (missingFromAp.length > 0) {
    return `--initial-cluster has ${missingFromAp.map((t) => `${name}=${t}`).join(',')} but missing from --initial-advertise-peer-urls=${apTexts.join(',')} (${reason})`;
  }
  const missingFromIc = apTexts.filter((t) => !icSet.has(t));
  const own = urlsMapText([{ name, urls: advertised }]);
  if (missingFromIc.length > 0) {
    return `--initial-advertise-peer-urls has ${missingFromIc.join(',')} but missing from --initial-cluster=${own}`;
  }
  return `failed to resolve ${apTexts.join(',')} to match --initial-cluster=${own} (${reason})`;
}

function tls(values: FlagValues, side: 'client' | 'peer'): TlsConfig {
  const p = side === 'peer' ? 'peer-' : '';
  return {
    certFile: values.str(`${p}cert-file`),
    keyFile: values.str(`${p}key-file`),
    trustedCaFile: values.str(`${p}trusted-ca-file`),
    clientCertAuth: values.bool(`${p}client-cert-auth`),
    autoTls: values.bool(`${p}auto-tls`),
    crlFile: values.str(side === 'peer' ? 'peer-crl-file' : 'client-crl-file'),
    allowedHostname: values.str(side === 'peer' ? 'peer-cert-allowed-hostname' : 'client-cert-allowed-hostname'),
    allowedCn: side === 'peer' ? values.str('peer-cert-allowed-cn') : '',
  };
}

const nsPerMs = 1e6;

function buildConfig(values: FlagValues, fromFile: boolean, warnings: string[]): MemberConfig {
  // Unsupported features first: a clear refusal beats any downstream message.
  const proxy = values.str('proxy');
  if (proxy !== 'off') {
    throw new ConfigError(`tsetcd does not support --proxy=${proxy} (etcd's v2 proxy); run a member, or use the framework's VIP`, false);
  }
  if (values.str('discovery') !== '') {
    throw new ConfigError('tsetcd does not support --discovery; use --initial-cluster', false);
  }
  if (values.str('experimental-enable-v2v3') !== '') {
    throw new ConfigError('tsetcd does not support --experimental-enable-v2v3; use --enable-v2 (tsetcd serves v2 from its own v2 store)', false);
  }

  // embed.Config.Validate, in its order.
  const logger = values.str('logger');
  if (logger !== 'capnslog' && logger !== 'zap') throw new ConfigError(`unknown logger option ${JSON.stringify(logger)}`);
  let logOutputs = values.list('log-outputs');
  if (!values.isSet('log-outputs') && values.isSet('log-output')) logOutputs = values.list('log-output');
  if (logOutputs.length === 0) logOutputs = ['default'];
  if (logger === 'capnslog') {
    if (logOutputs.length > 1) throw new ConfigError(`--logger=capnslog supports only 1 value in '--log-outputs', got ${goQuoteList(logOutputs)}`);
    const out = logOutputs[0] ?? 'default';
    if (out !== 'default' && out !== 'stderr' && out !== 'stdout') {
      throw new ConfigError(`unknown log-output ${JSON.stringify(out)} (only supports "default", "stderr", "stdout")`);
    }
  } else if (logOutputs.length > 1 && logOutputs.includes('default')) {
    throw new ConfigError(`multi logoutput for "default" is not supported yet`);
  }
  const logLevelText = values.bool('debug') ? 'debug' : values.str('log-level');
  const logLevel = logLevels.find((l) => l === logLevelText);
  if (logLevel === undefined) throw new ConfigError(`unknown level ${JSON.stringify(logLevelText)} (only debug, info, warn, error, panic or fatal)`);

  const listenPeer = values.urls('listen-peer-urls');
  const listenClient = values.urls('listen-client-urls');
  const listenMetrics = values.urls('listen-metrics-urls');
  const advertisePeer = values.urls('initial-advertise-peer-urls');
  const advertiseClient = values.urls('advertise-client-urls');
  checkBindUrls(listenPeer);
  checkBindUrls(listenClient);
  checkBindUrls(listenMetrics);
  checkHostUrls('initial-advertise-peer-urls', advertisePeer);
  checkHostUrls('advertise-client-urls', advertiseClient);

  const discoverySrv = values.str('discovery-srv');
  let initialClusterText = values.str('initial-cluster');
  if (discoverySrv !== '' && !values.isSet('initial-cluster')) initialClusterText = '';
  if (discoverySrv !== '' && initialClusterText !== '') {
    throw new ConfigError('multiple discovery or bootstrap flags are set. Choose one of "initial-cluster", "discovery" or "discovery-srv"');
  }

  const heartbeatIntervalMs = values.num('heartbeat-interval');
  const electionTimeoutMs = values.num('election-timeout');
  if (heartbeatIntervalMs <= 0) throw new ConfigError(`--heartbeat-interval must be >0 (set to ${heartbeatIntervalMs}ms)`);
  if (electionTimeoutMs <= 0) throw new ConfigError(`--election-timeout must be >0 (set to ${electionTimeoutMs}ms)`);
  if (5 * heartbeatIntervalMs > electionTimeoutMs) {
    throw new ConfigError(`--election-timeout[${electionTimeoutMs}ms] should be at least as 5 times as --heartbeat-interval[${heartbeatIntervalMs}ms]`);
  }
  if (electionTimeoutMs > maxElectionMs) {
    throw new ConfigError(`--election-timeout[${electionTimeoutMs}ms] is too long, and should be set less than ${maxElectionMs}ms`);
  }
  // etcdmain drops the default advertise URL when only the listen URL was given (flags/env).
  if (!fromFile && values.isSet('listen-client-urls') && !values.isSet('advertise-client-urls')) {
    throw new ConfigError(
      "error verifying flags, --advertise-client-urls is required when --listen-client-urls is set explicitly. See 'tsetcd --help'.\n" +
      'When listening on specific address(es), this etcd process must advertise accessible url(s) to each connected client.',
      false,
    );
  }
  const modeText = values.str('auto-compaction-mode');
  if (modeText !== '' && modeText !== 'periodic' && modeText !== 'revision') {
    throw new ConfigError(`unknown auto-compaction-mode ${JSON.stringify(modeText)}`);
  }
  const autoCompactionMode = modeText === 'revision' ? 'revision' : 'periodic';

  // etcdmain.startEtcdOrProxyV2 and embed.StartEtcd.
  const name = values.str('name');
  let dataDir = values.str('data-dir');
  if (dataDir === '') {
    dataDir = `${name}.etcd`;
    warnings.push(`no data-dir provided, using default data-dir ./${dataDir}`);
  }
  // UpdateDefaultClusterFromName: `etcd --name abc` alone bootstraps "abc=<advertise peer urls>".
  if (name !== 'default' && initialClusterText === defaultInitialCluster) {
    initialClusterText = advertisePeer.map((u) => `${name}=${u.text}`).join(',');
  }
  const retention = values.str('auto-compaction-retention');
  let autoCompactionRetentionMs = 0;
  let autoCompactionRetentionRevisions = 0;
  const whole = /^[+-]?[0-9]+$/.test(retention) ? Number(retention) : NaN;
  if (Number.isInteger(whole) && whole >= 0) {
    if (autoCompactionMode === 'periodic') autoCompactionRetentionMs = whole * 3600_000;
    else autoCompactionRetentionRevisions = whole;
  } else {
    let ns: number;
    try {
      ns = parseGoDurationNs(retention);
    } catch (err) {
      throw new ConfigError(`error parsing CompactionRetention: ${(err as Error).message}`, false);
    }
    // etcd's own quirk: in revision mode a duration is taken as a count of nanoseconds.
    if (autoCompactionMode === 'periodic') autoCompactionRetentionMs = ns / nsPerMs;
    else autoCompactionRetentionRevisions = ns;
  }

  const initialCluster = initialClusterText === '' ? [] : parseInitialCluster(initialClusterText);
  const initialClusterState = values.str('initial-cluster-state') === 'existing' ? 'existing' : 'new';
  if (discoverySrv === '') {
    // etcdserver.ServerConfig.VerifyBootstrap / VerifyJoinExisting.
    const own = initialCluster.find((m) => m.name === name);
    if (!own) throw new ConfigError(`couldn't find local name ${JSON.stringify(name)} in the initial cluster configuration`, false);
    if (initialClusterState === 'new') {
      const mismatch = advertiseMismatch(name, advertisePeer, own.urls);
      if (mismatch !== null) throw new ConfigError(mismatch, false);
    }
    const seen = new Set<string>();
    for (const u of initialCluster.flatMap((m) => m.urls)) {
      if (seen.has(u.text)) throw new ConfigError(`initial cluster ${urlsMapText(initialCluster)} has duplicate url`, false);
      seen.add(u.text);
    }
  }

  const authToken = values.str('auth-token');
  checkAuthToken(authToken);
  let bcryptCost = values.num('bcrypt-cost');
  if (bcryptCost < 4 || bcryptCost > 31) {
    warnings.push(`use default bcrypt cost instead of the invalid given cost (given ${bcryptCost}, default 10, valid 4..31)`);
    bcryptCost = 10;
  }
  const metricsText = values.str('metrics');
  if (metricsText !== 'basic' && metricsText !== 'extensive') {
    warnings.push(`unknown --metrics ${JSON.stringify(metricsText)}; serving basic metrics (as etcd does)`);
  }

  const clientTls = tls(values, 'client');
  const peerTls = tls(values, 'peer');
  for (const u of listenClient) {
    const secure = u.url.protocol === 'https:' || u.url.protocol === 'unixs:';
    const tlsEmpty = clientTls.certFile === '' && clientTls.keyFile === '';
    if (secure && tlsEmpty && !clientTls.autoTls) {
      throw new ConfigError(`TLS key/cert (--cert-file, --key-file) must be provided for client url ${u.text} with HTTPS scheme`, false);
    }
    if (!secure && !tlsEmpty) warnings.push(`scheme is HTTP while key and cert files are present; ignoring key and cert files (client url ${u.text})`);
    if (!secure && clientTls.clientCertAuth) warnings.push(`scheme is HTTP while --client-cert-auth is enabled; ignoring client cert auth for this URL (${u.text})`);
  }
  for (const u of listenPeer) {
    const secure = u.url.protocol === 'https:' || u.url.protocol === 'unixs:';
    const tlsEmpty = peerTls.certFile === '' && peerTls.keyFile === '';
    if (secure && tlsEmpty && !peerTls.autoTls) {
      throw new ConfigError(`cannot listen on TLS for ${u.url.host}: KeyFile and CertFile are not presented`, false);
    }
    if (!secure && !tlsEmpty) warnings.push(`The scheme of peer url ${u.text} is HTTP while peer key/cert files are presented. Ignored peer key/cert files.`);
    if (!secure && peerTls.clientCertAuth) warnings.push(`The scheme of peer url ${u.text} is HTTP while client cert auth (--peer-client-cert-auth) is enabled. Ignored client cert auth for this url.`);
  }

  const ignored = allFlagDefs.filter((d) => d.support === 'I' && values.isSet(d.name)).map((d) => d.name);

  return {
    name,
    dataDir,
    walDir: values.str('wal-dir'),
    snapshotCount: values.num('snapshot-count'),
    heartbeatIntervalMs,
    electionTimeoutMs,
    initialElectionTickAdvance: values.bool('initial-election-tick-advance'),
    maxSnapshots: values.num('max-snapshots'),
    maxWals: values.num('max-wals'),
    quotaBackendBytes: values.num('quota-backend-bytes'),
    maxTxnOps: values.num('max-txn-ops'),
    maxRequestBytes: values.num('max-request-bytes'),
    listenClientUrls: toUrls(listenClient),
    advertiseClientUrls: toUrls(advertiseClient),
    listenPeerUrls: toUrls(listenPeer),
    initialAdvertisePeerUrls: toUrls(advertisePeer),
    listenMetricsUrls: toUrls(listenMetrics),
    initialCluster: initialCluster.map((m) => ({ name: m.name, peerUrls: toUrls(m.urls) })),
    initialClusterState,
    initialClusterToken: values.str('initial-cluster-token'),
    discoverySrv,
    discoverySrvName: values.str('discovery-srv-name'),
    strictReconfigCheck: values.bool('strict-reconfig-check'),
    preVote: values.bool('pre-vote'),
    enableV2: values.bool('enable-v2'),
    forceNewCluster: values.bool('force-new-cluster'),
    autoCompactionRetention: retention,
    autoCompactionMode,
    autoCompactionRetentionMs,
    autoCompactionRetentionRevisions,
    logger,
    logLevel,
    logOutputs,
    cors: values.list('cors'),
    hostWhitelist: values.list('host-whitelist'),
    cipherSuites: values.list('cipher-suites'),
    authToken,
    bcryptCost,
    authTokenTtlS: values.num('auth-token-ttl'),
    enableGrpcGateway: values.bool('enable-grpc-gateway'),
    experimentalWatchProgressNotifyIntervalMs: values.num('experimental-watch-progress-notify-interval') / nsPerMs,
    experimentalInitialCorruptCheck: values.bool('experimental-initial-corrupt-check'),
    experimentalCorruptCheckTimeMs: values.num('experimental-corrupt-check-time') / nsPerMs,
    experimentalEnableLeaseCheckpoint: values.bool('experimental-enable-lease-checkpoint'),
    experimentalEnableLeaseCheckpointPersist: values.bool('experimental-enable-lease-checkpoint-persist'),
    experimentalPeerSkipClientSanVerification: values.bool('experimental-peer-skip-client-san-verification'),
    unsafeNoFsync: values.bool('unsafe-no-fsync'),
    maxConcurrentStreams: values.num('max-concurrent-streams'),
    grpcKeepaliveMinTimeMs: values.num('grpc-keepalive-min-time') / nsPerMs,
    grpcKeepaliveIntervalMs: values.num('grpc-keepalive-interval') / nsPerMs,
    grpcKeepaliveTimeoutMs: values.num('grpc-keepalive-timeout') / nsPerMs,
    metrics: metricsText === 'extensive' ? 'extensive' : 'basic',
    enablePprof: values.bool('enable-pprof'),
    clientTls,
    peerTls,
    configFile: values.str('config-file'),
    ignored,
  };
}

/**
 * The part of etcd's bootstrap check that needs DNS: --initial-advertise-peer-urls must
 * resolve to the same addresses as this member's --initial-cluster entry (the DC/OS package
 * advertises an IP and lists DNS names). parseMemberArgs already rejected every mismatch it
 * could decide without DNS. Call at start for a new member without data; resolves to null
 * when they match, else etcd's error message.
 */
export async function checkAdvertiseMatchesCluster(config: MemberConfig): Promise<string | null> {
  if (config.initialClusterState !== 'new') return null;
  const own = config.initialCluster.find((m) => m.name === config.name);
  if (!own) return `couldn't find local name ${JSON.stringify(config.name)} in the initial cluster configuration`;
  const toGo = (urls: readonly URL[]): GoUrl[] => parseGoUrls(urls.map(urlText));
  const advertised = toGo(config.initialAdvertisePeerUrls);
  const inCluster = toGo(own.peerUrls);
  const resolveAll = async (urls: readonly GoUrl[]): Promise<string[]> => {
    const out: string[] = [];
    for (const u of urls) {
      if (u.url.protocol === 'unix:' || u.url.protocol === 'unixs:' || isIpLiteral(u.hostname)) {
        out.push(u.text);
        continue;
      }
      const { address, family } = await lookup(u.hostname, { family: 4 }).catch(() => lookup(u.hostname));
      const host = family === 6 ? `[${address}]` : address;
      out.push(`${u.url.protocol}//${host}:${u.port}`);
    }
    return out.sort();
  };
  try {
    return advertiseMismatch(config.name, advertised, inCluster, { ap: await resolveAll(advertised), ic: await resolveAll(inCluster) });
  } catch (err) {
    return advertiseMismatch(config.name, advertised, inCluster, { ap: [String((err as Error).message)], ic: [] });
  }
}
