// The v3 MVCC store: see kvstore.ts (the store), watch.ts (the watch hub), validate.ts (request
// checks before proposing), types.ts (the request/response shapes).
export * from './types.js';
export { Mvcc, KEY_BUCKET, keyString, rangeEndString, type LeaseHooks, type MvccOptions, type WriteTxn, type Change } from './kvstore.js';
export * from './watch.js';
export * from './validate.js';
