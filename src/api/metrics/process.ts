// What etcd reads about its own process at scrape time that prom-client's default metrics do not
// give: os_fd_used / os_fd_limit (etcd's pkg/runtime FDUsage/FDLimit) and
// process_virtual_memory_max_bytes (Go's process collector). Linux /proc only; elsewhere 0.
import fs from 'node:fs';

/** Open file descriptors of this process (etcd counts the entries of /proc/self/fd). */
export function fdUsed(): number {
  try {
    return fs.readdirSync('/proc/self/fd').length;
  } catch {
    return 0;
  }
}

interface Limits {
  readonly openFilesSoft: number;
  readonly addressSpaceSoft: number;
}

/** Go prints an unlimited RLIMIT_AS as the largest uint64, as a float. */
const UNLIMITED = 18446744073709551615;

function readLimits(): Limits | undefined {
  let text: string;
  try {
    text = fs.readFileSync('/proc/self/limits', 'utf8');
  } catch {
    return undefined;
  }
  const soft = (label: string): number => {
    const line = text.split('\n').find((l) => l.startsWith(label));
    if (line === undefined) return 0;
    const v = line.slice(label.length).trim().split(/\s+/)[0] ?? '';
    return v === 'unlimited' ? UNLIMITED : Number(v) || 0;
  };
  return { openFilesSoft: soft('Max open files'), addressSpaceSoft: soft('Max address space') };
}

export function fdLimit(): number {
  return readLimits()?.openFilesSoft ?? 0;
}

export function virtualMemoryMaxBytes(): number {
  return readLimits()?.addressSpaceSoft ?? 0;
}
