// Min-heap of nodes with a TTL (etcd v2store ttl_key_heap.go), ordered by expiration and then by
// path so that SYNC expires nodes in the same order on every member whatever the insertion order.

import assert from 'node:assert/strict';
import type { V2Node } from './node.js';

function less(a: V2Node, b: V2Node): boolean {
  if (a.expirationMs !== b.expirationMs) return a.expirationMs < b.expirationMs;
  return a.path < b.path;
}

export class TtlHeap {
  private readonly items: V2Node[] = [];

  size(): number {
    return this.items.length;
  }

  top(): V2Node | undefined {
    return this.items[0];
  }

  push(n: V2Node): void {
    assert.ok(n.heapIndex === -1 && !n.isPermanent(), 'ttl heap: push of a node already in it or permanent');
    n.heapIndex = this.items.length;
    this.items.push(n);
    this.up(n.heapIndex);
  }

  pop(): V2Node | undefined {
    const top = this.items[0];
    if (top !== undefined) this.remove(top);
    return top;
  }

  /** Removes n if present (a no-op otherwise, as etcd's remove). */
  remove(n: V2Node): void {
    const i = n.heapIndex;
    if (i < 0) return;
    assert.equal(this.items[i], n, 'ttl heap: node index out of sync');
    const last = this.items.pop()!;
    n.heapIndex = -1;
    if (i < this.items.length) {
      this.items[i] = last;
      last.heapIndex = i;
      this.fix(i);
    }
  }

  /** Re-sorts n after its expiration changed. */
  update(n: V2Node): void {
    if (n.heapIndex < 0) this.push(n);
    else this.fix(n.heapIndex);
  }

  private fix(i: number): void {
    if (!this.down(i)) this.up(i);
  }

  private up(i: number): void {
    const a = this.items;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!less(a[i]!, a[p]!)) break;
      this.swap(i, p);
      i = p;
    }
  }

  private down(i0: number): boolean {
    const a = this.items;
    let i = i0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= a.length) break;
      let m = l;
      if (l + 1 < a.length && less(a[l + 1]!, a[l]!)) m = l + 1;
      if (!less(a[m]!, a[i]!)) break;
      this.swap(i, m);
      i = m;
    }
    return i > i0;
  }

  private swap(i: number, j: number): void {
    const a = this.items;
    const t = a[i]!;
    a[i] = a[j]!;
    a[j] = t;
    a[i]!.heapIndex = i;
    a[j]!.heapIndex = j;
  }
}
