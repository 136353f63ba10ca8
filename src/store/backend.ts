// The durable backend of the v3 state (MVCC, leases, auth) on `level`: named buckets of binary
// keys and values, written in atomic batches together with the consistent index — the raft
// index of the last entry whose effects the batch contains. On restart, the member replays only
// entries after the consistent index into the v3 stores (etcd's backend + cindex).
//
// Writes are staged by the appliers (synchronously, in apply order, into a level chained batch
// whose native WriteBatch copies each one at once) and committed as
// level batches (the member writes one every 100 ms or 10,000 staged ops, as etcd's backend
// does; see BACKEND_BATCH_INTERVAL_MS in member.ts). The WAL still holds every entry
// after the latest snapshot, so a batch lost in a crash is re-applied from the log: the backend
// is not fsynced per batch, only before a snapshot lets the WAL go (commitDurable).
import { Level } from 'level';
import { stat, readdir } from 'node:fs/promises';
import { join } from 'node:path';

type Db = Level<Buffer, Buffer>;

/** Rows read per step of scanBucket. */
export const BACKEND_SCAN_BATCH_ROWS = 1024;
/** A staged batch larger than this is committed at once even mid-round, to bound memory. */
export const BACKEND_BATCH_OPS_MAX = 100_000;

const SEP = 0x00;
const META_BUCKET = 'meta';
/** The level keys of the consistent index and its term, in the meta bucket. */
const CONSISTENT_INDEX_ROW = bucketKey(META_BUCKET, Buffer.from('consistent_index'));
const CONSISTENT_TERM_ROW = bucketKey(META_BUCKET, Buffer.from('consistent_term'));

function bucketKey(bucket: string, key: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(bucket.length + 1 + key.length);
  b.write(bucket, 0, 'latin1');
  b[bucket.length] = SEP;
  b.set(key, bucket.length + 1);
  return b;
}

/** The level key range holding exactly one bucket's keys: [bucket SEP, bucket SEP+1). */
function bucketRange(bucket: string): { gte: Buffer; lt: Buffer } {
  const gte = bucketKey(bucket, Buffer.alloc(0));
  const lt = Buffer.from(gte);
  lt[lt.length - 1] = SEP + 1;
  return { gte, lt };
}

function u64(n: number): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}

/** level's chained batch: each put or del is copied into LevelDB's native WriteBatch at once. */
type Batch = ReturnType<Db['batch']>;

/** Called as a batch starts; what it returns runs once that batch is written (ok) or has
 *  failed (not ok). */
export type BatchListener = () => ((ok: boolean) => void) | undefined;

export class Backend {
  /** The writes staged since the last commit, already in native memory. Staged writes stay up
   *  to BACKEND_BATCH_INTERVAL_MS (member.ts): held as JavaScript objects for that long, three
   *  per write (and level's clone of each while the batch is written), they outlived the young
   *  generation and were a fifth of what a loaded leader's full GCs collected. */
  private batch: Batch | undefined;
  private staged = 0;
  private cindex = 0;
  private cterm = 0;
  private committing: Promise<void> = Promise.resolve();
  /** Bytes written through this backend since open (a cheap size estimate between stats). */
  bytesWritten = 0;
  private batchListener: BatchListener | undefined;

  private constructor(
    private readonly db: Db,
    readonly dir: string,
  ) {}

  static async open(dir: string): Promise<Backend> {
    const db = new Level<Buffer, Buffer>(dir, { keyEncoding: 'buffer', valueEncoding: 'buffer' });
    await db.open();
    const be = new Backend(db, dir);
    const ci = await db.get(CONSISTENT_INDEX_ROW);
    const ct = await db.get(CONSISTENT_TERM_ROW);
    be.cindex = ci === undefined ? 0 : Number(ci.readBigUInt64BE(0));
    be.cterm = ct === undefined ? 0 : Number(ct.readBigUInt64BE(0));
    return be;
  }

  /** Raft index of the last entry whose effects are in the backend (committed or staged). */
  consistentIndex(): number {
    return this.cindex;
  }
  consistentTerm(): number {
    return this.cterm;
  }

  setConsistentIndex(index: number, term: number): void {
    if (index < this.cindex) throw new Error(`backend: consistent index going backwards (${this.cindex} -> ${index})`);
    this.cindex = index;
    this.cterm = term;
  }

  put(bucket: string, key: Uint8Array, value: Uint8Array): void {
    (this.batch ??= this.db.batch()).put(bucketKey(bucket, key), Buffer.from(value.buffer, value.byteOffset, value.byteLength));
    this.staged++;
    this.bytesWritten += key.length + value.length;
  }

  /** A committed value, read on the calling thread (level's getSync): staged writes are not
   *  seen. For the rare reads of history whose values were evicted from memory. */
  getSync(bucket: string, key: Uint8Array): Buffer | undefined {
    return this.db.getSync(bucketKey(bucket, key));
  }

  /** One listener, told about every batch: it learns what is in level once the batch is. */
  onBatch(listener: BatchListener | undefined): void {
    this.batchListener = listener;
  }

  del(bucket: string, key: Uint8Array): void {
    (this.batch ??= this.db.batch()).del(bucketKey(bucket, key));
    this.staged++;
  }

  stagedOps(): number {
    return this.staged;
  }

  /** Writes everything staged, with the consistent index, as one atomic batch. At most one batch
   *  is in flight: commits asked for meanwhile are coalesced into the next batch, which then
   *  carries everything staged until it starts (batching at the slow resource). The promise
   *  resolves once a batch containing everything staged before the call is written; with
   *  `durable`, once that batch is also synced. level's synced write flushes its current log
   *  file, and with it every batch before in that file; batches in a log file level already left
   *  for a new one are durable only once that memtable is written to a table (level syncs
   *  tables). A process killed meanwhile loses nothing (the page cache has them); a power cut
   *  in that window could. */
  commit(durable = false): Promise<void> {
    if (this.writing !== undefined) {
      if (durable) this.nextDurable = true;
      this.nextBatch ??= this.writing.then(
        () => {
          this.nextBatch = undefined;
          const sync = this.nextDurable;
          this.nextDurable = false;
          return this.writeStaged(sync);
        },
        (err: unknown) => {
          this.nextBatch = undefined;
          this.nextDurable = false;
          throw err;
        },
      );
      return this.nextBatch;
    }
    return this.writeStaged(durable);
  }

  /** Commits everything staged and makes it, with the consistent index, durable. The member
   *  calls this before it saves a snapshot: entries up to the snapshot are no longer replayed
   *  from the WAL, so their effects must be on disk, and the persisted consistent index at or
   *  past the snapshot. The synced batch is the one that carries what was staged, in the same
   *  queue as every other batch: appliers may go on staging meanwhile, and the consistent index
   *  a batch records is always that of the writes in it and before it (a separate index write
   *  could record one whose writes were still staged, or land behind a newer batch). */
  commitDurable(): Promise<void> {
    return this.commit(true);
  }

  private writing: Promise<void> | undefined;
  private nextBatch: Promise<void> | undefined;
  /** A durable commit was asked for while a batch was in flight: the next batch is synced. */
  private nextDurable = false;

  private writeStaged(sync: boolean): Promise<void> {
    let written: ((ok: boolean) => void) | undefined;
    let write: Promise<void>;
    try {
      const batch = this.batch ?? this.db.batch();
      this.batch = undefined;
      this.staged = 0;
      batch.put(CONSISTENT_INDEX_ROW, u64(this.cindex));
      batch.put(CONSISTENT_TERM_ROW, u64(this.cterm));
      written = this.batchListener?.();
      write = batch.write({ sync });
    } catch (err) {
      // A store already closed throws at once; callers hear of it as of any failed write.
      write = Promise.reject(err);
    }
    const p = write.finally(() => {
      if (this.writing === p) this.writing = undefined;
    });
    if (written !== undefined) void p.then(() => written(true), () => written(false));
    this.writing = p;
    this.committing = p.catch(() => undefined);
    return p;
  }

  /** Every key/value of a bucket, in key order (used once at start to rebuild memory state). */
  async loadBucket(bucket: string): Promise<Array<[Buffer, Buffer]>> {
    const out: Array<[Buffer, Buffer]> = [];
    await this.scanBucket(bucket, (k, v) => out.push([k, v]));
    return out;
  }

  /** Visits every key/value of a bucket in key order, a batch at a time, without holding the
   *  whole bucket in memory (the MVCC history at start). */
  async scanBucket(bucket: string, fn: (key: Buffer, value: Buffer) => void): Promise<void> {
    const range = bucketRange(bucket);
    const prefix = range.gte.length;
    const it = this.db.iterator(range);
    try {
      for (;;) {
        const rows = await it.nextv(BACKEND_SCAN_BATCH_ROWS);
        if (rows.length === 0) break;
        for (const [k, v] of rows) fn(k.subarray(prefix), v);
      }
    } finally {
      await it.close();
    }
  }

  /** Removes every key of a bucket (staged). Used when a snapshot replaces the state. */
  async clearBucket(bucket: string): Promise<void> {
    await this.commit();
    await this.db.clear(bucketRange(bucket));
  }

  /** Size of the store on disk (etcd's db size). */
  async sizeBytes(): Promise<number> {
    let total = 0;
    for (const f of await readdir(this.dir)) {
      try {
        total += (await stat(join(this.dir, f))).size;
      } catch {
        // a file compacted away meanwhile
      }
    }
    return total;
  }

  /** Defragmentation: level's compaction of the whole key range. */
  async compactRange(): Promise<void> {
    await this.committing;
    const db = this.db as unknown as { compactRange?: (a: Buffer, b: Buffer) => Promise<void> };
    if (typeof db.compactRange === 'function') await db.compactRange(Buffer.from([0]), Buffer.from([0xff]));
  }

  async close(): Promise<void> {
    await this.committing;
    await this.db.close();
  }
}
