// Key-range permission checks (etcd's auth/range_perm_cache.go with adt's interval tree): a user's
// permissions from all its roles are merged into READ and WRITE interval sets; a single key must
// fall in one interval, a range [key, rangeEnd) must be covered by their union.
//
// Intervals are half-open [begin, end) over bytes; end null means "to the end of the key space"
// (range_end "\0"). A permission with no range_end is the single key: [key, key + "\0").
import type { Bytes } from '../mvcc/types.js';

export type PermType = 'READ' | 'WRITE' | 'READWRITE';

export interface Permission {
  permType: PermType;
  key: Bytes;
  /** Empty or absent = the single key; "\0" = every key >= key. */
  rangeEnd: Bytes;
}

interface Interval {
  begin: Buffer;
  /** null = unbounded. */
  end: Buffer | null;
}

export interface MergedPerms {
  read: Interval[];
  write: Interval[];
}

function buf(b: Bytes): Buffer {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

function isOpenEnd(rangeEnd: Bytes): boolean {
  return rangeEnd.length === 1 && rangeEnd[0] === 0;
}

function pointEnd(key: Bytes): Buffer {
  return Buffer.concat([buf(key), Buffer.from([0])]);
}

function permInterval(p: Permission): Interval {
  if (p.rangeEnd.length === 0) return { begin: buf(p.key), end: pointEnd(p.key) };
  return { begin: buf(p.key), end: isOpenEnd(p.rangeEnd) ? null : buf(p.rangeEnd) };
}

function byBegin(a: Interval, b: Interval): number {
  return Buffer.compare(a.begin, b.begin);
}

/** Merges the permissions of a user's roles (READWRITE counts for both). */
export function mergePerms(perms: Iterable<Permission>): MergedPerms {
  const read: Interval[] = [];
  const write: Interval[] = [];
  for (const p of perms) {
    const ivl = permInterval(p);
    if (p.permType === 'READ' || p.permType === 'READWRITE') read.push(ivl);
    if (p.permType === 'WRITE' || p.permType === 'READWRITE') write.push(ivl);
  }
  read.sort(byBegin);
  write.sort(byBegin);
  return { read, write };
}

/** begin <= key < end */
function containsKey(ivl: Interval, key: Buffer): boolean {
  return Buffer.compare(ivl.begin, key) <= 0 && (ivl.end === null || Buffer.compare(key, ivl.end) < 0);
}

function overlaps(ivl: Interval, q: Interval): boolean {
  const beforeEnd = q.end === null || Buffer.compare(ivl.begin, q.end) < 0;
  const afterBegin = ivl.end === null || Buffer.compare(ivl.end, q.begin) > 0;
  return beforeEnd && afterBegin;
}

/** adt.IntervalTree.Contains: the intervals overlapping q, in begin order, must be contiguous and
 *  span all of q. `sorted` is sorted by begin. */
function covers(sorted: Interval[], q: Interval): boolean {
  let minBegin: Buffer | undefined;
  let maxEnd: Buffer | null = null;
  for (const ivl of sorted) {
    if (!overlaps(ivl, q)) continue;
    if (minBegin === undefined) {
      minBegin = ivl.begin;
      maxEnd = ivl.end;
      continue;
    }
    if (maxEnd !== null && Buffer.compare(maxEnd, ivl.begin) < 0) return false; // a gap
    if (maxEnd !== null && (ivl.end === null || Buffer.compare(ivl.end, maxEnd) > 0)) maxEnd = ivl.end;
  }
  if (minBegin === undefined || Buffer.compare(minBegin, q.begin) > 0) return false;
  if (maxEnd === null) return true;
  return q.end !== null && Buffer.compare(maxEnd, q.end) >= 0;
}

/** Whether the merged set allows `kind` on key (rangeEnd empty) or on [key, rangeEnd). */
export function permits(merged: MergedPerms, kind: 'READ' | 'WRITE', key: Bytes, rangeEnd: Bytes | undefined): boolean {
  const set = kind === 'READ' ? merged.read : merged.write;
  if (rangeEnd === undefined || rangeEnd.length === 0) {
    const k = buf(key);
    return set.some((ivl) => containsKey(ivl, k));
  }
  return covers(set, { begin: buf(key), end: isOpenEnd(rangeEnd) ? null : buf(rangeEnd) });
}
