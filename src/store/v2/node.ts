// One node of the v2 tree (etcd v2store node.go): a file (value) or a directory (children).
// Children are kept in insertion order: etcd lists in Go map order (random); insertion order is
// one of those orders and keeps every member's listing and snapshot identical.

import { splitPath } from './path.js';

/** expirationMs === 0 means permanent (Go's zero time.Time). */
export const PERMANENT_MS = 0;

export class V2Node {
  readonly path: string;
  createdIndex: number;
  modifiedIndex: number;
  value: string;
  expirationMs: number;
  parent: V2Node | undefined;
  /** Defined exactly for directories. */
  readonly children: Map<string, V2Node> | undefined;
  /** Position in the TTL heap, -1 when not in it (owned by TtlHeap). */
  heapIndex = -1;

  private constructor(path: string, createdIndex: number, parent: V2Node | undefined, expirationMs: number, value: string, dir: boolean) {
    this.path = path;
    this.createdIndex = createdIndex;
    this.modifiedIndex = createdIndex;
    this.parent = parent;
    this.expirationMs = expirationMs;
    this.value = value;
    this.children = dir ? new Map() : undefined;
  }

  static file(path: string, value: string, createdIndex: number, parent: V2Node | undefined, expirationMs: number): V2Node {
    return new V2Node(path, createdIndex, parent, expirationMs, value, false);
  }

  static dir(path: string, createdIndex: number, parent: V2Node | undefined, expirationMs: number): V2Node {
    return new V2Node(path, createdIndex, parent, expirationMs, '', true);
  }

  isDir(): boolean {
    return this.children !== undefined;
  }

  isPermanent(): boolean {
    return this.expirationMs === PERMANENT_MS;
  }

  name(): string {
    return splitPath(this.path).name;
  }

  /** A node whose own name starts with `_`: left out of listings, readable directly. */
  isHidden(): boolean {
    return this.name().startsWith('_');
  }

  /** etcd's node.Compare. */
  compare(prevValue: string, prevIndex: number): 'match' | 'value' | 'index' | 'both' {
    const indexMatch = prevIndex === 0 || this.modifiedIndex === prevIndex;
    const valueMatch = prevValue === '' || this.value === prevValue;
    if (indexMatch && valueMatch) return 'match';
    if (indexMatch) return 'value';
    if (valueMatch) return 'index';
    return 'both';
  }
}
