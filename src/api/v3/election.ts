// v3election.Election: clientv3/concurrency.Election run on the server. Candidates put
// `<name>/<lease hex>`; the leader is the key with the lowest create revision under `<name>/`.
import type { MvccEvent } from '../../store/mvcc/types.js';
import { V3Error } from '../../store/v3error.js';
import type { AuthInfo, V3Backend } from './backend.js';
import { big, bytes, headerWire, kvWire, long, num, type Wire } from './convert.js';
import { concat, firstCreated, prefixEnd, RecipeWatcher, SESSION_TTL_SEC, sameBytes, utf8, waitDeletes } from './concurrency.js';
import type { UnaryHandler } from './services.js';

export function electionHandlers(b: V3Backend): { campaign: UnaryHandler; proclaim: UnaryHandler; leader: UnaryHandler; resign: UnaryHandler } {
  const hdr = (rev: number): Wire => headerWire(b.header(), rev);
  const leaderOf = (w: Wire): { name: Uint8Array; key: Uint8Array; rev: number; lease: bigint } => {
    const l = w.leader as Wire | null | undefined;
    if (!l) throw new V3Error('electionMissingLeaderKey');
    return { name: bytes(l.name), key: bytes(l.key), rev: num(l.rev), lease: big(l.lease) };
  };
  const proclaim = async (key: Uint8Array, rev: number, lease: bigint, value: Uint8Array, auth: AuthInfo | undefined): Promise<void> => {
    const res = await b.txn({
      compare: [{ key, target: 'CREATE', result: 'EQUAL', createRevision: rev }],
      success: [{ requestPut: { key, value, lease } }],
    }, auth);
    if (!res.succeeded) throw new V3Error('electionNotLeader');
  };
  const resign = async (key: Uint8Array, rev: number, auth: AuthInfo | undefined): Promise<number> => {
    const res = await b.txn({
      compare: [{ key, target: 'CREATE', result: 'EQUAL', createRevision: rev }],
      success: [{ requestDeleteRange: { key } }],
    }, auth);
    return res.revision;
  };
  return {
    campaign: async (w, c) => {
      const name = bytes(w.name);
      const value = bytes(w.value);
      let lease = big(w.lease);
      if (lease === 0n) lease = (await b.leaseGrant(SESSION_TTL_SEC, 0n, c.auth)).id;
      const pfx = concat(name, utf8('/'));
      const key = concat(pfx, utf8(BigInt.asUintN(64, lease).toString(16)));
      const res = await b.txn({
        compare: [{ key, target: 'CREATE', result: 'EQUAL', createRevision: 0 }],
        success: [{ requestPut: { key, value, lease } }],
        failure: [{ requestRange: { key } }],
      }, c.auth);
      let leaderRev = res.revision;
      if (!res.succeeded) {
        const op = res.responses[0];
        const kv = op && 'responseRange' in op ? op.responseRange.kvs[0] : undefined;
        if (kv) {
          leaderRev = kv.createRevision;
          if (!sameBytes(kv.value, value)) await proclaim(key, leaderRev, lease, value, c.auth);
        }
      }
      try {
        await waitDeletes(b, pfx, leaderRev - 1, c.auth, c.signal);
      } catch (err) {
        await resign(key, leaderRev, c.auth).catch(() => undefined);
        throw err;
      }
      return { header: hdr(res.revision), leader: { name, key, rev: leaderRev, lease: long(lease) } };
    },
    proclaim: async (w, c) => {
      const l = leaderOf(w);
      await proclaim(l.key, l.rev, l.lease, bytes(w.value), c.auth);
      return {};
    },
    leader: async (w, c) => {
      const pfx = concat(bytes(w.name), utf8('/'));
      const res = await firstCreated(b, pfx, c.auth);
      const kv = res.kvs[0];
      if (!kv) throw new V3Error('electionNoLeader');
      return { header: hdr(res.revision), kv: kvWire(kv) };
    },
    resign: async (w, c) => {
      const l = leaderOf(w);
      const rev = await resign(l.key, l.rev, c.auth);
      return { header: hdr(rev) };
    },
  };
}

/**
 * Election.Observe: sends the current leader's key-value and every change of it (new value,
 * new leader) until the signal aborts.
 */
export async function observe(b: V3Backend, w: Wire, auth: AuthInfo | undefined, signal: AbortSignal, send: (res: Wire) => Promise<void>): Promise<void> {
  const pfx = concat(bytes(w.name), utf8('/'));
  while (!signal.aborted) {
    const res = await firstCreated(b, pfx, auth);
    let kv = res.kvs[0];
    let rev = res.revision;
    if (!kv) {
      // No leader yet: wait for the first put under the prefix.
      const pw = new RecipeWatcher(b, { key: pfx, rangeEnd: prefixEnd(pfx), startRevision: rev + 1, noDelete: true }, auth, signal);
      try {
        const evs = await pw.next();
        kv = evs[0]!.kv;
        rev = kv.modRevision;
      } finally {
        pw.close();
      }
    }
    await send({ header: headerWire(b.header(), rev), kv: kvWire(kv) });
    const kw = new RecipeWatcher(b, { key: kv.key, startRevision: rev + 1 }, auth, signal);
    try {
      let deleted = false;
      while (!deleted) {
        const evs: readonly MvccEvent[] = await kw.next();
        for (const e of evs) {
          if (e.type === 'DELETE') { deleted = true; break; }
          await send({ header: headerWire(b.header(), e.kv.modRevision), kv: kvWire(e.kv) });
        }
      }
    } finally {
      kw.close();
    }
  }
}
