// The seeded generator of the v3 differential test: a replayable sequence of v3 requests over a
// small key space (so operations collide), covering every option of Range, Put, DeleteRange, Txn
// (compares on every target and result, nested txns, duplicate keys, too many ops), Compact (good
// and bad revisions), leases (client-chosen ids so both servers agree on them) and HashKV.
//
// The generator reads the state the reference server reported (revision, compacted revision,
// live leases) so its revisions are recent; both servers answer the same requests, so the
// sequence only depends on the seed as long as the servers agree.
import { Prng } from '../robustness/prng.js';
import type { MethodName } from './v3-diff-client.js';

export type Req = { [k: string]: unknown };
export interface Op {
  kind: MethodName;
  req: Req;
}

/** What the reference server said so far (updated by the test after each op). */
export interface GenState {
  rev: number;
  compactRev: number;
  leases: Set<number>;
}

export const KEYS = ['a', 'a/1', 'a/2', 'a/2/x', 'ab', 'b', 'b/1', 'b/2', 'c', 'c/1', 'd', 'e'] as const;
const VALUES = ['v0', 'v1', 'v2', 'v3', 'v4', '', 'value-with-some-length-0123456789'];
/** Lease ids are drawn from a small pool so grants collide, revokes hit unknown ids, etc. */
export const LEASE_IDS = [101, 102, 103, 104, 105, 106, 107, 108];
/** Long enough that no lease expires during a run (expiry times would differ between servers). */
const LEASE_TTLS_S = [600, 1200, 3600];
/** etcd's MaxLeaseTTL is 9,000,000,000 s; above it LeaseGrant fails. */
const LEASE_TTL_TOO_LARGE_S = 9_000_000_001;
/** etcd's --max-txn-ops default. */
export const MAX_TXN_OPS = 128;

/** The smallest key above every key with this prefix (etcd's GetPrefixRangeEnd). */
export function prefixEnd(key: string): string {
  const b = Buffer.from(key, 'utf8');
  for (let i = b.length - 1; i >= 0; i--) {
    if (b[i]! < 0xff) {
      const out = b.subarray(0, i + 1);
      out[i]! += 1;
      return out.toString('utf8');
    }
  }
  return '\0';
}

export class Generator {
  private readonly rng: Prng;
  /** Ops that must follow the previous one (a short-TTL grant and its immediate revoke). */
  private readonly queued: Op[] = [];

  private readonly maxTxnDepth: number;

  /** `avoid` names request features not to generate, to look past a known difference:
   *  nestedTxn, negativeLimit, foreignUnion (a compare whose union member is not its target),
 *  fromKeyDeleteInTxn (a txn delete with range_end "\0"). */
  constructor(readonly seed: number, private readonly avoid: ReadonlySet<string> = new Set()) {
    this.rng = new Prng(seed);
    this.maxTxnDepth = avoid.has('nestedTxn') ? 0 : 2;
  }

  next(st: GenState): Op {
    const q = this.queued.shift();
    if (q) return q;
    const r = this.rng;
    const x = r.next() * 100;
    if (x < 30) return { kind: 'range', req: this.range(st) };
    if (x < 55) return { kind: 'put', req: this.put(st) };
    if (x < 63) return { kind: 'deleteRange', req: this.del() };
    if (x < 85) return { kind: 'txn', req: this.txn(st, 0) };
    if (x < 85.6) return { kind: 'compact', req: this.compact(st) };
    if (x < 89) return this.leaseGrant();
    if (x < 92) return { kind: 'leaseRevoke', req: { ID: this.leaseId(st) } };
    if (x < 96) return { kind: 'leaseTimeToLive', req: { ID: this.leaseId(st), keys: r.chance(0.5) } };
    if (x < 97.5) return { kind: 'leaseLeases', req: {} };
    return { kind: 'hashKV', req: { revision: this.revision(st) } };
  }

  private key(): string {
    const r = this.rng;
    if (r.chance(0.01)) return ''; // "key is not provided"
    if (r.chance(0.02)) return 'zz-absent';
    return r.pick(KEYS);
  }

  /** key + range_end: one key, a prefix, from-key ("\0"), an explicit (maybe inverted) range. */
  private span(): { key: string; range_end?: string } {
    const r = this.rng;
    const key = this.key();
    const x = r.next();
    if (x < 0.45) return { key };
    if (x < 0.75) return { key, range_end: prefixEnd(key) };
    if (x < 0.85) return { key: key === '' && r.chance(0.5) ? '\0' : key, range_end: '\0' };
    return { key, range_end: r.pick(KEYS) };
  }

  private revision(st: GenState): number {
    const r = this.rng;
    const x = r.next();
    if (x < 0.5) return 0;
    if (x < 0.6) return st.rev;
    if (x < 0.8) return Math.max(1, st.rev - r.int(30));
    if (x < 0.9) return 1 + r.int(Math.max(1, st.rev));
    if (x < 0.95) return st.rev + 1 + r.int(3); // future
    return r.chance(0.5) ? st.compactRev : Math.max(0, st.compactRev - 1);
  }

  private range(st: GenState): Req {
    const r = this.rng;
    const req: Req = { ...this.span() };
    if (r.chance(0.3)) req.limit = r.pick([1, 2, 3, 5, 100, this.avoid.has('negativeLimit') ? 4 : -1]);
    if (r.chance(0.4)) req.revision = this.revision(st);
    if (r.chance(0.3)) req.sort_order = r.pick(['NONE', 'ASCEND', 'DESCEND']);
    if (r.chance(0.3)) req.sort_target = r.pick(['KEY', 'VERSION', 'CREATE', 'MOD', 'VALUE']);
    if (r.chance(0.2)) req.serializable = true;
    if (r.chance(0.15)) req.keys_only = true;
    if (r.chance(0.1)) req.count_only = true;
    const revNear = (): number => Math.max(0, st.rev - r.int(40));
    if (r.chance(0.08)) req.min_mod_revision = revNear();
    if (r.chance(0.08)) req.max_mod_revision = revNear();
    if (r.chance(0.08)) req.min_create_revision = revNear();
    if (r.chance(0.08)) req.max_create_revision = revNear();
    return req;
  }

  private leaseId(st: GenState): number {
    const r = this.rng;
    const live = [...st.leases];
    if (live.length > 0 && r.chance(0.7)) return r.pick(live);
    return r.chance(0.9) ? r.pick(LEASE_IDS) : 999_999;
  }

  private put(st: GenState, key = this.key()): Req {
    const r = this.rng;
    const req: Req = { key };
    if (!r.chance(0.06)) req.value = r.pick(VALUES);
    if (r.chance(0.25)) req.prev_kv = true;
    if (r.chance(0.2)) req.lease = this.leaseId(st);
    if (r.chance(0.06)) {
      req.ignore_value = true;
      if (r.chance(0.8)) delete req.value;
    }
    if (r.chance(0.06)) {
      req.ignore_lease = true;
      if (r.chance(0.8)) delete req.lease;
    }
    return req;
  }

  private del(key?: string, inTxn = false): Req {
    let s = key === undefined ? this.span() : { key };
    // etcd's txn overlap check sees [key, "\0") as an empty interval (its end sorts first).
    if (inTxn && s.range_end === '\0' && this.avoid.has('fromKeyDeleteInTxn')) s = { key: s.key };
    return { ...s, prev_kv: this.rng.chance(0.5) };
  }

  private compare(st: GenState): Req {
    const r = this.rng;
    const c: Req = { key: this.key(), result: r.pick(['EQUAL', 'GREATER', 'LESS', 'NOT_EQUAL']) };
    if (r.chance(0.1)) c.range_end = r.chance(0.7) ? prefixEnd(String(c.key)) : '\0';
    const target = r.pick(['VERSION', 'CREATE', 'MOD', 'VALUE', 'LEASE']);
    c.target = target;
    // Now and then the union holds another member than the target names (etcd then compares 0/"").
    const union = r.chance(0.03) && !this.avoid.has('foreignUnion') ? r.pick(['VERSION', 'CREATE', 'MOD', 'VALUE', 'LEASE']) : target;
    switch (union) {
      case 'VERSION':
        c.version = r.int(6);
        break;
      case 'CREATE':
        c.create_revision = r.int(st.rev + 2);
        break;
      case 'MOD':
        c.mod_revision = r.chance(0.3) ? st.rev : r.int(st.rev + 2);
        break;
      case 'VALUE':
        c.value = r.pick(VALUES);
        break;
      case 'LEASE':
        c.lease = r.chance(0.5) ? 0 : r.pick(LEASE_IDS);
        break;
    }
    return c;
  }

  /** One branch: 0-4 ops on mostly distinct keys; sometimes a duplicate key (an error when a put
   *  meets a put or a delete on the same key), sometimes more ops than --max-txn-ops. */
  private branch(st: GenState, depth: number): Req[] {
    const r = this.rng;
    if (r.chance(0.003)) return Array.from({ length: MAX_TXN_OPS + 1 }, () => ({ request_range: { key: r.pick(KEYS) } }));
    // A nested txn may hold only --max-txn-ops minus its parent's op count (etcd's checkTxnRequest).
    if (depth > 0 && r.chance(0.005)) return Array.from({ length: MAX_TXN_OPS - r.int(4) }, () => ({ request_range: { key: r.pick(KEYS) } }));
    const n = r.int(5);
    const used = new Set<string>();
    const ops: Req[] = [];
    for (let i = 0; i < n; i++) {
      let key = r.pick(KEYS) as string;
      if (!r.chance(0.1)) for (let t = 0; t < 5 && used.has(key); t++) key = r.pick(KEYS);
      const x = r.next();
      if (x < 0.35) ops.push({ request_put: this.put(st, key) });
      else if (x < 0.65) ops.push({ request_range: { ...this.range(st), ...(r.chance(0.6) ? { key, range_end: undefined } : {}) } });
      else if (x < 0.85) ops.push({ request_delete_range: r.chance(0.7) ? this.del(key, true) : this.del(undefined, true) });
      else if (depth < this.maxTxnDepth) ops.push({ request_txn: this.txn(st, depth + 1) });
      else ops.push({ request_range: { key } });
      used.add(key);
    }
    return ops.map(stripUndefined);
  }

  private txn(st: GenState, depth: number): Req {
    const r = this.rng;
    const req: Req = {};
    const nc = r.chance(0.002) ? MAX_TXN_OPS + 1 : r.int(4);
    if (nc > 0) req.compare = Array.from({ length: nc }, () => this.compare(st));
    const success = this.branch(st, depth);
    if (success.length > 0) req.success = success;
    const failure = this.branch(st, depth);
    if (failure.length > 0) req.failure = failure;
    return req;
  }

  private compact(st: GenState): Req {
    const r = this.rng;
    const x = r.next();
    let revision: number;
    if (x < 0.7) revision = Math.max(st.compactRev + 1, st.rev - r.int(20)); // recent
    else if (x < 0.8) revision = st.compactRev; // already compacted (or 0 at first)
    else if (x < 0.9) revision = Math.max(0, st.compactRev - 1 - r.int(3)); // older
    else revision = st.rev + 1 + r.int(3); // future
    return { revision, physical: r.chance(0.5) };
  }

  private leaseGrant(): Op {
    const r = this.rng;
    const ID = r.pick(LEASE_IDS);
    const x = r.next();
    if (x < 0.05) return { kind: 'leaseGrant', req: { ID, TTL: LEASE_TTL_TOO_LARGE_S } };
    if (x < 0.12) {
      // Below etcd's minimum TTL (raised to it): revoked right away, before it could expire.
      const short = 500 + r.int(100);
      this.queued.push({ kind: 'leaseRevoke', req: { ID: short } });
      return { kind: 'leaseGrant', req: { ID: short, TTL: r.int(3) } };
    }
    if (x < 0.15) return { kind: 'leaseGrant', req: { ID: -5, TTL: 600 } };
    return { kind: 'leaseGrant', req: { ID, TTL: r.pick(LEASE_TTLS_S) } };
  }
}

function stripUndefined(o: Req): Req {
  const out: Req = {};
  for (const [k, v] of Object.entries(o)) {
    if (v === undefined) continue;
    out[k] = v !== null && typeof v === 'object' && !Array.isArray(v) ? stripUndefined(v as Req) : v;
  }
  return out;
}
