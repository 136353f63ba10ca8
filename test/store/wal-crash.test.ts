// kill -9 a process that is appending to a WAL, reopen: every index it acknowledged is there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Wal } from '../../src/store/wal/index.js';

const WAL_MODULE_URL = new URL('../../src/store/wal/index.js', import.meta.url).href;
const CHILD_RUN_MS_MAX = 10_000;

// Saves 1..8 entries per call from 4 concurrent writers (so groups form), small segments (so
// it rolls), and prints the last index of each save once its promise resolved (= durable).
const CHILD = `
import { Wal } from ${JSON.stringify(WAL_MODULE_URL)};
const dir = process.env.WAL_DIR;
const dataFor = (i) => Buffer.from(('entry-' + i + '-').padEnd(40 + (i % 150), String.fromCharCode(97 + (i % 26))));
let wal, next;
if (await Wal.exists(dir)) {
  const r = await Wal.open(dir, { segmentBytesMax: 64 * 1024 });
  wal = r.wal; next = r.lastIndex + 1;
} else {
  wal = await Wal.create(dir, new Uint8Array([1, 2, 3]), { segmentBytesMax: 64 * 1024 });
  next = 1;
}
process.stdout.write('ready\\n');
async function writer() {
  for (;;) {
    const n = 1 + Math.floor(Math.random() * 8);
    const entries = [];
    for (let k = 0; k < n; k++, next++) entries.push({ index: next, term: 1, type: 'normal', data: dataFor(next) });
    const last = next - 1;
    await wal.save({ term: 1, vote: '', commit: last }, entries, true);
    process.stdout.write(last + '\\n');
  }
}
await Promise.all([writer(), writer(), writer(), writer()]);
`;

function dataFor(i: number): Buffer {
  return Buffer.from(`entry-${i}-`.padEnd(40 + (i % 150), String.fromCharCode(97 + (i % 26))));
}

/** Runs the child until it has acknowledged something, kills it with SIGKILL after killAfterMs
 *  more, and returns the highest index it acknowledged. */
function runAndKill(dir: string, killAfterMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD], {
      env: { ...process.env, WAL_DIR: dir },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let acked = 0;
    let pending = '';
    let stderr = '';
    let killTimer: NodeJS.Timeout | undefined;
    const guard = setTimeout(() => child.kill('SIGKILL'), CHILD_RUN_MS_MAX);
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.stdout.on('data', (d: Buffer) => {
      pending += d.toString();
      const lines = pending.split('\n');
      pending = lines.pop()!; // an incomplete last line is not an acknowledgement
      for (const l of lines) {
        if (l === 'ready') continue;
        acked = Math.max(acked, Number(l));
        if (killTimer === undefined) killTimer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
      }
    });
    child.on('exit', (code, signal) => {
      clearTimeout(guard);
      if (killTimer) clearTimeout(killTimer);
      if (signal !== 'SIGKILL') reject(new Error(`child exited ${code} ${signal}: ${stderr}`));
      else if (acked === 0) reject(new Error(`child acknowledged nothing: ${stderr}`));
      else resolve(acked);
    });
  });
}

test('kill -9 while appending loses no acknowledged entry, across restarts', { timeout: 60_000 }, async () => {
  const dir = await mkdtemp(join(tmpdir(), 'tsetcd-walcrash-'));
  try {
    let ackedMax = 0;
    for (let round = 0; round < 4; round++) {
      const killAfterMs = 50 + Math.floor(Math.random() * 600);
      ackedMax = Math.max(ackedMax, await runAndKill(dir, killAfterMs));
      const r = await Wal.open(dir);
      try {
        assert.ok(r.lastIndex >= ackedMax, `round ${round} (kill after ${killAfterMs}ms): lastIndex ${r.lastIndex} < acknowledged ${ackedMax}`);
        assert.equal(r.entries.length, r.lastIndex);
        for (let i = 1; i <= r.lastIndex; i++) {
          const e = r.entries[i - 1]!;
          assert.equal(e.index, i);
          assert.equal(Buffer.compare(Buffer.from(e.data), dataFor(i)), 0, `data of entry ${i}`);
        }
        assert.ok(r.hardState.commit <= r.lastIndex, 'the hard state never points past the log');
      } finally {
        await r.wal.close();
      }
    }
    assert.ok(ackedMax > 100, `only ${ackedMax} entries acknowledged`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
