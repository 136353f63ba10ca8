// `tsetcd <verb> ...`: the framework CLI, mirroring `dcos package ... etcd` and `dcos etcd ...`.
// Every verb but install and describe --config talks to the service's scheduler over its HTTP
// API (its address is in <service>/scheduler/api.json).
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { createInterface } from 'node:readline/promises';
import pino from 'pino';
import { buildApi } from './api.js';
import { request } from './members.js';
import { jsonSchema, resolveOptions, type Options, type UserOptions } from './options.js';
import { renderPlan } from './plan.js';
import { podSpec, TSETCD_BIN } from './pod.js';
import { isAlive, killStrays, OWNER_ENV, procStartTicks, signal, sleep, spawnDetached, stopProcess } from './proc.js';
import { initialState, pinoLevel, Scheduler } from './scheduler.js';
import { loadState, saveState, servicePaths, tsetcdHome, writeFileAtomic, type ServicePaths } from './state.js';
import { runVip } from './vip.js';

class UsageError extends Error {}

interface Args {
  positional: string[];
  flags: Map<string, string | true>;
}

function parseArgs(argv: string[]): Args {
  const positional: string[] = [];
  const flags = new Map<string, string | true>();
  const valued = new Set(['options', 'name', 'state-dir', 'phase', 'step']);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      if (eq > 0) flags.set(a.slice(2, eq), a.slice(eq + 1));
      else if (valued.has(a.slice(2)) && i + 1 < argv.length) flags.set(a.slice(2), argv[++i]!);
      else flags.set(a.slice(2), true);
    } else positional.push(a);
  }
  return { positional, flags };
}

function flagString(a: Args, name: string): string | undefined {
  const v = a.flags.get(name);
  if (v === true) throw new UsageError(`--${name} needs a value`);
  return v;
}

const out = (s: string): void => { process.stdout.write(s.endsWith('\n') ? s : s + '\n'); };

interface ApiInfo { url: string; pid: number; startTicks: string }

function paths(a: Args, name?: string): ServicePaths {
  return servicePaths(tsetcdHome(flagString(a, 'state-dir')), name ?? flagString(a, 'name') ?? 'etcd');
}

function readApi(p: ServicePaths): ApiInfo | undefined {
  try { return JSON.parse(readFileSync(p.apiFile, 'utf8')) as ApiInfo; } catch { return undefined; }
}

function schedulerAlive(p: ServicePaths): ApiInfo | undefined {
  const api = readApi(p);
  return api !== undefined && isAlive(api.pid, api.startTicks) ? api : undefined;
}

async function call(p: ServicePaths, method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown; text: string }> {
  if (!existsSync(p.stateFile)) throw new UsageError(`service '${p.root.split('/').pop()}' is not installed (no ${p.stateFile})`);
  const api = schedulerAlive(p);
  if (api === undefined) throw new UsageError(`the scheduler of service '${p.root.split('/').pop()}' is not running; start it with: tsetcd scheduler start --name ${p.root.split('/').pop()}`);
  const r = await request(`${api.url}${path}`, { method, body: body === undefined ? undefined : JSON.stringify(body), headers: body === undefined ? {} : { 'Content-Type': 'application/json' }, timeoutMs: 15000 });
  let json: unknown;
  try { json = JSON.parse(r.body); } catch { json = r.body; }
  return { status: r.status, json, text: r.body };
}

function readOptionsFile(a: Args): UserOptions {
  const f = flagString(a, 'options');
  if (f === undefined) return {};
  let text: string;
  try { text = readFileSync(f, 'utf8'); } catch (err) { throw new UsageError(`cannot read options file ${f}: ${(err as Error).message}`); }
  try { return JSON.parse(text) as UserOptions; } catch (err) { throw new UsageError(`options file ${f} is not valid JSON: ${(err as Error).message}`); }
}

function portFree(host: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', (err: NodeJS.ErrnoException) => resolve(`${host}:${port} is not available (${err.code ?? err.message})`));
    srv.listen(port, host, () => srv.close(() => resolve(undefined)));
  });
}

async function checkAddresses(o: Options, p: ServicePaths): Promise<string[]> {
  const checks: Promise<string | undefined>[] = [portFree(o.service.vip_address, o.etcd.client_port)];
  for (let i = 0; i < o.node.count; i++) {
    const s = podSpec(o, p, i);
    checks.push(portFree(s.address, o.etcd.client_port), portFree(s.address, o.etcd.peer_port));
  }
  return (await Promise.all(checks)).filter((e): e is string => e !== undefined);
}

/** Start the scheduler detached and wait until its API answers. */
async function startScheduler(p: ServicePaths, home: string, name: string): Promise<ApiInfo> {
  const running = schedulerAlive(p);
  if (running !== undefined) return running;
  mkdirSync(p.schedulerDir, { recursive: true });
  rmSync(p.apiFile, { force: true });
  spawnDetached(process.execPath, [TSETCD_BIN, 'scheduler', 'run', '--state-dir', home, '--name', name], { cwd: p.root, env: { ...process.env, [OWNER_ENV]: p.schedulerDir }, logFile: `${p.schedulerDir}/stdout.log` });
  const deadline = Date.now() + 15000;
  while (Date.now() < deadline) {
    const api = schedulerAlive(p);
    if (api !== undefined) return api;
    await sleep(100);
  }
  throw new Error(`the scheduler did not come up within 15 s; see ${p.schedulerDir}/stdout.log`);
}

async function waitDeploy(p: ServicePaths, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const r = await call(p, 'GET', '/v1/plans/deploy').catch(() => undefined);
    if (r?.status === 200) return true;
    if (r?.status === 417) return false;
    await sleep(500);
  }
  return false;
}

async function confirm(a: Args, question: string): Promise<boolean> {
  if (a.flags.has('yes')) return true;
  // Nobody to ask: a destructive verb in a script must say --yes, never go ahead on its own.
  if (!process.stdin.isTTY) {
    process.stderr.write(`tsetcd: ${question} needs an answer, and stdin is not a terminal: pass --yes to confirm\n`);
    return false;
  }
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  const ans = await rl.question(`${question} [yes/no] `);
  rl.close();
  return ans.trim() === 'yes';
}

// ------------------------------------------------------------------ verbs

async function packageVerb(a: Args): Promise<number> {
  const sub = a.positional[1];
  switch (sub) {
    case 'describe':
      if (a.flags.has('config')) { out(JSON.stringify(jsonSchema(), null, 2)); return 0; }
      out(JSON.stringify({ package: { name: 'tsetcd', framework: true, description: 'An etcd-compatible, Raft-replicated key-value store, installed as a highly available cluster behind one load-balanced address', tags: ['etcd', 'kv'], version: '0.1.0' } }, null, 2));
      return 0;
    case 'install': {
      const user = readOptionsFile(a);
      const r = resolveOptions(user);
      if (r.options === undefined) {
        process.stderr.write(`Invalid options:\n${r.errors.map((e) => `- ${e}`).join('\n')}\nNothing was installed.\n`);
        return 1;
      }
      const o = r.options;
      const home = tsetcdHome(flagString(a, 'state-dir'));
      const p = servicePaths(home, o.service.name);
      if (existsSync(p.stateFile)) {
        process.stderr.write(`service '${o.service.name}' is already installed (${p.root}); use 'tsetcd update start' to change it, or pick another service.name\n`);
        return 1;
      }
      const busy = await checkAddresses(o, p);
      if (busy.length > 0) {
        process.stderr.write(`Cannot install: addresses in use:\n${busy.map((e) => `- ${e}`).join('\n')}\nChoose other addresses (service.vip_address, node.first_address) or ports. Nothing was installed.\n`);
        return 1;
      }
      mkdirSync(p.schedulerDir, { recursive: true });
      saveState(p, initialState(user, o));
      const schedulerApi = await startScheduler(p, home, o.service.name);
      const vip = `${o.service.vip_address}:${o.etcd.client_port}`;
      const proto = o.etcd.tls_enabled ? 'https' : 'http';
      out(`Installing service '${o.service.name}': ${o.node.count} etcd pods, state under ${p.root}.`);
      out(`The VIP (load-balanced client address) is ${proto}://${vip}.`);
      out(`Dashboard: ${schedulerApi.url}/dashboard/`);
      if (a.flags.has('wait')) {
        const ok = await waitDeploy(p, 300_000);
        out(ok ? 'Deploy plan COMPLETE.' : 'Deploy plan not complete yet: see tsetcd plan status deploy');
        if (!ok) return 1;
      } else out(`Follow the deployment with: tsetcd plan status deploy${o.service.name !== 'etcd' ? ` --name ${o.service.name}` : ''}`);
      const k = o.etcd.tls_enabled ? (o.etcd.use_auto_tls ? ' -k' : ` --cacert ${p.tlsDir}/ca.crt`) : '';
      out(`Then try:  curl${k} -X PUT ${proto}://${vip}/v2/keys/hello -d value=world`);
      return 0;
    }
    case 'uninstall': {
      const p = paths(a, flagString(a, 'name') ?? (a.positional[2] === 'etcd' || a.positional[2] === 'tsetcd' ? undefined : a.positional[2]));
      if (!existsSync(p.stateFile)) { process.stderr.write(`service '${p.root.split('/').pop()}' is not installed\n`); return 1; }
      out(`WARNING: uninstalling stops every pod of service '${p.root.split('/').pop()}' and irretrievably deletes its data: ${p.root}`);
      if (!(await confirm(a, 'Continue uninstalling?'))) { out('Cancelled.'); return 1; }
      const api = schedulerAlive(p);
      if (api !== undefined) {
        await call(p, 'POST', '/v1/shutdown', { killTasks: true }).catch(() => undefined);
        const deadline = Date.now() + 30_000;
        while (Date.now() < deadline && isAlive(api.pid, api.startTicks)) await sleep(100);
        if (isAlive(api.pid, api.startTicks)) await stopProcess(api.pid, api.startTicks, 1000);
      }
      // Whatever the scheduler did not stop (it may have been down): stop it here.
      const st = loadState(p);
      if (st !== undefined) {
        if (st.vip !== undefined) await stopProcess(st.vip.pid, st.vip.startTicks, 2000);
        await Promise.all(Object.values(st.pods).map(async (r) => { if (r.task !== undefined) await stopProcess(r.task.pid, r.task.startTicks, 10_000); }));
      }
      // And anything of this service nobody recorded.
      await killStrays(`${p.root}/`, undefined, true);
      rmSync(p.root, { recursive: true, force: true });
      out(`Service '${p.root.split('/').pop()}' uninstalled; its data is gone.`);
      return 0;
    }
    default:
      throw new UsageError('usage: tsetcd package install [--options=FILE] [--wait] | describe [--config] | uninstall [--yes]');
  }
}

function printPlan(name: string, r: { status: number; json: unknown }, json: boolean): number {
  if (r.status === 404) { process.stderr.write(`Plan not found: ${name}\n`); return 1; }
  if (json) out(JSON.stringify(r.json, null, 2));
  else out(renderPlan(name, r.json as Parameters<typeof renderPlan>[1]));
  return r.status === 417 ? 1 : 0;
}

async function planCmd(p: ServicePaths, plan: string, cmd: string, phase?: string, step?: string): Promise<number> {
  const q = new URLSearchParams();
  if (phase !== undefined) q.set('phase', phase);
  if (step !== undefined) q.set('step', step);
  const r = await call(p, 'POST', `/v1/plans/${plan}/${cmd}${q.size > 0 ? `?${q}` : ''}`);
  if (r.status !== 200) { process.stderr.write(`${(r.json as { message?: string }).message ?? r.text}\n`); return 1; }
  out(`${cmd} sent to plan ${plan}${phase !== undefined ? ` phase ${phase}` : ''}${step !== undefined ? ` step ${step}` : ''}`);
  return 0;
}

const PLAN_VERBS: Record<string, string> = { pause: 'interrupt', interrupt: 'interrupt', resume: 'continue', continue: 'continue', 'force-restart': 'restart', restart: 'restart', 'force-complete': 'forceComplete', start: 'start', stop: 'stop' };

async function planVerb(a: Args, p: ServicePaths): Promise<number> {
  const sub = a.positional[1];
  const json = a.flags.has('json');
  if (sub === 'list') { out(JSON.stringify((await call(p, 'GET', '/v1/plans')).json, null, 2)); return 0; }
  if (sub === 'status' || sub === 'show') {
    const name = a.positional[2] ?? 'deploy';
    return printPlan(name, await call(p, 'GET', `/v1/plans/${name}`), json);
  }
  const cmd = sub === undefined ? undefined : PLAN_VERBS[sub];
  if (cmd === undefined || a.positional[2] === undefined) throw new UsageError('usage: tsetcd plan list | status <plan> [--json] | pause|resume <plan> [phase] | force-restart <plan> [phase [step]] | force-complete <plan> <phase> <step> | start|stop <plan>');
  return planCmd(p, a.positional[2], cmd, a.positional[3], a.positional[4]);
}

async function updateVerb(a: Args, p: ServicePaths): Promise<number> {
  const sub = a.positional[1];
  switch (sub) {
    case 'start': {
      if (!a.flags.has('options')) throw new UsageError('usage: tsetcd update start --options=FILE [--replace]');
      const r = await call(p, 'POST', '/v1/update', { options: readOptionsFile(a), replace: a.flags.has('replace') });
      if (r.status !== 200) {
        const errs = (r.json as { errors?: string[] }).errors ?? [r.text];
        process.stderr.write(`Update rejected; the service keeps its configuration:\n${errs.map((e) => `- ${e}`).join('\n')}\n`);
        return 1;
      }
      out('Update started. Please use `tsetcd update status` to view progress.');
      return 0;
    }
    case 'status':
      return printPlan('deploy', await call(p, 'GET', '/v1/plans/deploy'), a.flags.has('json'));
    case 'pause': case 'resume': case 'force-restart': case 'force-complete':
      return planCmd(p, 'deploy', PLAN_VERBS[sub]!, a.positional[2], a.positional[3]);
    default:
      throw new UsageError('usage: tsetcd update start --options=FILE [--replace] | status [--json] | pause | resume | force-restart [phase [step]] | force-complete phase step');
  }
}

interface PodStatusBody { name: string; tasks: { name: string; status: string }[] }

async function podVerb(a: Args, p: ServicePaths): Promise<number> {
  const sub = a.positional[1];
  const pod = a.positional[2];
  const json = a.flags.has('json');
  switch (sub) {
    case 'list':
      out(JSON.stringify((await call(p, 'GET', '/v1/pod')).json, null, 2));
      return 0;
    case 'status': {
      if (pod !== undefined) {
        const r = await call(p, 'GET', `/v1/pod/${pod}/status`);
        if (r.status !== 200) { process.stderr.write(`Pod not found: ${pod}\n`); return 1; }
        const b = r.json as PodStatusBody;
        out(json ? JSON.stringify(b, null, 2) : [b.name, ...b.tasks.map((t, i) => `${i === b.tasks.length - 1 ? '└─' : '├─'} ${t.name} (${t.status})`)].join('\n'));
        return 0;
      }
      const r = await call(p, 'GET', '/v1/pod/status');
      if (json) { out(JSON.stringify(r.json, null, 2)); return 0; }
      const b = r.json as { service: string; pods: { name: string; instances: PodStatusBody[] }[] };
      const lines = [b.service];
      for (const [ti, type] of b.pods.entries()) {
        const lastT = ti === b.pods.length - 1;
        lines.push(`${lastT ? '└─' : '├─'} ${type.name}`);
        for (const [ii, inst] of type.instances.entries()) {
          const lastI = ii === type.instances.length - 1;
          lines.push(`${lastT ? '   ' : '│  '}${lastI ? '└─' : '├─'} ${inst.name}`);
          for (const [ki, t] of inst.tasks.entries()) lines.push(`${lastT ? '   ' : '│  '}${lastI ? '   ' : '│  '}${ki === inst.tasks.length - 1 ? '└─' : '├─'} ${t.name} (${t.status})`);
        }
      }
      out(lines.join('\n'));
      return 0;
    }
    case 'info': case 'restart': case 'replace': {
      if (pod === undefined) throw new UsageError(`usage: tsetcd pod ${sub} <pod>`);
      const r = sub === 'info' ? await call(p, 'GET', `/v1/pod/${pod}/info`) : await call(p, 'POST', `/v1/pod/${pod}/${sub}`);
      if (r.status !== 200) { process.stderr.write(`${(r.json as { message?: string }).message ?? r.text}\n`); return 1; }
      out(JSON.stringify(r.json, null, 2));
      return 0;
    }
    default:
      throw new UsageError('usage: tsetcd pod list | status [pod] [--json] | info <pod> | restart <pod> | replace <pod>');
  }
}

async function debugVerb(a: Args, p: ServicePaths): Promise<number> {
  const [, area, sub, arg] = a.positional;
  if (area === 'pod' && (sub === 'pause' || sub === 'resume') && arg !== undefined) {
    const r = await call(p, 'POST', `/v1/pod/${arg}/${sub}`);
    if (r.status !== 200) { process.stderr.write(`${(r.json as { message?: string }).message ?? r.text}\n`); return 1; }
    out(JSON.stringify(r.json, null, 2));
    return 0;
  }
  if (area === 'state') {
    const path = sub === 'framework_id' ? '/v1/state/framework_id' : sub === 'properties' ? '/v1/state/properties' : sub === 'property' && arg !== undefined ? `/v1/state/properties/${arg}` : '/v1/state';
    out(JSON.stringify((await call(p, 'GET', path)).json, null, 2));
    return 0;
  }
  if (area === 'config') {
    out(JSON.stringify((await call(p, 'GET', sub === 'target_id' ? '/v1/configurations/targetId' : '/v1/configurations/target')).json, null, 2));
    return 0;
  }
  throw new UsageError('usage: tsetcd debug pod pause|resume <pod> | state [framework_id|properties|property <name>] | config target|target_id');
}

async function schedulerVerb(a: Args): Promise<number> {
  const sub = a.positional[1];
  if (sub === 'vip') {
    const file = a.positional[2];
    if (file === undefined) throw new UsageError('usage: tsetcd scheduler vip <vip.json>');
    await runVip(file);
    return -1; // keeps running
  }
  const home = tsetcdHome(flagString(a, 'state-dir'));
  const name = flagString(a, 'name') ?? 'etcd';
  const p = servicePaths(home, name);
  if (!existsSync(p.stateFile)) throw new UsageError(`service '${name}' is not installed (no ${p.stateFile})`);
  switch (sub) {
    case 'start': {
      const api = await startScheduler(p, home, name);
      out(`scheduler of '${name}' running (pid ${api.pid}, ${api.url})`);
      return 0;
    }
    case 'stop': {
      const api = schedulerAlive(p);
      if (api === undefined) { out(`scheduler of '${name}' is not running`); return 0; }
      await stopProcess(api.pid, api.startTicks, 10_000);
      out(`scheduler of '${name}' stopped; its pods keep running`);
      return 0;
    }
    case 'run':
      await runScheduler(p);
      return -1;
    default:
      throw new UsageError('usage: tsetcd scheduler run|start|stop [--name NAME] [--state-dir DIR]');
  }
}

async function runScheduler(p: ServicePaths): Promise<void> {
  const other = schedulerAlive(p);
  if (other !== undefined && other.pid !== process.pid) throw new Error(`a scheduler for this service already runs (pid ${other.pid}); only one may`);
  const state = loadState(p);
  if (state === undefined) throw new Error(`no state at ${p.stateFile}`);
  const log = pino({ level: pinoLevel(state.options.service.log_level), base: { service: state.options.service.name } }, pino.destination({ dest: p.schedulerLog, append: true, mkdir: true, sync: true }));
  const s = new Scheduler(p, state, log);
  let app: ReturnType<typeof buildApi> | undefined;
  const shutdown = (killTasks: boolean): void => {
    void (async () => {
      log.info({ killTasks }, 'scheduler stopping');
      await s.shutdown({ killTasks });
      if (!killTasks) saveState(p, s.state);
      await app?.close();
      process.exit(0);
    })();
  };
  app = buildApi(s, shutdown);
  await s.start();
  const port = Number(process.env.TSETCD_SCHEDULER_PORT ?? 0);
  await app.listen({ host: '127.0.0.1', port });
  const addr = app.server.address() as net.AddressInfo;
  writeFileAtomic(p.apiFile, JSON.stringify({ url: `http://127.0.0.1:${addr.port}`, pid: process.pid, startTicks: procStartTicks(process.pid) ?? '?' }) + '\n');
  log.info({ api: `http://127.0.0.1:${addr.port}` }, 'scheduler running');
  process.on('SIGTERM', () => shutdown(false));
  process.on('SIGINT', () => shutdown(false));
}

/** What `tsetcd <verb> --help` prints; a verb never acts when asked for help. */
const FRAMEWORK_USAGE = [
  'usage: tsetcd <verb> ... [--name NAME] [--state-dir DIR]',
  '  package install [--options=FILE] [--wait] | describe [--config] | uninstall [--yes]',
  '  describe',
  '  update start --options=FILE [--replace] | status [--json] | pause | resume | force-restart [phase [step]] | force-complete phase step',
  '  plan list | status <plan> [--json] | pause|resume <plan> [phase] | force-restart <plan> [phase [step]] | force-complete <plan> <phase> <step> | start|stop <plan>',
  '  pod list | status [pod] [--json] | info <pod> | restart <pod> | replace <pod>',
  '  debug pod pause|resume <pod> | state [framework_id|properties|property <name>] | config target|target_id',
  '  endpoints [name]',
  '  scheduler run|start|stop [--name NAME] [--state-dir DIR]',
].join('\n');

export async function frameworkMain(argv: string[]): Promise<void> {
  const a = parseArgs(argv);
  if (a.flags.has('help') || a.positional.includes('-h')) {
    out(FRAMEWORK_USAGE);
    process.exit(0);
  }
  let code: number;
  try {
    const verb = a.positional[0];
    switch (verb) {
      case 'package': code = await packageVerb(a); break;
      case 'scheduler': code = await schedulerVerb(a); break;
      case 'describe': {
        const r = await call(paths(a), 'GET', '/v1/describe');
        out(JSON.stringify(r.json, null, 2));
        code = 0;
        break;
      }
      case 'update': code = await updateVerb(a, paths(a)); break;
      case 'plan': code = await planVerb(a, paths(a)); break;
      case 'pod': code = await podVerb(a, paths(a)); break;
      case 'debug': code = await debugVerb(a, paths(a)); break;
      case 'endpoints': {
        const name = a.positional[1];
        const r = await call(paths(a), 'GET', name === undefined ? '/v1/endpoints' : `/v1/endpoints/${name}`);
        if (r.status !== 200) { process.stderr.write(`${(r.json as { message?: string }).message ?? r.text}\n`); code = 1; break; }
        out(JSON.stringify(r.json, null, 2));
        // The dashboard lives on the scheduler's own port; `endpoints` tells where, on stderr so
        // that stdout stays the SDK's JSON for scripts.
        const api = schedulerAlive(paths(a));
        if (name === undefined && api !== undefined) process.stderr.write(`Dashboard: ${api.url}/dashboard/\n`);
        code = 0;
        break;
      }
      default:
        throw new UsageError(`unknown verb ${verb ?? ''}`);
    }
  } catch (err) {
    process.stderr.write(`tsetcd: ${(err as Error).message}\n`);
    code = err instanceof UsageError ? 2 : 1;
  }
  if (code >= 0) process.exit(code);
}

void signal;
