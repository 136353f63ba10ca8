// The v2 keys API as it travels through the raft log, and what the v2 store answers.
// Mirrors etcd's etcdserverpb.Request (the v2 request) and v2store's Event/NodeExtern, so that
// JSON.stringify of a V2Event is byte-compatible with etcd's body (field order matters).

/** A v2 request. Writes go through the log exactly as built by the member that received them
 *  (expiration is absolute, decided by that member), so every member applies the same thing. */
export interface V2Request {
  /** 'GET' and 'QGET' (quorum get) are reads; 'SYNC' deletes keys expired at `time`. */
  readonly method: 'GET' | 'QGET' | 'PUT' | 'POST' | 'DELETE' | 'SYNC';
  readonly path: string;
  readonly val?: string;
  readonly dir?: boolean;
  readonly prevValue?: string;
  readonly prevIndex?: number;
  /** undefined = not given. */
  readonly prevExist?: boolean;
  /** Absolute expiry, Unix ms; 0 or undefined = no TTL. */
  readonly expirationMs?: number;
  readonly recursive?: boolean;
  readonly sorted?: boolean;
  readonly refresh?: boolean;
  /** For SYNC: the leader's clock, Unix ms. */
  readonly timeMs?: number;
}

/** A node as etcd prints it (NodeExtern). Keys in this order. */
export interface V2NodeJson {
  key: string;
  value?: string;
  dir?: true;
  /** RFC 3339 with nanoseconds, UTC, as Go's time.Time marshals. */
  expiration?: string;
  ttl?: number;
  nodes?: V2NodeJson[];
  modifiedIndex: number;
  createdIndex: number;
}

export type V2Action = 'get' | 'set' | 'create' | 'update' | 'delete' | 'compareAndSwap' | 'compareAndDelete' | 'expire';

export interface V2EventJson {
  action: V2Action;
  node?: V2NodeJson;
  prevNode?: V2NodeJson;
}

/** What the v2 store answers for a read or a write (implemented by the store's event class). */
export interface V2Event {
  readonly action: V2Action;
  readonly node?: V2NodeJson;
  readonly prevNode?: V2NodeJson;
  /** The store index after this event (X-Etcd-Index for writes); for GET the current index. */
  readonly etcdIndex: number;
  /** true when the request created the node (the HTTP layer answers 201). */
  readonly created: boolean;
  /** The JSON body etcd sends, field order exactly etcd's ({"action","node","prevNode"}).
   *  The root node prints without key/modifiedIndex/createdIndex, as etcd's ({"dir":true,...}). */
  toJSON(): V2EventJson;
}

export interface V2Watcher {
  /** X-Etcd-Index to send in the 200 headers: the store index when the watch started. */
  readonly startIndex: number;
  /** Next matching event; resolves null once the watcher was removed (hub overflow, store
   *  recovery: the caller maps that to 400) and its queued events are drained. */
  next(): Promise<V2Event | null>;
  remove(): void;
}
