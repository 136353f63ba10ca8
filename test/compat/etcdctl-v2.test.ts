// Debian's etcdctl (ETCDCTL_API=2) against a 3-member cluster of each implementation: what a user
// of etcdctl sees (stdout, stderr, exit codes) must be what real etcd gives.
// Env: COMPAT_IMPL=etcd|tsetcd|both (default both when tsetcd is built, else etcd).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, implsFromEnv, tsetcdAvailable, sleep, type Cluster, type Impl } from '../harness/cluster.js';
import { etcdctl, etcdctlBackground, type EtcdctlResult } from '../harness/etcdctl.js';

const impls = implsFromEnv('COMPAT_IMPL', tsetcdAvailable() ? 'both' : 'etcd');
const BASE: Record<Impl, number> = { etcd: 24200, tsetcd: 24300 };
const ID = '[0-9a-f]{1,16}';

for (const impl of impls) {
  test(`etcdctl v2 against a 3-member ${impl} cluster`, { timeout: 180_000 }, async (t) => {
    const c: Cluster = await startCluster({ impl, size: 3, basePort: BASE[impl] });
    t.after(() => c.destroy());
    const readyAt = Date.now();
    const E = c.clientUrls();
    const ctl = (args: string[], input?: string): Promise<EtcdctlResult> => etcdctl(args, { api: 2, endpoints: E, input, timeoutMs: 15000 });
    /** Runs etcdctl and expects exit 0 and exactly this stdout. */
    const ok = async (args: string[], stdout: string | RegExp, input?: string): Promise<EtcdctlResult> => {
      const r = await ctl(args, input);
      assert.equal(r.code, 0, `etcdctl ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
      if (typeof stdout === 'string') assert.equal(r.stdout, stdout, `etcdctl ${args.join(' ')}`);
      else assert.match(r.stdout, stdout, `etcdctl ${args.join(' ')}`);
      return r;
    };
    /** Expects exit code 4 and a v2 error line `Error:  <code>: <message> (<cause>) [<index>]`. */
    const fails = async (args: string[], err: RegExp): Promise<void> => {
      const r = await ctl(args);
      assert.equal(r.code, 4, `etcdctl ${args.join(' ')} should fail with 4; got ${r.code} ${r.stdout} ${r.stderr}`);
      assert.match(r.stderr, err, `etcdctl ${args.join(' ')}`);
    };
    const index = async (): Promise<number> => {
      const res = await fetch(`${E[0]}/v2/keys/`, { signal: AbortSignal.timeout(3000) });
      await res.text();
      return Number(res.headers.get('x-etcd-index'));
    };

    await t.test('set, get, mk, update', async () => {
      await ok(['set', '/foo', 'bar'], 'bar\n');
      await ok(['get', '/foo'], 'bar\n');
      await ok(['get', '--quorum', '/foo'], 'bar\n');
      await fails(['mk', '/foo', 'x'], /^Error:  105: Key already exists \(\/foo\) \[\d+\]\n$/);
      await ok(['mk', '/new', 'v'], 'v\n');
      await ok(['update', '/foo', 'up'], 'up\n');
      await fails(['update', '/missing', 'x'], /^Error:  100: Key not found \(\/missing\) \[\d+\]\n$/);
      await fails(['get', '/missing'], /^Error:  100: Key not found \(\/missing\) \[\d+\]\n$/);
      await fails(['set', '--swap-with-value', 'no', '/new', 'z'], /^Error:  101: Compare failed \(\[no != v\]\) \[\d+\]\n$/);
      await ok(['set', '--swap-with-value', 'v', '/new', 'z'], 'z\n');
      await ok(['set', '--ttl', '100', '/ttl', 't'], 't\n');
      const r = await ok(['-o', 'extended', 'get', '/ttl'], /^Key: \/ttl\nCreated-Index: \d+\nModified-Index: \d+\nTTL: (99|100)\nIndex: \d+\n\nt\n$/);
      assert.ok(r.stdout.includes('TTL:'));
      await ok(['-o', 'json', 'get', '/foo'], /^\{"action":"get","node":\{"key":"\/foo","value":"up","nodes":null,"createdIndex":\d+,"modifiedIndex":\d+\},"prevNode":null\}\n$/);
    });

    await t.test('mkdir, setdir, updatedir, ls, rm, rmdir', async () => {
      await ok(['mkdir', '/d'], '');
      await fails(['mkdir', '/d'], /^Error:  105: Key already exists \(\/d\) \[\d+\]\n$/);
      await ok(['set', '/d/b', '2'], '2\n');
      await ok(['set', '/d/a', '1'], '1\n');
      await ok(['mkdir', '/d/sub'], '');
      await ok(['set', '/d/_hidden', 'h'], 'h\n');
      await ok(['ls', '--sort', '/d'], '/d/a\n/d/b\n/d/sub\n');
      await ok(['ls', '--sort', '-p', '/d'], '/d/a\n/d/b\n/d/sub/\n');
      await ok(['ls', '--sort', '--recursive', '-p', '/'], '/d/\n/d/a\n/d/b\n/d/sub/\n/foo\n/new\n/ttl\n');
      await ok(['ls', '--sort', '--quorum'], '/d\n/foo\n/new\n/ttl\n');
      await ok(['updatedir', '/d', '--ttl', '100'], '');
      await ok(['setdir', '/sd'], '');
      await fails(['rm', '/d'], /^Error:  102: Not a file \(\/d\) \[\d+\]\n$/);
      await fails(['rmdir', '/d'], /^Error:  108: Directory not empty \(\/d\) \[\d+\]\n$/);
      await ok(['rmdir', '/sd'], '');
      await ok(['rm', '/foo'], 'PrevNode.Value: up\n');
      await fails(['rm', '--with-value', 'nope', '/new'], /^Error:  101: Compare failed \(\[nope != z\]\) \[\d+\]\n$/);
      await ok(['rm', '--with-value', 'z', '/new'], '\n'); // compareAndDelete: etcdctl prints an empty line
      await ok(['rm', '-r', '/d'], '');
      await ok(['ls', '--sort'], '/ttl\n');
      await ok(['mk', '--in-order', '/q', 'job1'], 'job1\n');
      await ok(['mk', '--in-order', '/q', 'job2'], 'job2\n');
      await ok(['ls', '--sort', '/q'], /^\/q\/\d{20}\n\/q\/\d{20}\n$/);
    });

    await t.test('watch --after-index and a concurrent write', async () => {
      await ok(['set', '/w', 'a'], 'a\n');
      const after = await index();
      await ok(['set', '/w', 'b'], 'b\n');
      // history replay: the first event after `after` is the write of b
      await ok(['watch', '--after-index', String(after), '/w'], 'b\n');
      // a live event: the watch is started, then the write happens concurrently
      const now = await index();
      const w = etcdctlBackground(['watch', '--after-index', String(now), '/w'], { api: 2, endpoints: E });
      try {
        await sleep(300);
        await ok(['set', '/w', 'c'], 'c\n');
        const res = await Promise.race([w.closed, sleep(10000).then(() => undefined)]);
        assert.ok(res, `watch did not return: ${w.stdout} ${w.stderr}`);
        assert.equal(res.code, 0);
        assert.equal(w.stdout, 'c\n');
      } finally {
        await w.kill();
      }
      // recursive watch with --forever: two events, then killed by us
      const now2 = await index();
      const f = etcdctlBackground(['watch', '--forever', '--recursive', '--after-index', String(now2), '/wd'], { api: 2, endpoints: E });
      try {
        await ok(['set', '/wd/x', '1'], '1\n');
        await ok(['set', '/wd/y', '2'], '2\n');
        const out = await f.waitFor(/1\n[\s\S]*2\n/, 10000);
        assert.equal(out, '[set] /wd/x\n1\n[set] /wd/y\n2\n');
      } finally {
        await f.kill();
      }
    });

    await t.test('exec-watch runs the command on the first event', async () => {
      const now = await index();
      const ew = etcdctlBackground(
        // etcdctl 3.4's argument handling is fragile: this order (a valued flag, then a bool
        // flag, key, --, command) is one that works with real etcd.
        ['exec-watch', '--after-index', String(now), '--recursive', '/ew', '--', 'sh', '-c', 'echo "$ETCD_WATCH_ACTION $ETCD_WATCH_KEY $ETCD_WATCH_VALUE"'],
        { api: 2, endpoints: E },
      );
      try {
        await ok(['set', '/ew', 'fired'], 'fired\n');
        const out = await ew.waitFor(/fired\n/, 10000);
        assert.equal(out, 'set /ew fired\n');
      } finally {
        await ew.kill();
      }
    });

    await t.test('cluster-health and member list', async () => {
      const h = await ok(['cluster-health'], /cluster is healthy\n$/);
      const lines = h.stdout.trimEnd().split('\n');
      assert.equal(lines.length, 4);
      for (const l of lines.slice(0, 3)) assert.match(l, new RegExp(`^member ${ID} is healthy: got healthy result from http://127\\.0\\.0\\.1:\\d+$`));
      const ml = await ok(['member', 'list'], /isLeader/);
      const rows = ml.stdout.trimEnd().split('\n').sort((a, b) => a.replace(/^\S+ /, '').localeCompare(b.replace(/^\S+ /, '')));
      assert.equal(rows.length, 3);
      rows.forEach((row, i) => {
        const client = BASE[impl] + 2 * i;
        assert.match(row, new RegExp(`^${ID}: name=m${i} peerURLs=http://127\\.0\\.0\\.1:${client + 1} clientURLs=http://127\\.0\\.0\\.1:${client} isLeader=(true|false)$`));
      });
      assert.equal(rows.filter((r) => r.endsWith('isLeader=true')).length, 1, ml.stdout);
    });

    await t.test('member add, update, remove', async () => {
      const wait = readyAt + 6000 - Date.now(); // etcd refuses reconfiguration until peers are 5 s active
      if (wait > 0) await sleep(wait);
      const peer = `http://127.0.0.1:${BASE[impl] + 50}`;
      const add = await ok(['member', 'add', 'm3', peer], /^Added member named m3 with ID /);
      const m = new RegExp(`^Added member named m3 with ID (${ID}) to cluster\\n\\nETCD_NAME="m3"\\nETCD_INITIAL_CLUSTER="(.*)"\\nETCD_INITIAL_CLUSTER_STATE="existing"\\n$`).exec(add.stdout);
      assert.ok(m, add.stdout);
      const id = m[1]!;
      assert.deepEqual(m[2]!.split(',').sort(), [...c.members.map((x) => `${x.name}=${x.peerUrl}`), `m3=${peer}`].sort());
      const list = await ok(['member', 'list'], new RegExp(`^${id}\\[unstarted\\]: peerURLs=${peer.replace(/\./g, '\\.')}$`, 'm'));
      assert.equal(list.stdout.trimEnd().split('\n').length, 4);
      const peer2 = `http://127.0.0.1:${BASE[impl] + 51}`;
      await ok(['member', 'update', id, peer2], `Updated member with ID ${id} in cluster\n`);
      await ok(['member', 'list'], new RegExp(`^${id}\\[unstarted\\]: peerURLs=${peer2.replace(/\./g, '\\.')}$`, 'm'));
      await ok(['member', 'remove', id], `Removed member ${id} from cluster\n`);
      const after = await ok(['member', 'list'], /isLeader/);
      assert.equal(after.stdout.trimEnd().split('\n').length, 3);
      const bad = await ctl(['member', 'remove', 'abcdef12']);
      assert.notEqual(bad.code, 0);
      assert.equal(bad.stderr, "Couldn't find a member in the cluster with an ID of abcdef12.\n");
    });

    await t.test('users, roles, auth', async () => {
      await ok(['user', 'add', 'root:rootpw'], 'User root created\n');
      await ok(['user', 'add', 'alice'], 'New password: \nUser alice created\n', 'alicepw\n');
      await ok(['user', 'list'], 'alice\nroot\n');
      await ok(['user', 'get', 'root'], 'User: root\nRoles:  root\n');
      await ok(['role', 'add', 'reader'], 'Role reader created\n');
      await ok(['role', 'grant', 'reader', '--path', '/pub/*', '--read'], 'Role reader updated\n');
      await ok(['role', 'grant', 'reader', '--path', '/pub/w', '--write'], 'Role reader updated\n');
      await ok(['role', 'get', 'reader'], 'Role: reader\nKV Read:\n\t/pub/*\nKV Write:\n\t/pub/w\n');
      await ok(['role', 'list'], 'reader\nroot\n');
      await ok(['user', 'grant', 'alice', '--roles', 'reader'], 'User alice updated\n');
      await ok(['user', 'get', 'alice'], 'User: alice\nRoles:  reader\n');
      await ok(['user', 'passwd', 'alice'], 'New password: \nPassword updated\n', 'newpw\n');
      await ok(['auth', 'enable'], 'Authentication Enabled\n');
      await ok(['--username', 'root:rootpw', 'role', 'list'], 'guest\nreader\nroot\n');
      // guest still has full access until its permissions are revoked
      await ok(['set', '/pub/w', 'guest'], 'guest\n');
      await ok(['--username', 'root:rootpw', 'role', 'revoke', 'guest', '--path', '/*', '--readwrite'], 'Role guest updated\n');
      const anon = await ctl(['get', '/pub/w']);
      assert.notEqual(anon.code, 0);
      assert.match(anon.stderr, /110: The request requires user authentication \(Insufficient credentials\)/);
      await ok(['--username', 'alice:newpw', 'set', '/pub/w', 'alice'], 'alice\n');
      await ok(['--username', 'alice:newpw', 'get', '/pub/w'], 'alice\n');
      const denied = await ctl(['--username', 'alice:newpw', 'set', '/pub/x', 'no']);
      assert.notEqual(denied.code, 0);
      assert.match(denied.stderr, /110: The request requires user authentication/);
      const oldpw = await ctl(['--username', 'alice:alicepw', 'get', '/pub/w']);
      assert.notEqual(oldpw.code, 0);
      await ok(['--username', 'root:rootpw', 'auth', 'disable'], 'Authentication Disabled\n');
      await ok(['get', '/pub/w'], 'alice\n');
      await ok(['user', 'revoke', 'alice', '--roles', 'reader'], 'User alice updated\n');
      await ok(['user', 'get', 'alice'], 'User: alice\nRoles: \n');
      await ok(['role', 'revoke', 'reader', '--path', '/pub/*', '--read'], 'Role reader updated\n');
      await ok(['role', 'remove', 'reader'], 'Role reader removed\n');
      await ok(['user', 'remove', 'alice'], 'User alice removed\n');
      await ok(['user', 'list'], 'root\n');
    });
  });
}
