// The write-ahead log: see wal.ts for the durability contract, record.ts for the format.
export { Wal, walMaxWalsDefault, walPendingBytesMaxDefault, walSegmentBytesMaxDefault, walWriteBuffersPerGroupMax } from './wal.js';
export type { WalLogger, WalOpenOptions, WalOptions, WalReplay, WalStats } from './wal.js';
export { WalClosedError, WalCorruptError, WalExistsError, WalFailedError } from './errors.js';
export type { SnapshotMarker } from './record.js';
export { walRecordBodyBytesMax } from './record.js';
export { fsyncDir } from './fsync.js';
export { crc32c } from './crc32c.js';
