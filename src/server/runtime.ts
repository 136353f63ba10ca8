// How a member process is started: the node flags and environment that the framework gives
// every pod it launches, and that the test and benchmark harness gives every member it spawns,
// so that what is measured is what runs. Both are start-up settings: V8 and glibc read them
// once, before any of our code runs, so a member cannot apply them to itself.

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
 *  each holding freed memory. Two arenas measured 7 MiB less RSS per member at the same CPU;
 *  one arena cost a third of the put throughput (the main thread and the pool contend). */
export const MEMBER_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' };
