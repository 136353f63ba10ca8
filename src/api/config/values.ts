// Typed flag values and the one place that turns text into them, with the error text Go's
// flag package would give. Sources (command line, ETCD_* variables, YAML) only differ in how
// they wrap that error text.
import type { FlagDef } from './flags.js';
import { allFlagDefs } from './flags.js';
import { GoParseError, parseGoBool, parseGoDurationNs, parseGoInt, parseGoUrls, type GoUrl } from './go.js';

export type FlagValue = string | boolean | number | GoUrl[] | string[];

export type Source = 'default' | 'flag' | 'env' | 'file';

/** Every flag's current value and where it came from. */
export class FlagValues {
  readonly values = new Map<string, FlagValue>();
  readonly sources = new Map<string, Source>();

  constructor() {
    for (const def of allFlagDefs) {
      this.values.set(def.name, parseValue(def, def.defaultValue, undefined));
      this.sources.set(def.name, 'default');
    }
  }

  set(name: string, value: FlagValue, source: Source): void {
    this.values.set(name, value);
    this.sources.set(name, source);
  }

  /** Set explicitly by the user (any source but the default), as flags.IsSet sees it. */
  isSet(name: string): boolean {
    const s = this.sources.get(name);
    return s !== undefined && s !== 'default';
  }

  str(name: string): string { return expect(this.values.get(name), 'string', name) as string; }
  bool(name: string): boolean { return expect(this.values.get(name), 'boolean', name) as boolean; }
  num(name: string): number { return expect(this.values.get(name), 'number', name) as number; }
  urls(name: string): GoUrl[] { return expectArray(this.values.get(name), name) as GoUrl[]; }
  list(name: string): string[] { return expectArray(this.values.get(name), name) as string[]; }
}

function expect(v: FlagValue | undefined, type: 'string' | 'boolean' | 'number', name: string): FlagValue {
  if (typeof v !== type) throw new Error(`flag ${name}: expected a ${type} value, holds ${typeof v}`);
  return v as FlagValue;
}

function expectArray(v: FlagValue | undefined, name: string): FlagValue {
  if (!Array.isArray(v)) throw new Error(`flag ${name}: expected a list value`);
  return v;
}

/**
 * Parse `text` as a value of `def`'s type. `current` is the value before (a UniqueURLs flag
 * given "" keeps it, as etcd's does). Throws GoParseError with the text Go's flag package
 * reports after `invalid value "..." for flag -name: `.
 */
export function parseValue(def: FlagDef, text: string, current: FlagValue | undefined): FlagValue {
  switch (def.type) {
    case 'string':
      return text;
    case 'bool':
    case 'legacy':
      return parseGoBool(text);
    case 'int':
    case 'int64':
    case 'uint':
    case 'uint64':
      try {
        return parseGoInt(text, def.type);
      } catch (err) {
        throw new GoParseError(err instanceof GoParseError && err.message === 'range' ? 'value out of range' : 'parse error');
      }
    case 'uint32':
      // etcd's own Uint32Value passes strconv's error through verbatim.
      try {
        return parseGoInt(text, 'uint32');
      } catch (err) {
        const why = err instanceof GoParseError && err.message === 'range' ? 'value out of range' : 'invalid syntax';
        throw new GoParseError(`strconv.ParseUint: parsing ${JSON.stringify(text)}: ${why}`);
      }
    case 'duration':
      try {
        return parseGoDurationNs(text);
      } catch {
        throw new GoParseError('parse error');
      }
    case 'urls': {
      if (text === '') return current ?? [];
      const urls = parseGoUrls(text.split(','));
      const seen = new Set<string>();
      return urls.filter((u) => (seen.has(u.text) ? false : (seen.add(u.text), true)));
    }
    case 'strings':
      return [...new Set(text.split(',').filter((s) => s !== ''))].sort();
    case 'select':
      if (!(def.choices ?? []).includes(text)) throw new GoParseError('invalid value');
      return text;
    default: {
      const never: never = def.type;
      throw new Error(`unknown flag type ${String(never)}`);
    }
  }
}
