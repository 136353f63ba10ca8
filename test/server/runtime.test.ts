// A member's start-up settings (src/server/runtime.ts) reach every way a member is started: by
// hand through bin/tsetcd.js, by the framework's pods, and by the test and benchmark harness.
// Each is read off the running process (/proc/<pid>/cmdline and environ), not off our code.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MEMBER_ENV, MEMBER_NODE_FLAGS } from '../../src/server/runtime.js';
import { memberConfigEnv, nodeArgs, podSpec } from '../../src/framework/pod.js';
import { defaultOptions } from '../../src/framework/options.js';
import { servicePaths } from '../../src/framework/state.js';
import { getText, repoRoot, sleep, trackChild, withCluster } from '../harness/cluster.js';

function cmdlineOf(pid: number): string[] {
  return readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').filter((a) => a !== '');
}

function environOf(pid: number): Map<string, string> {
  const env = new Map<string, string>();
  for (const kv of readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0')) {
    const i = kv.indexOf('=');
    if (i > 0) env.set(kv.slice(0, i), kv.slice(i + 1));
  }
  return env;
}

/** The node flags of a process: its arguments between node and the script. */
function nodeFlagsOf(pid: number): string[] {
  const argv = cmdlineOf(pid);
  const script = argv.findIndex((a) => a.endsWith('tsetcd.js'));
  assert.ok(script > 0, `no tsetcd.js in ${argv.join(' ')}`);
  return argv.slice(1, script);
}

test('a member started by hand as bin/tsetcd.js runs with MEMBER_NODE_FLAGS (the shebang)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tsetcd-runtime-'));
  const url = 'http://127.0.0.1:28196';
  const child = spawn(join(repoRoot, 'bin', 'tsetcd.js'), ['--data-dir', join(dir, 'data'), '--listen-client-urls', url, '--advertise-client-urls', url, '--listen-peer-urls', 'http://127.0.0.1:28197', '--initial-advertise-peer-urls', 'http://127.0.0.1:28197', '--initial-cluster', 'default=http://127.0.0.1:28197'], { stdio: 'ignore', cwd: dir });
  trackChild(child);
  try {
    let healthy = false;
    for (let i = 0; i < 100 && !healthy; i++) {
      healthy = (await getText(`${url}/health`).catch(() => ({ status: 0 }))).status === 200;
      if (!healthy) await sleep(100);
    }
    assert.ok(healthy, 'the member came up');
    for (const f of MEMBER_NODE_FLAGS) assert.ok(nodeFlagsOf(child.pid!).includes(f), `${f} in ${cmdlineOf(child.pid!).join(' ')}`);
  } finally {
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the framework's pods get MEMBER_NODE_FLAGS and MEMBER_ENV", () => {
  const o = defaultOptions();
  const args = nodeArgs(o);
  for (const f of MEMBER_NODE_FLAGS) assert.ok(args.slice(0, -1).includes(f), `${f} in ${args.join(' ')}`);
  const paths = servicePaths('/nonexistent', o.service.name);
  const env = memberConfigEnv(o, paths, podSpec(o, paths, 0));
  for (const [k, v] of Object.entries(MEMBER_ENV)) assert.equal(env[k], v, k);
});

test("the harness's members (tests and benchmarks) get MEMBER_NODE_FLAGS and MEMBER_ENV", async () => {
  await withCluster({ impl: 'tsetcd', size: 1, basePort: 28194 }, async (c) => {
    const pid = c.members[0]!.pid;
    const flags = nodeFlagsOf(pid);
    for (const f of MEMBER_NODE_FLAGS) assert.ok(flags.includes(f), `${f} in ${flags.join(' ')}`);
    const env = environOf(pid);
    for (const [k, v] of Object.entries(MEMBER_ENV)) assert.equal(env.get(k), v, k);
  });
});
