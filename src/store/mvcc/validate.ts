// Request checks the API layer runs BEFORE proposing (etcd 3.4's api/v3rpc/key.go): they depend
// only on the request, never on the store's state. Each throws V3Error.
import { V3Error } from '../v3error.js';
import { keyString } from './kvstore.js';
import type { DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest } from './types.js';

/** etcd's --max-txn-ops default. */
export const MAX_TXN_OPS_DEFAULT = 128;

export function checkRangeRequest(r: RangeRequest): void {
  if (r.key.length === 0) throw new V3Error('emptyKey');
}

export function checkPutRequest(r: PutRequest): void {
  if (r.key.length === 0) throw new V3Error('emptyKey');
  if (r.ignoreValue === true && r.value !== undefined && r.value.length !== 0) throw new V3Error('valueProvided');
  if (r.ignoreLease === true && r.lease !== undefined && r.lease !== 0n) throw new V3Error('leaseProvided');
}

export function checkDeleteRequest(r: DeleteRangeRequest): void {
  if (r.key.length === 0) throw new V3Error('emptyKey');
}

/** etcd's checkTxnRequest then checkIntervals on both branches. */
export function checkTxnRequest(r: TxnRequest, maxTxnOps: number = MAX_TXN_OPS_DEFAULT): void {
  checkTxnShape(r, maxTxnOps);
  // After the shape check, as etcd does, "to avoid quadratic blowup".
  checkIntervals(r.success ?? []);
  checkIntervals(r.failure ?? []);
}

function checkTxnShape(r: TxnRequest, maxTxnOps: number): void {
  const cmps = r.compare ?? [];
  const success = r.success ?? [];
  const failure = r.failure ?? [];
  const opc = Math.max(cmps.length, success.length, failure.length);
  if (opc > maxTxnOps) throw new V3Error('tooManyOps');
  for (const c of cmps) if (c.key.length === 0) throw new V3Error('emptyKey');
  // etcd passes the remaining budget (maxTxnOps - opc) down to nested txns.
  for (const op of success) checkRequestOp(op, maxTxnOps - opc);
  for (const op of failure) checkRequestOp(op, maxTxnOps - opc);
}

function checkRequestOp(op: RequestOp, maxTxnOps: number): void {
  if ('requestRange' in op && op.requestRange) return checkRangeRequest(op.requestRange);
  if ('requestPut' in op && op.requestPut) return checkPutRequest(op.requestPut);
  if ('requestDeleteRange' in op && op.requestDeleteRange) return checkDeleteRequest(op.requestDeleteRange);
  if ('requestTxn' in op && op.requestTxn) return checkTxnShape(op.requestTxn, maxTxnOps);
  throw new V3Error('keyNotFound'); // etcd: an empty RequestOp
}

/** A delete's key set: a point (end undefined) or [lo, end). etcd 3.4 builds the interval with
 *  the range end verbatim, so a from-key delete (end "\0") is an inverted interval that
 *  intersects nothing; we keep that (etcd accepts such txns). */
interface Del {
  lo: string;
  end: string | undefined;
}

function intersects(dels: Del[], k: string): boolean {
  for (const d of dels) {
    if (d.end === undefined ? k === d.lo : d.lo <= k && k < d.end) return true;
  }
  return false;
}

/** etcd's checkIntervals: within one branch (and the branches of nested txns under it) no key is
 *  put twice or both put and deleted; a key put in both the then and else branch of one nested
 *  txn is fine. Overlapping deletes are allowed. */
function checkIntervals(reqs: RequestOp[]): { puts: Set<string>; dels: Del[] } {
  const dels: Del[] = [];
  for (const op of reqs) {
    if (!('requestDeleteRange' in op)) continue;
    const d = op.requestDeleteRange;
    dels.push({ lo: keyString(d.key), end: d.rangeEnd !== undefined && d.rangeEnd.length !== 0 ? keyString(d.rangeEnd) : undefined });
  }
  const puts = new Set<string>();
  for (const op of reqs) {
    if (!('requestTxn' in op)) continue;
    const then = checkIntervals(op.requestTxn.success ?? []);
    const els = checkIntervals(op.requestTxn.failure ?? []);
    for (const k of then.puts) {
      if (puts.has(k) || intersects(dels, k)) throw new V3Error('duplicateKey');
      puts.add(k);
    }
    for (const k of els.puts) {
      if (puts.has(k) && !then.puts.has(k)) throw new V3Error('duplicateKey');
      if (intersects(dels, k)) throw new V3Error('duplicateKey');
      puts.add(k);
    }
    dels.push(...then.dels, ...els.dels);
  }
  for (const op of reqs) {
    if (!('requestPut' in op)) continue;
    const k = keyString(op.requestPut.key);
    if (puts.has(k) || intersects(dels, k)) throw new V3Error('duplicateKey');
    puts.add(k);
  }
  return { puts, dels };
}
