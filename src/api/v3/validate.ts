// Request checks etcd makes in the API layer before proposing (etcdserver/api/v3rpc/key.go).
import type * as kv from '../../store/mvcc/types.js';
import { V3Error } from '../../store/v3error.js';

export function checkRange(r: kv.RangeRequest): void {
  if (r.key.length === 0) throw new V3Error('emptyKey');
}

export function checkPut(r: kv.PutRequest): void {
  if (r.key.length === 0) throw new V3Error('emptyKey');
  if (r.ignoreValue && r.value && r.value.length > 0) throw new V3Error('valueProvided');
  if (r.ignoreLease && r.lease !== undefined && r.lease !== 0n) throw new V3Error('leaseProvided');
}

export function checkDelete(r: kv.DeleteRangeRequest): void {
  if (r.key.length === 0) throw new V3Error('emptyKey');
}

export function checkTxn(r: kv.TxnRequest, maxTxnOps: number): void {
  const cmp = r.compare ?? [];
  const succ = r.success ?? [];
  const fail = r.failure ?? [];
  if (cmp.length > maxTxnOps || succ.length > maxTxnOps || fail.length > maxTxnOps) throw new V3Error('tooManyOps');
  for (const c of cmp) if (c.key.length === 0) throw new V3Error('emptyKey');
  for (const op of succ) checkOp(op, maxTxnOps);
  for (const op of fail) checkOp(op, maxTxnOps);
  checkNoDuplicatePuts(succ);
  checkNoDuplicatePuts(fail);
}

function checkOp(op: kv.RequestOp, maxTxnOps: number): void {
  if ('requestRange' in op) checkRange(op.requestRange);
  else if ('requestPut' in op) checkPut(op.requestPut);
  else if ('requestDeleteRange' in op) checkDelete(op.requestDeleteRange);
  else checkTxn(op.requestTxn, maxTxnOps);
}

function keyOf(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');
}

/** Puts of one branch (nested txns included) must not hit the same key, nor a key a delete covers. */
function checkNoDuplicatePuts(ops: readonly kv.RequestOp[]): void {
  const puts = new Set<string>();
  const dels: Array<[string, string | undefined]> = [];
  collect(ops, puts, dels, true);
  for (const [from, to] of dels) {
    for (const k of puts) {
      if (to === undefined ? k === from : k >= from && (to === '\u0000' || k < to)) throw new V3Error('duplicateKey');
    }
  }
}

function collect(ops: readonly kv.RequestOp[], puts: Set<string>, dels: Array<[string, string | undefined]>, top: boolean): void {
  for (const op of ops) {
    if ('requestPut' in op) {
      const k = keyOf(op.requestPut.key);
      if (puts.has(k)) throw new V3Error('duplicateKey');
      puts.add(k);
    } else if ('requestDeleteRange' in op) {
      const d = op.requestDeleteRange;
      dels.push([keyOf(d.key), d.rangeEnd && d.rangeEnd.length > 0 ? keyOf(d.rangeEnd) : undefined]);
    } else if ('requestTxn' in op) {
      // etcd checks nested branches separately, then their union against this level.
      const t = op.requestTxn;
      const sp = new Set<string>(); const sd: Array<[string, string | undefined]> = [];
      collect(t.success ?? [], sp, sd, false);
      const fp = new Set<string>(); const fd: Array<[string, string | undefined]> = [];
      collect(t.failure ?? [], fp, fd, false);
      for (const k of new Set([...sp, ...fp])) {
        if (puts.has(k)) throw new V3Error('duplicateKey');
        puts.add(k);
      }
      dels.push(...sd, ...fd);
    }
  }
  void top;
}
