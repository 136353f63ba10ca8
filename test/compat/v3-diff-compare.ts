// Normaliser and comparator of the v3 differential test. Two responses to the same request are
// equal when they are equal after normalisation, which removes only what legitimately differs
// between two servers that applied the same writes:
// - header.cluster_id / member_id / raft_term (ids and terms; header.revision is kept),
// - the remaining TTL of LeaseTimeToLive within TTL_TOLERANCE_S seconds (a clock reading),
// - the order of LeaseLeases and of LeaseTimeToLive keys (Go map iteration order in etcd),
// - the order among ties of a Range sorted on a non-unique target (VERSION/CREATE/MOD/VALUE):
//   etcd uses Go's unstable sort.Sort, so which of several equal kvs comes first (and which of
//   them survive a `limit` cut) is an accident of the sort algorithm, not an API promise.
//   Ties are ordered by key; a tie group cut by `limit` is compared by size and sort value only.
import type { Outcome, Plain } from './v3-diff-client.js';

export const TTL_TOLERANCE_S = 2;

type Obj = { [k: string]: Plain };
const isObj = (v: Plain | undefined): v is Obj => v !== null && v !== undefined && typeof v === 'object' && !Array.isArray(v);

/** Drops ids and terms from every `header`, recursively (txn responses nest headers). */
export function stripHeaders(v: Plain): Plain {
  if (Array.isArray(v)) return v.map(stripHeaders);
  if (!isObj(v)) return v;
  const out: Obj = {};
  for (const [k, x] of Object.entries(v)) {
    if (k === 'header' && isObj(x)) out[k] = { revision: x.revision ?? null };
    else out[k] = stripHeaders(x);
  }
  return out;
}

const SORT_FIELD: Record<string, string> = { VERSION: 'version', CREATE: 'create_revision', MOD: 'mod_revision', VALUE: 'value' };

function sortValue(kv: Plain, field: string): string {
  const x = isObj(kv) ? kv[field] : null;
  return typeof x === 'string' ? x : JSON.stringify(x);
}

/** Range responses: ties of a non-KEY sort ordered by key; a tie group cut by `limit` summarised. */
export function normaliseRange(req: Obj, res: Plain): Plain {
  const target = typeof req.sort_target === 'string' ? req.sort_target : 'KEY';
  if (!isObj(res) || target === 'KEY' || !Array.isArray(res.kvs)) return res;
  const field = SORT_FIELD[target]!;
  const kvs = res.kvs;
  const groups: Plain[][] = [];
  for (const kv of kvs) {
    const last = groups[groups.length - 1];
    if (last && sortValue(last[0]!, field) === sortValue(kv, field)) last.push(kv);
    else groups.push([kv]);
  }
  const out: Plain[] = [];
  groups.forEach((g, i) => {
    const cut = i === groups.length - 1 && res.more === true && g.length > 0;
    if (cut) out.push({ tieGroupCutByLimit: { [field]: sortValue(g[0]!, field), size: g.length } });
    else out.push(...[...g].sort((a, b) => (sortValue(a, 'key') < sortValue(b, 'key') ? -1 : sortValue(a, 'key') > sortValue(b, 'key') ? 1 : 0)));
  });
  return { ...res, kvs: out };
}

/** Txn responses: normalises nested range (and txn) responses with the request op that made them. */
export function normaliseTxn(req: Obj, res: Plain): Plain {
  if (!isObj(res) || !Array.isArray(res.responses)) return res;
  const branch = res.succeeded === true ? req.success : req.failure;
  const ops = Array.isArray(branch) ? branch : [];
  return {
    ...res,
    responses: res.responses.map((r, i) => {
      const op = ops[i];
      if (!isObj(r) || !isObj(op)) return r;
      if (isObj(op.request_range) && r.response_range !== undefined) return { ...r, response_range: normaliseRange(op.request_range, r.response_range) };
      if (isObj(op.request_txn) && r.response_txn !== undefined) return { ...r, response_txn: normaliseTxn(op.request_txn, r.response_txn) };
      return r;
    }),
  };
}

const byString = (f: (x: Plain) => string) => (a: Plain, b: Plain): number => (f(a) < f(b) ? -1 : f(a) > f(b) ? 1 : 0);

/** The normal form of one outcome of `kind` for request `req`. */
export function normalise(kind: string, req: object, o: Outcome): Plain {
  if ('error' in o) return { error: o.error };
  let res = stripHeaders(o.ok);
  const r = req as Obj;
  if (!isObj(res)) return { ok: res };
  switch (kind) {
    case 'range':
      res = normaliseRange(r, res);
      break;
    case 'txn':
      res = normaliseTxn(r, res);
      break;
    case 'leaseLeases':
      if (Array.isArray(res.leases)) res = { ...res, leases: [...res.leases].sort(byString((l) => (isObj(l) ? String(l.ID).padStart(20, '0') : ''))) };
      break;
    case 'leaseTimeToLive':
      if (Array.isArray(res.keys)) res = { ...res, keys: [...res.keys].sort(byString((k) => String(k))) };
      break;
    default:
      break;
  }
  return { ok: res };
}

/** The remaining TTLs of two LeaseTimeToLive outcomes are equal within the tolerance: align them. */
export function alignTtl(kind: string, ref: Plain, cand: Plain): Plain {
  if (kind !== 'leaseTimeToLive' || !isObj(ref) || !isObj(cand) || !isObj(ref.ok) || !isObj(cand.ok)) return cand;
  const a = Number(ref.ok.TTL);
  const b = Number(cand.ok.TTL);
  if (a >= 0 && b >= 0 && Math.abs(a - b) <= TTL_TOLERANCE_S) return { ...cand, ok: { ...cand.ok, TTL: ref.ok.TTL ?? null } };
  return cand;
}

/** Every path where the two values differ, as `path: ref=... cand=...` lines (empty when equal). */
export function diff(ref: Plain | undefined, cand: Plain | undefined, path = '$', out: string[] = [], max = 40): string[] {
  if (out.length >= max) return out;
  if (Array.isArray(ref) && Array.isArray(cand)) {
    if (ref.length !== cand.length) out.push(`${path}.length: ref=${ref.length} cand=${cand.length}`);
    for (let i = 0; i < Math.max(ref.length, cand.length); i++) diff(ref[i], cand[i], `${path}[${i}]`, out, max);
    return out;
  }
  if (isObj(ref) && isObj(cand)) {
    for (const k of new Set([...Object.keys(ref), ...Object.keys(cand)])) diff(ref[k], cand[k], `${path}.${k}`, out, max);
    return out;
  }
  if (JSON.stringify(ref) !== JSON.stringify(cand)) out.push(`${path}: ref=${JSON.stringify(ref)} cand=${JSON.stringify(cand)}`);
  return out;
}

/** Normal form of a watch stream: created/canceled notices and the flattened events, in order.
 *  Event batching into responses (and the header revision of each batch) may differ legitimately. */
export function normaliseWatch(responses: Plain[]): Plain[] {
  const out: Plain[] = [];
  for (const r of responses) {
    if (!isObj(r)) continue;
    if (r.created === true) out.push({ created: true, watch_id: r.watch_id ?? null, revision: isObj(r.header) ? (r.header.revision ?? null) : null, canceled: r.canceled ?? null });
    if (r.canceled === true && r.created !== true) out.push({ canceled: true, watch_id: r.watch_id ?? null, compact_revision: r.compact_revision ?? null, cancel_reason: r.cancel_reason ?? null });
    else if (r.canceled === true) out.push({ canceled: true, compact_revision: r.compact_revision ?? null, cancel_reason: r.cancel_reason ?? null });
    if (Array.isArray(r.events)) for (const e of r.events) out.push(e);
  }
  return out;
}
