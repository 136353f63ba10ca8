export { Snapshotter, SnapshotCorruptError, maxSnapshotsDefault, readSnapshotFile, snapshotDataBytesMax, snapshotFileName } from './snapshotter.js';
export type { SnapLogger, SnapshotterOptions } from './snapshotter.js';
