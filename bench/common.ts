// Pieces both benchmarks share: command-line flag reading and the load generator's result.

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
