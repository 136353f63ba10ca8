// Member lifecycle against real tsetcd processes: data-dir identity checks, --force-new-cluster,
// catching up by snapshot, and the leadership hand-over on SIGTERM.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { implCommand, trackChild, getText, sleep, withCluster } from '../harness/cluster.js';

/** Runs tsetcd with the given flags until it exits (bounded); returns exit code and output. */
function runToExit(args: string[], timeoutMs = 15000): Promise<{ code: number | null; out: string }> {
  const { cmd, args: pre, env } = implCommand('tsetcd');
  return new Promise((resolve) => {
    const child = spawn(cmd, [...pre, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    trackChild(child);
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

function withFlag(flags: string[], name: string, value: string): string[] {
  const out = [...flags];
  const i = out.indexOf(name);
  if (i === -1) out.push(name, value);
  else out[i + 1] = value;
  return out;
}

async function put(url: string, key: string, value: string): Promise<number> {
  const r = await fetch(`${url}/v2/keys/${key}`, { method: 'PUT', body: new URLSearchParams({ value }), signal: AbortSignal.timeout(5000) });
  await r.text();
  return r.status;
}

async function getValue(url: string, key: string): Promise<string | undefined> {
  const r = await getText(`${url}/v2/keys/${key}`, 3000);
  if (r.status !== 200) return undefined;
  return (JSON.parse(r.text) as { node: { value: string } }).node.value;
}


test('a data dir refuses a different cluster token and a different member entry', async () => {
  await withCluster({ impl: 'tsetcd', size: 1, basePort: 28000 }, async (c) => {
    assert.equal(await put(c.members[0]!.clientUrl, 'k', 'v'), 201);
    await c.stop(0);
    const flags = c.flags(0);

    const token = await runToExit(withFlag(flags, '--initial-cluster-token', 'another-token'));
    assert.equal(token.code, 1, token.out);
    assert.match(token.out, /initial-cluster-token "another-token" does not match|cluster ID mismatch/);

    // The same name with another peer URL is another member: the data dir is not its.
    const other = 'http://127.0.0.1:28009';
    const moved = withFlag(withFlag(withFlag(flags, '--initial-cluster', `${c.members[0]!.name}=${other}`), '--initial-advertise-peer-urls', other), '--listen-peer-urls', other);
    const mismatch = await runToExit(moved);
    assert.equal(mismatch.code, 1, mismatch.out);
    assert.match(mismatch.out, /--initial-cluster does not match the data dir/);

    // Nothing was changed by the refusals: the member starts with its own flags and has its data.
    await c.restart(0, 15000);
    assert.equal(await getValue(c.members[0]!.clientUrl, 'k'), 'v');
  });
});

test('--force-new-cluster restarts one member of a dead cluster alone, with its data', async () => {
  await withCluster({ impl: 'tsetcd', size: 3, basePort: 28020 }, async (c) => {
    const url = c.members[0]!.clientUrl;
    for (let i = 0; i < 20; i++) assert.equal(await put(url, `k${i}`, `v${i}`), 201);
    // A quorum read makes member 0 apply everything before it stops.
    const q = await getText(`${url}/v2/keys/k19?quorum=true`, 5000);
    assert.equal(q.status, 200);
    for (let i = 0; i < 3; i++) await c.kill9(i);

    const { cmd, args, env } = implCommand('tsetcd');
    const child = spawn(cmd, [...args, ...c.flags(0), '--force-new-cluster'], { stdio: 'ignore', env: { ...process.env, ...env } });
    trackChild(child);
    try {
      let healthy = false;
      for (let t = 0; t < 100 && !healthy; t++) {
        await sleep(200);
        const h = await getText(`${url}/health`, 1000).catch(() => ({ status: 0, text: '' }));
        healthy = h.status === 200 && h.text.includes('true');
      }
      assert.ok(healthy, 'the forced member became healthy on its own');
      const members = JSON.parse((await getText(`${url}/v2/members`, 2000)).text) as { members: Array<{ name: string }> };
      assert.deepEqual(members.members.map((m) => m.name), [c.members[0]!.name]);
      for (let i = 0; i < 20; i++) assert.equal(await getValue(url, `k${i}`), `v${i}`);
      assert.equal(await put(url, 'after', 'x'), 201, 'a cluster of one takes writes');
    } finally {
      child.kill('SIGKILL');
    }
  });
});

test('a follower that missed more than the retained log catches up by snapshot', async () => {
  await withCluster(
    { impl: 'tsetcd', size: 3, basePort: 28040, snapshotCount: 50, env: { TSETCD_SNAPSHOT_CATCHUP_ENTRIES: '10' } },
    async (c) => {
      const leader = await c.waitLeader();
      const down = (leader + 1) % 3;
      await c.kill9(down);
      const url = c.members[leader]!.clientUrl;
      for (let i = 0; i < 200; i++) assert.equal(await put(url, `s${i % 20}`, `v${i}`), i < 20 ? 201 : 200);
      await c.restart(down, 20000);
      let value: string | undefined;
      for (let t = 0; t < 50 && value !== 'v199'; t++) {
        value = await getValue(c.members[down]!.clientUrl, 's19');
        if (value !== 'v199') await sleep(200);
      }
      assert.equal(value, 'v199', 'the restarted follower serves the newest value');
      assert.match(readFileSync(c.members[down]!.logFile, 'utf8'), /applied incoming snapshot/);
    },
  );
});

test('SIGTERM on the leader hands leadership over before the member exits', async () => {
  // A long election timeout: a new leader within it can only come from the hand-over.
  await withCluster({ impl: 'tsetcd', size: 3, basePort: 28060, electionTimeoutMs: 5000, heartbeatIntervalMs: 100 }, async (c) => {
    const leader = await c.waitLeader(20000);
    const started = Date.now();
    await c.stop(leader);
    let newLeader = -1;
    while (Date.now() - started < 4000 && newLeader === -1) {
      for (let i = 0; i < 3; i++) {
        if (i === leader) continue;
        const r = await getText(`${c.members[i]!.clientUrl}/v2/stats/self`, 1000).catch(() => ({ status: 0, text: '{}' }));
        if (r.status === 200 && (JSON.parse(r.text) as { state?: string }).state === 'StateLeader') newLeader = i;
      }
      if (newLeader === -1) await sleep(50);
    }
    assert.notEqual(newLeader, -1, 'a follower leads within 4 s, before any election timeout (5 s) could pass');
    assert.match(readFileSync(c.members[leader]!.logFile, 'utf8'), /leadership transfer finished/);
    assert.equal(await put(c.members[newLeader]!.clientUrl, 'after-handover', 'x'), 201);
  });
});
