// Typed WAL errors. WalCorruptError means the member must refuse to start: serving from a log
// with a hole or a silently damaged record would hand clients wrong data.

export class WalCorruptError extends Error {
  override readonly name = 'WalCorruptError';
  constructor(
    readonly file: string,
    readonly offset: number,
    readonly what: string,
  ) {
    super(`wal: corrupt ${file} at offset ${offset}: ${what}`);
  }
}

/** A write or fdatasync failed. The WAL is unusable from then on (after a failed fsync the page
 *  cache state is unknown, so retrying could acknowledge data that is not on disk). */
export class WalFailedError extends Error {
  override readonly name = 'WalFailedError';
  constructor(cause: unknown) {
    super(`wal: write failed, the log is no longer usable: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

export class WalClosedError extends Error {
  override readonly name = 'WalClosedError';
  constructor() {
    super('wal: closed');
  }
}

/** Wal.create on a directory that already holds segments. */
export class WalExistsError extends Error {
  override readonly name = 'WalExistsError';
  constructor(readonly dir: string) {
    super(`wal: ${dir} already contains wal segments`);
  }
}
