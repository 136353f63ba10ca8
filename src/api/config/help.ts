// `tsetcd --help` and `tsetcd --version`, laid out like etcd 3.4's, generated from the flag
// table so that a flag cannot exist without being documented.
import { readFileSync } from 'node:fs';
import { allFlagDefs, flagToEnv, type FlagDef, type Group } from './flags.js';

/** The etcd release whose flags, defaults and messages tsetcd follows. */
export const etcdCompatibleVersion = '3.4.23';
/** The cluster API version tsetcd reports (etcd's "API Version"). */
export const apiVersion = '3.4';

/** The version in tsetcd's package.json, found by walking up from this module. */
export function packageVersion(): string {
  for (let up = 1; up <= 5; up++) {
    const candidate = new URL(`${'../'.repeat(up)}package.json`, import.meta.url);
    try {
      const pkg = JSON.parse(readFileSync(candidate, 'utf8')) as { name?: unknown; version?: unknown };
      if (pkg.name === 'tsetcd' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // not at this level; keep walking up
    }
  }
  return 'unknown';
}

export function versionText(): string {
  return [
    `tsetcd Version: ${packageVersion()}`,
    `API Version: ${apiVersion}`,
    `Compatible with: etcd ${etcdCompatibleVersion} (flags, environment, config file, wire APIs)`,
    `Node Version: ${process.version}`,
    `Node OS/Arch: ${process.platform}/${process.arch}`,
    '',
  ].join('\n');
}

/** The short usage etcd prints after a flag error (its `usageline`). */
export const usageLine = `Usage:

  tsetcd [flags]
    Start a tsetcd member: a drop-in for etcd ${etcdCompatibleVersion}'s \`etcd [flags]\`.

  tsetcd --version
    Show the version of tsetcd.

  tsetcd -h | --help
    Show the help information about tsetcd.

  tsetcd --config-file
    Path to the server configuration file. Note that if a configuration file is provided, other command line flags and environment variables will be ignored.

  tsetcd <verb> ...
    The framework CLI (package, update, plan, pod, debug, endpoints).

  etcd gateway, etcd grpc-proxy
    Not supported by tsetcd.
`;

function supportNote(def: FlagDef): string {
  switch (def.support) {
    case 'I':
      return def.type === 'legacy' ? '' : `[ignored by tsetcd${def.note ? `: ${def.note}` : ''}]`;
    case 'X':
      return `[refused by tsetcd unless left at its default${def.note ? `: ${def.note}` : ''}]`;
    default:
      return '';
  }
}

const groupOrder: readonly Group[] = [
  'Member', 'Clustering', 'Security', 'Auth', 'Profiling and Monitoring', 'Logging',
  'v2 Proxy (to be deprecated in v4)', 'Experimental feature', 'Unsafe feature', 'TO BE DEPRECATED',
  'Hidden (not listed by etcd --help)', 'Legacy (etcd accepts and ignores)',
];

/** The full help, every flag with its default, env variable, and what tsetcd does with it. */
export function helpText(): string {
  const out: string[] = [usageLine];
  out.push('Every flag can also be given as an environment variable: ETCD_ + the flag name in upper case,');
  out.push("'-' as '_' (--initial-cluster-token <-> ETCD_INITIAL_CLUSTER_TOKEN). Setting both is an error, as in etcd.");
  out.push('');
  for (const group of groupOrder) {
    const defs = allFlagDefs.filter((d) => d.group === group && d.name !== 'config-file' && d.name !== 'version');
    if (defs.length === 0) continue;
    out.push(`${group}:`);
    if (group === 'Legacy (etcd accepts and ignores)') {
      out.push(`  ${defs.map((d) => `--${d.name}`).join(' ')}`);
      out.push('    Accepted for compatibility, warned about and ignored (as etcd does).');
      out.push('');
      continue;
    }
    for (const d of defs) {
      const note = supportNote(d);
      out.push(`  --${d.name} ${d.defaultShown}${note ? `  ${note}` : ''}`);
      for (const line of d.help.split('\n')) out.push(`    ${line}`);
      out.push(`    Env: ${flagToEnv(d.name)}`);
    }
    out.push('');
    if (group === 'Unsafe feature') {
      out.push('CAUTIOUS with unsafe flag! It may break the guarantees given by the consensus protocol!');
      out.push('');
    }
  }
  return out.join('\n');
}
