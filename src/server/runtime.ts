// How a member process runs: the node flags and environment that the framework gives every
// pod it launches, and that the test and benchmark harness gives every member it spawns, so
// that what is measured is what runs (V8 and glibc read those once, before any of our code
// runs, so a member cannot apply them to itself); and the V8 settings a member applies itself.
import { setFlagsFromString } from 'node:v8';

/** V8 flags of a member process.
 *
 *  --max-semi-space-size=4 (MiB; V8's default on 64-bit is 16): the young generation is two
 *  semi-spaces, and under load V8 grows each to its maximum and keeps them committed, 32 MiB
 *  of RSS. A member's short-lived garbage (requests in flight, raft messages) is far smaller
 *  than that: with 4 MiB each, put@64 measured the same member CPU per request and 25 MiB less
 *  RSS per member; at 2 MiB the CPU cost rose by about 12%. */
export const MEMBER_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=4'];

/** Environment of a member process.
 *
 *  MALLOC_ARENA_MAX=2: glibc gives each thread that mallocs (libuv's pool doing WAL and level
 *  work, LevelDB's compaction thread, V8's GC helpers) an arena of its own, up to 8 per core,
 *  each holding freed memory. Two arenas measured 7 MiB less RSS per member at the same CPU; in
 *  one run, one arena cost a third of the put throughput (the main thread and the pool contend). */
export const MEMBER_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' };

/** V8 grows the heap up to 4x what survived the last full GC when allocation is fast, as it is
 *  under load; a member's heap is mostly long-lived (history, raft log), so that is mostly
 *  slack. Go's default (GOGC=100, etcd's) lets the heap reach 2x; 50 lets it reach 1.5x.
 *  Measured (3 members, put@256 for 40 s, about 290,000 revisions, twice each): 100 -> 50 took
 *  the old generation from 96-100 to 83-86 MiB committed and RSS from 208-214 to 184-188 MiB
 *  per member, for about 4% more member CPU per put (more frequent full GCs). Read by V8 at
 *  every GC, so setting it at start works; an explicit node flag wins. */
export const MEMBER_HEAP_GROWING_PERCENT = 50;

/** The V8 settings a member applies to itself as it starts (those V8 reads at every GC). */
export function applyMemberV8Settings(): void {
  if (!process.execArgv.some((a) => /^--heap[-_]growing[-_]percent/.test(a))) {
    setFlagsFromString(`--heap-growing-percent=${MEMBER_HEAP_GROWING_PERCENT}`);
  }
}
