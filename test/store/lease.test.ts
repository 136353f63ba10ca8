// The v3 lessor: replicated grant/revoke/checkpoint, the leader-only expiry clock, persistence in
// the level backend, snapshots. Numbers and error texts as real etcd 3.4.23 shows them
// (`lease grant 1` -> TTL 2; `lease timetolive` right after `grant 5` -> remaining 4; revoke of an
// unknown lease -> "etcdserver: requested lease not found"; grant 9000000001 -> "too large").
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Backend } from '../../src/store/backend.js';
import { Lessor, MAX_LEASE_TTL_S, LEASE_REVOKE_RETRY_MS, LEASE_CHECKPOINT_INTERVAL_MS } from '../../src/store/lease/index.js';
import { V3Error } from '../../src/store/v3error.js';

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function backend(): Promise<Backend> {
  const d = await mkdtemp(join(tmpdir(), 'tsetcd-lease-'));
  dirs.push(d);
  return Backend.open(d);
}

const OPTS = { minTtlS: 2 };
const b = (s: string) => Buffer.from(s);
const str = (ks: Uint8Array[]) => ks.map((k) => Buffer.from(k).toString());

function v3err(kind: string, message: string) {
  return (e: unknown) => e instanceof V3Error && e.kind === kind && e.message === message;
}

test('grant raises small TTLs to minTTL and refuses duplicates and too large TTLs', async () => {
  const be = await backend();
  const le = await Lessor.open(be, OPTS);
  assert.deepEqual(le.grant(1n, 1), { id: 1n, ttl: 2 });
  assert.deepEqual(le.grant(2n, 0), { id: 2n, ttl: 2 });
  assert.deepEqual(le.grant(3n, 5), { id: 3n, ttl: 5 });
  assert.deepEqual(le.grant(-80n, 5), { id: -80n, ttl: 5 }); // etcd accepts negative ids
  assert.throws(() => le.grant(3n, 5), v3err('leaseExist', 'etcdserver: lease already exists'));
  assert.throws(() => le.grant(4n, MAX_LEASE_TTL_S + 1), v3err('leaseTTLTooLarge', 'etcdserver: too large lease TTL'));
  // the TTL check comes before the existence check, as etcd
  assert.throws(() => le.grant(3n, MAX_LEASE_TTL_S + 1), v3err('leaseTTLTooLarge', 'etcdserver: too large lease TTL'));
  assert.deepEqual(le.grant(5n, MAX_LEASE_TTL_S), { id: 5n, ttl: MAX_LEASE_TTL_S });
  assert.deepEqual(le.leases(), [-80n, 1n, 2n, 3n, 5n]);
  await be.close();
});

test('revoke returns the attached keys sorted, forgets the lease; unknown lease is leaseNotFound', async () => {
  const be = await backend();
  const le = await Lessor.open(be, OPTS);
  const h = le.hooks();
  le.grant(7n, 10);
  assert.equal(h.exists(7n), true);
  assert.equal(h.exists(8n), false);
  h.attach(7n, b('foo'));
  h.attach(7n, b('abc'));
  h.attach(7n, b('zz'));
  h.attach(7n, b('abc')); // idempotent
  h.detach(7n, b('zz'));
  h.attach(99n, b('x')); // unknown lease: ignored
  h.detach(99n, b('x'));
  assert.deepEqual(str(le.lookup(7n)!.keys), ['abc', 'foo']);
  assert.deepEqual(str(le.revoke(7n)), ['abc', 'foo']);
  assert.equal(h.exists(7n), false);
  assert.equal(le.lookup(7n), undefined);
  h.detach(7n, b('foo')); // the MVCC delete after the revoke: no-op
  assert.throws(() => le.revoke(7n), v3err('leaseNotFound', 'etcdserver: requested lease not found'));
  assert.equal(new V3Error('leaseNotFound').code, 5); // gRPC NotFound
  await be.close();
});

test('timeToLive: remaining truncated like etcd, keys on request, -1/0 for an unknown lease', async () => {
  const be = await backend();
  const le = await Lessor.open(be, OPTS);
  le.promote(1_000, 0);
  le.grant(1n, 5);
  le.hooks().attach(1n, b('foo'));
  le.hooks().attach(1n, b('abc'));
  assert.deepEqual(le.timeToLive(1n, true, 1_000), { id: 1n, ttl: 5, grantedTtl: 5, keys: [b('abc'), b('foo')] });
  assert.deepEqual(le.timeToLive(1n, false, 1_010), { id: 1n, ttl: 4, grantedTtl: 5, keys: [] });
  assert.equal(le.timeToLive(1n, false, 5_999).ttl, 0);
  assert.equal(le.timeToLive(1n, false, 6_000).ttl, -1);
  assert.deepEqual(le.timeToLive(1234n, true, 1_000), { id: 1234n, ttl: -1, grantedTtl: 0, keys: [] });
  await be.close();
});

test('only a promoted leader expires leases; renew pushes the expiry by the granted TTL', async () => {
  const be = await backend();
  const le = await Lessor.open(be, OPTS);
  le.grant(1n, 3);
  le.grant(2n, 10);
  assert.deepEqual(le.expired(1e9, 10), [], 'a follower never expires leases');
  assert.throws(() => le.renew(1n, 0), v3err('notLeader', 'etcdserver: not leader'));
  le.promote(0, 0);
  assert.deepEqual(le.expired(2_999, 10), []);
  assert.equal(le.renew(1n, 2_000), 3); // now expires at 5000
  assert.deepEqual(le.expired(4_999, 10), []);
  assert.deepEqual(le.expired(5_000, 10), [1n]);
  // reported once, then again only after the retry interval (its revoke may have been lost)
  assert.deepEqual(le.expired(5_001, 10), []);
  assert.deepEqual(le.expired(5_000 + LEASE_REVOKE_RETRY_MS, 10), [1n]);
  assert.throws(() => le.renew(1n, 6_000), v3err('leaseNotFound', 'etcdserver: requested lease not found'));
  assert.throws(() => le.renew(42n, 6_000), v3err('leaseNotFound', 'etcdserver: requested lease not found'));
  le.revoke(1n);
  assert.deepEqual(le.expired(20_000, 10), [2n]);
  le.demote();
  assert.deepEqual(le.expired(1e9, 10), []);
  await be.close();
});

test('expired() is bounded and earliest first; leases granted while leader get an expiry', async () => {
  const be = await backend();
  const le = await Lessor.open(be, OPTS);
  le.promote(0, 0);
  le.grant(10n, 9);
  le.grant(11n, 3);
  le.grant(12n, 6);
  // apply has no clock: the expiry counts from the leader's next tick that reads the time
  assert.deepEqual(le.expired(1_000, 2), []);
  assert.equal(le.timeToLive(11n, false, 1_000).ttl, 3);
  assert.deepEqual(le.expired(100_000, 2), [11n, 12n]);
  assert.deepEqual(le.expired(100_000, 2), [10n]);
  await be.close();
});

test('promote: expiry is now + remaining + extend; after a demote the remaining TTL restarts from the granted (or checkpointed) TTL', async () => {
  const be = await backend();
  const le = await Lessor.open(be, OPTS);
  le.grant(1n, 10);
  le.grant(2n, 10);
  le.promote(0, 1_000);
  assert.deepEqual(le.expired(10_999, 10), []);
  assert.deepEqual(le.expired(11_000, 10), [1n, 2n]);
  le.demote();
  le.checkpoint(2n, 4); // replicated from the new leader
  le.promote(50_000, 0);
  assert.equal(le.timeToLive(1n, false, 50_000).ttl, 10);
  assert.equal(le.timeToLive(2n, false, 50_000).ttl, 4);
  assert.deepEqual(le.expired(54_000, 10), [2n]);
  await be.close();
});

test('checkpoints: long leases every interval with the remaining TTL rounded up; a renew clears the checkpoint', async () => {
  const be = await backend();
  const le = await Lessor.open(be, OPTS);
  le.grant(1n, 600);
  le.grant(2n, 60); // shorter than the interval: never checkpointed
  assert.deepEqual(le.checkpointsDue(1e9, 10), [], 'followers propose no checkpoints');
  le.promote(0, 0);
  assert.deepEqual(le.checkpointsDue(LEASE_CHECKPOINT_INTERVAL_MS - 1, 10), []);
  const at = LEASE_CHECKPOINT_INTERVAL_MS + 500;
  assert.deepEqual(le.checkpointsDue(at, 10), [{ id: 1n, remainingTtlS: 300 }]);
  assert.deepEqual(le.checkpointsDue(at, 10), []);
  le.checkpoint(1n, 300); // applied
  le.checkpoint(99n, 5); // unknown: ignored, as etcd
  assert.equal(le.lookup(1n)!.remainingTtlS, 300);
  le.renew(1n, at);
  assert.deepEqual(le.checkpointsDue(at, 10), [{ id: 1n, remainingTtlS: 0 }]);
  le.checkpoint(1n, 0);
  assert.equal(le.lookup(1n)!.remainingTtlS, 0);
  await be.close();
});

test('a follower shows the granted TTL until it knows an expiry', async () => {
  const be = await backend();
  const le = await Lessor.open(be, OPTS);
  le.grant(1n, 30);
  assert.equal(le.timeToLive(1n, false, 123_456).ttl, 30);
  le.checkpoint(1n, 12);
  assert.equal(le.timeToLive(1n, false, 123_456).ttl, 12);
  await be.close();
});

test('leases, TTLs and checkpoints persist in bucket lease and survive a reopen; keys are re-attached by the caller', async () => {
  const d = await mkdtemp(join(tmpdir(), 'tsetcd-lease-'));
  dirs.push(d);
  let be = await Backend.open(d);
  let le = await Lessor.open(be, OPTS);
  le.grant(1n, 1);
  le.grant(2n, 100);
  le.grant(3n, 50);
  le.grant(-5n, 7);
  le.checkpoint(2n, 40);
  le.revoke(3n);
  be.setConsistentIndex(9, 2);
  await be.commit();
  await be.close();

  be = await Backend.open(d);
  le = await Lessor.open(be, OPTS);
  assert.deepEqual(le.leases(), [-5n, 1n, 2n]);
  assert.deepEqual(le.lookup(1n), { id: 1n, ttl: 2, remainingTtlS: 0, keys: [] });
  assert.deepEqual(le.lookup(2n), { id: 2n, ttl: 100, remainingTtlS: 40, keys: [] });
  le.hooks().attach(2n, b('k'));
  assert.deepEqual(str(le.revoke(2n)), ['k']);
  le.promote(0, 0);
  assert.deepEqual(le.expired(7_000, 10), [1n, -5n]);
  await be.close();
});

test('snapshot round trip replaces the persisted leases', async () => {
  const be = await backend();
  const le = await Lessor.open(be, OPTS);
  le.grant(1n, 10);
  le.grant(2n, 20);
  le.checkpoint(2n, 15);
  const snap = le.saveSnapshot();
  assert.deepEqual(Buffer.from(le.saveSnapshot()), Buffer.from(snap), 'deterministic');

  const d2 = await mkdtemp(join(tmpdir(), 'tsetcd-lease-'));
  dirs.push(d2);
  let be2 = await Backend.open(d2);
  const old = await Lessor.open(be2, OPTS);
  old.grant(77n, 5); // replaced by the snapshot
  await be2.commit();
  const restored = await Lessor.restoreSnapshot(snap, be2, OPTS);
  assert.deepEqual(restored.leases(), [1n, 2n]);
  assert.deepEqual(restored.lookup(2n), { id: 2n, ttl: 20, remainingTtlS: 15, keys: [] });
  await be2.commit();
  await be2.close();
  be2 = await Backend.open(d2);
  const reopened = await Lessor.open(be2, OPTS);
  assert.deepEqual(reopened.leases(), [1n, 2n]);
  assert.equal(reopened.lookup(2n)!.remainingTtlS, 15);
  await be2.close();
  await assert.rejects(Lessor.restoreSnapshot(Buffer.from('garbage!'), be, OPTS), /not a lease snapshot/);
  await be.close();
});
