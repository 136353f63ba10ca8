#!/usr/bin/env node
// The one binary: `tsetcd [etcd flags]` runs a member, `tsetcd <verb> ...` runs the framework CLI.
import { main } from '../dist/src/cli.js';
main(process.argv.slice(2)).catch((err) => {
  process.stderr.write(`tsetcd: ${err && err.message ? err.message : String(err)}\n`);
  process.exit(1);
});
