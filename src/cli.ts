// `tsetcd [etcd flags]` runs a member (a drop-in for `etcd`); `tsetcd <verb> ...` is the
// framework CLI (package, plan, pod, update, debug, endpoints, describe).
import pino, { type Logger } from 'pino';
import { setFlagsFromString } from 'node:v8';
import { parseMemberArgs, type MemberConfig } from './api/config/index.js';
import { TsetcdServer } from './server/server.js';

const FRAMEWORK_VERBS = new Set(['package', 'describe', 'update', 'plan', 'pod', 'debug', 'endpoints', 'scheduler']);

export async function main(argv: string[]): Promise<void> {
  if (argv.length > 0 && FRAMEWORK_VERBS.has(argv[0]!)) {
    // The framework arrives with its own issue; until then its verbs say so.
    const modPath = './framework/cli.js';
    const { frameworkMain } = (await import(modPath).catch(() => ({ frameworkMain: undefined }))) as { frameworkMain?: (argv: string[]) => Promise<void> };
    if (frameworkMain === undefined) {
      process.stderr.write(`tsetcd: '${argv[0]}' is a framework verb, and the framework is not built yet\n`);
      process.exit(2);
    }
    await frameworkMain(argv);
    return;
  }
  const r = parseMemberArgs(argv, process.env);
  switch (r.kind) {
    case 'help':
      process.stdout.write(r.text.endsWith('\n') ? r.text : r.text + '\n');
      return;
    case 'version':
      process.stdout.write(r.text.endsWith('\n') ? r.text : r.text + '\n');
      return;
    case 'error':
      process.stderr.write(r.message.endsWith('\n') ? r.message : r.message + '\n');
      process.exit(r.exitCode);
      return;
    case 'run':
      await runMember(r.config, r.warnings);
      return;
  }
}

/** Structured JSON logs in the shape of etcd's zap logger: level, ts, msg, plus fields. */
export function memberLogger(cfg: MemberConfig): Logger {
  const dest = cfg.logOutputs.includes('stdout') ? 1 : 2;
  return pino(
    {
      level: cfg.logLevel === 'panic' ? 'fatal' : cfg.logLevel,
      base: { name: cfg.name },
      messageKey: 'msg',
      timestamp: () => `,"ts":"${new Date().toISOString()}"`,
      formatters: { level: (label) => ({ level: label }) },
    },
    pino.destination({ fd: dest, sync: false }),
  );
}

/** V8 grows the heap up to 4x what survived the last full GC when allocation is fast, as it is
 *  under load; a member's heap is mostly long-lived (history, raft log), so that is mostly
 *  slack. Go's default (GOGC=100, etcd's) lets the heap reach 2x: the same here. Read by V8 at
 *  every GC, so setting it at start works; an explicit node flag wins. */
export const MEMBER_HEAP_GROWING_PERCENT = 100;

async function runMember(cfg: MemberConfig, warnings: string[]): Promise<void> {
  if (!process.execArgv.some((a) => /^--heap[-_]growing[-_]percent/.test(a))) {
    setFlagsFromString(`--heap-growing-percent=${MEMBER_HEAP_GROWING_PERCENT}`);
  }
  const log = memberLogger(cfg);
  for (const w of warnings) log.warn({}, w);
  const server = new TsetcdServer(cfg, log);
  let signalled = false;
  const onSignal = (sig: string): void => {
    if (signalled) return;
    signalled = true;
    log.info({ signal: sig }, 'received signal; shutting down');
    void server.stop().then(() => {
      log.flush();
      process.exit(0);
    });
  };
  process.on('SIGTERM', () => onSignal('SIGTERM'));
  process.on('SIGINT', () => onSignal('SIGINT'));
  try {
    await server.start();
  } catch (err) {
    log.fatal({ error: (err as Error).message }, 'failed to start member');
    log.flush();
    process.stderr.write(`tsetcd: ${(err as Error).message}\n`);
    process.exit(1);
  }
  const code = await server.done;
  log.flush();
  process.exit(code);
}
