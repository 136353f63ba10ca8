// One seeded robustness run: start a cluster behind peer proxies, run the workloads while the
// nemesis injects faults, heal, make final reads, check the history. The summary says what
// happened and how to replay it.
import { RCluster } from './rcluster.js';
import { Nemesis, NEMESES, type NemesisEvent, type NemesisKind } from './nemesis.js';
import { Recorder } from './history.js';
import { V2Workload } from './v2workload.js';
import { V3Workload } from './v3workload.js';
import { Prng } from './prng.js';
import { checkAllKeys, checkSet, checkMonotonic, checkWatches, registerModel, multiRegisterModel, type Op } from './checkers.js';
import { sleep } from '../harness/cluster.js';

export interface RunOptions {
  seed: number;
  durationMs: number;
  size: 3 | 5;
  basePort: number;
  snapshotCount?: number;
  nemeses?: readonly NemesisKind[];
  /** Which APIs to drive; default both. */
  v2?: boolean;
  v3?: boolean;
}

export interface Anomaly {
  checker: string;
  message: string;
  excerpt?: unknown;
}

export interface RunSummary {
  seed: number;
  size: number;
  durationMs: number;
  wallMs: number;
  ops: number;
  counts: Record<string, number>;
  nemesis: NemesisEvent[];
  anomalies: Anomaly[];
  /** Linearizability searches that ran out of budget (neither proof nor refutation). */
  unknown: string[];
  replay: string;
}

export function replayCommand(o: RunOptions): string {
  return `node dist/test/robustness/run.js --seed ${o.seed} --seconds ${Math.round(o.durationMs / 1000)} --size ${o.size}` +
    (o.nemeses && o.nemeses.length !== NEMESES.length ? ` --nemeses ${o.nemeses.join(',')}` : '');
}

export async function runScenario(o: RunOptions): Promise<RunSummary> {
  const started = Date.now();
  const rnd = new Prng(o.seed);
  const c = new RCluster({ size: o.size, basePort: o.basePort, snapshotCount: o.snapshotCount ?? 150 });
  const rec = new Recorder();
  const anomalies: Anomaly[] = [];
  const unknown: string[] = [];
  const nemesis = new Nemesis(c, new Prng(rnd.int(2 ** 31)), o.nemeses ?? NEMESES);
  try {
    await c.start();
    const eps = { urls: () => c.slots.filter((s) => s.isMember).map((s) => s.clientUrl) };
    const w2 = o.v2 === false ? undefined : new V2Workload(rec, eps, o.seed);
    const w3 = o.v3 === false ? undefined : new V3Workload(rec, eps, o.seed);
    if (w3) nemesis.compact = () => w3.compactNow();
    await w2?.startWatchers();
    await w3?.startWatchers();
    w2?.start();
    w3?.start();
    await nemesis.run(Date.now() + o.durationMs);
    // Quiesce: everything healed and restarted; let the cluster settle, then stop the load.
    await c.waitHealthy(30000).catch((e: Error) => anomalies.push({ checker: 'availability', message: `cluster not healthy after healing: ${e.message.slice(0, 500)}` }));
    await sleep(1000);
    await w2?.stop();
    await w3?.stop();

    // Final reads: every register key once more (quorum), and the set.
    if (w2) {
      for (const key of w2.regKeys) {
        for (let i = 0; i < 5; i++) {
          const op = await w2.registerOp(999, key, { f: 'read' }, rnd.pick(eps.urls()));
          if (op.outcome === 'ok') break;
        }
      }
      const finalSet = await w2.readSet();
      if (!finalSet) anomalies.push({ checker: 'availability', message: 'v2: the final set read never succeeded' });
      else {
        const r = checkSet(rec.setAdds.filter((a) => !a.element.startsWith('v3s-')), finalSet);
        if (!r.ok) anomalies.push({ checker: 'lost-writes(v2 set)', message: `lost ${r.lost.length} acknowledged adds, ${r.unexpected.length} never written`, excerpt: { lost: r.lost.slice(0, 10), unexpected: r.unexpected.slice(0, 10) } });
      }
      // Replicas agree once caught up.
      let views: ({ index: number; values: string[] } | undefined)[] = [];
      for (let i = 0; i < 20; i++) {
        views = await Promise.all(c.slots.filter((s) => s.isMember).map((s) => w2.localSet(s.clientUrl)));
        if (views.every((v) => v && v.index === views[0]!.index)) break;
        await sleep(500);
      }
      const texts = new Set(views.map((v) => JSON.stringify(v?.values ?? null)));
      if (texts.size > 1) anomalies.push({ checker: 'replicas-agree(v2)', message: `members hold different sets: ${views.map((v) => `${v?.index}:${v?.values.length}`).join(' ')}` });
    }
    if (w3) await w3.finalReads(anomalies);

    // Checks.
    const regOps = rec.ops.filter((op) => !(op as Op & { txn?: boolean }).txn && (op.key.startsWith('/') || op.key.startsWith('v3reg'))) as Op<never, never>[];
    const lin = checkAllKeys(regOps as Op[] as Parameters<typeof checkAllKeys>[0], registerModel as never);
    for (const f of lin.failures) {
      if (f.unknown) unknown.push(`${f.key} (${f.ops} ops)`);
      else anomalies.push({ checker: 'linearizability', message: `key ${f.key}: ${f.message}`, excerpt: f.excerpt });
    }
    const txnOps = rec.ops.filter((op) => (op as Op & { txn?: boolean }).txn);
    if (txnOps.length > 0) {
      const t = checkAllKeys(txnOps as never, multiRegisterModel as never);
      for (const f of t.failures) {
        if (f.unknown) unknown.push(`${f.key} (${f.ops} txns)`);
        else anomalies.push({ checker: 'strict-serializability(txn)', message: `group ${f.key}: ${f.message}`, excerpt: f.excerpt });
      }
    }
    const mono = checkMonotonic(rec.revisions);
    if (!mono.ok) anomalies.push({ checker: 'monotonic-revisions', message: `${mono.violations.length} violations`, excerpt: mono.violations.slice(0, 3) });
    const v2Streams = rec.watchStreams.filter((s) => s.name.startsWith('v2'));
    const v2w = checkWatches(v2Streams, rec.acked.filter((a) => a.key.startsWith('/')), false);
    if (!v2w.ok) anomalies.push({ checker: 'watch(v2)', message: v2w.problems.slice(0, 5).join('; ') });
    const v3Streams = rec.watchStreams.filter((s) => s.name.startsWith('v3'));
    if (v3Streams.length > 0) {
      const v3w = checkWatches(v3Streams, rec.acked.filter((a) => !a.key.startsWith('/')), true);
      if (!v3w.ok) anomalies.push({ checker: 'watch(v3)', message: v3w.problems.slice(0, 5).join('; ') });
    }
  } catch (err) {
    anomalies.push({ checker: 'harness', message: `run aborted: ${(err as Error).stack ?? String(err)}`.slice(0, 2000) });
  } finally {
    if (anomalies.length > 0) {
      anomalies.push({ checker: 'logs', message: c.logTails(15) });
    }
    await c.destroy(anomalies.length > 0 && process.env.ROBUST_KEEP_TMP === '1');
  }
  return {
    seed: o.seed,
    size: o.size,
    durationMs: o.durationMs,
    wallMs: Date.now() - started,
    ops: rec.totalOps(),
    counts: Object.fromEntries([...rec.counts.entries()].sort()),
    nemesis: nemesis.events,
    anomalies,
    unknown,
    replay: replayCommand(o),
  };
}

export function formatSummary(s: RunSummary): string {
  const nem = new Map<string, number>();
  for (const e of s.nemesis) nem.set(e.kind + (e.skipped ? '(skipped)' : ''), (nem.get(e.kind + (e.skipped ? '(skipped)' : '')) ?? 0) + 1);
  const lines = [
    `seed ${s.seed}: ${s.size} members, ${s.durationMs / 1000} s of faults, ${(s.wallMs / 1000).toFixed(1)} s wall, ${s.ops} ops, ${s.nemesis.length} nemesis events, ${s.anomalies.filter((a) => a.checker !== 'logs').length} anomalies`,
    `  ops: ${Object.entries(s.counts).map(([k, v]) => `${k}=${v}`).join(' ')}`,
    `  nemesis: ${[...nem.entries()].map(([k, v]) => `${k}=${v}`).join(' ')}`,
  ];
  if (s.unknown.length > 0) lines.push(`  undecided (search budget): ${s.unknown.join(', ')}`);
  for (const a of s.anomalies) {
    lines.push(`  ANOMALY ${a.checker}: ${a.message}`);
    if (a.excerpt !== undefined) lines.push(`    ${JSON.stringify(a.excerpt).slice(0, 1500)}`);
  }
  lines.push(`  replay: ${s.replay}`);
  return lines.join('\n');
}
