// v3lock.Lock: etcd's lock service, i.e. clientv3/concurrency.Mutex run on the server. The lock
// key is `<name>/<lease id in hex>`; the owner is the key under `<name>/` with the lowest
// create revision; a waiter watches for the deletion of the key created just before its own.
import type { V3Backend } from './backend.js';
import { bytes, big, headerWire, type Wire } from './convert.js';
import { concat, SESSION_TTL_SEC, utf8, waitDeletes, prefixEnd } from './concurrency.js';
import type { UnaryHandler } from './services.js';
import { V3Error } from '../../store/v3error.js';

export function lockHandlers(b: V3Backend): { lock: UnaryHandler; unlock: UnaryHandler } {
  const hdr = (rev: number): Wire => headerWire(b.header(), rev);
  return {
    lock: async (w, c) => {
      let lease = big(w.lease);
      // etcd opens a session: lease 0 means a fresh lease (TTL 60 s) that nobody keeps alive.
      if (lease === 0n) lease = (await b.leaseGrant(SESSION_TTL_SEC, 0n, c.auth)).id;
      const pfx = concat(bytes(w.name), utf8('/'));
      const myKey = concat(pfx, utf8(BigInt.asUintN(64, lease).toString(16)));
      const owner = { requestRange: { key: pfx, rangeEnd: prefixEnd(pfx), sortOrder: 'ASCEND' as const, sortTarget: 'CREATE' as const, limit: 1 } };
      const res = await b.txn({
        compare: [{ key: myKey, target: 'CREATE', result: 'EQUAL', createRevision: 0 }],
        success: [{ requestPut: { key: myKey, lease } }, owner],
        failure: [{ requestRange: { key: myKey } }, owner],
      }, c.auth);
      let myRev = res.revision;
      if (!res.succeeded) {
        const op = res.responses[0];
        const kv = op && 'responseRange' in op ? op.responseRange.kvs[0] : undefined;
        if (kv) myRev = kv.createRevision;
      }
      const ownerOp = res.responses[1];
      const ownerKv = ownerOp && 'responseRange' in ownerOp ? ownerOp.responseRange.kvs[0] : undefined;
      let hdrRev = res.revision;
      if (ownerKv && ownerKv.createRevision !== myRev) {
        try {
          hdrRev = await waitDeletes(b, pfx, myRev - 1, c.auth, c.signal);
        } catch (err) {
          // The client gave up (or the watch failed): release our place in the queue.
          await b.deleteRange({ key: myKey }, c.auth).catch(() => undefined);
          throw err;
        }
        const still = await b.range({ key: myKey }, c.auth);
        if (still.kvs.length === 0) throw new V3Error('sessionExpired');
      }
      return { header: hdr(hdrRev), key: myKey };
    },
    unlock: async (w, c) => {
      const res = await b.deleteRange({ key: bytes(w.key) }, c.auth);
      return { header: hdr(res.revision) };
    },
  };
}
