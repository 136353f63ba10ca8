// Go's flag.FlagSet.Parse, as etcd uses it: `-flag`, `--flag`, `-flag=value`,
// `-flag value` (a non-boolean flag takes the next argument whatever it looks like), booleans
// only as `-flag` or `-flag=bool`, parsing stops at the first non-flag argument or after `--`,
// `-h`/`-help` ask for help. Errors carry Go's wording; etcd exits 2 on them.
import { flagByName } from './flags.js';
import { GoParseError } from './go.js';
import { parseValue, type FlagValues } from './values.js';

export type ArgvOutcome =
  | { kind: 'ok'; setOnCommandLine: Set<string>; rest: string[]; warnings: string[] }
  | { kind: 'help' }
  | { kind: 'error'; message: string };

export function parseArgv(argv: readonly string[], values: FlagValues): ArgvOutcome {
  const setOnCommandLine = new Set<string>();
  const warnings: string[] = [];
  let i = 0;
  while (i < argv.length) {
    const s = argv[i] ?? '';
    if (s.length < 2 || s[0] !== '-') break;
    let minuses = 1;
    if (s[1] === '-') {
      minuses = 2;
      if (s.length === 2) { i++; break; } // "--" ends the flags
    }
    let name = s.slice(minuses);
    if (name.length === 0 || name[0] === '-' || name[0] === '=') return { kind: 'error', message: `bad flag syntax: ${s}` };
    i++;
    let value: string | undefined;
    const eq = name.indexOf('=');
    if (eq >= 0) {
      value = name.slice(eq + 1);
      name = name.slice(0, eq);
    }
    const def = flagByName.get(name);
    if (!def) {
      if (name === 'help' || name === 'h') return { kind: 'help' };
      return { kind: 'error', message: `flag provided but not defined: -${name}` };
    }
    if (def.type === 'bool' || def.type === 'legacy') {
      const text = value ?? 'true';
      try {
        values.set(name, parseValue(def, text, values.values.get(name)), 'flag');
      } catch {
        return { kind: 'error', message: `invalid boolean value ${JSON.stringify(text)} for -${name}: parse error` };
      }
      if (def.type === 'legacy') warnings.push(`flag "-${name}" is no longer supported - ignoring.`);
    } else {
      if (value === undefined) {
        if (i >= argv.length) return { kind: 'error', message: `flag needs an argument: -${name}` };
        value = argv[i] ?? '';
        i++;
      }
      try {
        values.set(name, parseValue(def, value, values.values.get(name)), 'flag');
      } catch (err) {
        const why = err instanceof GoParseError ? err.message : String(err);
        return { kind: 'error', message: `invalid value ${JSON.stringify(value)} for flag -${name}: ${why}` };
      }
    }
    setOnCommandLine.add(name);
  }
  return { kind: 'ok', setOnCommandLine, rest: argv.slice(i), warnings };
}
