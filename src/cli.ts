// `tsetcd [etcd flags]` runs a member (a drop-in for `etcd`); `tsetcd <verb> ...` is the
// framework CLI (package, plan, pod, update, debug, endpoints, describe).
import pino, { type Logger } from 'pino';
import { parseMemberArgs, type MemberConfig } from './api/config/index.js';
import { TsetcdServer } from './server/server.js';
import { applyMemberV8Settings } from './server/runtime.js';

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

async function runMember(cfg: MemberConfig, warnings: string[]): Promise<void> {
  applyMemberV8Settings();
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
