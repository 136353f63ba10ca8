// Go's net/http form handling as etcd's v2 API sees it (r.ParseForm, url.ParseQuery, strconv.ParseBool,
// strconv.ParseUint), so that the same request gives the same parameters and the same error text.

/** Go's http maxFormSize: a larger x-www-form-urlencoded body fails with "http: POST too large". */
export const V2_FORM_BODY_BYTES_MAX = 10 * 1024 * 1024;
export const FORM_TOO_LARGE = 'http: POST too large';

/** The first value of each parameter (Go's r.FormValue); body values come before query values. */
export type Form = Map<string, string>;

/** Parses `s` (a query string or form body) into `form`, keeping values already present (so the first
 *  parse wins, as Go's r.Form puts body values first). Returns Go's first error text, or undefined. */
export function parseQueryInto(form: Form, s: string): string | undefined {
  let err: string | undefined;
  let start = 0;
  const n = s.length;
  while (start <= n) {
    let end = s.indexOf('&', start);
    if (end === -1) end = n;
    if (end > start) {
      const seg = s.slice(start, end);
      if (seg.includes(';')) {
        err ??= 'invalid semicolon separator in query';
      } else {
        const eq = seg.indexOf('=');
        const rawKey = eq === -1 ? seg : seg.slice(0, eq);
        const rawVal = eq === -1 ? '' : seg.slice(eq + 1);
        const key = unescapeQuery(rawKey);
        if (typeof key !== 'string') {
          err ??= key.error;
        } else {
          const val = unescapeQuery(rawVal);
          if (typeof val !== 'string') err ??= val.error;
          else if (!form.has(key)) form.set(key, val);
        }
      }
    }
    start = end + 1;
  }
  return err;
}

function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
}

function hexVal(c: number): number {
  return c <= 57 ? c - 48 : (c | 0x20) - 87;
}

/** Go url.QueryUnescape: '+' is a space, %XX a byte; the bytes are read as UTF-8. */
export function unescapeQuery(s: string): string | { error: string } {
  const pct = s.indexOf('%');
  if (pct === -1) return s.includes('+') ? s.replaceAll('+', ' ') : s;
  return unescapeBytes(s, true);
}

/** Go url.PathUnescape (no '+' rule). */
export function unescapePath(s: string): string | { error: string } {
  if (s.indexOf('%') === -1) return s;
  return unescapeBytes(s, false);
}

function unescapeBytes(s: string, plusIsSpace: boolean): string | { error: string } {
  const src = Buffer.from(s, 'utf8');
  const out = Buffer.allocUnsafe(src.length);
  let o = 0;
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    if (c === 37 /* % */) {
      if (i + 2 >= src.length || !isHex(src[i + 1]!) || !isHex(src[i + 2]!)) {
        let bad = src.subarray(i).toString('utf8');
        if (bad.length > 3) bad = bad.slice(0, 3);
        return { error: `invalid URL escape ${JSON.stringify(bad)}` };
      }
      out[o++] = (hexVal(src[i + 1]!) << 4) | hexVal(src[i + 2]!);
      i += 2;
    } else if (c === 43 /* + */ && plusIsSpace) {
      out[o++] = 32;
    } else {
      out[o++] = c;
    }
  }
  return out.toString('utf8', 0, o);
}

/** Go strconv.ParseBool; undefined when the text is not a boolean. */
export function parseGoBool(s: string): boolean | undefined {
  switch (s) {
    case '1': case 't': case 'T': case 'TRUE': case 'true': case 'True':
      return true;
    case '0': case 'f': case 'F': case 'FALSE': case 'false': case 'False':
      return false;
    default:
      return undefined;
  }
}

const UINT64_MAX = 18446744073709551615n;

/** Go strconv.ParseUint(s, 10, 64); undefined when invalid or out of range. Values beyond 2^53 lose
 *  precision (no index or TTL gets there). */
export function parseGoUint(s: string): number | undefined {
  if (s.length === 0 || s.length > 20) return undefined;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return undefined;
  }
  if (s.length === 20 && BigInt(s) > UINT64_MAX) return undefined;
  return Number(s);
}

/** Go's mux cleanPath: path.Clean keeping a trailing slash; '' -> '/'. */
export function muxCleanPath(p: string): string {
  if (p === '') return '/';
  if (p.charCodeAt(0) !== 47) p = '/' + p;
  // Fast path: nothing to clean.
  if (!p.includes('//') && !p.includes('/.')) return p;
  const parts: string[] = [];
  for (const part of p.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      parts.pop();
      continue;
    }
    parts.push(part);
  }
  let np = '/' + parts.join('/');
  if (p.endsWith('/') && np !== '/') np += '/';
  return np;
}

/** True when a Content-Type names application/x-www-form-urlencoded (case-insensitive, params ignored). */
export function isFormContentType(ct: string | undefined): boolean {
  if (ct === undefined) return false;
  const semi = ct.indexOf(';');
  const base = (semi === -1 ? ct : ct.slice(0, semi)).trim().toLowerCase();
  return base === 'application/x-www-form-urlencoded';
}
