// Request checks etcd makes in the API layer before proposing (etcdserver/api/v3rpc/key.go).
// One implementation serves every door: the store's (src/store/mvcc/validate.ts), which follows
// etcd's checkTxnRequest and checkIntervals exactly.
import type * as kv from '../../store/mvcc/types.js';
import { checkDeleteRequest, checkPutRequest, checkRangeRequest, checkTxnRequest } from '../../store/mvcc/validate.js';

export function checkRange(r: kv.RangeRequest): void {
  checkRangeRequest(r);
}

export function checkPut(r: kv.PutRequest): void {
  checkPutRequest(r);
}

export function checkDelete(r: kv.DeleteRangeRequest): void {
  checkDeleteRequest(r);
}

export function checkTxn(r: kv.TxnRequest, maxTxnOps: number): void {
  checkTxnRequest(r, maxTxnOps);
}
