// The write-ahead log: raft's entries, hard state and snapshot markers, appended to checksummed
// segment files, with group commit (one write and one fdatasync for every save that arrived
// while the previous group was on its way to disk).
//
// Durability contract: a save(..., mustSync = true) promise resolves only after an fdatasync
// that covers its records; records reach the file in call order; a record is never
// acknowledged after a failed write or fdatasync (the Wal turns failed and refuses everything).
//
// Segment files are not preallocated (Node has no fallocate): appends grow the file, so each
// fdatasync also commits the new size. Replay still treats trailing zeros as a torn tail.
import { mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Entry, HardState } from '../../raft/types.js';
import { WalClosedError, WalCorruptError, WalExistsError, WalFailedError } from './errors.js';
import { fsyncDir, writeAllAt, writeAllAtSync } from './fsync.js';
import { walDatasync, walWriteCheck } from './fault.js';
import {
  ENTRY_BODY_FIXED_BYTES,
  RECORD_FRAME_BYTES,
  RecordKind,
  SEGMENT_FORMAT_VERSION,
  SEGMENT_MAGIC,
  SNAPSHOT_RECORD_BYTES,
  type SnapshotMarker,
  checkFrame,
  encodeSegmentPreamble,
  entryRecordBytes,
  findValidFrameAfter,
  hardStateRecordBytes,
  putEntry,
  putHardState,
  putSnapshotMarker,
  readEntry,
  readEntryIndex,
  readHardState,
  readHeader,
  readSnapshotMarker,
  walRecordBodyBytesMax,
} from './record.js';
import { SEGMENT_TMP_SUFFIX, type SegmentName, listSegments, listTmpSegments, segmentFileName } from './segment.js';

/** A segment is closed and a new one started before a group would take it past this size. A
 *  single group larger than this still goes into one (fresh) segment. */
export const walSegmentBytesMaxDefault = 64 * 1024 * 1024;
/** Bytes accepted by save() and not yet written (and synced, if asked). A save that would go
 *  past it waits, in call order, until earlier groups complete; one save larger than the limit
 *  is admitted alone once the queue is empty. Callers see this as a slower promise. */
export const walPendingBytesMaxDefault = 32 * 1024 * 1024;
/** Saves per group: Linux's IOV_MAX, so a group is one pwritev. More waiting saves go in the
 *  next group, issued as soon as this one completes. */
export const walWriteBuffersPerGroupMax = 1024;
/** Groups up to this size are written on the event loop's thread (page cache only, tens of
 *  microseconds) instead of through the thread pool; larger ones (catch-up bursts) go async so
 *  a big write never stalls the loop. The fdatasync is always asynchronous. */
export const walSyncWriteBytesMax = 256 * 1024;
/** etcd's --max-wals default: segment files kept by releaseTo (0 = keep all). */
export const walMaxWalsDefault = 5;

export interface WalLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface WalOptions {
  readonly segmentBytesMax?: number;
  readonly pendingBytesMax?: number;
  /** Segment files releaseTo keeps at least (etcd's --max-wals). 0 = never delete. */
  readonly maxWals?: number;
  readonly logger?: WalLogger;
}

export interface WalOpenOptions extends WalOptions {
  /** The snapshot the member restored from; entries at or below its index are not returned.
   *  Default {index: 0, term: 0} (no snapshot). */
  readonly fromSnapshot?: SnapshotMarker;
}

export interface WalReplay {
  readonly wal: Wal;
  readonly metadata: Uint8Array;
  /** The last hard state saved; {term: 0, vote: '', commit: 0} if none ever was. */
  readonly hardState: HardState;
  /** Entries after fromSnapshot.index, contiguous, later writes of an index replacing earlier
   *  ones (and everything after them). */
  readonly entries: Entry[];
  /** Index of the last entry, or fromSnapshot.index if there are none after it. */
  readonly lastIndex: number;
  /** Every snapshot marker found, in log order (to check a snapshot file against the WAL). */
  readonly snapshotMarkers: SnapshotMarker[];
}

export interface WalStats {
  /** fdatasync calls on segment files (group commits plus the sync before a segment roll). */
  syncCount: number;
  /** pwritev calls for groups (more than groups only on a partial write). */
  writeCount: number;
  groupCount: number;
  bytesWritten: number;
  segmentRolls: number;
}

interface SegmentState {
  readonly name: string;
  readonly seq: number;
  readonly firstIndex: number;
  /** Highest entry index written into the segment, -1 if none: releaseTo deletes it only when
   *  this is at or below the released index. */
  maxEntryIndex: number;
}

interface PendingSave {
  readonly buf: Buffer | undefined;
  readonly bytes: number;
  readonly mustSync: boolean;
  readonly hardState: HardState | undefined;
  readonly marker: SnapshotMarker | undefined;
  /** Index of the last entry in this save, -1 if it carries none. */
  readonly lastEntryIndex: number;
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
}

const NOOP_LOGGER: WalLogger = { info() {}, warn() {}, error() {} };
const EMPTY_HARD_STATE: HardState = { term: 0, vote: '', commit: 0 };

export class Wal {
  readonly stats: WalStats = { syncCount: 0, writeCount: 0, groupCount: 0, bytesWritten: 0, segmentRolls: 0 };

  private readonly segmentBytesMax: number;
  private readonly pendingBytesMax: number;
  private readonly maxWals: number;
  private readonly logger: WalLogger;

  private queued: PendingSave[] = [];
  private readonly waiting: PendingSave[] = [];
  private pendingBytes = 0;
  private flushing = false;
  private unsynced = false;
  private failure: WalFailedError | undefined;
  private closing = false;
  private closePromise: Promise<void> | undefined;
  private drainWaiters: Array<() => void> = [];

  private constructor(
    private readonly dir: string,
    private readonly metadata: Uint8Array,
    private fh: FileHandle,
    /** Oldest first; the last one is the one being appended to. */
    private readonly segments: SegmentState[],
    /** Append position (= size) of the current segment, and the size of its preamble. */
    private segmentBytes: number,
    private segmentPreambleBytes: number,
    private lastHardState: HardState | undefined,
    private lastMarker: SnapshotMarker | undefined,
    private lastEntryIndex: number,
    opts: WalOptions,
  ) {
    this.segmentBytesMax = opts.segmentBytesMax ?? walSegmentBytesMaxDefault;
    this.pendingBytesMax = opts.pendingBytesMax ?? walPendingBytesMaxDefault;
    this.maxWals = opts.maxWals ?? walMaxWalsDefault;
    this.logger = opts.logger ?? NOOP_LOGGER;
    if (!(this.segmentBytesMax > 0 && this.pendingBytesMax > 0 && this.maxWals >= 0)) {
      throw new RangeError('wal: segmentBytesMax and pendingBytesMax must be > 0, maxWals >= 0');
    }
  }

  get syncCount(): number {
    return this.stats.syncCount;
  }

  /** Segment file names, oldest first. */
  segmentNames(): string[] {
    return this.segments.map((s) => s.name);
  }

  /** True if dir holds at least one segment file. */
  static async exists(dir: string): Promise<boolean> {
    return (await listSegments(dir)).length > 0;
  }

  /** Creates dir (if needed) and its first segment. Refuses a dir that already has segments. */
  static async create(dir: string, metadata: Uint8Array, opts: WalOptions = {}): Promise<Wal> {
    await mkdir(dir, { recursive: true });
    if ((await listSegments(dir)).length > 0) throw new WalExistsError(dir);
    await removeTmpSegments(dir, opts.logger ?? NOOP_LOGGER);
    const preamble = encodeSegmentPreamble(0, 0, metadata, undefined, undefined);
    const name = segmentFileName(0, 0);
    const fh = await createSegmentFile(dir, name, preamble);
    const meta = new Uint8Array(metadata);
    return new Wal(dir, meta, fh, [{ name, seq: 0, firstIndex: 0, maxEntryIndex: -1 }], preamble.length,
      preamble.length, undefined, undefined, 0, opts);
  }

  /**
   * Replays every segment, verifying every record, and opens the last segment for appending.
   * A damaged tail of the last segment (nothing valid after the damage) is truncated away and
   * logged; any other damage throws WalCorruptError.
   */
  static async open(dir: string, opts: WalOpenOptions = {}): Promise<WalReplay> {
    const logger = opts.logger ?? NOOP_LOGGER;
    const snap = opts.fromSnapshot ?? { index: 0, term: 0 };
    const names = await listSegments(dir);
    if (names.length === 0) throw new WalCorruptError(dir, 0, 'no wal segments (use Wal.create for a new member)');
    checkSequence(names);
    await removeTmpSegments(dir, logger);

    const r = new Replayer(snap);
    const segments: SegmentState[] = [];
    let appendAt = 0;
    let preambleBytes = 0;
    for (let i = 0; i < names.length; i++) {
      const seg = names[i]!;
      const isLast = i === names.length - 1;
      const path = join(dir, seg.name);
      const buf = await readFile(path);
      const res = r.replaySegment(seg, buf, isLast);
      segments.push({ name: seg.name, seq: seg.seq, firstIndex: seg.firstIndex, maxEntryIndex: res.maxEntryIndex });
      if (isLast) {
        appendAt = res.goodEnd;
        preambleBytes = res.preambleEnd;
        if (res.goodEnd < buf.length) {
          const fh = await open(path, 'r+');
          try {
            await fh.truncate(res.goodEnd);
            await fh.datasync();
          } finally {
            await fh.close();
          }
          logger.warn({ file: seg.name, offset: res.goodEnd, droppedBytes: buf.length - res.goodEnd, reason: res.damage },
            'wal: truncated a torn tail of the last segment');
        }
      }
    }
    if (r.metadata === undefined) throw new WalCorruptError(names[0]!.name, 0, 'no metadata record');
    const entries = r.entries;
    const lastIndex = entries.length > 0 ? entries[entries.length - 1]!.index : snap.index;
    const last = names[names.length - 1]!;
    const fh = await open(join(dir, last.name), 'r+');
    const wal = new Wal(dir, r.metadata, fh, segments, appendAt, preambleBytes, r.hardState, r.lastMarker,
      Math.max(lastIndex, r.lastMarker?.index ?? 0), opts);
    logger.info({ dir, segments: segments.length, firstSegment: names[0]!.name, lastIndex, entries: entries.length,
      fromSnapshot: snap.index }, 'wal: opened');
    return {
      wal,
      metadata: r.metadata,
      hardState: r.hardState ?? EMPTY_HARD_STATE,
      entries,
      lastIndex,
      snapshotMarkers: r.markers,
    };
  }

  /**
   * The snapshot markers in the WAL, in log order, without opening it for writing or repairing
   * anything: lets the member pick the newest snapshot file the WAL agrees with (etcd 3.5's
   * ValidSnapshotEntries) before calling open(). Throws WalCorruptError like open().
   */
  static async snapshotMarkers(dir: string): Promise<SnapshotMarker[]> {
    const names = await listSegments(dir);
    checkSequence(names);
    const r = new Replayer({ index: Number.MAX_SAFE_INTEGER, term: 0 });
    for (let i = 0; i < names.length; i++) {
      r.replaySegment(names[i]!, await readFile(join(dir, names[i]!.name)), i === names.length - 1);
    }
    return r.markers;
  }

  /**
   * Appends entries (contiguous, ascending) and then the hard state, if given. Resolves once
   * written, and if mustSync once fdatasynced. Entries at an index already in the log replace it
   * and everything after it on replay (raft truncating a conflicting suffix).
   */
  save(hardState: HardState | undefined, entries: readonly Entry[], mustSync: boolean): Promise<void> {
    const refused = this.refusal();
    if (refused) return Promise.reject(refused);
    let bytes = hardState ? hardStateRecordBytes(hardState) : 0;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      if (e.data.length > walRecordBodyBytesMax - ENTRY_BODY_FIXED_BYTES) {
        return Promise.reject(new RangeError(`wal: entry ${e.index} of ${e.data.length} bytes exceeds the record limit`));
      }
      if (!(e.index >= 1 && (i === 0 || e.index === entries[i - 1]!.index + 1))) {
        return Promise.reject(new RangeError(`wal: entries must be contiguous from index >= 1 (got ${e.index} at ${i})`));
      }
      bytes += entryRecordBytes(e);
    }
    let buf: Buffer | undefined;
    if (bytes > 0) {
      buf = Buffer.allocUnsafe(bytes);
      let off = 0;
      // Entries before the hard state: a torn prefix then never holds a commit index that
      // points past the entries it kept.
      for (const e of entries) off = putEntry(buf, off, e);
      if (hardState) off = putHardState(buf, off, hardState);
      if (off !== bytes) throw new Error(`wal: encoded ${off} bytes, expected ${bytes}`);
    }
    const lastEntryIndex = entries.length > 0 ? entries[entries.length - 1]!.index : -1;
    return this.enqueue(buf, bytes, mustSync, hardState, undefined, lastEntryIndex);
  }

  /** Records that a snapshot at (index, term) was saved; always synced. */
  saveSnapshot(marker: SnapshotMarker): Promise<void> {
    const refused = this.refusal();
    if (refused) return Promise.reject(refused);
    const buf = Buffer.allocUnsafe(SNAPSHOT_RECORD_BYTES);
    putSnapshotMarker(buf, 0, marker);
    return this.enqueue(buf, buf.length, true, undefined, marker, -1);
  }

  /**
   * Deletes the oldest segments whose entries are all at or below `index` (covered by a
   * snapshot), never the segment being appended to, and never below maxWals files (0 = keep
   * all). Returns the names deleted.
   */
  async releaseTo(index: number): Promise<string[]> {
    const refused = this.refusal();
    if (refused) throw refused;
    const keepAtLeast = this.maxWals === 0 ? Number.POSITIVE_INFINITY : this.maxWals;
    let n = 0;
    while (
      n < this.segments.length - 1 &&
      this.segments.length - n > keepAtLeast &&
      this.segments[n]!.maxEntryIndex <= index
    ) n++;
    if (n === 0) return [];
    // Removed from the list before the unlinks so a concurrent roll sees a consistent list.
    const victims = this.segments.splice(0, n);
    // Oldest first, so a crash part way leaves a contiguous sequence.
    for (const v of victims) await unlink(join(this.dir, v.name));
    await fsyncDir(this.dir);
    this.logger.info({ index, released: victims.map((v) => v.name) }, 'wal: released segments');
    return victims.map((v) => v.name);
  }

  /** Waits for every accepted save, syncs anything unsynced, closes the file. Idempotent. */
  close(): Promise<void> {
    this.closePromise ??= this.doClose();
    return this.closePromise;
  }

  private async doClose(): Promise<void> {
    this.closing = true;
    await this.drained();
    try {
      if (!this.failure && this.unsynced) {
        await this.fh.datasync();
        this.stats.syncCount++;
        this.unsynced = false;
      }
    } finally {
      await this.fh.close();
    }
  }

  private refusal(): Error | undefined {
    if (this.failure) return this.failure;
    if (this.closing) return new WalClosedError();
    return undefined;
  }

  private enqueue(
    buf: Buffer | undefined,
    bytes: number,
    mustSync: boolean,
    hardState: HardState | undefined,
    marker: SnapshotMarker | undefined,
    lastEntryIndex: number,
  ): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const item: PendingSave = { buf, bytes, mustSync, hardState, marker, lastEntryIndex, resolve, reject };
      // Anyone already waiting goes first: admission is in call order.
      if (this.waiting.length === 0 && this.admissible(bytes)) this.admit(item);
      else this.waiting.push(item);
    });
  }

  private admissible(bytes: number): boolean {
    return this.pendingBytes === 0 || this.pendingBytes + bytes <= this.pendingBytesMax;
  }

  private admit(item: PendingSave): void {
    this.queued.push(item);
    this.pendingBytes += item.bytes;
    if (!this.flushing) {
      this.flushing = true;
      // A microtask, so every save issued in the same synchronous run joins the first group.
      queueMicrotask(() => void this.flushLoop());
    }
  }

  private async flushLoop(): Promise<void> {
    try {
      while (this.queued.length > 0 && !this.failure) {
        const take = Math.min(this.queued.length, walWriteBuffersPerGroupMax);
        const group = take === this.queued.length ? this.queued : this.queued.slice(0, take);
        this.queued = take === this.queued.length ? [] : this.queued.slice(take);
        await this.writeGroup(group);
        if (this.failure) return;
        this.pendingBytes -= group.reduce((s, it) => s + it.bytes, 0);
        if (this.pendingBytes < 0) throw new Error('wal: pendingBytes went negative');
        for (const it of group) it.resolve();
        while (this.waiting.length > 0 && this.admissible(this.waiting[0]!.bytes)) this.admit(this.waiting.shift()!);
      }
    } finally {
      this.flushing = false;
      if (this.queued.length === 0 && this.waiting.length === 0) {
        const ws = this.drainWaiters;
        this.drainWaiters = [];
        for (const w of ws) w();
      }
    }
  }

  private async writeGroup(group: PendingSave[]): Promise<void> {
    let groupBytes = 0;
    let sync = false;
    const bufs: Buffer[] = [];
    for (const it of group) {
      groupBytes += it.bytes;
      if (it.mustSync) sync = true;
      if (it.buf !== undefined) bufs.push(it.buf);
    }
    try {
      if (groupBytes > 0 && this.segmentBytes > this.segmentPreambleBytes &&
          this.segmentBytes + groupBytes > this.segmentBytesMax) {
        await this.roll();
      }
      if (bufs.length > 0) {
        walWriteCheck(groupBytes);
        this.stats.writeCount += groupBytes <= walSyncWriteBytesMax
          ? writeAllAtSync(this.fh.fd, bufs, this.segmentBytes, 'wal')
          : await writeAllAt(this.fh, bufs, this.segmentBytes, 'wal');
        this.segmentBytes += groupBytes;
        this.unsynced = true;
        this.stats.bytesWritten += groupBytes;
      }
      const current = this.segments[this.segments.length - 1]!;
      for (const it of group) {
        if (it.hardState) this.lastHardState = it.hardState;
        if (it.marker) {
          this.lastMarker = it.marker;
          this.lastEntryIndex = Math.max(this.lastEntryIndex, it.marker.index);
        }
        if (it.lastEntryIndex >= 0) {
          this.lastEntryIndex = it.lastEntryIndex;
          current.maxEntryIndex = Math.max(current.maxEntryIndex, it.lastEntryIndex);
        }
      }
      if (sync && this.unsynced) {
        await walDatasync(this.fh);
        this.stats.syncCount++;
        this.unsynced = false;
      }
      this.stats.groupCount++;
    } catch (err) {
      this.fail(err, group);
    }
  }

  /** Syncs and closes the current segment, then starts the next one. The old segment is synced
   *  first so that no non-last segment can ever have a torn tail. */
  private async roll(): Promise<void> {
    if (this.unsynced) {
      await walDatasync(this.fh);
      this.stats.syncCount++;
      this.unsynced = false;
    }
    await this.fh.close();
    const prev = this.segments[this.segments.length - 1]!;
    const seq = prev.seq + 1;
    const firstIndex = this.lastEntryIndex + 1;
    const name = segmentFileName(seq, firstIndex);
    const preamble = encodeSegmentPreamble(seq, firstIndex, this.metadata, this.lastHardState, this.lastMarker);
    this.fh = await createSegmentFile(this.dir, name, preamble);
    this.segments.push({ name, seq, firstIndex, maxEntryIndex: -1 });
    this.segmentBytes = preamble.length;
    this.segmentPreambleBytes = preamble.length;
    this.stats.segmentRolls++;
    this.logger.info({ file: name, previous: prev.name }, 'wal: started segment');
  }

  private fail(err: unknown, group: PendingSave[]): void {
    this.failure = new WalFailedError(err);
    this.logger.error({ err, dir: this.dir }, 'wal: write failed; refusing further saves');
    const all = [...group, ...this.queued, ...this.waiting];
    this.queued = [];
    this.waiting.length = 0;
    this.pendingBytes = 0;
    for (const it of all) it.reject(this.failure);
  }

  private drained(): Promise<void> {
    if (!this.flushing && this.queued.length === 0 && this.waiting.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }
}

/** Replay state across segments (see Wal.open). */
class Replayer {
  metadata: Uint8Array | undefined;
  hardState: HardState | undefined;
  lastMarker: SnapshotMarker | undefined;
  readonly markers: SnapshotMarker[] = [];
  readonly entries: Entry[] = [];

  constructor(private readonly snap: SnapshotMarker) {}

  replaySegment(seg: SegmentName, buf: Buffer, isLast: boolean):
    { goodEnd: number; preambleEnd: number; maxEntryIndex: number; damage?: string } {
    let off = 0;
    let maxEntryIndex = -1;
    let preambleEnd = 0;
    let sawHeader = false;
    while (off < buf.length) {
      const r = checkFrame(buf, off, buf.length);
      if (typeof r !== 'number') {
        if (!isLast) throw new WalCorruptError(seg.name, off, `${r} (in a segment that is not the last)`);
        const next = findValidFrameAfter(buf, off, buf.length);
        if (next >= 0) throw new WalCorruptError(seg.name, off, `${r}, followed by a valid record at offset ${next}`);
        if (next === -2) throw new WalCorruptError(seg.name, off, `${r}; too costly to prove nothing valid follows`);
        // The preamble is synced before the segment gets its name, so it cannot be torn.
        if (!sawHeader) throw new WalCorruptError(seg.name, off, `${r} in the segment header`);
        return { goodEnd: off, preambleEnd, maxEntryIndex, damage: r };
      }
      const body = off + RECORD_FRAME_BYTES;
      const kind = buf[body];
      if (!sawHeader) {
        const h = kind === RecordKind.header ? readHeader(buf, body, r) : undefined;
        if (!h) throw new WalCorruptError(seg.name, off, 'first record is not a segment header');
        if (h.magic !== SEGMENT_MAGIC || h.version !== SEGMENT_FORMAT_VERSION) {
          throw new WalCorruptError(seg.name, off, `not a tsetcd wal segment (magic ${h.magic}, version ${h.version})`);
        }
        if (h.seq !== seg.seq || h.firstIndex !== seg.firstIndex) {
          throw new WalCorruptError(seg.name, off, `header says seq ${h.seq} index ${h.firstIndex}, file name disagrees`);
        }
        sawHeader = true;
      } else {
        switch (kind) {
          case RecordKind.header:
            throw new WalCorruptError(seg.name, off, 'segment header in the middle of a segment');
          case RecordKind.metadata: {
            const m = buf.subarray(body + 1, body + r);
            if (this.metadata === undefined) this.metadata = new Uint8Array(m);
            else if (Buffer.compare(m, this.metadata) !== 0) {
              throw new WalCorruptError(seg.name, off, 'metadata differs from the earlier segments');
            }
            preambleEnd = body + r;
            break;
          }
          case RecordKind.hardState: {
            const hs = readHardState(buf, body, r);
            if (!hs) throw new WalCorruptError(seg.name, off, 'malformed hardState record');
            this.hardState = hs;
            break;
          }
          case RecordKind.entry:
            maxEntryIndex = Math.max(maxEntryIndex, this.replayEntry(seg, buf, off, body, r));
            break;
          case RecordKind.snapshot: {
            const m = readSnapshotMarker(buf, body, r);
            if (!m) throw new WalCorruptError(seg.name, off, 'malformed snapshot record');
            this.lastMarker = m;
            this.markers.push(m);
            break;
          }
          default:
            throw new WalCorruptError(seg.name, off, `unknown record kind ${kind}`);
        }
      }
      off = body + r;
    }
    if (!sawHeader) throw new WalCorruptError(seg.name, 0, 'empty segment file (no header)');
    return { goodEnd: off, preambleEnd, maxEntryIndex };
  }

  /** Returns the entry's index. */
  private replayEntry(seg: SegmentName, buf: Buffer, off: number, body: number, length: number): number {
    if (length < ENTRY_BODY_FIXED_BYTES) throw new WalCorruptError(seg.name, off, 'malformed entry record');
    const index = readEntryIndex(buf, body);
    if (index <= this.snap.index) return index;
    const keep = index - this.snap.index - 1;
    if (keep > this.entries.length) {
      throw new WalCorruptError(seg.name, off,
        `entry ${index} leaves a gap: the log after snapshot ${this.snap.index} only reaches ${this.snap.index + this.entries.length}`);
    }
    const e = readEntry(buf, body, length);
    if (!e) throw new WalCorruptError(seg.name, off, 'malformed entry record');
    this.entries.length = keep;
    this.entries.push(e);
    return index;
  }
}

/** Segments must be numbered without gaps: a missing one may have held entries still needed. */
function checkSequence(names: readonly SegmentName[]): void {
  for (let i = 1; i < names.length; i++) {
    if (names[i]!.seq !== names[0]!.seq + i) {
      throw new WalCorruptError(names[i]!.name, 0,
        `segment seq ${names[0]!.seq + i} is missing (found ${names[i - 1]!.name} then ${names[i]!.name})`);
    }
  }
}


/** Writes a segment's preamble under a temporary name, syncs it, renames it into place and
 *  syncs the directory: a segment file that has its name always has a whole header. */
async function createSegmentFile(dir: string, name: string, preamble: Buffer): Promise<FileHandle> {
  const tmp = join(dir, name + SEGMENT_TMP_SUFFIX);
  const fh = await open(tmp, 'w');
  try {
    await writeAllAt(fh, [preamble], 0, 'wal');
    await fh.datasync();
    await rename(tmp, join(dir, name));
    await fsyncDir(dir);
  } catch (err) {
    await fh.close();
    throw err;
  }
  return fh;
}

async function removeTmpSegments(dir: string, logger: WalLogger): Promise<void> {
  for (const n of await listTmpSegments(dir)) {
    await unlink(join(dir, n));
    logger.warn({ file: n }, 'wal: removed an unfinished segment file');
  }
}
