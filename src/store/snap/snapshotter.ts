// Snapshot files: `<term:16hex>-<index:16hex>.snap`, one per saved snapshot, as etcd names them.
//
//   file := magic "TSSN":u32le  version:u32le  crc32c(meta ++ data):u32le  metaLength:u32le
//           dataLength:u64le  meta (msgpack of SnapshotMetadata)  data
//
// Saved atomically (temporary file, fsync, rename, directory fsync), so a file with the final
// name is complete unless the disk damaged it afterwards; loadNewest verifies the checksum and
// sets a damaged file aside as `.broken`, falling back to the next older one (what etcd does).
import { mkdir, open, readFile, readdir, rename, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { pack, unpack } from 'msgpackr';
import type { Snapshot, SnapshotMetadata } from '../../raft/types.js';
import { crc32c } from '../wal/crc32c.js';
import { fsyncDir, writeAllAt } from '../wal/fsync.js';

/** Largest snapshot data saved or loaded. The whole snapshot is held in one buffer on save and
 *  on load; save throws RangeError above it, load treats a larger file as broken. */
export const snapshotDataBytesMax = 1024 * 1024 * 1024;
/** etcd's --max-snapshots default: files purge() keeps (0 = keep all). */
export const maxSnapshotsDefault = 5;
const SNAP_MAGIC = 0x4e535354; // "TSSN"
const SNAP_FORMAT_VERSION = 1;
const SNAP_HEADER_BYTES = 24;
const SNAP_META_BYTES_MAX = 16 * 1024 * 1024;
const SNAP_NAME_RE = /^([0-9a-f]{16})-([0-9a-f]{16})\.snap$/;
const TWO_POW_32 = 4294967296;

export interface SnapLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface SnapshotterOptions {
  readonly logger?: SnapLogger;
}

export class SnapshotCorruptError extends Error {
  override readonly name = 'SnapshotCorruptError';
  constructor(readonly file: string, readonly what: string) {
    super(`snap: ${file} is damaged: ${what}`);
  }
}

const NOOP_LOGGER: SnapLogger = { info() {}, warn() {} };

export function snapshotFileName(term: number, index: number): string {
  return `${term.toString(16).padStart(16, '0')}-${index.toString(16).padStart(16, '0')}.snap`;
}

export class Snapshotter {
  private readonly logger: SnapLogger;

  constructor(readonly dir: string, opts: SnapshotterOptions = {}) {
    this.logger = opts.logger ?? NOOP_LOGGER;
  }

  /** Writes the snapshot durably; resolves once file and directory entry are synced. Returns
   *  the file name. Overwrites a file of the same term and index (same content by raft). */
  async save(snapshot: Snapshot): Promise<string> {
    const { metadata, data } = snapshot;
    if (!(Number.isSafeInteger(metadata.index) && metadata.index > 0 && Number.isSafeInteger(metadata.term) && metadata.term > 0)) {
      throw new RangeError(`snap: refusing to save an empty snapshot (index ${metadata.index}, term ${metadata.term})`);
    }
    if (data.length > snapshotDataBytesMax) {
      throw new RangeError(`snap: snapshot data of ${data.length} bytes exceeds ${snapshotDataBytesMax}`);
    }
    // Copied: msgpackr may hand back a view of a buffer it reuses, and writes below await.
    const meta = Buffer.from(pack({
      index: metadata.index,
      term: metadata.term,
      confState: { voters: [...metadata.confState.voters], learners: [...metadata.confState.learners] },
    }));
    if (meta.length > SNAP_META_BYTES_MAX) throw new RangeError(`snap: metadata of ${meta.length} bytes too large`);
    const header = Buffer.alloc(SNAP_HEADER_BYTES);
    header.writeUInt32LE(SNAP_MAGIC, 0);
    header.writeUInt32LE(SNAP_FORMAT_VERSION, 4);
    header.writeUInt32LE(crc32c(data, 0, data.length, crc32c(meta)), 8);
    header.writeUInt32LE(meta.length, 12);
    header.writeUInt32LE(data.length >>> 0, 16);
    header.writeUInt32LE(Math.floor(data.length / TWO_POW_32), 20);

    await mkdir(this.dir, { recursive: true });
    const name = snapshotFileName(metadata.term, metadata.index);
    const tmp = join(this.dir, `${name}.tmp`);
    const fh = await open(tmp, 'w');
    try {
      await writeAllAt(fh, [header, meta, data], 0, 'snap');
      await fh.sync();
    } catch (err) {
      await fh.close();
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
    await fh.close();
    await rename(tmp, join(this.dir, name));
    await fsyncDir(this.dir);
    this.logger.info({ file: name, index: metadata.index, term: metadata.term, bytes: data.length }, 'snap: saved');
    return name;
  }

  /**
   * The newest snapshot that verifies and that `accept` (if given) takes: e.g. only those the
   * WAL has a marker for. Damaged files met on the way are renamed to `<name>.broken` and
   * logged; files `accept` declines are left alone. undefined if there is none.
   */
  async loadNewest(accept?: (metadata: SnapshotMetadata) => boolean): Promise<Snapshot | undefined> {
    for (const name of await this.names()) {
      const path = join(this.dir, name);
      let snap: Snapshot;
      try {
        snap = await readSnapshotFile(path, name);
      } catch (err) {
        if (!(err instanceof SnapshotCorruptError)) throw err;
        await rename(path, `${path}.broken`);
        this.logger.warn({ file: name, reason: err.what }, 'snap: damaged snapshot renamed to .broken; trying an older one');
        continue;
      }
      if (accept && !accept(snap.metadata)) continue;
      return snap;
    }
    return undefined;
  }

  /** Keeps the newest `maxSnapshots` snapshot files (0 = keep all), deletes the rest and any
   *  unfinished `.tmp` files. Returns the names deleted. */
  async purge(maxSnapshots: number = maxSnapshotsDefault): Promise<string[]> {
    if (!(Number.isSafeInteger(maxSnapshots) && maxSnapshots >= 0)) throw new RangeError(`snap: bad maxSnapshots ${maxSnapshots}`);
    const names = await this.names();
    const victims = maxSnapshots === 0 ? [] : names.slice(maxSnapshots);
    let all: string[];
    try {
      all = await readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    victims.push(...all.filter((n) => n.endsWith('.snap.tmp')));
    for (const v of victims) await unlink(join(this.dir, v));
    if (victims.length > 0) {
      await fsyncDir(this.dir);
      this.logger.info({ deleted: victims }, 'snap: purged');
    }
    return victims;
  }

  /** Snapshot file names, newest first (names sort by term, then index). */
  async names(): Promise<string[]> {
    let all: string[];
    try {
      all = await readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    return all.filter((n) => SNAP_NAME_RE.test(n)).sort().reverse();
  }
}

/** Reads and verifies one snapshot file; SnapshotCorruptError on any damage. */
export async function readSnapshotFile(path: string, name: string): Promise<Snapshot> {
  const size = (await stat(path)).size;
  if (size > snapshotDataBytesMax + SNAP_HEADER_BYTES + SNAP_META_BYTES_MAX) {
    throw new SnapshotCorruptError(name, `file of ${size} bytes is over the limit`);
  }
  const buf = await readFile(path);
  if (buf.length < SNAP_HEADER_BYTES) throw new SnapshotCorruptError(name, `only ${buf.length} bytes`);
  if (buf.readUInt32LE(0) !== SNAP_MAGIC || buf.readUInt32LE(4) !== SNAP_FORMAT_VERSION) {
    throw new SnapshotCorruptError(name, 'bad magic or version');
  }
  const metaLength = buf.readUInt32LE(12);
  const dataLength = buf.readUInt32LE(16) + buf.readUInt32LE(20) * TWO_POW_32;
  if (SNAP_HEADER_BYTES + metaLength + dataLength !== buf.length) {
    throw new SnapshotCorruptError(name, `lengths (${metaLength} + ${dataLength}) disagree with file size ${buf.length}`);
  }
  if (crc32c(buf, SNAP_HEADER_BYTES) !== buf.readUInt32LE(8)) throw new SnapshotCorruptError(name, 'checksum mismatch');
  let metadata: SnapshotMetadata;
  try {
    metadata = toMetadata(unpack(buf.subarray(SNAP_HEADER_BYTES, SNAP_HEADER_BYTES + metaLength)));
  } catch (err) {
    throw new SnapshotCorruptError(name, `metadata: ${(err as Error).message}`);
  }
  if (snapshotFileName(metadata.term, metadata.index) !== name) {
    throw new SnapshotCorruptError(name, `metadata says term ${metadata.term} index ${metadata.index}`);
  }
  // A view into the file buffer: it holds exactly the snapshot, nothing to free early.
  const data = new Uint8Array(buf.buffer, buf.byteOffset + SNAP_HEADER_BYTES + metaLength, dataLength);
  return { metadata, data };
}

function toMetadata(v: unknown): SnapshotMetadata {
  const o = v as { index?: unknown; term?: unknown; confState?: { voters?: unknown; learners?: unknown } };
  const isIds = (a: unknown): a is string[] => Array.isArray(a) && a.every((x) => typeof x === 'string');
  if (typeof o !== 'object' || o === null || typeof o.index !== 'number' || typeof o.term !== 'number' ||
      !o.confState || !isIds(o.confState.voters) || !isIds(o.confState.learners)) {
    throw new Error('not a snapshot metadata object');
  }
  return { index: o.index, term: o.term, confState: { voters: o.confState.voters, learners: o.confState.learners } };
}

