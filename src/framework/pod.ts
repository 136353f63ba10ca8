// One pod: its names, address, sandbox, and the member configuration rendered from the options
// as ETCD_* environment variables (as the package's task command does), plus how to launch the
// member or the sleeper that stands in for it while the pod is paused.
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { podAddress, type Options } from './options.js';
import { sandboxDir, type ServicePaths } from './state.js';
import { caFiles, memberCertFiles } from './tls.js';
import { MEMBER_ENV, MEMBER_NODE_FLAGS } from '../server/runtime.js';

export const POD_TYPE = 'etcd';

export interface PodSpec {
  name: string;
  index: number;
  taskName: string;
  address: string;
  clientUrl: string;
  peerUrl: string;
  sandbox: string;
  dataDir: string;
  marker: string;
  logFile: string;
}

export function podName(index: number): string {
  return `${POD_TYPE}-${index}`;
}

export function podIndex(name: string): number | undefined {
  const m = /^etcd-(0|[1-9]\d*)$/.exec(name);
  return m === null ? undefined : Number(m[1]);
}

export function scheme(o: Options): 'http' | 'https' {
  return o.etcd.tls_enabled ? 'https' : 'http';
}

export function podSpec(o: Options, p: ServicePaths, index: number): PodSpec {
  const name = podName(index);
  const address = podAddress(o, index);
  const sandbox = sandboxDir(p, name);
  const dataDir = join(sandbox, 'etcd-data');
  return {
    name,
    index,
    taskName: `${name}-node`,
    address,
    clientUrl: `${scheme(o)}://${address}:${o.etcd.client_port}`,
    peerUrl: `${scheme(o)}://${address}:${o.etcd.peer_port}`,
    sandbox,
    dataDir,
    marker: join(dataDir, 'initialized'),
    logFile: join(sandbox, 'stdout'),
  };
}

/** The repo's bin/tsetcd.js, found from this compiled file (dist/src/framework/pod.js). */
export const TSETCD_BIN = fileURLToPath(new URL('../../../bin/tsetcd.js', import.meta.url));

/** The configuration part of a member's environment (what an update changes). */
export function memberConfigEnv(o: Options, p: ServicePaths, spec: PodSpec): Record<string, string> {
  const env: Record<string, string> = {
    ...MEMBER_ENV,
    ETCD_NAME: spec.taskName,
    ETCD_DATA_DIR: spec.dataDir,
    ETCD_LISTEN_PEER_URLS: spec.peerUrl,
    ETCD_LISTEN_CLIENT_URLS: spec.clientUrl,
    ETCD_INITIAL_ADVERTISE_PEER_URLS: spec.peerUrl,
    ETCD_ADVERTISE_CLIENT_URLS: spec.clientUrl,
    ETCD_INITIAL_CLUSTER_TOKEN: o.etcd.initial_cluster_token,
    ETCD_SNAPSHOT_COUNT: String(o.etcd.snapshot_count),
    ETCD_HEARTBEAT_INTERVAL: String(o.etcd.heartbeat_interval),
    ETCD_ELECTION_TIMEOUT: String(o.etcd.election_timeout),
    ETCD_QUOTA_BACKEND_BYTES: String(o.node.disk * 1024 * 1024),
    // The seed's quickstart is v2 (etcd 3.3 served it by default; 3.4 and tsetcd don't).
    ETCD_ENABLE_V2: 'true',
  };
  if (o.etcd.tls_enabled && o.etcd.use_auto_tls) {
    env.ETCD_AUTO_TLS = 'true';
    env.ETCD_PEER_AUTO_TLS = 'true';
  } else if (o.etcd.tls_enabled) {
    const f = memberCertFiles(spec.sandbox);
    env.ETCD_CERT_FILE = f.cert;
    env.ETCD_KEY_FILE = f.key;
    env.ETCD_PEER_CERT_FILE = f.cert;
    env.ETCD_PEER_KEY_FILE = f.key;
    env.ETCD_PEER_TRUSTED_CA_FILE = f.ca;
    env.ETCD_PEER_CLIENT_CERT_AUTH = 'true';
    // Not ETCD_TRUSTED_CA_FILE: under 3.4 rules it would demand client certificates, and the
    // package's contract is "HTTPS API allowed for everyone" (reference §5).
    void caFiles;
  }
  return env;
}

export function nodeArgs(o: Options): string[] {
  return [`--max-old-space-size=${o.node.mem}`, ...MEMBER_NODE_FLAGS, TSETCD_BIN];
}

export function configHash(o: Options, p: ServicePaths, spec: PodSpec): string {
  const env = memberConfigEnv(o, p, spec);
  const text = JSON.stringify([nodeArgs(o).slice(0, -1), Object.keys(env).sort().map((k) => [k, env[k]])]);
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}

/** The SDK's pause command, as a node one-liner: the sandbox stays, nothing listens. */
export const SLEEPER_ARGS = ['-e', "process.stdout.write('This task is PAUSED, sleeping ...\\n'); setInterval(() => {}, 1 << 30); process.on('SIGTERM', () => process.exit(0));"];
