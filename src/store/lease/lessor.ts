// The v3 lessor (etcd's lease/lessor.go): leases with a granted TTL, the keys attached to them,
// and — on the leader only — the expiry clock that decides when a lease is revoked.
//
// Two kinds of state live here and must not be confused:
// - Replicated state, changed only by the apply methods (grant, revoke, checkpoint), driven by the
//   raft log in the same order on every member. They read no clock and no randomness: the
//   proposer chose the id, and the TTLs are in the entry. Persisted in bucket 'lease'.
// - Local state of this member: the expiry clock (`expiryMs`), renewals, the revoke retry timer,
//   the checkpoint schedule. Only a promoted leader runs it; every method that reads the clock
//   takes `nowMs` from the caller, so the lessor itself never looks at the time.
//
// Start order: Lessor.open() first, then the MVCC store opens and calls hooks().attach() for
// every live key with a lease (the attachments are not persisted here; the keys are the truth).
import { V3Error } from '../v3error.js';
import type { Backend } from '../backend.js';
import type { Bytes, LeaseId } from '../mvcc/types.js';

/** etcd's MaxLeaseTTL: a grant above it fails with `too large lease TTL`. */
export const MAX_LEASE_TTL_S = 9_000_000_000;
/** etcd's expiredLeaseRetryInterval: an expired lease reported by expired() is reported again
 *  only after this long (its revoke proposal may have been lost, e.g. to a leader change). */
export const LEASE_REVOKE_RETRY_MS = 3_000;
/** etcd's default --experimental-lease-checkpoint-interval (5 min): leases longer than this get
 *  their remaining TTL checkpointed through raft every interval. */
export const LEASE_CHECKPOINT_INTERVAL_MS = 300_000;
/** Bucket of the backend holding one record per lease. */
export const LEASE_BUCKET = 'lease';

const INT64_MIN = -(1n << 63n);
const INT64_MAX = (1n << 63n) - 1n;
const RECORD_VERSION = 1;
const RECORD_BYTES = 1 + 8 + 8;
const SNAPSHOT_MAGIC = 0x54534c31; // "TSL1"
const SNAPSHOT_ENTRY_BYTES = 24;

/** What the MVCC store calls: existence check before a put with a lease, and the attachment of
 *  keys to leases as they are written, moved and deleted. */
export interface LeaseHooks {
  exists(id: LeaseId): boolean;
  /** Attaching to an unknown lease is ignored (etcd logs and skips it on restore). */
  attach(id: LeaseId, key: Bytes): void;
  /** Detaching from an unknown lease is ignored (revoke removes the lease before the MVCC store
   *  deletes its keys). */
  detach(id: LeaseId, key: Bytes): void;
}

export interface LessorOptions {
  /** Grants below this are raised to it: etcd's minTTL = ceil(1.5 * election timeout). */
  minTtlS: number;
}

export interface LeaseInfo {
  id: LeaseId;
  /** The granted TTL in seconds (after the minTTL raise). */
  ttl: number;
  /** Remaining TTL recorded by the last checkpoint; 0 if none. */
  remainingTtlS: number;
  /** Attached keys in byte order. */
  keys: Bytes[];
}

export interface LeaseTimeToLive {
  id: LeaseId;
  /** Remaining seconds, truncated like etcd; -1 if the lease is unknown or past its expiry. */
  ttl: number;
  /** The granted TTL; 0 if the lease is unknown. */
  grantedTtl: number;
  /** Attached keys in byte order (empty unless asked for). */
  keys: Bytes[];
}

interface Lease {
  readonly id: LeaseId;
  readonly ttlS: number;
  remainingTtlS: number;
  /** Attached keys by their latin1 spelling (one char per byte), for O(1) attach/detach. */
  readonly keys: Map<string, Bytes>;
  // ---- local (leader clock) ----
  /** When the lease expires on this member's clock; undefined until promoted (or last known
   *  expiry after a demotion). */
  expiryMs: number | undefined;
  /** expired() does not report this lease again before this time. */
  retryAtMs: number | undefined;
  /** Next time checkpointsDue() reports the remaining TTL; undefined = not scheduled. */
  checkpointAtMs: number | undefined;
  /** Renewed while a checkpointed remaining TTL was set: checkpointsDue() proposes 0 to clear it. */
  clearCheckpoint: boolean;
}

function keyId(key: Bytes): string {
  return Buffer.from(key.buffer, key.byteOffset, key.byteLength).toString('latin1');
}

function compareBytes(a: Bytes, b: Bytes): number {
  return Buffer.compare(a, b);
}

function assertLeaseId(id: LeaseId): void {
  if (typeof id !== 'bigint' || id === 0n || id < INT64_MIN || id > INT64_MAX) {
    throw new Error(`lessor: invalid lease id ${String(id)}`);
  }
}

function assertTtl(ttlS: number, what: string): void {
  if (!Number.isSafeInteger(ttlS)) throw new Error(`lessor: ${what} is not an integer: ${ttlS}`);
}

function idKey(id: LeaseId): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeBigInt64BE(id);
  return b;
}

function encodeRecord(l: Lease): Buffer {
  const b = Buffer.allocUnsafe(RECORD_BYTES);
  b[0] = RECORD_VERSION;
  b.writeBigInt64BE(BigInt(l.ttlS), 1);
  b.writeBigInt64BE(BigInt(l.remainingTtlS), 9);
  return b;
}

function newLease(id: LeaseId, ttlS: number, remainingTtlS: number): Lease {
  assertLeaseId(id);
  assertTtl(ttlS, 'ttl');
  assertTtl(remainingTtlS, 'remaining ttl');
  if (ttlS < 1 || ttlS > MAX_LEASE_TTL_S) throw new Error(`lessor: lease ${id} has ttl ${ttlS} out of range`);
  if (remainingTtlS < 0 || remainingTtlS > MAX_LEASE_TTL_S) {
    throw new Error(`lessor: lease ${id} has remaining ttl ${remainingTtlS} out of range`);
  }
  return {
    id, ttlS, remainingTtlS, keys: new Map(),
    expiryMs: undefined, retryAtMs: undefined, checkpointAtMs: undefined, clearCheckpoint: false,
  };
}

export class Lessor {
  private readonly leaseMap = new Map<LeaseId, Lease>();
  private primary = false;
  /** Leases granted while primary: they get their expiry at the next call that knows the time
   *  (apply methods have no clock). */
  private readonly unsettled = new Set<LeaseId>();
  private readonly minTtlS: number;

  private constructor(
    private readonly backend: Backend,
    opts: LessorOptions,
  ) {
    if (!Number.isSafeInteger(opts.minTtlS) || opts.minTtlS < 1) throw new Error(`lessor: bad minTtlS ${opts.minTtlS}`);
    this.minTtlS = opts.minTtlS;
  }

  /** Rebuilds the leases from bucket 'lease' (keys are attached afterwards by the MVCC store). */
  static async open(backend: Backend, opts: LessorOptions): Promise<Lessor> {
    const le = new Lessor(backend, opts);
    for (const [k, v] of await backend.loadBucket(LEASE_BUCKET)) {
      if (k.length !== 8) throw new Error(`lessor: corrupt lease key (${k.length} bytes)`);
      if (v.length !== RECORD_BYTES || v[0] !== RECORD_VERSION) throw new Error(`lessor: corrupt lease record (${v.length} bytes)`);
      const id = k.readBigInt64BE(0);
      const l = newLease(id, Number(v.readBigInt64BE(1)), Number(v.readBigInt64BE(9)));
      le.leaseMap.set(id, l);
    }
    return le;
  }

  hooks(): LeaseHooks {
    return {
      exists: (id) => this.leaseMap.has(id),
      attach: (id, key) => {
        const l = this.leaseMap.get(id);
        if (l !== undefined) l.keys.set(keyId(key), key);
      },
      detach: (id, key) => {
        const l = this.leaseMap.get(id);
        if (l !== undefined) l.keys.delete(keyId(key));
      },
    };
  }

  // ------------------------------------------------------------------ replicated (apply)

  /** LeaseGrant. The TTL is raised to minTtlS; the check against the maximum comes first. */
  grant(id: LeaseId, ttlS: number): { id: LeaseId; ttl: number } {
    assertLeaseId(id);
    assertTtl(ttlS, 'ttl');
    if (ttlS > MAX_LEASE_TTL_S) throw new V3Error('leaseTTLTooLarge');
    if (this.leaseMap.has(id)) throw new V3Error('leaseExist');
    const l = newLease(id, Math.max(ttlS, this.minTtlS), 0);
    this.leaseMap.set(id, l);
    this.persist(l);
    if (this.primary) this.unsettled.add(id);
    return { id, ttl: l.ttlS };
  }

  /** LeaseRevoke: forgets the lease and returns its keys (byte order) for the applier to delete in
   *  one MVCC write txn. */
  revoke(id: LeaseId): Bytes[] {
    const l = this.leaseMap.get(id);
    if (l === undefined) throw new V3Error('leaseNotFound');
    const keys = [...l.keys.values()].sort(compareBytes);
    this.leaseMap.delete(id);
    this.unsettled.delete(id);
    this.backend.del(LEASE_BUCKET, idKey(id));
    return keys;
  }

  /** LeaseCheckpoint: records the remaining TTL so that a new leader starts from it instead of
   *  the full TTL. 0 clears it. Unknown leases are ignored (a revoke may have won the race). */
  checkpoint(id: LeaseId, remainingTtlS: number): void {
    assertTtl(remainingTtlS, 'remaining ttl');
    if (remainingTtlS < 0 || remainingTtlS > MAX_LEASE_TTL_S) throw new Error(`lessor: bad remaining ttl ${remainingTtlS}`);
    const l = this.leaseMap.get(id);
    if (l === undefined) return;
    l.remainingTtlS = remainingTtlS;
    this.persist(l);
  }

  // ------------------------------------------------------------------ local, leader only

  /** Became leader: every lease expires at now + (checkpointed remaining or granted TTL) +
   *  extendMs. etcd extends by the election timeout so that leases do not expire because of the
   *  time without a leader. */
  promote(nowMs: number, extendMs: number): void {
    if (extendMs < 0) throw new Error(`lessor: negative extend ${extendMs}`);
    this.primary = true;
    this.unsettled.clear();
    for (const l of this.leaseMap.values()) {
      l.expiryMs = nowMs + extendMs + this.remainingS(l) * 1000;
      l.retryAtMs = undefined;
      l.clearCheckpoint = false;
      this.scheduleCheckpoint(l, nowMs);
    }
  }

  /** No longer leader: stop expiring. The last known expiries stay for timeToLive(). */
  demote(): void {
    this.primary = false;
    this.unsettled.clear();
    for (const l of this.leaseMap.values()) {
      l.retryAtMs = undefined;
      l.checkpointAtMs = undefined;
      l.clearCheckpoint = false;
    }
  }

  isPrimary(): boolean {
    return this.primary;
  }

  /** LeaseKeepAlive on the leader: the lease now expires a full granted TTL from now. Returns
   *  the granted TTL. notLeader when not promoted (the member forwards to the leader);
   *  leaseNotFound for an unknown lease or one already past its expiry (its revoke is pending). */
  renew(id: LeaseId, nowMs: number): number {
    if (!this.primary) throw new V3Error('notLeader');
    this.settle(nowMs);
    const l = this.leaseMap.get(id);
    if (l === undefined) throw new V3Error('leaseNotFound');
    if (l.expiryMs === undefined) throw new Error(`lessor: primary lease ${id} without expiry`);
    if (l.expiryMs <= nowMs) throw new V3Error('leaseNotFound');
    l.expiryMs = nowMs + l.ttlS * 1000;
    l.retryAtMs = undefined;
    // A checkpointed remaining TTL would shorten the lease on the next leader: clear it through
    // raft (at most one entry per renewal after a checkpoint, as etcd).
    if (l.remainingTtlS > 0) l.clearCheckpoint = true;
    this.scheduleCheckpoint(l, nowMs);
    return l.ttlS;
  }

  /** Leases past their expiry, earliest first, at most `max`, for the leader to propose their
   *  revoke. A lease reported here is not reported again for LEASE_REVOKE_RETRY_MS. Empty when
   *  not promoted: followers never expire leases. */
  expired(nowMs: number, max: number): LeaseId[] {
    if (!this.primary || max <= 0) return [];
    this.settle(nowMs);
    const due: Lease[] = [];
    for (const l of this.leaseMap.values()) {
      if (l.expiryMs === undefined) throw new Error(`lessor: primary lease ${l.id} without expiry`);
      if (l.expiryMs <= nowMs && (l.retryAtMs === undefined || l.retryAtMs <= nowMs)) due.push(l);
    }
    due.sort((a, b) => (a.expiryMs as number) - (b.expiryMs as number) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    const out = due.slice(0, max);
    for (const l of out) l.retryAtMs = nowMs + LEASE_REVOKE_RETRY_MS;
    return out.map((l) => l.id);
  }

  /** Checkpoints to propose (with --experimental-enable-lease-checkpoint): leases longer than the
   *  checkpoint interval, every interval, with their remaining TTL rounded up; and renewed leases
   *  whose old checkpoint must be cleared (remainingTtlS 0). At most `max`. */
  checkpointsDue(nowMs: number, max: number): Array<{ id: LeaseId; remainingTtlS: number }> {
    if (!this.primary || max <= 0) return [];
    this.settle(nowMs);
    const out: Array<{ id: LeaseId; remainingTtlS: number }> = [];
    for (const l of this.leaseMap.values()) {
      if (out.length >= max) break;
      if (l.expiryMs === undefined) throw new Error(`lessor: primary lease ${l.id} without expiry`);
      if (l.expiryMs <= nowMs) continue; // expiring: the revoke is what matters
      if (l.checkpointAtMs !== undefined && l.checkpointAtMs <= nowMs) {
        out.push({ id: l.id, remainingTtlS: Math.ceil((l.expiryMs - nowMs) / 1000) });
        l.clearCheckpoint = false;
        l.checkpointAtMs = undefined;
        this.scheduleCheckpoint(l, nowMs);
      } else if (l.clearCheckpoint) {
        out.push({ id: l.id, remainingTtlS: 0 });
        l.clearCheckpoint = false;
      }
    }
    return out;
  }

  // ------------------------------------------------------------------ reads

  lookup(id: LeaseId): LeaseInfo | undefined {
    const l = this.leaseMap.get(id);
    if (l === undefined) return undefined;
    return { id, ttl: l.ttlS, remainingTtlS: l.remainingTtlS, keys: [...l.keys.values()].sort(compareBytes) };
  }

  /** LeaseTimeToLive computed on this member. On the leader, from its expiry clock; elsewhere from
   *  the last known expiry if this member once led, else the checkpointed remaining TTL or the
   *  granted TTL (what a new leader would start from). Unknown leases give ttl -1, grantedTtl 0,
   *  as etcd's LeaseTimeToLive RPC answers (it does not return an error). */
  timeToLive(id: LeaseId, withKeys: boolean, nowMs: number): LeaseTimeToLive {
    const l = this.leaseMap.get(id);
    if (l === undefined) return { id, ttl: -1, grantedTtl: 0, keys: [] };
    if (this.primary) this.settle(nowMs);
    let ttl: number;
    if (l.expiryMs === undefined) ttl = this.remainingS(l);
    else {
      const remainingMs = l.expiryMs - nowMs;
      ttl = remainingMs <= 0 ? -1 : Math.floor(remainingMs / 1000);
    }
    const keys = withKeys ? [...l.keys.values()].sort(compareBytes) : [];
    return { id, ttl, grantedTtl: l.ttlS, keys };
  }

  /** Every lease id (LeaseLeases), in ascending order. */
  leases(): LeaseId[] {
    return [...this.leaseMap.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  // ------------------------------------------------------------------ snapshots

  /** The replicated lease state (ids, TTLs, checkpointed remaining TTLs), deterministic. */
  saveSnapshot(): Uint8Array {
    const ids = this.leases();
    const b = Buffer.alloc(8 + ids.length * SNAPSHOT_ENTRY_BYTES);
    b.writeUInt32BE(SNAPSHOT_MAGIC, 0);
    b.writeUInt32BE(ids.length, 4);
    let off = 8;
    for (const id of ids) {
      const l = this.leaseMap.get(id) as Lease;
      b.writeBigInt64BE(id, off);
      b.writeBigInt64BE(BigInt(l.ttlS), off + 8);
      b.writeBigInt64BE(BigInt(l.remainingTtlS), off + 16);
      off += SNAPSHOT_ENTRY_BYTES;
    }
    return b;
  }

  /** Replaces bucket 'lease' with the snapshot's leases (staged; the member commits) and returns
   *  the new lessor, not promoted. The MVCC store's restore re-attaches keys through the new
   *  lessor's hooks(). */
  static async restoreSnapshot(data: Uint8Array, backend: Backend, opts: LessorOptions): Promise<Lessor> {
    const b = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    if (b.length < 8 || b.readUInt32BE(0) !== SNAPSHOT_MAGIC) throw new Error('lessor: not a lease snapshot');
    const count = b.readUInt32BE(4);
    if (b.length !== 8 + count * SNAPSHOT_ENTRY_BYTES) throw new Error(`lessor: lease snapshot of ${b.length} bytes for ${count} leases`);
    const le = new Lessor(backend, opts);
    for (let i = 0, off = 8; i < count; i++, off += SNAPSHOT_ENTRY_BYTES) {
      const id = b.readBigInt64BE(off);
      if (le.leaseMap.has(id)) throw new Error(`lessor: duplicate lease ${id} in snapshot`);
      le.leaseMap.set(id, newLease(id, Number(b.readBigInt64BE(off + 8)), Number(b.readBigInt64BE(off + 16))));
    }
    await backend.clearBucket(LEASE_BUCKET);
    for (const l of le.leaseMap.values()) le.persist(l);
    return le;
  }

  // ------------------------------------------------------------------ internals

  private remainingS(l: Lease): number {
    return l.remainingTtlS > 0 ? l.remainingTtlS : l.ttlS;
  }

  private persist(l: Lease): void {
    this.backend.put(LEASE_BUCKET, idKey(l.id), encodeRecord(l));
  }

  private scheduleCheckpoint(l: Lease, nowMs: number): void {
    l.checkpointAtMs = this.remainingS(l) * 1000 > LEASE_CHECKPOINT_INTERVAL_MS || l.ttlS * 1000 > LEASE_CHECKPOINT_INTERVAL_MS
      ? nowMs + LEASE_CHECKPOINT_INTERVAL_MS
      : undefined;
  }

  /** Gives leases granted while primary their expiry, now that the time is known. */
  private settle(nowMs: number): void {
    if (this.unsettled.size === 0) return;
    for (const id of this.unsettled) {
      const l = this.leaseMap.get(id);
      if (l === undefined) continue;
      l.expiryMs = nowMs + this.remainingS(l) * 1000;
      l.retryAtMs = undefined;
      this.scheduleCheckpoint(l, nowMs);
    }
    this.unsettled.clear();
  }
}
