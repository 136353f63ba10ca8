// Replay one simulation seed: node dist/test/sim/replay.js --seed 1234 --nodes 5 --steps 2000
//   [--bug voteIgnoresLog|commitPreviousTermByCounting] [--profile adversarial] [--trace]
// Exit code 0 when every invariant held, 1 when one broke (the violation and, with --trace,
// every scheduler action are printed), 2 on bad arguments.
import { parseArgs } from 'node:util';
import { replayCommand, runSim } from './cluster.js';
import type { Bug, Profile, SimOptions } from './cluster.js';

const BUGS: readonly Bug[] = ['voteIgnoresLog', 'commitPreviousTermByCounting'];

function main(): number {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        seed: { type: 'string' },
        nodes: { type: 'string', default: '3' },
        steps: { type: 'string', default: '2000' },
        bug: { type: 'string' },
        profile: { type: 'string', default: 'default' },
        trace: { type: 'boolean', default: false },
        'trace-tail': { type: 'string', default: '0' },
      },
      strict: true,
    }));
  } catch (err) {
    console.error((err as Error).message);
    return 2;
  }
  const seed = Number(values.seed);
  const nodes = Number(values.nodes);
  const steps = Number(values.steps);
  if (values.seed === undefined || !Number.isInteger(seed) || !Number.isInteger(nodes) || nodes < 1 || !Number.isInteger(steps) || steps < 0) {
    console.error('usage: replay.js --seed N [--nodes 3|5] [--steps 2000] [--bug voteIgnoresLog|commitPreviousTermByCounting] [--profile adversarial] [--trace]');
    return 2;
  }
  if (values.bug !== undefined && !BUGS.includes(values.bug as Bug)) {
    console.error(`unknown --bug ${values.bug}; one of ${BUGS.join(', ')}`);
    return 2;
  }
  if (values.profile !== 'default' && values.profile !== 'adversarial') {
    console.error(`unknown --profile ${values.profile}`);
    return 2;
  }
  const tail = Number(values['trace-tail']);
  const opts: SimOptions = {
    seed, nodes, steps,
    bug: values.bug as Bug | undefined,
    profile: values.profile as Profile,
    trace: values.trace || tail > 0,
  };
  const t0 = performance.now();
  const r = runSim(opts);
  const ms = performance.now() - t0;
  const lines = tail > 0 ? r.trace.slice(-tail) : r.trace;
  for (const line of lines) console.log(line);
  console.log(JSON.stringify(r.stats));
  if (r.ok) {
    console.log(`ok: seed ${seed}, ${nodes} nodes, ${steps} steps in ${ms.toFixed(0)} ms`);
    return 0;
  }
  const why = r.violation ?? r.error!;
  console.log(`FAILED: ${why.message}`);
  if (r.error?.stack) console.log(r.error.stack);
  console.log(`replay: ${replayCommand(opts)} --trace`);
  return 1;
}

process.exitCode = main();
