// Directory fsync: on Linux a rename, create or unlink is durable only once the directory itself
// is fsynced. Used after creating a WAL segment, releasing segments and saving a snapshot file.
import { writevSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';

export async function fsyncDir(path: string): Promise<void> {
  const fh = await open(path, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** What is left of `bufs` after a write of `bytesWritten` bytes at `position` (the kernel may
 *  write less than asked); a write that made no progress throws. */
function unwritten(bufs: readonly Uint8Array[], bytesWritten: number, position: number, what: string): Uint8Array[] {
  if (!(bytesWritten > 0)) throw new Error(`${what}: write made no progress at position ${position}`);
  let skip = bytesWritten;
  let i = 0;
  while (i < bufs.length && skip >= bufs[i]!.length) {
    skip -= bufs[i]!.length;
    i++;
  }
  return i < bufs.length ? [bufs[i]!.subarray(skip), ...bufs.slice(i + 1)] : [];
}

/** Writes every buffer at `position` with pwritev, looping only if the kernel wrote less than
 *  asked. Returns the number of write calls. Shared by the WAL and the snapshotter. */
export async function writeAllAt(fh: FileHandle, bufs: readonly Uint8Array[], position: number, what: string): Promise<number> {
  let calls = 0;
  let rest = bufs.filter((b) => b.length > 0);
  while (rest.length > 0) {
    const { bytesWritten } = await fh.writev(rest, position);
    calls++;
    rest = unwritten(rest, bytesWritten, position, what);
    position += bytesWritten;
  }
  return calls;
}

/** writeAllAt on the calling thread: for a small group this costs less than a round trip
 *  through libuv's thread pool (the write only reaches the page cache; the fdatasync that
 *  follows stays asynchronous). Returns the number of write calls. */
export function writeAllAtSync(fd: number, bufs: readonly Uint8Array[], position: number, what: string): number {
  let calls = 0;
  let rest = bufs.filter((b) => b.length > 0);
  while (rest.length > 0) {
    const bytesWritten = writevSync(fd, rest as NodeJS.ArrayBufferView[], position);
    calls++;
    rest = unwritten(rest, bytesWritten, position, what);
    position += bytesWritten;
  }
  return calls;
}
