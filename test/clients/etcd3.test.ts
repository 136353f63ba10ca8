// The `etcd3` npm client against a 3-member cluster of each implementation: the same calls a
// Node application makes must give the same results on tsetcd as on real etcd 3.4.
// Env: COMPAT_IMPL=etcd|tsetcd|both (default both when tsetcd is built, else etcd).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Etcd3, EtcdLeaseInvalidError, EtcdLockFailedError, type IKeyValue } from 'etcd3';
import { startCluster, implsFromEnv, tsetcdAvailable, sleep, type Cluster, type Impl } from '../harness/cluster.js';

const impls = implsFromEnv('COMPAT_IMPL', tsetcdAvailable() ? 'both' : 'etcd');
const BASE: Record<Impl, number> = { etcd: 26340, tsetcd: 26360 };

/** Polls fn until it returns true, or fails after timeoutMs. */
async function until(what: string, fn: () => Promise<boolean> | boolean, timeoutMs = 10000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await fn()) return;
    await sleep(50);
  }
  assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
}

for (const impl of impls) {
  test(`etcd3 npm client against a 3-member ${impl} cluster`, { timeout: 120_000 }, async (t) => {
    const c: Cluster = await startCluster({ impl, size: 3, basePort: BASE[impl], enableV2: false });
    const client = new Etcd3({ hosts: c.clientUrls(), dialTimeout: 3000 });
    t.after(async () => {
      client.close();
      await c.destroy();
    });

    await t.test('put, get, getAll with a prefix, delete', async () => {
      await client.put('app/a').value('1');
      await client.put('app/b').value('2');
      await client.put('app/c').value('3');
      await client.put('other').value('x');
      assert.equal(await client.get('app/a').string(), '1');
      assert.equal(await client.get('missing').string(), null);
      assert.equal(await client.get('app/b').number(), 2);
      assert.deepEqual(await client.getAll().prefix('app/').strings(), { 'app/a': '1', 'app/b': '2', 'app/c': '3' });
      assert.deepEqual(await client.getAll().prefix('app/').keys(), ['app/a', 'app/b', 'app/c']);
      assert.equal(await client.getAll().prefix('app/').count(), 3);
      assert.deepEqual(await client.getAll().prefix('app/').sort('Key', 'Descend').limit(2).keys(), ['app/c', 'app/b']);
      const res = await client.get('app/a').exec();
      assert.equal(res.kvs.length, 1);
      assert.equal(res.kvs[0]!.version, '1');
      assert.equal(res.kvs[0]!.create_revision, res.kvs[0]!.mod_revision);
      // a put with prevKv returns the old value
      const put = await client.put('app/a').value('1b').getPrevious();
      assert.equal(put?.value.toString(), '1');
      const del = await client.delete().key('app/a').exec();
      assert.equal(del.deleted, '1');
      assert.equal(await client.get('app/a').string(), null);
      const delAll = await client.delete().prefix('app/').getPrevious();
      assert.deepEqual(delAll.map((kv) => kv.key.toString()).sort(), ['app/b', 'app/c']);
      assert.deepEqual(await client.getAll().prefix('app/').keys(), []);
      assert.equal(await client.get('other').string(), 'x');
    });

    await t.test('txn: if / then / else', async () => {
      await client.put('tx/k').value('v1');
      const ok = await client.if('tx/k', 'Value', '==', 'v1').then(client.put('tx/k').value('v2'), client.put('tx/flag').value('then')).else(client.put('tx/flag').value('else')).commit();
      assert.equal(ok.succeeded, true);
      assert.equal(await client.get('tx/k').string(), 'v2');
      assert.equal(await client.get('tx/flag').string(), 'then');
      const no = await client.if('tx/k', 'Value', '==', 'v1').then(client.put('tx/k').value('v3')).else(client.put('tx/flag').value('else'), client.get('tx/k')).commit();
      assert.equal(no.succeeded, false);
      assert.equal(no.responses.length, 2);
      assert.equal(no.responses[1]!.response_range!.kvs[0]!.value.toString(), 'v2');
      assert.equal(await client.get('tx/flag').string(), 'else');
      const ver = await client.if('tx/k', 'Version', '>', 1).and('tx/missing', 'Create', '==', 0).then(client.delete().key('tx/flag')).commit();
      assert.equal(ver.succeeded, true);
      assert.equal(await client.get('tx/flag').string(), null);
    });

    await t.test('watch: events of a prefix in order', async () => {
      const watcher = await client.watch().prefix('wp/').withPreviousKV().create();
      const events: string[] = [];
      watcher.on('put', (kv: IKeyValue, prev?: IKeyValue) => events.push(`put ${kv.key.toString()}=${kv.value.toString()} prev=${prev?.value.toString() ?? '-'}`));
      watcher.on('delete', (kv: IKeyValue, prev?: IKeyValue) => events.push(`delete ${kv.key.toString()} prev=${prev?.value.toString() ?? '-'}`));
      try {
        await client.put('wp/a').value('1');
        await client.put('wp/b').value('2');
        await client.put('elsewhere').value('no');
        await client.put('wp/a').value('3');
        await client.delete().key('wp/b');
        await client.delete().prefix('wp/');
        await client.put('wp/c').value('4');
        await until('6 watch events', () => events.length >= 6);
        await sleep(200); // nothing more arrives
        assert.deepEqual(events, ['put wp/a=1 prev=-', 'put wp/b=2 prev=-', 'put wp/a=3 prev=1', 'delete wp/b prev=2', 'delete wp/a prev=3', 'put wp/c=4 prev=-']);
      } finally {
        await watcher.cancel();
      }
      // replay from a past revision
      const rev = (await client.get('wp/c').exec()).kvs[0]!.mod_revision;
      const replay = await client.watch().key('wp/c').startRevision(String(Number(rev) - 1)).create();
      const seen: string[] = [];
      replay.on('put', (kv: IKeyValue) => seen.push(kv.value.toString()));
      try {
        await until('replayed put', () => seen.length >= 1);
        assert.deepEqual(seen, ['4']);
      } finally {
        await replay.cancel();
      }
    });

    await t.test('lease: grant, attach a key, keepalive keeps it, revoke removes it', async () => {
      const lease = client.lease(2); // keepalives every ttl/3: the key must outlive the ttl
      try {
        const id = await lease.grant();
        assert.match(id, /^\d+$/);
        await lease.put('leased/k').value('v');
        const ka = await lease.keepaliveOnce();
        assert.equal(ka.TTL, '2');
        await sleep(3500);
        assert.equal(await client.get('leased/k').string(), 'v', 'the automatic keepalive keeps the key past the ttl');
        await lease.revoke();
        assert.equal(await client.get('leased/k').string(), null);
        assert.equal(lease.revoked(), true);
      } finally {
        lease.release();
      }
      // a lease without keepalive expires and takes its key along
      const short = client.lease(1, { autoKeepAlive: false });
      await short.put('leased/short').value('v');
      await until('the key of an expired lease to be deleted', async () => (await client.get('leased/short').string()) === null, 8000);
      await assert.rejects(short.keepaliveOnce(), (e: Error) => e instanceof EtcdLeaseInvalidError || /lease/i.test(e.message));
      short.release();
    });

    await t.test('lock: two contenders are serialised', async () => {
      const order: string[] = [];
      let refused = 0;
      // etcd3's Lock is a try-lock (a txn on create_revision == 0): a contender that finds the lock
      // held gets EtcdLockFailedError and retries, as an application would.
      const holder = async (name: string): Promise<void> => {
        for (let attempt = 0; attempt < 100; attempt++) {
          try {
            await client.lock('locks/x').ttl(5).do(async () => {
              order.push(`${name} in`);
              await sleep(400);
              order.push(`${name} out`);
            });
            return;
          } catch (e) {
            if (!(e instanceof EtcdLockFailedError)) throw e;
            refused++;
            await sleep(50);
          }
        }
        assert.fail(`${name} never got the lock`);
      };
      await Promise.all([holder('a'), holder('b')]);
      assert.ok(refused > 0, 'the second contender was refused while the first held the lock');
      assert.equal(order.length, 4);
      assert.ok(order[0]!.endsWith(' in') && order[1] === order[0]!.replace(' in', ' out'), `not serialised: ${order.join(', ')}`);
      assert.ok(order[2]!.endsWith(' in') && order[3] === order[2]!.replace(' in', ' out'), `not serialised: ${order.join(', ')}`);
      assert.deepEqual(await client.getAll().prefix('locks/x').keys(), []);
    });

    await t.test('election: campaign, leader, resign hands over', async () => {
      const election = client.election('el', 5);
      const c1 = election.campaign('one');
      await c1.wait();
      assert.equal(await election.leader(), 'one');
      const c2 = election.campaign('two');
      let c2elected = false;
      c2.on('elected', () => (c2elected = true));
      await sleep(500);
      assert.equal(c2elected, false, 'the second candidate waits');
      await c1.proclaim('one-bis');
      assert.equal(await election.leader(), 'one-bis');
      await c1.resign();
      await c2.wait();
      assert.equal(await election.leader(), 'two');
      await c2.resign();
      assert.equal(await election.leader(), undefined);
    });
  });
}
