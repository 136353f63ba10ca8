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

test('a member started by hand as bin/tsetcd.js runs with MEMBER_NODE_FLAGS and MEMBER_ENV (the shebang)', async () => {
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
    const env = environOf(child.pid!);
    for (const [k, v] of Object.entries(MEMBER_ENV)) assert.equal(env.get(k), v, k);
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

test("a member's own code loads neither @peculiar/x509 nor yaml (about 13 MiB of idle RSS) until it makes or reads a certificate or a config file", async () => {
  // The member's whole static module graph is cli.js's; loading it runs no member.
  const script = `
    await import(${JSON.stringify(join(repoRoot, 'dist', 'src', 'cli.js'))});
    const { createRequire } = await import('node:module');
    const loaded = () => Object.keys(createRequire(import.meta.url).cache).filter((f) => /node_modules\\/(@peculiar\\/x509|yaml)\\//.test(f));
    const before = loaded();
    const { certInfo, selfSignedCert } = await import(${JSON.stringify(join(repoRoot, 'dist', 'src', 'api', 'tls', 'certs.js'))});
    const c = await selfSignedCert({ sans: ['127.0.0.1'], usage: 'server', days: 1 });
    process.stdout.write(JSON.stringify({ before, after: loaded().length > 0, sans: certInfo(c.certPem).sans }));`;
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    trackChild(child);
    let text = '';
    child.stdout!.on('data', (d) => (text += d));
    child.on('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`exit ${code}`))));
  });
  const r = JSON.parse(out) as { before: string[]; after: boolean; sans: string[] };
  assert.deepEqual(r.before, []);
  assert.equal(r.after, true, 'making a certificate loads @peculiar/x509');
  assert.deepEqual(r.sans, ['127.0.0.1']);
});
