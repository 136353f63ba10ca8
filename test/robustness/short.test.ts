// The CI short form of the fault-injection suite: ROBUST_RUNS (default 5) seeded runs of
// ROBUST_SECONDS (default 60) s each over every nemesis, v2 and v3 workloads together; the
// last run uses 5 members. Zero anomalies required. Replay any run with the command its
// summary prints; the long form is `node dist/test/robustness/run.js --runs 0 ...`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runScenario, formatSummary } from './runner.js';
import { tsetcdAvailable } from '../harness/cluster.js';

const runs = Number(process.env.ROBUST_RUNS ?? 5);
const seconds = Number(process.env.ROBUST_SECONDS ?? 60);
const seed0 = Number(process.env.ROBUST_SEED ?? 1000);

for (let i = 0; i < runs; i++) {
  const seed = seed0 + i;
  const size = i === runs - 1 && runs > 1 ? 5 : 3;
  test(`robustness: seed ${seed}, ${size} members, ${seconds} s of faults`, { skip: !tsetcdAvailable() && 'tsetcd is not built', timeout: (seconds + 180) * 1000 }, async () => {
    const s = await runScenario({ seed, durationMs: seconds * 1000, size, basePort: 31100 });
    const text = formatSummary(s);
    console.log(text);
    assert.ok(s.ops > 0, 'no operations ran');
    assert.equal(s.anomalies.length, 0, text);
  });
}
