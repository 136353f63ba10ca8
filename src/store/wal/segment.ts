// Segment file names: `<seq:16hex>-<firstIndex:16hex>.wal`, as etcd names them. seq numbers the
// segments 0, 1, 2, ... with no gaps; firstIndex is the raft index the writer expected next when
// the segment was started (entries in it may be lower after a leader truncated a suffix).
import { readdir } from 'node:fs/promises';

const SEGMENT_NAME_RE = /^([0-9a-f]{16})-([0-9a-f]{16})\.wal$/;
export const SEGMENT_TMP_SUFFIX = '.tmp';

export interface SegmentName {
  readonly name: string;
  readonly seq: number;
  readonly firstIndex: number;
}

export function segmentFileName(seq: number, firstIndex: number): string {
  if (!Number.isSafeInteger(seq) || seq < 0 || !Number.isSafeInteger(firstIndex) || firstIndex < 0) {
    throw new RangeError(`wal: bad segment name parts seq=${seq} firstIndex=${firstIndex}`);
  }
  return `${seq.toString(16).padStart(16, '0')}-${firstIndex.toString(16).padStart(16, '0')}.wal`;
}

export function parseSegmentName(name: string): SegmentName | undefined {
  const m = SEGMENT_NAME_RE.exec(name);
  if (!m) return undefined;
  const seq = Number.parseInt(m[1]!, 16);
  const firstIndex = Number.parseInt(m[2]!, 16);
  if (!Number.isSafeInteger(seq) || !Number.isSafeInteger(firstIndex)) return undefined;
  return { name, seq, firstIndex };
}

/** Segment files in dir, ordered by seq. Missing dir = no segments. */
export async function listSegments(dir: string): Promise<SegmentName[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: SegmentName[] = [];
  for (const n of names) {
    const s = parseSegmentName(n);
    if (s) out.push(s);
  }
  out.sort((a, b) => a.seq - b.seq);
  return out;
}

/** Leftover `*.wal.tmp` files: segments whose creation did not finish (never renamed). */
export async function listTmpSegments(dir: string): Promise<string[]> {
  const names = await readdir(dir);
  return names.filter((n) => n.endsWith(`.wal${SEGMENT_TMP_SUFFIX}`));
}
