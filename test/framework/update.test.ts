// update start: a rolling change of heartbeat/election under a writer that never loses an
// acknowledged write; scale-out 3 -> 5; refused shrink, TLS toggle and port change (417).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { healthy, httpReq, sleep, TestService, v2Members } from './helpers.js';

const A = '127.0.22';
const CLIENT = 29220;
const PEER = 29221;
const VIP = `${A}.100:${CLIENT}`;
const url = (i: number): string => `http://${A}.${i + 1}:${CLIENT}`;

function taskEnv(pid: number): string {
  return readFileSync(`/proc/${pid}/environ`, 'utf8');
}

test('rolling update under a writer, scale-out, refused changes', { timeout: 200_000 }, async () => {
  const svc = new TestService('etcd-upd');
  try {
    const f = svc.writeOptions({ service: { name: 'etcd-upd', vip_address: `${A}.100`, log_level: 'WARN' }, node: { first_address: `${A}.1` }, etcd: { client_port: CLIENT, peer_port: PEER, snapshot_count: 5000 } });
    await svc.ok(['package', 'install', `--options=${f}`]);
    await svc.waitDeploy();
    assert.equal((await v2Members(url(0))).length, 3);
    const desc = await svc.json<{ userOptions: { etcd: { snapshot_count: number } }; resolvedOptions: { etcd: { heartbeat_interval: number } } }>(['describe']);
    assert.equal(desc.userOptions.etcd.snapshot_count, 5000);
    assert.equal(desc.resolvedOptions.etcd.heartbeat_interval, 100);
    assert.match(taskEnv(svc.taskPid('etcd-0')), /ETCD_SNAPSHOT_COUNT=5000\0/);

    // A writer through the VIP for the whole update; it retries a failed write.
    let stop = false;
    const acked: number[] = [];
    let errors = 0;
    const writer = (async () => {
      for (let n = 0; !stop; n++) {
        for (let attempt = 0; attempt < 50 && !stop; attempt++) {
          try {
            const r = await httpReq(`http://${VIP}/v2/keys/w/${n}`, { method: 'PUT', body: `value=${n}`, headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, timeoutMs: 3000 });
            if (r.status === 200 || r.status === 201) { acked.push(n); break; }
            errors++;
          } catch { errors++; }
          await sleep(50);
        }
        await sleep(10);
      }
    })();
    let minHealthy = 3;
    const sampler = (async () => {
      while (!stop) {
        // Up = its client port answers (health may dip for all during a leader hand-over).
        const h = await Promise.all([0, 1, 2].map((i) => httpReq(`${url(i)}/version`, { timeoutMs: 2000 }).then(() => true, () => false)));
        minHealthy = Math.min(minHealthy, h.filter(Boolean).length);
        await sleep(150);
      }
    })();
    await sleep(500);
    const pidsBefore = [0, 1, 2].map((i) => svc.taskPid(`etcd-${i}`));
    const u = await svc.cli(['update', 'start', `--options=${svc.writeOptions({ etcd: { heartbeat_interval: 50, election_timeout: 600 } })}`]);
    assert.equal(u.code, 0, u.stderr);
    await sleep(300);
    const st = await svc.ok(['update', 'status']);
    assert.match(st, /^deploy \(serial strategy\) \((IN_PROGRESS|COMPLETE)\)\n└─ agents \(serial strategy\)/);
    await svc.waitDeploy(120_000);
    await sleep(500);
    stop = true;
    await Promise.all([writer, sampler]);
    for (let i = 0; i < 3; i++) {
      const pid = svc.taskPid(`etcd-${i}`);
      assert.notEqual(pid, pidsBefore[i], `etcd-${i} restarted`);
      assert.match(taskEnv(pid), /ETCD_HEARTBEAT_INTERVAL=50\0/);
      assert.match(taskEnv(pid), /ETCD_ELECTION_TIMEOUT=600\0/);
    }
    assert.ok(minHealthy >= 2, `one pod at a time (min up ${minHealthy})`);
    assert.ok(acked.length > 20, `writer made progress (${acked.length} acked, ${errors} retried)`);
    for (const n of acked) {
      const r = await httpReq(`${url(n % 3)}/v2/keys/w/${n}?quorum=true`);
      assert.equal(r.status, 200, `acknowledged write ${n} is there`);
      assert.equal((JSON.parse(r.body) as { node: { value: string } }).node.value, String(n));
    }

    // Scale-out 3 -> 5: the new members are added before they start, existing pods untouched.
    const pids3 = [0, 1, 2].map((i) => svc.taskPid(`etcd-${i}`));
    await svc.ok(['update', 'start', `--options=${svc.writeOptions({ node: { count: 5 } })}`]);
    await svc.waitDeploy(120_000);
    const ms = await v2Members(url(0));
    assert.deepEqual(ms.map((m) => m.name).sort(), ['etcd-0-node', 'etcd-1-node', 'etcd-2-node', 'etcd-3-node', 'etcd-4-node']);
    for (let i = 0; i < 5; i++) assert.ok(await healthy(url(i)), `etcd-${i} healthy`);
    assert.deepEqual([0, 1, 2].map((i) => svc.taskPid(`etcd-${i}`)), pids3, 'scale-out restarts nothing');
    assert.equal(JSON.parse((await httpReq(`${url(4)}/v2/keys/w/${acked[0]}`)).body).node.value, String(acked[0]));
    assert.equal((await svc.json<string[]>(['pod', 'list'])).length, 5);

    // Refused: shrink, TLS toggle, port change. One clear error each, nothing changes, 417.
    const pids5 = [0, 1, 2, 3, 4].map((i) => svc.taskPid(`etcd-${i}`));
    const cases: [unknown, RegExp][] = [
      [{ node: { count: 4 } }, /node.count cannot shrink \(5 -> 4\)/],
      [{ etcd: { tls_enabled: true } }, /etcd.tls_enabled cannot be toggled after install/],
      [{ etcd: { client_port: CLIENT + 2 } }, /etcd.client_port cannot change after install/],
      [{ etcd: { peer_port: PEER + 2 } }, /etcd.peer_port cannot change after install/],
    ];
    for (const [opts, re] of cases) {
      const r = await svc.cli(['update', 'start', `--options=${svc.writeOptions(opts)}`]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, re);
      assert.equal(r.stderr.split('\n').filter((l) => l.startsWith('- ')).length, 1, 'exactly one error');
      const plan = await svc.api('/v1/plans/deploy');
      assert.equal(plan.status, 417);
      assert.match(JSON.stringify((plan.body as { errors: string[] }).errors), re);
      const ps = await svc.cli(['plan', 'status', 'deploy']);
      assert.equal(ps.code, 1);
      assert.match(ps.stdout, /\(ERROR\)[\s\S]*Errors:/);
    }
    const after = await svc.json<{ resolvedOptions: { node: { count: number }; etcd: { tls_enabled: boolean; client_port: number } } }>(['describe']);
    assert.deepEqual([after.resolvedOptions.node.count, after.resolvedOptions.etcd.tls_enabled, after.resolvedOptions.etcd.client_port], [5, false, CLIENT]);
    await sleep(500);
    assert.deepEqual([0, 1, 2, 3, 4].map((i) => svc.taskPid(`etcd-${i}`)), pids5, 'a refused update restarts nothing');
    // A valid update afterwards clears the errors.
    await svc.ok(['update', 'start', `--options=${svc.writeOptions({ service: { log_level: 'DEBUG' } })}`]);
    await svc.waitDeploy(30_000);
  } finally {
    await svc.destroy();
  }
});
