// The long form: `node dist/test/robustness/run.js [--seed N] [--runs N] [--seconds S] [--size 3|5]
// [--nemeses kill9,pause,...] [--base-port P]`. Runs seeds N, N+1, ... and prints a summary per
// run; exits 1 if any run found an anomaly. `--runs 0` runs until interrupted.
import { runScenario, formatSummary } from './runner.js';
import { NEMESES, type NemesisKind } from './nemesis.js';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : dflt;
}

const seed0 = Number(arg('seed', String(Date.now() % 100000)));
const runs = Number(arg('runs', '1'));
const seconds = Number(arg('seconds', '60'));
const size = Number(arg('size', '3')) === 5 ? 5 : 3;
const basePort = Number(arg('base-port', '31500'));
const nemeses = arg('nemeses', NEMESES.join(',')).split(',') as NemesisKind[];
for (const n of nemeses) if (!NEMESES.includes(n)) throw new Error(`unknown nemesis ${n}; known: ${NEMESES.join(',')}`);

let bad = 0;
let totalOps = 0;
let totalEvents = 0;
for (let i = 0; runs === 0 || i < runs; i++) {
  const s = await runScenario({ seed: seed0 + i, durationMs: seconds * 1000, size, basePort, nemeses });
  totalOps += s.ops;
  totalEvents += s.nemesis.length;
  if (s.anomalies.length > 0) bad++;
  console.log(formatSummary(s));
}
console.log(`total: ${runs} runs, ${totalOps} ops, ${totalEvents} nemesis events, ${bad} runs with anomalies`);
process.exit(bad > 0 ? 1 : 0);
