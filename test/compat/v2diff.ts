// The machinery of the v2 differential test: run one scripted step against two clusters, normalise
// what may legitimately differ (indexes, ids, times, ports, in-order key numbers) and diff the rest.
import { request, requestLines, type RawResponse } from '../harness/http.js';
import type { IncomingHttpHeaders } from 'node:http';

export interface Step {
  name: string;
  method?: string;
  /** Path with optional `{{var}}` / `{{var+N}}` templates; may contain `//` and `..` (sent raw). */
  path?: string;
  /** Raw query string without `?` (templated). */
  query?: string;
  /** application/x-www-form-urlencoded body: raw string or fields. */
  form?: string | Record<string, string>;
  /** application/json body. */
  json?: unknown;
  /** Raw body with an explicit content type. */
  body?: string;
  contentType?: string;
  /** HTTP Basic credentials `user:password`. */
  auth?: string;
  member?: 'leader' | 'follower';
  /** Status the reference (real etcd) must answer: guards the script itself. */
  expect?: number;
  /** Variables to capture from the answer: name -> dotted JSON path, or `h:<header>`. */
  capture?: Record<string, string>;
  /** exact (default): normalised bodies equal; shape: same keys and value types. */
  cmp?: 'exact' | 'shape';
  /** Replace numbers inside `cause` (401 history cleared, 101 on prevIndex). */
  causeNumbers?: boolean;
  /** Start a watch in the background under this name (collects `lines` lines, default 1). */
  bg?: string;
  lines?: number;
  /** Wait for the background request of that name and compare its result. */
  await?: string;
  sleepMs?: number;
  /** A setup action (not compared), e.g. 1000 writes. */
  run?: (s: Side) => Promise<void>;
}

export interface Side {
  label: string;
  /** Client URLs of the members. */
  clients: string[];
  leader: number;
  vars: Map<string, string>;
  /** port -> symbolic name (m0.client, m1.peer, x0 ...), so URLs compare across clusters. */
  ports: Map<string, string>;
  bgs: Map<string, Promise<Observation>>;
  /** When the cluster became ready (etcd refuses member changes until peers are active 5 s). */
  readyAtMs: number;
}

export interface Observation {
  status: number;
  headers: Record<string, string>;
  body: unknown;
  raw: string;
}

const PRESENCE_HEADERS = ['x-etcd-index', 'x-raft-index', 'x-raft-term', 'x-etcd-cluster-id'];
const EXACT_HEADERS = ['content-type', 'allow', 'location', 'access-control-allow-origin', 'access-control-allow-methods', 'access-control-allow-headers', 'www-authenticate'];

export function template(s: string, vars: Map<string, string>): string {
  return s.replace(/\{\{(\w+)([+-]\d+)?\}\}/g, (_, name: string, delta?: string) => {
    const v = vars.get(name);
    if (v === undefined) throw new Error(`template variable ${name} not captured`);
    return delta ? String(Number(v) + Number(delta)) : v;
  });
}

function memberUrl(step: Step, side: Side): string {
  if (step.member === 'follower') return side.clients[(side.leader + 1) % side.clients.length]!;
  return side.clients[side.leader]!;
}

function buildRequest(step: Step, side: Side): { url: string; method: string; headers: Record<string, string>; body?: string } {
  const path = template(step.path ?? '/', side.vars);
  const q = step.query !== undefined ? '?' + template(step.query, side.vars) : '';
  const headers: Record<string, string> = {};
  let body: string | undefined;
  if (step.form !== undefined) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    body = typeof step.form === 'string' ? template(step.form, side.vars) : new URLSearchParams(Object.entries(step.form).map(([k, v]): [string, string] => [k, template(v, side.vars)])).toString();
  } else if (step.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = template(JSON.stringify(step.json), side.vars);
  } else if (step.body !== undefined) {
    body = template(step.body, side.vars);
  }
  if (step.contentType) headers['content-type'] = step.contentType;
  if (step.auth) headers['authorization'] = 'Basic ' + Buffer.from(step.auth).toString('base64');
  return { url: memberUrl(step, side) + path + q, method: step.method ?? 'GET', headers, body };
}

function pickHeaders(h: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of PRESENCE_HEADERS) if (h[k] !== undefined) out[k] = '<present>';
  for (const k of EXACT_HEADERS) if (h[k] !== undefined) out[k] = String(h[k]);
  return out;
}

function parseBody(raw: string): unknown {
  const t = raw.trim();
  if (t.startsWith('{') || t.startsWith('[')) {
    try {
      return JSON.parse(t);
    } catch {
      /* fall through: compare as text */
    }
  }
  return raw;
}

export async function runStep(step: Step, side: Side): Promise<Observation | undefined> {
  if (step.run) {
    await step.run(side);
    return undefined;
  }
  if (step.sleepMs !== undefined && !step.path) {
    await new Promise((r) => setTimeout(r, step.sleepMs));
    return undefined;
  }
  if (step.await) {
    const p = side.bgs.get(step.await);
    if (!p) throw new Error(`no background request ${step.await}`);
    side.bgs.delete(step.await);
    return await p;
  }
  const req = buildRequest(step, side);
  if (step.bg) {
    const s = requestLines(req.url, step.lines ?? 1, 15000, req.headers);
    const obs = s.done.then((r) => {
      const lines = r.lines.map(parseBody);
      return { status: r.status, headers: pickHeaders(r.headers), body: lines, raw: r.lines.join('\n') };
    });
    obs.catch(() => {});
    side.bgs.set(step.bg, obs);
    // etcd flushes the 200 headers once the watcher is registered; wait for that (bounded).
    await Promise.race([s.ready.catch(() => {}), new Promise((r) => setTimeout(r, 1000))]);
    return undefined;
  }
  const res: RawResponse = await request({ ...req, timeoutMs: 10000 });
  const body = parseBody(res.body);
  if (step.capture) {
    for (const [name, from] of Object.entries(step.capture)) {
      let v: unknown;
      if (from.startsWith('h:')) v = res.headers[from.slice(2)];
      else v = from.split('.').reduce<unknown>((o, k) => (o !== null && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), body);
      if (v === undefined) throw new Error(`${side.label}: capture ${name} from ${from}: not found in ${res.body}`);
      side.vars.set(name, String(v));
    }
  }
  return { status: res.status, headers: pickHeaders(res.headers), body, raw: res.body };
}

const INDEX_KEYS = new Set(['modifiedIndex', 'createdIndex', 'index']);
const TIME_KEYS = new Set(['expiration', 'startTime', 'uptime']);
const ID_KEYS = new Set(['id', 'leader']);

function normString(s: string, side: Side): string {
  return s
    .replace(/(https?:\/\/127\.0\.0\.1:)(\d+)/g, (m, pre: string, port: string) => (side.ports.has(port) ? pre + '<' + side.ports.get(port)! + '>' : m))
    .replace(/\d{20}/g, '<seq>');
}

/** Normalises a JSON body (or text) so two correct servers produce equal values. */
export function normalise(v: unknown, side: Side, causeNumbers: boolean, key?: string): unknown {
  if (typeof v === 'string') {
    if (key && TIME_KEYS.has(key)) return '<time>';
    if (key && ID_KEYS.has(key)) return '<id>';
    const s = normString(v, side);
    if (key === 'message') return s.replace(/\b[0-9a-f]{12,16}\b/g, '<id>'); // "Member permanently removed: <id>"
    return key === 'cause' && causeNumbers ? s.replace(/\d+/g, '<n>') : s;
  }
  if (typeof v === 'number') {
    if (key && (INDEX_KEYS.has(key) || TIME_KEYS.has(key))) return '<index>';
    return v;
  }
  if (Array.isArray(v)) {
    const arr = v.map((x) => normalise(x, side, causeNumbers));
    // /v2/members lists members by id, which differ between clusters: order by peer URLs instead.
    if (key === 'members') arr.sort((a, b) => JSON.stringify((a as { peerURLs?: unknown }).peerURLs).localeCompare(JSON.stringify((b as { peerURLs?: unknown }).peerURLs)));
    return arr;
  }
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    if (key === 'followers') {
      // keyed by member id: keep the values, in a stable order
      return { '<ids>': Object.keys(o).sort().map((k) => normalise(o[k], side, causeNumbers)).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))) };
    }
    for (const k of Object.keys(o).sort()) out[k] = normalise(o[k], side, causeNumbers, k);
    return out;
  }
  return v;
}

/** The shape of a value: keys and value types, recursively (arrays: the shape of the first element). */
export function shape(v: unknown): unknown {
  if (Array.isArray(v)) return v.length === 0 ? '[]' : [shape(v[0])];
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) out[k] = shape((v as Record<string, unknown>)[k]);
    return out;
  }
  return v === null ? 'null' : typeof v;
}

/** Differences between normalised values, one line each; `ttl` may differ by 1. */
export function diff(a: unknown, b: unknown, path = '$', out: string[] = []): string[] {
  if (typeof a === 'number' && typeof b === 'number' && path.endsWith('.ttl') && Math.abs(a - b) <= 1) return out;
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) out.push(`${path}: array length ${a.length} vs ${b.length}`);
    for (let i = 0; i < Math.min(a.length, b.length); i++) diff(a[i], b[i], `${path}[${i}]`, out);
    return out;
  }
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object' && !Array.isArray(a) && !Array.isArray(b)) {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    for (const k of new Set([...ka, ...kb])) {
      const av = (a as Record<string, unknown>)[k];
      const bv = (b as Record<string, unknown>)[k];
      if (!(k in a)) out.push(`${path}.${k}: missing in reference, candidate has ${JSON.stringify(bv)}`);
      else if (!(k in b)) out.push(`${path}.${k}: missing in candidate, reference has ${JSON.stringify(av)}`);
      else diff(av, bv, `${path}.${k}`, out);
    }
    return out;
  }
  if (JSON.stringify(a) !== JSON.stringify(b)) out.push(`${path}: reference ${JSON.stringify(a)} vs candidate ${JSON.stringify(b)}`);
  return out;
}

/** Compares two observations of the same step; returns human-readable lines (empty = equal). */
export function compare(step: Step, ref: Observation, refSide: Side, cand: Observation, candSide: Side): string[] {
  const causeNumbers = step.causeNumbers ?? false;
  const lines: string[] = [];
  if (ref.status !== cand.status) lines.push(`status: reference ${ref.status} vs candidate ${cand.status}`);
  diff(ref.headers, cand.headers, 'headers', lines);
  let a = normalise(ref.body, refSide, causeNumbers);
  let b = normalise(cand.body, candSide, causeNumbers);
  if (step.cmp === 'shape') {
    a = shape(a);
    b = shape(b);
  }
  diff(a, b, 'body', lines);
  if (lines.length > 0) {
    lines.push(`reference body: ${ref.raw.slice(0, 600).trim()}`);
    lines.push(`candidate body: ${cand.raw.slice(0, 600).trim()}`);
  }
  return lines;
}
