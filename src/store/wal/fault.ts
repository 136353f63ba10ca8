// Test-only fault hooks for the robustness suite (test/robustness/disk.test.ts), off unless
// the environment asks. They let a test prove that a failed fdatasync or a full disk stops the
// member from acknowledging writes, instead of pretending they are durable.
//   TSETCD_FAULT_FSYNC=fail-after:N   the WAL's (N+1)th and later fdatasync calls fail with EIO
//   TSETCD_FAULT_WRITE=enospc-after:B  WAL writes fail with ENOSPC once B bytes were written
import type { FileHandle } from 'node:fs/promises';

function limitOf(name: string, prefix: string): number {
  const v = process.env[name];
  if (v === undefined || !v.startsWith(prefix)) return Number.POSITIVE_INFINITY;
  const n = Number(v.slice(prefix.length));
  return Number.isFinite(n) && n >= 0 ? n : Number.POSITIVE_INFINITY;
}

const syncsMax = limitOf('TSETCD_FAULT_FSYNC', 'fail-after:');
const writeBytesMax = limitOf('TSETCD_FAULT_WRITE', 'enospc-after:');
let syncs = 0;
let writeBytes = 0;

function errnoError(code: string, syscall: string): NodeJS.ErrnoException {
  const e: NodeJS.ErrnoException = new Error(`${code}: injected by ${syscall === 'fdatasync' ? 'TSETCD_FAULT_FSYNC' : 'TSETCD_FAULT_WRITE'}, ${syscall}`);
  e.code = code;
  e.syscall = syscall;
  return e;
}

/** fh.datasync(), or an injected EIO. */
export async function walDatasync(fh: FileHandle): Promise<void> {
  if (++syncs > syncsMax) throw errnoError('EIO', 'fdatasync');
  await fh.datasync();
}

/** Called before a WAL write of `bytes`; throws an injected ENOSPC past the limit. */
export function walWriteCheck(bytes: number): void {
  if (writeBytes + bytes > writeBytesMax) throw errnoError('ENOSPC', 'write');
  writeBytes += bytes;
}
