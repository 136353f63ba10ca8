// Install, the seed's curl and etcdctl through the VIP, recovery of a killed member, a killed
// scheduler, pod replace (plain, interrupted and retried, of an added-but-unstarted member),
// debug pod pause/resume with and without the marker, uninstall.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { curl, healthy, httpReq, runEtcdctl, sleep, TestService, v2Members } from './helpers.js';

const A = '127.0.21';
const CLIENT = 29210;
const PEER = 29211;
const VIP = `${A}.100:${CLIENT}`;
const url = (i: number): string => `http://${A}.${i + 1}:${CLIENT}`;

async function clusterHealthy(svc: TestService, n: number): Promise<boolean> {
  const ms = await v2Members(url(0));
  if (ms.length !== n || ms.some((m) => m.name === '')) return false;
  for (let i = 0; i < n; i++) if (!(await healthy(url(i)))) return false;
  const st = await svc.json<{ pods: { instances: { tasks: { status: string }[] }[] }[] }>(['pod', 'status', '--json']);
  return st.pods[0]!.instances.every((p) => p.tasks[0]!.status === 'RUNNING');
}

test('install, VIP, recovery, scheduler restart, replace, pause/resume, uninstall', { timeout: 200_000 }, async () => {
  const svc = new TestService();
  try {
    // Defaults, except addresses and ports (so the test never meets a user's 127.0.0.1:2379).
    const f = svc.writeOptions({ service: { vip_address: `${A}.100` }, node: { first_address: `${A}.1` }, etcd: { client_port: CLIENT, peer_port: PEER } });
    const inst = await svc.ok(['package', 'install', `--options=${f}`]);
    assert.match(inst, new RegExp(`curl -X PUT http://${VIP}/v2/keys/hello -d value=world`));
    await svc.waitDeploy();
    const plan = await svc.ok(['plan', 'status', 'deploy']);
    assert.match(plan, /^deploy \(serial strategy\) \(COMPLETE\)\n└─ agents \(parallel strategy\) \(COMPLETE\)\n   ├─ etcd-0:\[node\] \(COMPLETE\)/);
    assert.deepEqual(await svc.json(['plan', 'list']), ['deploy', 'recovery']);
    assert.deepEqual(await svc.json(['pod', 'list']), ['etcd-0', 'etcd-1', 'etcd-2']);
    assert.deepEqual(await svc.json(['endpoints']), ['api']);
    const ep = await svc.json<{ address: string[]; dns: string[]; vip: string }>(['endpoints', 'api']);
    assert.deepEqual(ep.address, [`${A}.1:${CLIENT}`, `${A}.2:${CLIENT}`, `${A}.3:${CLIENT}`]);
    assert.equal(ep.vip, VIP);
    for (let i = 0; i < 3; i++) assert.ok(existsSync(join(svc.root, 'pods', `etcd-${i}`, 'etcd-data', 'initialized')));

    // The seed's quickstart through the VIP: curl, then etcdctl (v2).
    const put = await curl(['-X', 'PUT', `http://${VIP}/v2/keys/hello`, '-d', 'value=world']);
    assert.equal(put.code, 0, put.stderr);
    const putBody = JSON.parse(put.stdout) as { action: string; node: { key: string; value: string } };
    assert.equal(putBody.action, 'set');
    assert.deepEqual([putBody.node.key, putBody.node.value], ['/hello', 'world']);
    const get = await runEtcdctl([`--endpoints=http://${VIP}`, 'get', 'hello']);
    assert.equal(get.stdout.trim(), 'world', get.stderr);
    for (let i = 0; i < 20; i++) await httpReq(`http://${VIP}/v2/keys/k${i}`, { method: 'PUT', body: `value=v${i}`, headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
    const ids0 = new Map((await v2Members(url(0))).map((m) => [m.name, m.id]));

    // kill -9 of a member: recovered in place, same member id, data intact.
    const pid1 = svc.taskPid('etcd-1');
    process.kill(pid1, 'SIGKILL');
    await svc.waitFor('etcd-1 relaunched', async () => svc.taskPid('etcd-1') !== pid1 && (await healthy(url(1))), 30_000);
    assert.equal((await v2Members(url(0))).find((m) => m.name === 'etcd-1-node')?.id, ids0.get('etcd-1-node'));
    assert.match(await svc.ok(['plan', 'status', 'recovery']), /etcd-1:\[node\] \(COMPLETE\)/);

    // kill -9 of the scheduler: the cluster does not notice; a new scheduler adopts it.
    const pidsBefore = [0, 1, 2].map((i) => svc.taskPid(`etcd-${i}`));
    process.kill(svc.apiInfo().pid, 'SIGKILL');
    await sleep(300);
    assert.equal(JSON.parse((await httpReq(`http://${VIP}/v2/keys/hello`)).body).node.value, 'world');
    const gone = await svc.cli(['pod', 'list']);
    assert.equal(gone.code, 2);
    assert.match(gone.stderr, /scheduler .* is not running/);
    await svc.ok(['scheduler', 'start']);
    await svc.waitDeploy(10_000);
    await sleep(2500);
    assert.deepEqual([0, 1, 2].map((i) => svc.taskPid(`etcd-${i}`)), pidsBefore);
    // One health sample can miss (a 1 s quorum read on a loaded machine); healthy within 20 s.
    await svc.waitFor('cluster healthy after the scheduler restart', () => clusterHealthy(svc, 3), 20_000);

    // pod replace etcd-2 after its sandbox is destroyed: new member id, all data.
    rmSync(join(svc.root, 'pods', 'etcd-2'), { recursive: true, force: true });
    const rep = await svc.json<{ pod: string; tasks: string[] }>(['pod', 'replace', 'etcd-2']);
    assert.deepEqual(rep, { pod: 'etcd-2', tasks: ['etcd-2-node'] });
    await svc.waitFor('etcd-2 replaced', async () => {
      const ms = await v2Members(url(0));
      const m = ms.find((x) => x.name === 'etcd-2-node');
      return ms.length === 3 && m !== undefined && m.id !== ids0.get('etcd-2-node') && svc.state().pods['etcd-2']!.join === undefined && (await clusterHealthy(svc, 3));
    });
    assert.equal(JSON.parse((await httpReq(`${url(2)}/v2/keys/k19`)).body).node.value, 'v19');
    assert.ok(existsSync(join(svc.root, 'pods', 'etcd-2', 'etcd-data', 'initialized')));

    // A replace interrupted half way (scheduler killed right after the member add) and retried.
    const oldId1 = (await v2Members(url(0))).find((m) => m.name === 'etcd-1-node')!.id;
    await svc.ok(['pod', 'replace', 'etcd-1']);
    await svc.waitFor('etcd-1 member added', () => svc.state().pods['etcd-1']?.join?.addedId !== undefined, 30_000);
    process.kill(svc.apiInfo().pid, 'SIGKILL');
    await sleep(200);
    await svc.ok(['scheduler', 'start']);
    await svc.waitFor('replace retried', async () => (await svc.cli(['pod', 'replace', 'etcd-1'])).code === 0, 30_000);
    await svc.waitFor('etcd-1 replaced after interruption', async () => {
      const m = (await v2Members(url(0))).find((x) => x.name === 'etcd-1-node');
      return m !== undefined && m.id !== oldId1 && svc.state().pods['etcd-1']!.join === undefined && (await clusterHealthy(svc, 3));
    });
    assert.equal(JSON.parse((await httpReq(`${url(1)}/v2/keys/hello`)).body).node.value, 'world');

    // Replace of a member that was added but never started (the package's "[unstarted]" trap):
    // with the scheduler down, etcd-0's member is swapped by hand for an unstarted one.
    process.kill(svc.apiInfo().pid, 'SIGKILL');
    const pid0 = svc.taskPid('etcd-0');
    process.kill(pid0, 'SIGKILL');
    const m0 = (await v2Members(url(1))).find((m) => m.name === 'etcd-0-node')!;
    await svc.waitFor('a leader without etcd-0', () => healthy(url(1)), 20_000);
    // etcd's strict reconfig check refuses the removal (500, "unhealthy cluster") until etcd-1,
    // replaced moments ago, has been connected to etcd-2 for 5 s; like an etcd user, ask again.
    let removal = 0;
    await svc.waitFor('etcd-0 removed', async () => {
      removal = (await httpReq(`${url(1)}/v2/members/${m0.id}`, { method: 'DELETE', timeoutMs: 20_000 })).status;
      return removal !== 500;
    }, 20_000);
    assert.equal(removal, 204);
    const add = await httpReq(`${url(1)}/v2/members`, { method: 'POST', body: JSON.stringify({ peerURLs: [`http://${A}.1:${PEER}`] }), headers: { 'Content-Type': 'application/json' }, timeoutMs: 20_000 });
    assert.equal(add.status, 201);
    assert.ok((JSON.parse(add.body) as { id: string }).id !== m0.id);
    await svc.ok(['scheduler', 'start']);
    await svc.waitFor('replace accepted', async () => (await svc.cli(['pod', 'replace', 'etcd-0'])).code === 0, 30_000);
    await svc.waitFor('etcd-0 joined', async () => {
      const ms = await v2Members(url(1));
      // The unstarted member is adopted (or, if the recovery had already started it, replaced
      // once more): either way etcd-0 ends a started member that is not the removed one.
      const id = ms.find((x) => x.name === 'etcd-0-node')?.id;
      return ms.length === 3 && id !== undefined && id !== m0.id && svc.state().pods['etcd-0']!.join === undefined && (await clusterHealthy(svc, 3));
    });

    // debug pod pause: a sleeper with the sandbox intact, no health check; resume rejoins as is.
    const idBefore = (await v2Members(url(0))).find((m) => m.name === 'etcd-1-node')!.id;
    await svc.ok(['debug', 'pod', 'pause', 'etcd-1']);
    await svc.waitFor('etcd-1 paused', async () => (await svc.ok(['pod', 'status', 'etcd-1'])).includes('etcd-1-node (PAUSED)'));
    assert.equal(svc.state().pods['etcd-1']!.task!.kind, 'sleeper');
    assert.equal(await healthy(url(1)), false);
    assert.ok(existsSync(join(svc.root, 'pods', 'etcd-1', 'etcd-data', 'initialized')));
    await sleep(1000);
    assert.equal(svc.state().pods['etcd-1']!.task!.kind, 'sleeper', 'recovery leaves a paused pod alone');
    await svc.ok(['debug', 'pod', 'resume', 'etcd-1']);
    await svc.waitFor('etcd-1 resumed', () => clusterHealthy(svc, 3));
    assert.equal((await v2Members(url(0))).find((m) => m.name === 'etcd-1-node')!.id, idBefore, 'marker present: same member');

    // ... and without the marker, resume makes the pod a new member.
    await svc.ok(['debug', 'pod', 'pause', 'etcd-2']);
    await svc.waitFor('etcd-2 paused', async () => (await svc.ok(['pod', 'status', 'etcd-2'])).includes('(PAUSED)'));
    const id2 = (await v2Members(url(0))).find((m) => m.name === 'etcd-2-node')!.id;
    unlinkSync(join(svc.root, 'pods', 'etcd-2', 'etcd-data', 'initialized'));
    await svc.ok(['debug', 'pod', 'resume', 'etcd-2']);
    await svc.waitFor('etcd-2 rejoined', async () => {
      const m = (await v2Members(url(0))).find((x) => x.name === 'etcd-2-node');
      return m !== undefined && m.id !== id2 && (await clusterHealthy(svc, 3));
    });
    assert.equal(JSON.parse((await httpReq(`${url(2)}/v2/keys/k7`)).body).node.value, 'v7');

    // uninstall: asking for help, or running without a terminal and without --yes, deletes
    // nothing; with --yes it says what it deletes, stops everything, removes the data.
    const help = await svc.cli(['package', 'uninstall', '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /uninstall \[--yes\]/);
    const unasked = await svc.cli(['package', 'uninstall']);
    assert.equal(unasked.code, 1);
    assert.match(unasked.stderr, /pass --yes to confirm/);
    assert.ok(existsSync(svc.root), 'the data is still there');
    assert.ok(await clusterHealthy(svc, 3), 'the cluster still serves');
    const pids = [svc.apiInfo().pid, svc.state().vip!.pid, ...[0, 1, 2].map((i) => svc.taskPid(`etcd-${i}`))];
    const un = await svc.ok(['package', 'uninstall', '--yes']);
    assert.match(un, /irretrievably deletes its data/);
    assert.equal(existsSync(svc.root), false);
    for (const pid of pids) assert.equal(existsSync(`/proc/${pid}/cmdline`) && !(await import('node:fs')).readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z'), false, `pid ${pid} stopped`);
  } finally {
    await svc.destroy();
  }
});
