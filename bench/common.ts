// Pieces both benchmarks share: command-line flag reading and the load generator's result.
import { readFileSync } from 'node:fs';

/** Calls `on` for every flag; `value()` consumes the flag's argument (error if missing). */
export function eachFlag(argv: readonly string[], on: (flag: string, value: () => string) => void): void {
  for (let i = 0; i < argv.length; i++) {
    const f = argv[i]!;
    const v = argv[i + 1];
    on(f, () => {
      if (v === undefined) throw new Error(`${f} needs a value`);
      i++;
      return v;
    });
  }
}

/** What a load generator process reports for one phase. */
export interface LoadResultBase {
  requests: number;
  errors: number;
  firstError?: string;
  wallMs: number;
  cpuUserMs: number;
  cpuSystemMs: number;
  latencyMsP50: number;
  latencyMsP99: number;
}

/** Runs a benchmark's main and exits with 0, or 1 and the error's message. */
export function runMain(name: string, main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (e: Error) => {
      process.stderr.write(`${name}: ${e.message}\n`);
      process.exit(1);
    },
  );
}

/** CPU time (user + system, ms) a process has used so far, from /proc/<pid>/stat; NaN if gone. */
export function cpuMsOf(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / CLOCK_TICKS_PER_S;
  } catch {
    return NaN;
  }
}

/** Linux's USER_HZ: /proc reports CPU times in these ticks (100 on every mainstream kernel). */
const CLOCK_TICKS_PER_S = 100;

/** The members' CPU time used while `phase` runs, in ms (summed over all members). */
export async function membersCpuMs<T>(pids: readonly number[], phase: () => Promise<T>): Promise<{ result: T; cpuMs: number }> {
  const before = pids.map(cpuMsOf);
  const result = await phase();
  const cpuMs = pids.map(cpuMsOf).reduce((s, after, i) => s + after - before[i]!, 0);
  return { result, cpuMs };
}
