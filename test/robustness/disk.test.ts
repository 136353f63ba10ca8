// Bad disks: WAL and snapshot files corrupted between restarts (flipped bytes, truncation, a
// zeroed page) must give either the intact prefix of what was written or a refusal to start
// with a clear error, never data that was not written; an fsync failure or a full disk
// (injected with the TSETCD_FAULT_* hooks in src/store/wal/fault.ts) must stop the member from
// acknowledging writes, and every write it did acknowledge must survive a restart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, cpSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, truncateSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { tmpdir } from 'node:os';
import { startCluster, sleep, tsetcdAvailable, tailFile, type Cluster } from '../harness/cluster.js';
import { Prng } from './prng.js';

const skip = !tsetcdAvailable() && 'tsetcd is not built';
const BASE_PORT = 31400;

async function put(url: string, key: string, value: string, timeoutMs = 3000): Promise<number> {
  try {
    const r = await fetch(`${url}/v2/keys/${key}`, { method: 'PUT', body: new URLSearchParams({ value }), signal: AbortSignal.timeout(timeoutMs) });
    await r.text();
    return r.status;
  } catch {
    return 0;
  }
}

async function readAll(url: string, dir: string): Promise<Map<string, string> | undefined> {
  try {
    const r = await fetch(`${url}/v2/keys/${dir}?recursive=true`, { signal: AbortSignal.timeout(3000) });
    const body = (await r.json()) as { errorCode?: number; node?: { nodes?: { key: string; value: string }[] } };
    if (body.errorCode === 100) return new Map();
    if (r.status !== 200) return undefined;
    return new Map((body.node?.nodes ?? []).map((n) => [n.key, n.value]));
  } catch {
    return undefined;
  }
}

/** Waits until member 0 is healthy (true) or has exited (false). */
async function upOrExit(c: Cluster, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!c.isRunning(0)) return false;
    try {
      await c.waitReady(0, 1000);
      return true;
    } catch {
      /* not yet */
    }
  }
  throw new Error(`member neither healthy nor exited in ${timeoutMs} ms\n${tailFile(c.members[0]!.logFile)}`);
}

function filesIn(dir: string, ext: string): string[] {
  try {
    return readdirSync(dir).filter((n) => n.endsWith(ext)).sort().map((n) => join(dir, n));
  } catch {
    return [];
  }
}

type Mode = 'wal-flip-tail' | 'wal-flip-head' | 'wal-truncate' | 'wal-zero-page' | 'snap-flip' | 'snap-truncate' | 'snap-zero-page';
const MODES: Mode[] = ['wal-flip-tail', 'wal-flip-head', 'wal-truncate', 'wal-zero-page', 'snap-flip', 'snap-truncate', 'snap-zero-page'];

/** Damages one file of the member's data dir; returns what it did. */
function corrupt(memberDir: string, mode: Mode, rnd: Prng): string {
  const wals = filesIn(join(memberDir, 'wal'), '.wal');
  const snaps = filesIn(join(memberDir, 'snap'), '.snap');
  const file = mode.startsWith('wal') ? (mode === 'wal-flip-head' ? wals[0] : wals[wals.length - 1]) : snaps[snaps.length - 1];
  if (file === undefined) return `${mode}: no such file (wal ${wals.length}, snap ${snaps.length})`;
  const size = statSync(file).size;
  const buf = readFileSync(file);
  switch (mode) {
    case 'wal-flip-tail':
    case 'snap-flip': {
      const off = mode === 'snap-flip' ? rnd.int(size) : Math.floor(size * 0.8) + rnd.int(Math.max(1, Math.ceil(size * 0.2)));
      buf[off] = buf[off]! ^ (1 << rnd.int(8));
      writeFileSync(file, buf);
      return `${mode}: flipped a bit at ${off} of ${file} (${size} bytes)`;
    }
    case 'wal-flip-head': {
      const off = rnd.int(Math.min(size, 256));
      buf[off] = buf[off]! ^ 0xff;
      writeFileSync(file, buf);
      return `${mode}: flipped byte ${off} of ${file}`;
    }
    case 'wal-truncate':
    case 'snap-truncate': {
      const to = rnd.int(size);
      truncateSync(file, to);
      return `${mode}: truncated ${file} from ${size} to ${to}`;
    }
    case 'wal-zero-page':
    case 'snap-zero-page': {
      const page = rnd.int(Math.max(1, Math.ceil(size / 4096)));
      buf.fill(0, page * 4096, Math.min(size, page * 4096 + 4096));
      writeFileSync(file, buf);
      return `${mode}: zeroed page ${page} of ${file} (${size} bytes)`;
    }
  }
}

test('corrupt WAL and snapshot files: the intact prefix or a clear refusal, never unwritten data', { skip, timeout: 300_000 }, async () => {
  const c = await startCluster({ impl: 'tsetcd', size: 1, basePort: BASE_PORT, snapshotCount: 40 });
  const url = c.members[0]!.clientUrl;
  const written: string[] = [];
  try {
    for (let i = 0; i < 150; i++) {
      const key = `c/k${String(i).padStart(4, '0')}`;
      assert.equal(await put(url, key, `v${i}`), 201);
      written.push(key);
    }
    await c.kill9(0);
    const dataDir = c.members[0]!.dataDir;
    // Kept outside the harness temp dir, under a name no other suite's cleanup matches.
    const pristine = join(mkdtempSync(join(tmpdir(), 'robust-disk-')), 'pristine');
    cpSync(dataDir, pristine, { recursive: true });
    const outcomes: string[] = [];
    let refused = 0;
    let recovered = 0;
    for (const mode of MODES) {
      for (let s = 0; s < 2; s++) {
        const rnd = new Prng(MODES.indexOf(mode) * 100 + s + 1);
        rmSync(dataDir, { recursive: true, force: true });
        cpSync(pristine, dataDir, { recursive: true });
        const what = corrupt(join(dataDir, 'member'), mode, rnd);
        if (process.env.ROBUST_VERBOSE) console.log(what);
        c.spawnMember(0);
        const up = await upOrExit(c, 20000);
        if (!up) {
          refused++;
          const log = tailFile(c.members[0]!.logFile, 5);
          assert.match(log, /corrupt|crc|checksum|snapshot|snap|wal|truncat|invalid|malformed|decode/i, `${what}: refused to start without a clear error:\n${log}`);
          outcomes.push(`${what} -> refused: ${log.split('\n').filter((l) => l.trim()).pop()?.slice(0, 160)}`);
          continue;
        }
        const got = await readAll(url, 'c');
        assert.ok(got, `${what}: healthy but could not read`);
        // Every value served was written, and what is served is a prefix of the write order.
        let prefix = 0;
        while (prefix < written.length && got.has(`/${written[prefix]}`)) prefix++;
        for (const [k, v] of got) {
          const i = written.indexOf(k.slice(1));
          assert.ok(i >= 0, `${what}: serves ${k} which was never written`);
          assert.equal(v, `v${i}`, `${what}: ${k} has value ${v}, written v${i}`);
        }
        assert.equal(got.size, prefix, `${what}: serves ${got.size} keys but only the first ${prefix} form a prefix (a hole in the log)`);
        recovered++;
        outcomes.push(`${what} -> serves ${prefix}/${written.length} keys (intact prefix)`);
        await c.kill9(0);
      }
    }
    rmSync(dirname(pristine), { recursive: true, force: true });
    console.log(`corruption: ${refused} refused, ${recovered} recovered a prefix\n  ${outcomes.join('\n  ')}`);
  } finally {
    await c.destroy();
  }
});

for (const fault of [
  { name: 'an fdatasync failure (EIO)', env: { TSETCD_FAULT_FSYNC: 'fail-after:40' } },
  { name: 'a full disk (ENOSPC)', env: { TSETCD_FAULT_WRITE: 'enospc-after:30000' } },
]) {
  test(`${fault.name} stops acknowledged writes; every acknowledged write survives a restart`, { skip, timeout: 120_000 }, async () => {
    const env: Record<string, string> = { ...(fault.env as unknown as Record<string, string>) };
    const c = await startCluster({ impl: 'tsetcd', size: 1, basePort: BASE_PORT + 10, env, waitReady: false });
    const url = c.members[0]!.clientUrl;
    try {
      // The fault may hit during boot already: then the member must not come up healthy.
      const up = await upOrExit(c, 20000);
      const acked: string[] = [];
      let firstFailure = -1;
      let ackedAfterFailure = 0;
      let lastStatus = 0;
      if (up) {
        for (let i = 0; i < 400; i++) {
          const status = await put(url, `f/k${i}`, `v${i}`);
          if (status === 201 || status === 200) {
            acked.push(`f/k${i}`);
            if (firstFailure >= 0) ackedAfterFailure++;
          } else {
            if (firstFailure < 0) firstFailure = i;
            lastStatus = status;
            if (!c.isRunning(0)) break;
          }
        }
      }
      assert.ok(firstFailure >= 0 || !up, 'the injected fault never stopped a write');
      assert.equal(ackedAfterFailure, 0, 'writes were acknowledged after the WAL failed');
      await sleep(500);
      const exited = !c.isRunning(0);
      const log = tailFile(c.members[0]!.logFile, 10);
      assert.match(log, /EIO|ENOSPC|wal/i, 'the log does not say what failed');
      // Restart without the fault: every acknowledged write is there.
      for (const k of Object.keys(env)) env[k] = '';
      await c.kill9(0);
      c.spawnMember(0);
      await c.waitReady(0, 20000);
      const got = await readAll(url, 'f');
      assert.ok(got);
      for (const k of acked) assert.ok(got.has(`/${k}`), `acknowledged ${k} lost after restart`);
      console.log(`${fault.name}: ${acked.length} writes acknowledged, first failure at write ${firstFailure} (HTTP ${lastStatus}), member ${exited ? 'exited' : 'stayed up refusing writes'}; all acknowledged writes present after restart`);
    } finally {
      await c.destroy();
    }
  });
}
