// etcd's --config-file: a YAML document whose keys are the flag names, except that TLS lives
// under `client-transport-security` / `peer-transport-security` and `log-outputs` /
// `cipher-suites` are lists. As in etcd (which converts YAML to JSON with ghodss/yaml and
// decodes into its config struct), durations given as numbers are nanoseconds, YAML 1.1
// booleans (yes/no/on/off) count, and scalars given for a string key are read as text.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type * as Yaml from 'yaml';
import { flagByName, type FlagDef } from './flags.js';
import { GoParseError } from './go.js';
import { parseValue, type FlagValue, type FlagValues } from './values.js';

/** Keys that only exist on the command line. */
const notInFile = new Set([
  'config-file', 'version', 'log-output',
  'cert-file', 'key-file', 'client-cert-auth', 'trusted-ca-file', 'auto-tls',
  'peer-cert-file', 'peer-key-file', 'peer-client-cert-auth', 'peer-trusted-ca-file', 'peer-auto-tls',
]);

/** YAML keys whose name differs from the flag's. */
const fileAliases: Record<string, string> = {
  'backend-bbolt-freelist-type': 'experimental-backend-bbolt-freelist-type',
};

const securityKeys: Record<'client' | 'peer', Record<string, string>> = {
  client: {
    'cert-file': 'cert-file', 'key-file': 'key-file', 'client-cert-auth': 'client-cert-auth',
    'trusted-ca-file': 'trusted-ca-file', 'auto-tls': 'auto-tls', 'crl-file': 'client-crl-file',
    'allowed-hostname': 'client-cert-allowed-hostname',
  },
  peer: {
    'cert-file': 'peer-cert-file', 'key-file': 'peer-key-file', 'client-cert-auth': 'peer-client-cert-auth',
    'trusted-ca-file': 'peer-trusted-ca-file', 'auto-tls': 'peer-auto-tls', 'crl-file': 'peer-crl-file',
    'allowed-cn': 'peer-cert-allowed-cn', 'allowed-hostname': 'peer-cert-allowed-hostname',
  },
};

export class ConfigFileError extends Error {}

/** yaml's parse, loaded on first use: only a member given --config-file reads YAML (see the
 *  lazy @peculiar/x509 in tls/certs.ts for what the two save). */
let yamlModule: typeof Yaml | undefined;
function parseYaml(text: string, options: Yaml.ParseOptions & Yaml.DocumentOptions & Yaml.SchemaOptions): unknown {
  yamlModule ??= createRequire(import.meta.url)('yaml') as typeof Yaml;
  return yamlModule.parse(text, options);
}

function goTypeName(def: FlagDef): string {
  switch (def.type) {
    case 'bool': case 'legacy': return 'bool';
    case 'duration': return 'time.Duration';
    case 'strings': return '[]string';
    case 'int': case 'int64': case 'uint': case 'uint32': case 'uint64': return def.type;
    default: return 'string';
  }
}

function jsonKind(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'object') return 'object';
  return typeof v;
}

function typeError(v: unknown, field: string, def: FlagDef): ConfigFileError {
  return new ConfigFileError(
    `error unmarshaling JSON: while decoding JSON: json: cannot unmarshal ${jsonKind(v)} into Go struct field ${field} of type ${goTypeName(def)}`,
  );
}

/**
 * `v` is the YAML 1.1 value, `raw` the same node read with every scalar as its source text:
 * a string key reads `on` as "on", not as the boolean YAML 1.1 makes of it.
 */
function valueFromYaml(def: FlagDef, v: unknown, raw: unknown, field: string, current: FlagValue | undefined): FlagValue | undefined {
  if (v === null || v === undefined) return undefined;
  const asText = (): string => {
    if (typeof raw === 'string' && (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean')) return raw;
    throw typeError(v, field, def);
  };
  try {
    switch (def.type) {
      case 'string':
      case 'select':
        return parseValue(def, asText(), current);
      case 'urls':
        // etcd only applies a URL key when it is not empty.
        return asText() === '' ? undefined : parseValue(def, asText(), current);
      case 'bool':
      case 'legacy':
        if (typeof v !== 'boolean') throw typeError(v, field, def);
        return v;
      case 'int': case 'int64': case 'uint': case 'uint32': case 'uint64':
        if (typeof v !== 'number' || !Number.isInteger(v)) throw typeError(v, field, def);
        return parseValue(def, String(v), current);
      case 'duration':
        if (typeof v === 'number' && Number.isInteger(v)) return v; // nanoseconds, as Go's JSON decoding
        if (typeof v === 'string') return parseValue(def, v, current); // tsetcd also takes "5s"
        throw typeError(v, field, def);
      case 'strings':
        if (Array.isArray(raw)) return [...new Set(raw.map((x) => String(x)).filter((x) => x !== ''))].sort();
        return parseValue(def, asText(), current);
      default: {
        const never: never = def.type;
        throw new Error(`unknown flag type ${String(never)}`);
      }
    }
  } catch (err) {
    if (err instanceof GoParseError) throw new ConfigFileError(`invalid value ${JSON.stringify(v)} for ${field}: ${err.message}`);
    throw err;
  }
}

function applyKey(values: FlagValues, flagName: string, v: unknown, raw: unknown, field: string): void {
  const def = flagByName.get(flagName);
  if (!def) throw new Error(`config file key maps to unknown flag ${flagName}`);
  const value = valueFromYaml(def, v, raw, field, values.values.get(flagName));
  if (value !== undefined) values.set(flagName, value, 'file');
}

/**
 * Load `path` into `values`. Returns warnings (keys tsetcd does not know: etcd silently
 * ignores them; we say so). Throws ConfigFileError with etcd's wording.
 */
export function loadConfigFile(path: string, values: FlagValues): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file or directory' : code === 'EACCES' ? 'permission denied'
      : code === 'EISDIR' ? 'is a directory' : String((err as Error).message);
    throw new ConfigFileError(`open ${path}: ${why}`);
  }
  let doc: unknown;
  let rawDoc: unknown;
  try {
    doc = parseYaml(text, { version: '1.1' });
    rawDoc = parseYaml(text, { schema: 'failsafe' });
  } catch (err) {
    throw new ConfigFileError(`error converting YAML to JSON: yaml: ${(err as Error).message.split('\n')[0]}`);
  }
  if (doc === null || doc === undefined) return [];
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new ConfigFileError(`error unmarshaling JSON: while decoding JSON: json: cannot unmarshal ${jsonKind(doc)} into Go value of type embed.configYAML`);
  }
  const warnings: string[] = [];
  // Both parses have the same shape; pair entries by position (YAML 1.1 may retype keys too).
  const rawEntries = Object.entries(rawDoc as Record<string, unknown>);
  const typedEntries = Object.values(doc as Record<string, unknown>);
  for (let i = 0; i < rawEntries.length; i++) {
    const [key, raw] = rawEntries[i] ?? ['', undefined];
    const v = typedEntries[i];
    if (key === 'client-transport-security' || key === 'peer-transport-security') {
      if (v === null || v === undefined) continue;
      if (typeof v !== 'object' || Array.isArray(v)) {
        throw new ConfigFileError(`error unmarshaling JSON: while decoding JSON: json: cannot unmarshal ${jsonKind(v)} into Go struct field configYAML.${key} of type embed.securityConfig`);
      }
      const table = securityKeys[key === 'client-transport-security' ? 'client' : 'peer'];
      const rawSubs = Object.entries((raw ?? {}) as Record<string, unknown>);
      const typedSubs = Object.values(v as Record<string, unknown>);
      for (let j = 0; j < rawSubs.length; j++) {
        const [sub, sraw] = rawSubs[j] ?? ['', undefined];
        const sv = typedSubs[j];
        const flagName = table[sub];
        if (flagName === undefined) {
          warnings.push(`unrecognized key ${JSON.stringify(`${key}.${sub}`)} in config file ${path} (ignored)`);
          continue;
        }
        applyKey(values, flagName, sv, sraw, `securityConfig.${sub}`);
      }
      continue;
    }
    const flagName = fileAliases[key] ?? key;
    const def = flagByName.get(flagName);
    if (!def || def.type === 'legacy' || notInFile.has(flagName)) {
      warnings.push(`unrecognized key ${JSON.stringify(key)} in config file ${path} (ignored)`);
      continue;
    }
    applyKey(values, flagName, v, raw, `configYAML.${key}`);
  }
  return warnings;
}
