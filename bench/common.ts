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
