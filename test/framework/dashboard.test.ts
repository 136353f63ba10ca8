// The dashboard in a real browser (Debian's chromium driven by playwright-core): install a
// three-pod cluster, open the page, watch the pods turn healthy and the deploy plan COMPLETE,
// replace a pod through the page (with its confirmation) and watch it come back as a new
// member, see a member that stops answering reported on the page, and inspect a screenshot.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { spawn } from 'node:child_process';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { killStrays } from '../../src/framework/proc.js';
import { BIN, httpReq, sleep, type CliResult, type StateLike } from './helpers.js';

const CHROMIUM = process.env.CHROMIUM_BIN ?? '/usr/bin/chromium';
const A = '127.0.0';
const CLIENT = 27110;
const PEER = 27111;
const API_PORT = 27120;
const VIP = `${A}.170:${CLIENT}`;
export const SCREENSHOT = process.env.TSETCD_DASHBOARD_SCREENSHOT ?? join(tmpdir(), 'tsetcd-dashboard.png');

// ------------------------------------------------------------------ PNG (what chromium writes)

interface Image { width: number; height: number; px(x: number, y: number): [number, number, number] }

/** 8-bit RGB/RGBA, non-interlaced: the PNGs chromium's screenshots are. */
function decodePng(buf: Buffer): Image {
  assert.equal(buf.subarray(1, 4).toString('latin1'), 'PNG', 'not a PNG');
  let off = 8;
  let width = 0, height = 0, colorType = 0;
  const idat: Buffer[] = [];
  while (off < buf.length) {
    const len = buf.readUInt32BE(off);
    const type = buf.subarray(off + 4, off + 8).toString('latin1');
    const data = buf.subarray(off + 8, off + 8 + len);
    if (type === 'IHDR') {
      width = data.readUInt32BE(0); height = data.readUInt32BE(4);
      assert.equal(data[8], 8, 'bit depth'); colorType = data[9]!; assert.equal(data[12], 0, 'interlace');
    } else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') break;
    off += 12 + len;
  }
  const bpp = colorType === 6 ? 4 : colorType === 2 ? 3 : 0;
  assert.ok(bpp > 0, `color type ${colorType}`);
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * bpp;
  const out = Buffer.alloc(height * stride);
  for (let y = 0; y < height; y++) {
    const f = raw[y * (stride + 1)]!;
    const src = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let i = 0; i < stride; i++) {
      const a = i >= bpp ? out[y * stride + i - bpp]! : 0;
      const b = y > 0 ? out[(y - 1) * stride + i]! : 0;
      const c = i >= bpp && y > 0 ? out[(y - 1) * stride + i - bpp]! : 0;
      let pred = 0;
      if (f === 1) pred = a; else if (f === 2) pred = b; else if (f === 3) pred = (a + b) >> 1;
      else if (f === 4) { const p = a + b - c; const pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c); pred = pa <= pb && pa <= pc ? a : pb <= pc ? b : c; }
      out[y * stride + i] = (src[i]! + pred) & 0xff;
    }
  }
  return { width, height, px: (x, y) => { const o = y * stride + x * bpp; return [out[o]!, out[o + 1]!, out[o + 2]!]; } };
}

const hex = (h: string): [number, number, number] => [parseInt(h.slice(1, 3), 16), parseInt(h.slice(3, 5), 16), parseInt(h.slice(5, 7), 16)];

/** Pixels within a box whose colour is close to `color`. */
function countColor(img: Image, box: { x: number; y: number; width: number; height: number }, color: string): number {
  const [r, g, b] = hex(color);
  let n = 0;
  for (let y = Math.max(0, Math.floor(box.y)); y < Math.min(img.height, box.y + box.height); y++) {
    for (let x = Math.max(0, Math.floor(box.x)); x < Math.min(img.width, box.x + box.width); x++) {
      const [pr, pg, pb] = img.px(x, y);
      if (Math.abs(pr - r) + Math.abs(pg - g) + Math.abs(pb - b) < 30) n++;
    }
  }
  return n;
}

/** `tsetcd <args>` for the service under `home`; the scheduler it starts listens on API_PORT. */
function cli(home: string, args: string[], timeoutMs = 60_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, TSETCD_HOME: home, TSETCD_SCHEDULER_PORT: String(API_PORT) }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const t = setTimeout(() => { c.kill('SIGKILL'); reject(new Error(`tsetcd ${args.join(' ')}: timeout`)); }, timeoutMs);
    c.on('exit', (code) => { clearTimeout(t); resolve({ code: code ?? -1, stdout, stderr }); });
  });
}

// ------------------------------------------------------------------ the page

async function rowAttr(page: Page, pod: string, attr: string): Promise<string | null> {
  return page.locator(`tr.pod-row[data-pod="${pod}"]`).getAttribute(attr, { timeout: 2000 }).catch(() => null);
}

async function waitPage(page: Page, what: string, pred: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await pred().catch(() => false)) return;
    await sleep(250);
  }
  const text = await page.locator('main').innerText().catch(() => '(no page)');
  throw new Error(`page: timed out waiting for ${what}; the page shows:\n${text.slice(0, 3000)}`);
}

async function allHealthy(page: Page): Promise<boolean> {
  for (const pod of ['etcd-0', 'etcd-1', 'etcd-2']) {
    if ((await rowAttr(page, pod, 'data-state')) !== 'RUNNING' || (await rowAttr(page, pod, 'data-healthy')) !== 'true') return false;
  }
  return true;
}

test('dashboard: live cluster, deploy COMPLETE, replace through the page, unreachable member, screenshot', { timeout: 170_000 }, async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} missing: apt-get install -y chromium`);
  // Its own temp prefix: a sweep of other tests' tsetcd-fw-* homes must not take this one.
  const home = mkdtempSync(join(tmpdir(), 'tsetcd-dash-'));
  const profile = mkdtempSync(join(tmpdir(), 'tsetcd-chromium-'));
  let ctx: BrowserContext | undefined;
  let stopped: number | undefined;
  const root = join(home, 'etcd');
  const state = (): StateLike => JSON.parse(readFileSync(join(root, 'scheduler', 'state.json'), 'utf8')) as StateLike;
  try {
    // package install, as a user runs it; the scheduler's API (and so the page) on a fixed port.
    const opts = join(home, 'options.json');
    writeFileSync(opts, JSON.stringify({ service: { vip_address: `${A}.170` }, node: { first_address: `${A}.171` }, etcd: { client_port: CLIENT, peer_port: PEER } }));
    const inst = await cli(home, ['package', 'install', `--options=${opts}`]);
    assert.equal(inst.code, 0, inst.stderr);
    const base = (JSON.parse(readFileSync(join(root, 'scheduler', 'api.json'), 'utf8')) as { url: string }).url;
    assert.equal(base, `http://127.0.0.1:${API_PORT}`);
    assert.equal((await httpReq(`${base}/dashboard`)).status, 302);

    ctx = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1400, height: 2000 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const page = ctx.pages()[0] ?? (await ctx.newPage());
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(`${base}/dashboard/`);

    // The service, as configured.
    await waitPage(page, 'the service name', async () => (await page.locator('#service-name').innerText()) === 'etcd', 10_000);
    assert.equal(await page.locator('[data-fact="VIP"]').innerText(), `http://${VIP}`);
    assert.equal(await page.locator('[data-fact="TLS"]').innerText(), 'off (http)');
    await page.locator('#options summary').click();
    assert.match(await page.locator('#options-table').innerText(), /node\.first_address\s+"127\.0\.0\.171"\s+set/);

    // Three pods turn healthy, the deploy plan completes, a leader is shown with term and index.
    await waitPage(page, 'three healthy pods and deploy COMPLETE', async () => (await allHealthy(page)) && (await page.locator('#plan-deploy').getAttribute('data-status')) === 'COMPLETE', 90_000);
    assert.equal(await page.locator('#plan-deploy li[data-step] .s-COMPLETE').count(), 3);
    await waitPage(page, 'one leader', async () => (await page.locator('tr.pod-row[data-leader="true"]').count()) === 1, 15_000);
    // (Each pod's term and index come with that pod's own status round: not always the round
    // that showed the leader; a clean-clone CI run once read '– / –' here.)
    await waitPage(page, 'etcd-0\'s term / index', async () => /^\d+ \/ \d+$/.test(await page.locator('tr.pod-row[data-pod="etcd-0"] .raft').innerText()), 15_000);
    assert.equal(await page.locator('#conn').innerText(), 'live');

    // Some writes through the VIP, so the plots have something to show: v2 keys, and v3 puts
    // through the JSON gateway (only v3 writes reach the backend whose commit latency is plotted),
    // spread over several of the collector's 1 s rounds so that each latency line has points.
    const writeSome = async (tag: string): Promise<void> => {
      for (let i = 0; i < 30; i++) {
        await httpReq(`http://${VIP}/v2/keys/dash${tag}${i}`, { method: 'PUT', body: `value=${'x'.repeat(200)}`, headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
        const kv = { key: Buffer.from(`dash${tag}${i}`).toString('base64'), value: Buffer.from('x'.repeat(200)).toString('base64') };
        await httpReq(`http://${VIP}/v3/kv/put`, { method: 'POST', body: JSON.stringify(kv), headers: { 'Content-Type': 'application/json' } });
        await sleep(150);
      }
    };
    await writeSome('a');
    await waitPage(page, 'a proposals plot line', async () => (await page.locator('svg[data-plot="proposals"] polyline').count()) >= 3, 15_000);

    // Plan verbs: pause and resume the deploy plan; the scheduler's answer shows on the page.
    await page.locator('#plan-deploy button[data-verb="interrupt"]').click();
    await waitPage(page, 'pause acknowledged', async () => (await page.locator('#messages').innerText()).includes('pause plan deploy: Received cmd: interrupt'), 10_000);
    await page.locator('#plan-deploy button[data-verb="continue"]').click();
    await waitPage(page, 'resume acknowledged', async () => (await page.locator('#messages').innerText()).includes('resume plan deploy: Received cmd: continue'), 10_000);

    // Replace etcd-1 through the page: confirmation first, then a new member in its place.
    const oldId = await rowAttr(page, 'etcd-1', 'data-member-id');
    assert.ok(oldId !== null && oldId !== '', 'etcd-1 shows its member id');
    await page.locator('button[data-verb="replace"][data-pod="etcd-1"]').click();
    await page.locator('#confirm').waitFor({ state: 'visible', timeout: 5000 });
    assert.match(await page.locator('#confirm-text').innerText(), /destroys etcd-1's sandbox and all of its data/);
    await page.locator('#confirm button.cancel').click();
    await sleep(700);
    assert.equal(await rowAttr(page, 'etcd-1', 'data-member-id'), oldId, 'cancel replaces nothing');
    await page.locator('button[data-verb="replace"][data-pod="etcd-1"]').click();
    await page.locator('#confirm button.confirm').click();
    await waitPage(page, 'the replace accepted', async () => (await page.locator('#messages').innerText()).includes('replace etcd-1: accepted'), 10_000);
    await waitPage(page, 'etcd-1 back as a new member', async () => {
      const id = await rowAttr(page, 'etcd-1', 'data-member-id');
      return id !== null && id !== '' && id !== oldId && (await allHealthy(page));
    }, 90_000);

    // A member that stops answering (SIGSTOP) is reported on the page, and clears when it answers.
    stopped = state().pods['etcd-2']!.task!.pid;
    process.kill(stopped, 'SIGSTOP');
    await waitPage(page, 'etcd-2 reported unreachable', async () => /etcd-2: member unreachable at http:\/\/127\.0\.0\.173:27110/.test(await page.locator('#messages').innerText()), 15_000);
    process.kill(stopped, 'SIGCONT');
    stopped = undefined;
    await waitPage(page, 'the message gone', async () => !(await page.locator('#messages').innerText()).includes('etcd-2: member unreachable'), 15_000);

    // The screenshot, and what it shows.
    await waitPage(page, 'healthy again before the screenshot', () => allHealthy(page), 30_000);
    await writeSome('b');
    await sleep(1500);
    await page.locator('#options').evaluate((el) => { (el as unknown as { open: boolean }).open = false; });
    await page.evaluate('window.scrollTo(0, 0)');
    await sleep(600);
    mkdirSync(dirname(SCREENSHOT), { recursive: true });
    // The page is live (it re-renders, and message banners come and go above the plans): the
    // boxes checked are measured just before and just after the screenshot, which is taken again
    // until they agree.
    type Box = { x: number; y: number; width: number; height: number };
    const sels = ['#pod-table tbody', '#plan-deploy', 'svg[data-plot="proposals"]', 'svg[data-plot="dbsize"]', 'svg[data-plot="latency"]', 'header'];
    const measure = async (): Promise<(Box | null)[]> => Promise.all(sels.map((sel) => page.locator(sel).first().boundingBox()));
    let boxes: (Box | null)[] = [];
    let shot: Image | undefined;
    for (let attempt = 0; attempt < 5; attempt++) {
      const before = await measure();
      await page.screenshot({ path: SCREENSHOT, fullPage: true });
      shot = decodePng(readFileSync(SCREENSHOT));
      boxes = await measure();
      if (JSON.stringify(before) === JSON.stringify(boxes)) break;
      await sleep(500);
    }
    if (shot === undefined) throw new Error('no screenshot');
    const img: Image = shot;
    assert.equal(img.width, 1400);
    const box = async (sel: string): Promise<Box> => {
      const b = boxes[sels.indexOf(sel)];
      // The page fits the viewport and is scrolled to the top: viewport boxes are image boxes.
      assert.ok(b !== undefined && b !== null && b.width > 0 && b.height > 0 && b.y >= 0 && b.y + b.height <= img.height, `${sel} is on the page: ${JSON.stringify(b)} in ${img.width}x${img.height}`);
      return b;
    };
    // Green state badges in the pod table and the plan; the purple leader badge; each pod's
    // colour in the proposals and db size plots.
    assert.ok(countColor(img, await box('#pod-table tbody'), '#2e9e44') > 300, 'green (RUNNING/healthy/ready) badges in the pods table');
    assert.ok(countColor(img, await box('#plan-deploy'), '#2e9e44') > 100, 'green COMPLETE badges in the deploy plan');
    assert.ok(countColor(img, await box('#pod-table tbody'), '#6b4fbb') > 40, 'the leader badge');
    // Every pod's line is drawn; on the screenshot at least one shows (all three commit the same
    // entries, so their lines can coincide exactly and the last one drawn hides the others).
    for (const plotName of ['proposals', 'dbsize']) {
      const b = await box(`svg[data-plot="${plotName}"]`);
      const colors = ['#4e79a7', '#f28e2b', '#59a14f'];
      for (const c of colors) {
        assert.ok((await page.locator(`svg[data-plot="${plotName}"] polyline[stroke="${c}"]`).count()) > 0, `${plotName} plot draws a ${c} line`);
      }
      assert.ok(colors.reduce((n, c) => n + countColor(img, b, c), 0) > 20, `${plotName} plot shows its lines`);
    }
    // The p99 line is drawn; percentiles that fall in one bucket coincide, so the pixels of any
    // of the latency lines count.
    assert.ok((await page.locator('svg[data-plot="latency"] polyline[stroke="#e15759"]').count()) > 0, 'latency plot draws its p99 line');
    const latencyColors = await page.locator('svg[data-plot="latency"] polyline').evaluateAll((ls) => ls.map((l) => l.getAttribute('stroke') ?? ''));
    const latencyBox = await box('svg[data-plot="latency"]');
    assert.ok(latencyColors.reduce((n, c) => n + countColor(img, latencyBox, c), 0) > 20, 'latency plot shows its lines');
    assert.ok(countColor(img, await box('header'), '#2e9e44') > 50, 'the live indicator');
    assert.deepEqual(pageErrors, []);
    if (process.env.TSETCD_DASHBOARD_SCREENSHOT_COPY !== undefined) copyFileSync(SCREENSHOT, process.env.TSETCD_DASHBOARD_SCREENSHOT_COPY);
  } finally {
    if (stopped !== undefined) try { process.kill(stopped, 'SIGCONT'); } catch { /* gone */ }
    await ctx?.close().catch(() => undefined);
    rmSync(profile, { recursive: true, force: true });
    // Uninstall, then whatever is left of this service: by recorded pid, then by owner tag.
    await cli(home, ['package', 'uninstall', '--yes']).catch(() => undefined);
    let st: StateLike | undefined;
    try { st = state(); } catch { st = undefined; }
    let api: number | undefined;
    try { api = (JSON.parse(readFileSync(join(root, 'scheduler', 'api.json'), 'utf8')) as { pid: number }).pid; } catch { api = undefined; }
    for (const pid of [api, st?.vip?.pid, ...Object.values(st?.pods ?? {}).map((r) => r.task?.pid)]) {
      if (pid !== undefined) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
    await killStrays(`${root}/`, undefined, true);
    if (process.env.TSETCD_FW_KEEP === undefined) rmSync(home, { recursive: true, force: true });
  }
});
