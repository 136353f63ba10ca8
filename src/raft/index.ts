// The Raft core's public surface.
export * from './types.js';
export * from './api.js';
export type * from './message.js';
export { RawNode } from './raw-node.js';
export { MemoryStorage, RaftSnapshotOutOfDateError } from './storage.js';
export { encodeConfChange, decodeConfChange } from './confchange.js';
export * as raftLimits from './limits.js';
