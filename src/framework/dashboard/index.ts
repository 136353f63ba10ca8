// The dashboard: a page served by the scheduler's own fastify server that shows the service,
// its plans and pods and a few plots, live. The page is plain HTML/CSS/JS from static/ (no
// build step); its data is one JSON snapshot (GET /dashboard/api/snapshot) pushed again after
// every collector round over Server-Sent Events (GET /dashboard/api/events). The buttons call
// the scheduler's own /v1 API, so the page can do nothing the CLI can't.
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { podSpec } from '../pod.js';
import type { Scheduler } from '../scheduler.js';
import { Collector, HISTORY_ROUNDS_MAX_DEFAULT, SCRAPE_INTERVAL_MS_DEFAULT, type Series } from './collector.js';

export interface DashboardOptions {
  /** How often the members are asked for /health, /metrics, Status and alarms. */
  scrapeIntervalMs?: number;
  /** Rounds kept for the plots. */
  historyRoundsMax?: number;
  /** Browsers watching at once; one more is answered 503. */
  eventClientsMax?: number;
}

export const DASHBOARD_PATH = '/dashboard/';
export const EVENT_CLIENTS_MAX_DEFAULT = 32;

/** static/ beside this file's source: dist/src/framework/dashboard/ -> src/framework/dashboard/. */
function staticDir(): string {
  for (const rel of ['../../../../src/framework/dashboard/static/', './static/']) {
    const dir = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(join(dir, 'index.html'))) return dir;
  }
  throw new Error('tsetcd: dashboard static/ directory not found next to the build output');
}

const ASSETS: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
};

export interface PodView {
  name: string;
  index: number;
  taskName: string;
  state: string;
  goal: string;
  healthy: boolean;
  ready: boolean;
  busy: string | null;
  lastError: string | null;
  pid: number | null;
  kind: string | null;
  memberId: string | null;
  clientUrl: string;
  peerUrl: string;
  leader: boolean;
  raftTerm: number | null;
  raftIndex: number | null;
  raftAppliedIndex: number | null;
  dbSizeBytes: number | null;
  version: string | null;
  alarms: string[];
  error: string | null;
  step: string | null;
}

export interface Snapshot {
  generatedAtMs: number;
  scrapedAtMs: number | null;
  service: {
    name: string;
    vip: string;
    tls: string;
    configId: number;
    deployed: boolean;
    options: unknown;
    userOptions: unknown;
    configErrors: string[];
  };
  plans: { name: string; title: string; verbs: boolean; body: Record<string, unknown> }[];
  pods: PodView[];
  series: Series;
  errors: string[];
}

function tlsMode(s: Scheduler): string {
  const e = s.options.etcd;
  if (!e.tls_enabled) return 'off (http)';
  if (e.use_auto_tls) return 'auto-TLS (self-signed per member)';
  return `framework CA (${join(s.paths.tlsDir, 'ca.crt')})`;
}

export function snapshot(s: Scheduler, c: Collector): Snapshot {
  const o = s.options;
  const round = c.latest();
  const pods = s.podNames();
  const deploy = s.plan('deploy')!.body;
  const recovery = s.plan('recovery')!.body;
  const steps = new Map<string, string>();
  for (const ph of (deploy.phases as { steps: { name: string; status: string }[] }[])) for (const st of ph.steps) steps.set(st.name.replace(/:\[node\]$/, ''), st.status);
  // The update plan is the deploy plan re-made for every accepted configuration after install.
  const deployTitle = s.state.configId > 1 ? `deploy — update to configuration #${s.state.configId}` : 'deploy';
  const errors: string[] = [];
  if (s.state.configErrors.length > 0) errors.push(`The last configuration was rejected: ${s.state.configErrors.join('; ')}`);
  const leaders = new Set<string>();
  const views: PodView[] = pods.map((p) => {
    const rec = s.state.pods[p]!;
    const spec = podSpec(o, s.paths, rec.index);
    const rt = s.runtime(p);
    const sample = round?.pods[p];
    const st = sample?.status;
    const memberId = rec.memberId ?? (st?.memberId !== undefined && st.memberId !== '' ? st.memberId : null);
    const leader = st !== undefined && st.memberId !== '' && st.memberId === st.leaderId ? true : sample?.isLeader === true;
    if (leader) leaders.add(p);
    const alarms = [...(st?.errors ?? []), ...(round?.alarms ?? []).filter((a) => memberId !== null && a.memberId === memberId).map((a) => a.alarm)];
    const wantsMember = rec.goal === 'RUNNING' && rec.task?.kind === 'member';
    const error = sample?.error !== undefined && wantsMember ? sample.error : null;
    // Reported while the member runs, and also once the scheduler's health check has marked it
    // unhealthy (STARTING with no operation under way: alive, not answering), not while it is
    // being started.
    const status = s.taskStatus(p);
    if (error !== null && (status === 'RUNNING' || (status === 'STARTING' && rt.busy === undefined))) errors.push(`${p}: member ${error}`);
    return {
      name: p,
      index: rec.index,
      taskName: spec.taskName,
      state: s.taskStatus(p),
      goal: rec.goal,
      healthy: rt.healthy,
      ready: sample?.ready ?? false,
      busy: rt.busy ?? null,
      lastError: rec.lastError ?? null,
      pid: rec.task?.pid ?? null,
      kind: rec.task?.kind ?? null,
      memberId,
      clientUrl: spec.clientUrl,
      peerUrl: spec.peerUrl,
      leader,
      raftTerm: st?.raftTerm ?? null,
      raftIndex: st?.raftIndex ?? null,
      raftAppliedIndex: st?.raftAppliedIndex ?? null,
      dbSizeBytes: st?.dbSizeBytes ?? sample?.dbBytes ?? null,
      version: st?.version ?? null,
      alarms,
      error,
      step: steps.get(p) ?? null,
    };
  });
  if (round?.alarmError !== undefined) errors.push(`alarms: ${round.alarmError}`);
  if (round !== undefined && views.some((v) => v.state === 'RUNNING') && leaders.size === 0) errors.push('no member reports a leader');
  return {
    generatedAtMs: Date.now(),
    scrapedAtMs: round?.tMs ?? null,
    service: {
      name: o.service.name,
      vip: `${o.service.vip_address}:${o.etcd.client_port}`,
      tls: tlsMode(s),
      configId: s.state.configId,
      deployed: s.state.deployed,
      options: o,
      userOptions: s.state.userOptions,
      configErrors: [...s.state.configErrors],
    },
    plans: [
      { name: 'deploy', title: deployTitle, verbs: true, body: deploy },
      { name: 'recovery', title: 'recovery', verbs: false, body: recovery },
    ],
    pods: views,
    series: c.series(pods),
    errors,
  };
}

const REGISTERED = Symbol.for('tsetcd.dashboard');

/** Add the dashboard's routes to the scheduler's fastify app (before it listens). Calling it
 *  twice on one app is a no-op. */
export function registerDashboard(app: FastifyInstance, scheduler: Scheduler, opts: DashboardOptions = {}): void {
  const holder = app as unknown as Record<symbol, unknown>;
  if (holder[REGISTERED] === true) return;
  holder[REGISTERED] = true;
  const dir = staticDir();
  const assets = new Map(Object.entries(ASSETS).map(([f, type]) => [f, { type, body: readFileSync(join(dir, f)) }]));
  const collector = new Collector(scheduler, opts.scrapeIntervalMs ?? SCRAPE_INTERVAL_MS_DEFAULT, opts.historyRoundsMax ?? HISTORY_ROUNDS_MAX_DEFAULT);
  const clientsMax = opts.eventClientsMax ?? EVENT_CLIENTS_MAX_DEFAULT;
  const clients = new Set<NodeJS.WritableStream & { end(): void }>();
  collector.start();

  const push = (): void => {
    if (clients.size === 0) return;
    let data: string;
    try { data = JSON.stringify(snapshot(scheduler, collector)); } catch { return; }
    const frame = `event: snapshot\ndata: ${data}\n\n`;
    for (const c of clients) c.write(frame);
  };
  collector.onRound(push);

  app.addHook('preClose', async () => {
    collector.stop();
    for (const c of clients) c.end();
    clients.clear();
  });

  app.get('/dashboard', async (_req, reply) => reply.redirect(DASHBOARD_PATH));
  if (!app.hasRoute({ method: 'GET', url: '/' })) app.get('/', async (_req, reply) => reply.redirect(DASHBOARD_PATH));
  const serve = (file: string) => async (_req: unknown, reply: import('fastify').FastifyReply) => {
    const a = assets.get(file)!;
    return reply.header('content-type', a.type).header('cache-control', 'no-cache').send(a.body);
  };
  app.get(DASHBOARD_PATH, serve('index.html'));
  app.get(`${DASHBOARD_PATH}app.js`, serve('app.js'));
  app.get(`${DASHBOARD_PATH}style.css`, serve('style.css'));
  app.get(`${DASHBOARD_PATH}api/snapshot`, async () => snapshot(scheduler, collector));
  app.get(`${DASHBOARD_PATH}api/events`, (req, reply) => {
    if (clients.size >= clientsMax) {
      void reply.code(503).send({ message: `too many dashboard viewers (${clientsMax}); close one and reload` });
      return;
    }
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    // The browser reconnects by itself after a lost stream; 2 s is enough for a restarting scheduler.
    raw.write('retry: 2000\n\n');
    raw.write(`event: snapshot\ndata: ${JSON.stringify(snapshot(scheduler, collector))}\n\n`);
    clients.add(raw);
    req.raw.on('close', () => clients.delete(raw));
  });
}
