// How a member process runs: the node flags and environment that the framework gives every
// pod it launches, and that the test and benchmark harness gives every member it spawns, so
// that what is measured is what runs (V8 and glibc read those once, before any of our code
// runs, so a member cannot apply them to itself); and the V8 settings a member applies itself.
import { setFlagsFromString } from 'node:v8';

/** V8 flags of a member process.
 *
 *  --max-semi-space-size=4 (MiB; V8's default on 64-bit is 16): the young generation is two
 *  semi-spaces, and under load V8 grows each to its maximum and keeps them committed, 32 MiB
 *  of RSS. A member's short-lived garbage (requests in flight, raft messages) is far smaller.
 *  Measured on 3 members: put@64, 20 s, against 16 MiB: the same member CPU per put and 25 MiB
 *  less RSS per member; 2 MiB cost about 12% more CPU. put@256 then put@64 (25 s + 10 s,
 *  alternating runs) against 8 MiB: about 10 MiB less RSS, but at 256 clients 124 against
 *  112-117 us of CPU per put. A trade of throughput at the highest load for memory.
 *
 *  --single-threaded-gc: V8 does its GC work on the main thread only (no parallel scavenge,
 *  no concurrent marking or sweeping threads). A member is sized for about one CPU (the
 *  framework's default pod has cpus 1.0) and shares it with libuv's pool and LevelDB's
 *  threads; a parallel scavenge's pause lasts until its slowest helper thread is done, and a
 *  helper that the kernel has not scheduled holds the main thread up. Measured on 3 members on
 *  2 cores (put@64 10-15 s, then put@256 or put@1, alternating runs): put@64 p99 lower in 7 of
 *  7 pairs (by 3-14 ms, about 10%), the same throughput and member CPU per put at 64 and 256
 *  clients, no change in RSS; at 1 client, no difference beyond the noise. */
export const MEMBER_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4', '--single-threaded-gc'];

/** Environment of a member process.
 *
 *  MALLOC_ARENA_MAX=2: glibc gives each thread that mallocs (libuv's pool doing WAL and level
 *  work, LevelDB's compaction thread) an arena of its own, up to 8 per core,
 *  each holding freed memory. Two arenas measured 7 MiB less RSS per member at the same CPU; in
 *  one run, one arena cost a third of the put throughput (the main thread and the pool contend). */
export const MEMBER_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' };

/** V8 grows the heap up to 4x what survived the last full GC when allocation is fast, as it is
 *  under load; a member's heap is mostly long-lived (history, raft log), so that is mostly
 *  slack. 50 lets it reach 1.5x before the next full GC.
 *  Lower is not free: full GCs come sooner and each one marks the whole history. When level's
 *  batches were still staged as JavaScript objects, 50 cost about 10% more member CPU per put
 *  than 100 (138-146 against 127-131 us). Measured again once they were not (put@64 and @256 on
 *  3 members, 10 s after 4 s of warm-up, alternating runs): 40-60 MiB less RSS in all at 64
 *  clients and 50-90 at 256, CPU per put and p99 within the runs' noise; twice the full GCs
 *  (38 against 21, 2.1 against 1.3 s of the 3 members' time in 14 s). 30 saved about 25 MiB
 *  more at 64 clients, with one of two runs slower. Read by V8 at every GC, so setting it at
 *  start works; an explicit node flag wins. */
export const MEMBER_HEAP_GROWING_PERCENT = 50;

/** The V8 settings a member applies to itself as it starts (those V8 reads at every GC). */
export function applyMemberV8Settings(): void {
  if (!process.execArgv.some((a) => /^--heap[-_]growing[-_]percent/.test(a))) {
    setFlagsFromString(`--heap-growing-percent=${MEMBER_HEAP_GROWING_PERCENT}`);
  }
}
