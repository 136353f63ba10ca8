// Go's value syntaxes as etcd's flag package sees them: strconv integers and booleans,
// time.ParseDuration, and etcd's types.NewURLs. Matching them exactly is what lets a script
// written for `etcd` run `tsetcd` unchanged, error messages included.

/** Thrown by the parsers here; `message` is the text Go would put in the error. */
export class GoParseError extends Error {}

const boolTrue = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
const boolFalse = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False']);

/** strconv.ParseBool. */
export function parseGoBool(s: string): boolean {
  if (boolTrue.has(s)) return true;
  if (boolFalse.has(s)) return false;
  throw new GoParseError('parse error');
}

export type GoIntKind = 'int' | 'int64' | 'uint' | 'uint32' | 'uint64';

const intRange: Record<GoIntKind, { min: bigint; max: bigint }> = {
  // etcd ships for 64-bit platforms: Go's int and uint are 64 bits wide there.
  int: { min: -(1n << 63n), max: (1n << 63n) - 1n },
  int64: { min: -(1n << 63n), max: (1n << 63n) - 1n },
  uint: { min: 0n, max: (1n << 64n) - 1n },
  uint32: { min: 0n, max: (1n << 32n) - 1n },
  uint64: { min: 0n, max: (1n << 64n) - 1n },
};

/**
 * strconv.ParseInt/ParseUint with base 0 (what Go's flag package uses): decimal, 0x hex,
 * 0o / leading-0 octal, 0b binary, underscores between digits. Throws 'syntax' or 'range'.
 */
export function parseGoInt(s: string, kind: GoIntKind): number {
  const signed = kind === 'int' || kind === 'int64';
  let body = s;
  let negative = false;
  if (signed && (body.startsWith('-') || body.startsWith('+'))) {
    negative = body.startsWith('-');
    body = body.slice(1);
  }
  let digits = body;
  let base = 10;
  let prefixed = false;
  if (/^0[xX]/.test(body)) { base = 16; digits = body.slice(2); prefixed = true; }
  else if (/^0[bB]/.test(body)) { base = 2; digits = body.slice(2); prefixed = true; }
  else if (/^0[oO]/.test(body)) { base = 8; digits = body.slice(2); prefixed = true; }
  else if (/^0./.test(body)) { base = 8; digits = body.slice(1); prefixed = true; }
  if (digits.includes('_')) {
    // Go allows '_' only between digits (or right after a base prefix) when base is 0.
    const ok = (prefixed ? /^_?[0-9a-zA-Z]+(_[0-9a-zA-Z]+)*$/ : /^[0-9a-zA-Z]+(_[0-9a-zA-Z]+)*$/).test(digits);
    if (!ok) throw new GoParseError('syntax');
    digits = digits.replaceAll('_', '');
  }
  const digitRe = base === 16 ? /^[0-9a-fA-F]+$/ : base === 8 ? /^[0-7]+$/ : base === 2 ? /^[01]+$/ : /^[0-9]+$/;
  if (!digitRe.test(digits)) throw new GoParseError('syntax');
  let value = 0n;
  const b = BigInt(base);
  for (const c of digits) value = value * b + BigInt(parseInt(c, base));
  if (negative) value = -value;
  const r = intRange[kind];
  if (value < r.min || value > r.max) throw new GoParseError('range');
  return Number(value);
}

const durationUnitsNs: Record<string, number> = {
  ns: 1, us: 1e3, 'µs': 1e3, 'μs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9,
};

/** time.ParseDuration, in nanoseconds (a JS number: exact to 2^53 ns, about 104 days). */
export function parseGoDurationNs(orig: string): number {
  let s = orig;
  let negative = false;
  if (s.startsWith('-') || s.startsWith('+')) {
    negative = s[0] === '-';
    s = s.slice(1);
  }
  if (s === '0') return 0;
  if (s === '') throw new GoParseError(`time: invalid duration ${JSON.stringify(orig)}`);
  let totalNs = 0;
  while (s !== '') {
    const num = /^([0-9]*)(\.[0-9]*)?/.exec(s);
    const numText = num ? num[0] : '';
    if (numText === '' || numText === '.') throw new GoParseError(`time: invalid duration ${JSON.stringify(orig)}`);
    s = s.slice(numText.length);
    const unit = /^[^0-9.]+/.exec(s);
    if (!unit) throw new GoParseError(`time: missing unit in duration ${JSON.stringify(orig)}`);
    const perUnitNs = durationUnitsNs[unit[0]];
    if (perUnitNs === undefined) {
      throw new GoParseError(`time: unknown unit ${JSON.stringify(unit[0])} in duration ${JSON.stringify(orig)}`);
    }
    s = s.slice(unit[0].length);
    totalNs += Number(numText) * perUnitNs;
  }
  return Math.round(negative ? -totalNs : totalNs);
}

/** A URL as etcd holds it: the validated text (Go's url.URL.String()) and a WHATWG URL. */
export interface GoUrl { text: string; url: URL; hostname: string; port: string }

/**
 * Go's url.URL.String() of the URLs this module produced. The WHATWG URL class normalizes
 * (drops :80 on http, lower-cases host names), but etcd hashes the exact text into member
 * ids, so the original text is kept beside each URL object.
 */
const goTextOf = new WeakMap<URL, string>();

/** The text etcd would use for this URL (exact for URLs from this module). */
export function urlText(u: URL): string {
  const known = goTextOf.get(u);
  if (known !== undefined) return known;
  let port = u.port;
  if (port === '' && u.protocol === 'http:') port = '80';
  if (port === '' && u.protocol === 'https:') port = '443';
  return `${u.protocol}//${u.hostname}${port === '' ? '' : `:${port}`}`;
}

const allowedSchemes = new Set(['http', 'https', 'unix', 'unixs']);

function splitHostPort(host: string): { hostname: string; port: string } | null {
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    if (end < 0 || host[end + 1] !== ':') return null;
    return { hostname: host.slice(1, end), port: host.slice(end + 2) };
  }
  const colon = host.lastIndexOf(':');
  if (colon < 0) return null;
  const hostname = host.slice(0, colon);
  if (hostname.includes(':')) return null; // "too many colons in address"
  return { hostname, port: host.slice(colon + 1) };
}

/** One URL as types.NewURLs checks it. */
export function parseGoUrl(raw: string): GoUrl {
  const input = raw.trim();
  const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(input);
  if (!m) {
    if (input.startsWith(':')) throw new GoParseError(`parse ${JSON.stringify(input)}: missing protocol scheme`);
    const firstSegment = input.split('/')[0] ?? '';
    if (firstSegment.includes(':')) {
      throw new GoParseError(`parse ${JSON.stringify(input)}: first path segment in URL cannot contain colon`);
    }
    throw new GoParseError(`URL scheme must be http, https, unix, or unixs: ${input}`);
  }
  const scheme = (m[1] ?? '').toLowerCase();
  if (!allowedSchemes.has(scheme)) throw new GoParseError(`URL scheme must be http, https, unix, or unixs: ${input}`);
  let rest = input.slice(m[0].length);
  let fragment = '';
  const hashAt = rest.indexOf('#');
  if (hashAt >= 0) { fragment = rest.slice(hashAt); rest = rest.slice(0, hashAt); }
  let query = '';
  const queryAt = rest.indexOf('?');
  if (queryAt >= 0) { query = rest.slice(queryAt); rest = rest.slice(0, queryAt); }
  let authority = '';
  let path = rest;
  if (rest.startsWith('//')) {
    const afterSlashes = rest.slice(2);
    const slash = afterSlashes.indexOf('/');
    authority = slash < 0 ? afterSlashes : afterSlashes.slice(0, slash);
    path = slash < 0 ? '' : afterSlashes.slice(slash);
  }
  const at = authority.lastIndexOf('@');
  const host = at >= 0 ? authority.slice(at + 1) : authority;
  const hp = splitHostPort(host);
  if (!hp) throw new GoParseError(`URL address does not have the form "host:port": ${input}`);
  if (path !== '') throw new GoParseError(`URL must not contain a path: ${input}`);
  const text = `${scheme}://${authority}${query}${fragment}`;
  let url: URL;
  try {
    // An empty host ("http://:2379") has no WHATWG form; etcd's validation rejects it for every
    // flag later (with its own message), so a placeholder stands in until then.
    url = new URL(hp.hostname === '' ? `${scheme}://0.0.0.0:${hp.port}` : text);
  } catch {
    throw new GoParseError(`parse ${JSON.stringify(input)}: invalid URL`);
  }
  goTextOf.set(url, text);
  return { text, url, hostname: hp.hostname, port: hp.port };
}

/** types.NewURLs: a comma list (already split), each checked, sorted by text. */
export function parseGoUrls(parts: string[]): GoUrl[] {
  if (parts.length === 0) throw new GoParseError('no valid URLs given');
  const urls = parts.map(parseGoUrl);
  urls.sort((a, b) => (a.text < b.text ? -1 : a.text > b.text ? 1 : 0));
  return urls;
}

/** net.ParseIP, enough for "is this an IP literal". */
export function isIpLiteral(host: string): boolean {
  if (/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.test(host)) {
    return host.split('.').every((p) => Number(p) <= 255 && (p === '0' || !p.startsWith('0') || p.length === 1));
  }
  if (!host.includes(':')) return false;
  try {
    new URL(`http://[${host}]/`);
    return true;
  } catch {
    return false;
  }
}
