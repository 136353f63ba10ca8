#!/usr/bin/env -S MALLOC_ARENA_MAX=2 node --max-semi-space-size=4 --single-threaded-gc
// The one binary: `tsetcd [etcd flags]` runs a member, `tsetcd <verb> ...` runs the framework CLI.
// The shebang carries MEMBER_ENV and MEMBER_NODE_FLAGS (src/server/runtime.ts) for members
// started by hand (`env -S`: GNU coreutils 8.30 or later).
import { main } from '../dist/src/cli.js';
main(process.argv.slice(2)).catch((err) => {
  process.stderr.write(`tsetcd: ${err && err.message ? err.message : String(err)}\n`);
  process.exit(1);
});
