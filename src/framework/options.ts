// The package's options schema (config.json of the DC/OS etcd package, §2 of the reference),
// plus the few options a local embedding needs (addresses), each saying what it does here.
// One table drives defaults, `package describe --config`, and validation.

export type OptionType = 'string' | 'integer' | 'number' | 'boolean';

export interface OptionSpec {
  readonly type: OptionType;
  readonly default: string | number | boolean;
  readonly description: string;
  readonly enum?: readonly string[];
  readonly minimum?: number;
  readonly maximum?: number;
  readonly required?: boolean;
  readonly title?: string;
  readonly media?: string;
}

export interface GroupSpec {
  readonly description: string;
  readonly properties: Readonly<Record<string, OptionSpec>>;
}

const NO_EFFECT = ' Recorded and shown by `describe`; it has no effect on a local install.';

export const SCHEMA: Readonly<Record<'service' | 'node' | 'etcd', GroupSpec>> = {
  service: {
    description: 'DC/OS service configuration properties',
    properties: {
      name: { type: 'string', default: 'etcd', required: true, description: 'The name of the service instance. Locally: the directory under the tsetcd home (~/.tsetcd/<name>) that holds all of its state; pick another name to run several services side by side.' },
      user: { type: 'string', default: 'root', required: true, description: 'The user that the service will run as. Locally every process runs as the user who installs.' + NO_EFFECT },
      service_account: { type: 'string', default: '', description: 'The service account for DC/OS service authentication. This is typically left empty to use the default unless service authentication is needed.' + NO_EFFECT },
      service_account_secret: { type: 'string', default: '', title: 'Credential secret name (optional)', description: 'Name of the Secret Store credentials to use for DC/OS service authentication. This should be left empty unless service authentication is needed.' + NO_EFFECT },
      virtual_network_enabled: { type: 'boolean', default: false, description: 'Enable virtual networking.' + NO_EFFECT + ' Every pod already gets its own loopback address (node.first_address).' },
      virtual_network_name: { type: 'string', default: 'dcos', description: 'The name of the virtual network to join.' + NO_EFFECT },
      virtual_network_plugin_labels: { type: 'string', default: '', description: 'Labels to pass to the virtual network plugin. Comma-separated key:value pairs. For example: k_0:v_0,k_1:v_1,...,k_n:v_n.' + NO_EFFECT },
      log_level: { type: 'string', default: 'INFO', enum: ['OFF', 'FATAL', 'ERROR', 'WARN', 'INFO', 'DEBUG', 'TRACE', 'ALL'], description: 'The log level of the scheduler (not of etcd): its log is <service dir>/scheduler/scheduler.log.' },
      deploy_strategy: { type: 'string', default: 'parallel', enum: ['parallel', 'serial'], description: 'etcd deploy strategy: the strategy of the deploy plan\'s agents phase. parallel starts the initial members together; serial bootstraps etcd-0 alone and adds the others one by one (each added to the cluster before it starts), so it does not deadlock.' },
      update_strategy: { type: 'string', default: 'serial', enum: ['parallel', 'serial'], description: 'etcd update strategy: the strategy of the agents phase when an update is rolled out. serial restarts one pod at a time, each healthy before the next.' },
      vip_address: { type: 'string', default: '127.0.0.1', description: 'tsetcd: the address of the L4 load balancer (the VIP) in front of the healthy members; it listens on etcd.client_port. The local stand-in for api.<name>.l4lb.thisdcos.directory.' },
    },
  },
  node: {
    description: 'etcd pod configuration properties',
    properties: {
      count: { type: 'integer', default: 3, minimum: 3, required: true, description: 'Number of etcd pods to run (etcd-0 .. etcd-<count-1>). May grow after install, never shrink.' },
      placement_constraint: { type: 'string', default: '[["hostname", "UNIQUE"]]', media: 'application/x-zone-constraints+json', description: 'Marathon-style placement constraints for nodes. Example: [["hostname", "UNIQUE"]].' + NO_EFFECT + ' Every pod runs on this machine.' },
      cpus: { type: 'number', default: 1.0, minimum: 0.1, required: true, description: 'etcd pod CPU requirements.' + NO_EFFECT },
      mem: { type: 'integer', default: 256, minimum: 64, required: true, description: 'etcd pod mem requirements (in MB). Locally: the member\'s V8 heap limit (node --max-old-space-size).' },
      disk: { type: 'integer', default: 100, minimum: 1, required: true, description: 'etcd pod persistent disk requirements (in MB). Locally: the member\'s backend quota (ETCD_QUOTA_BACKEND_BYTES). Cannot change after install.' },
      disk_type: { type: 'string', default: 'ROOT', enum: ['ROOT', 'MOUNT'], required: true, description: 'Disk type of the persistent volume. Mount volumes require preconfiguration in DC/OS. Locally both are a directory in the pod sandbox; cannot change after install.' },
      first_address: { type: 'string', default: '127.0.1.1', description: 'tsetcd: the loopback address of etcd-0; etcd-N gets this address plus N. Every member listens on etcd.client_port and etcd.peer_port at its own address. Cannot change after install.' },
    },
  },
  etcd: {
    description: 'etcd pod configuration properties',
    properties: {
      client_port: { type: 'integer', default: 2379, minimum: 1, maximum: 65535, required: true, description: 'Port for client communication (every member and the VIP). Cannot change after install.' },
      peer_port: { type: 'integer', default: 2380, minimum: 1, maximum: 65535, required: true, description: 'Port for communication between etcd peers. Cannot change after install.' },
      tls_enabled: { type: 'boolean', default: false, description: 'Enable TLS for client and peer communication. Without use_auto_tls the framework\'s own CA (<service dir>/tls/ca.crt) signs every member\'s certificate and peers must present one; clients may trust ca.crt and need no certificate. Cannot be toggled after install.' },
      use_auto_tls: { type: 'boolean', default: false, description: 'Let etcd generate self-signed certificates (--auto-tls, --peer-auto-tls) instead of using the framework CA; renewed before they expire. Only with tls_enabled. Cannot be toggled after install.' },
      initial_cluster_token: { type: 'string', default: 'dcos', description: 'Initial cluster token for the etcd cluster during bootstrap. Make this unique if you have multiple etcd clusters. Cannot change after install.' },
      heartbeat_interval: { type: 'integer', default: 100, minimum: 1, description: 'Time (in milliseconds) of a heartbeat interval.' },
      election_timeout: { type: 'integer', default: 1000, minimum: 1, description: 'Time (in milliseconds) for an election to timeout. At least 5 x heartbeat_interval.' },
      snapshot_count: { type: 'integer', default: 100000, minimum: 1, description: 'Number of committed transactions to trigger a snapshot to disk.' },
    },
  },
};

export interface Options {
  service: {
    name: string; user: string; service_account: string; service_account_secret: string;
    virtual_network_enabled: boolean; virtual_network_name: string; virtual_network_plugin_labels: string;
    log_level: string; deploy_strategy: 'parallel' | 'serial'; update_strategy: 'parallel' | 'serial'; vip_address: string;
  };
  node: { count: number; placement_constraint: string; cpus: number; mem: number; disk: number; disk_type: 'ROOT' | 'MOUNT'; first_address: string };
  etcd: {
    client_port: number; peer_port: number; tls_enabled: boolean; use_auto_tls: boolean; initial_cluster_token: string;
    heartbeat_interval: number; election_timeout: number; snapshot_count: number;
  };
}

/** User options as given in an options.json: any subset of the groups. */
export type UserOptions = Record<string, Record<string, unknown>>;

/** The schema as JSON Schema, what `package describe --config` prints (config.json's shape). */
export function jsonSchema(): Record<string, unknown> {
  const groups: Record<string, unknown> = {};
  for (const [g, spec] of Object.entries(SCHEMA)) {
    const props: Record<string, unknown> = {};
    const required: string[] = [];
    for (const [k, o] of Object.entries(spec.properties)) {
      const p: Record<string, unknown> = { description: o.description, type: o.type, default: o.default };
      if (o.title !== undefined) p.title = o.title;
      if (o.enum !== undefined) p.enum = [...o.enum];
      if (o.minimum !== undefined) p.minimum = o.minimum;
      if (o.maximum !== undefined) p.maximum = o.maximum;
      if (o.media !== undefined) p.media = { type: o.media };
      props[k] = p;
      if (o.required === true) required.push(k);
    }
    groups[g] = { description: spec.description, type: 'object', properties: props, required, additionalProperties: false };
  }
  return { type: 'object', properties: groups, additionalProperties: false };
}

export function defaultOptions(): Options {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [g, spec] of Object.entries(SCHEMA)) {
    out[g] = {};
    for (const [k, o] of Object.entries(spec.properties)) out[g]![k] = o.default;
  }
  return out as unknown as Options;
}

/** Deep-merge user options over a base (update without --replace merges with the stored ones). */
export function mergeUserOptions(base: UserOptions, over: UserOptions): UserOptions {
  const out: UserOptions = {};
  for (const src of [base, over]) {
    for (const [g, v] of Object.entries(src)) {
      if (v !== null && typeof v === 'object' && !Array.isArray(v)) out[g] = { ...(out[g] ?? {}), ...v };
      else (out as Record<string, unknown>)[g] = v;
    }
  }
  return out;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/;
const SERVICE_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** The loopback address of pod `index`: node.first_address plus index. */
export function podAddress(o: Options, index: number): string {
  const parts = o.node.first_address.split('.').map(Number);
  let n = ((parts[0]! << 24) >>> 0) + (parts[1]! << 16) + (parts[2]! << 8) + parts[3]! + index;
  return [(n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/**
 * Resolve user options over the defaults and check them on their own (types, enums, ranges,
 * cross-field rules). Every problem gives one error line; no options when there is any.
 */
export function resolveOptions(user: unknown): { options?: Options; errors: string[] } {
  const errors: string[] = [];
  if (user === null || typeof user !== 'object' || Array.isArray(user)) return { errors: ['options must be a JSON object with the groups service, node and etcd'] };
  const out = defaultOptions() as unknown as Record<string, Record<string, unknown>>;
  for (const [g, v] of Object.entries(user as Record<string, unknown>)) {
    const group = (SCHEMA as Record<string, GroupSpec>)[g];
    if (group === undefined) { errors.push(`unknown option group '${g}' (known: ${Object.keys(SCHEMA).join(', ')})`); continue; }
    if (v === null || typeof v !== 'object' || Array.isArray(v)) { errors.push(`'${g}' must be an object`); continue; }
    for (const [k, val] of Object.entries(v as Record<string, unknown>)) {
      const spec = group.properties[k];
      const name = `${g}.${k}`;
      if (spec === undefined) { errors.push(`unknown option '${name}'`); continue; }
      const e = checkValue(name, spec, val);
      if (e !== undefined) errors.push(e);
      else out[g]![k] = val;
    }
  }
  const o = out as unknown as Options;
  {
    // Cross-field rules run too (a value that failed its own check keeps its default here).
    if (!SERVICE_NAME.test(o.service.name)) errors.push(`service.name '${o.service.name}' must be lowercase letters, digits and dashes (at most 63), starting and ending with a letter or digit`);
    if (o.etcd.election_timeout < 5 * o.etcd.heartbeat_interval) errors.push(`etcd.election_timeout (${o.etcd.election_timeout}) must be at least 5 x etcd.heartbeat_interval (${o.etcd.heartbeat_interval}), i.e. >= ${5 * o.etcd.heartbeat_interval}`);
    if (o.etcd.election_timeout > 50000) errors.push(`etcd.election_timeout (${o.etcd.election_timeout}) must be at most 50000 ms (etcd's limit)`);
    if (o.etcd.use_auto_tls && !o.etcd.tls_enabled) errors.push('etcd.use_auto_tls requires etcd.tls_enabled');
    if (o.etcd.client_port === o.etcd.peer_port) errors.push(`etcd.client_port and etcd.peer_port must differ (both ${o.etcd.client_port})`);
    if (o.etcd.initial_cluster_token === '') errors.push('etcd.initial_cluster_token must not be empty');
    if (!IPV4.test(o.service.vip_address)) errors.push(`service.vip_address '${o.service.vip_address}' is not an IPv4 address`);
    if (!IPV4.test(o.node.first_address)) errors.push(`node.first_address '${o.node.first_address}' is not an IPv4 address`);
    else {
      if (!o.node.first_address.startsWith('127.')) errors.push(`node.first_address '${o.node.first_address}' must be a loopback address (127.0.0.0/8): pods run on this machine`);
      else if (!podAddress(o, o.node.count - 1).startsWith('127.')) errors.push(`node.first_address '${o.node.first_address}' leaves no loopback address for etcd-${o.node.count - 1}`);
      else if (IPV4.test(o.service.vip_address)) {
        for (let i = 0; i < o.node.count; i++) if (podAddress(o, i) === o.service.vip_address) errors.push(`service.vip_address ${o.service.vip_address} is also the address of etcd-${i}; the VIP needs an address of its own`);
      }
    }
    try { const c: unknown = JSON.parse(o.node.placement_constraint); if (!Array.isArray(c)) throw new Error('not an array'); }
    catch { errors.push(`node.placement_constraint is not a JSON array of constraints: ${o.node.placement_constraint}`); }
  }
  return errors.length === 0 ? { options: o, errors } : { errors };
}

function checkValue(name: string, spec: OptionSpec, val: unknown): string | undefined {
  switch (spec.type) {
    case 'string':
      if (typeof val !== 'string') return `${name} must be a string, got ${JSON.stringify(val)}`;
      if (spec.enum !== undefined && !spec.enum.includes(val)) return `${name} must be one of ${spec.enum.join(', ')}, got '${val}'`;
      if (spec.required === true && val === '') return `${name} is required`;
      return undefined;
    case 'boolean':
      return typeof val === 'boolean' ? undefined : `${name} must be a boolean, got ${JSON.stringify(val)}`;
    case 'integer':
    case 'number': {
      if (typeof val !== 'number' || !Number.isFinite(val)) return `${name} must be ${spec.type === 'integer' ? 'an integer' : 'a number'}, got ${JSON.stringify(val)}`;
      if (spec.type === 'integer' && !Number.isInteger(val)) return `${name} must be an integer, got ${val}`;
      if (spec.minimum !== undefined && val < spec.minimum) return `${name} must be at least ${spec.minimum}, got ${val}`;
      if (spec.maximum !== undefined && val > spec.maximum) return `${name} must be at most ${spec.maximum}, got ${val}`;
      return undefined;
    }
    default: {
      const never: never = spec.type;
      return `unknown type ${String(never)}`;
    }
  }
}

/** What may not change once the service is installed (the SDK's validators plus the package's
 *  documented limits, enforced here). */
export function checkUpdate(old: Options, next: Options): string[] {
  const errors: string[] = [];
  if (next.service.name !== old.service.name) errors.push(`service.name cannot change after install (${old.service.name} -> ${next.service.name})`);
  if (next.node.count < old.node.count) errors.push(`node.count cannot shrink (${old.node.count} -> ${next.node.count}): removing members would risk data loss`);
  if (next.etcd.tls_enabled !== old.etcd.tls_enabled) errors.push(`etcd.tls_enabled cannot be toggled after install (${old.etcd.tls_enabled} -> ${next.etcd.tls_enabled}); take a backup and reinstall`);
  else if (next.etcd.use_auto_tls !== old.etcd.use_auto_tls) errors.push(`etcd.use_auto_tls cannot be toggled after install (${old.etcd.use_auto_tls} -> ${next.etcd.use_auto_tls}); take a backup and reinstall`);
  if (next.etcd.client_port !== old.etcd.client_port) errors.push(`etcd.client_port cannot change after install (${old.etcd.client_port} -> ${next.etcd.client_port}): members' advertised URLs are stored in the cluster`);
  if (next.etcd.peer_port !== old.etcd.peer_port) errors.push(`etcd.peer_port cannot change after install (${old.etcd.peer_port} -> ${next.etcd.peer_port}): peer URLs are stored in the cluster membership`);
  if (next.etcd.initial_cluster_token !== old.etcd.initial_cluster_token) errors.push(`etcd.initial_cluster_token cannot change after install (${old.etcd.initial_cluster_token} -> ${next.etcd.initial_cluster_token}): it is fixed when the cluster bootstraps`);
  if (next.node.disk_type !== old.node.disk_type) errors.push(`node.disk_type cannot change after install (${old.node.disk_type} -> ${next.node.disk_type})`);
  if (next.node.disk !== old.node.disk) errors.push(`node.disk cannot change after install (${old.node.disk} -> ${next.node.disk}): volumes are fixed`);
  if (next.node.first_address !== old.node.first_address) errors.push(`node.first_address cannot change after install (${old.node.first_address} -> ${next.node.first_address}): peer URLs are stored in the cluster membership`);
  return errors;
}
