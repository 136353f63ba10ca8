// The scheduler's HTTP API in the DC/OS SDK's shape (/v1/plans, /v1/pod, /v1/endpoints,
// /v1/health, /v1/state, /v1/configurations), plus /v1/describe and /v1/update, which stand in
// for Cosmos (package describe / update) in a local install.
import Fastify, { type FastifyInstance } from 'fastify';
import { registerDashboard } from './dashboard/index.js';
import { planHttpStatus } from './plan.js';
import { podIndex } from './pod.js';
import type { Scheduler } from './scheduler.js';
import type { UserOptions } from './options.js';

const PLAN_COMMANDS: Record<string, 'interrupt' | 'continue' | 'restart' | 'forceComplete' | 'start' | 'stop'> = {
  interrupt: 'interrupt', pause: 'interrupt', continue: 'continue', resume: 'continue', restart: 'restart', forceComplete: 'forceComplete', start: 'start', stop: 'stop',
};

export function buildApi(s: Scheduler, onShutdown: (killTasks: boolean) => void): FastifyInstance {
  const app = Fastify({ logger: false, bodyLimit: 1 << 20 });
  const podParam = { type: 'object', properties: { pod: { type: 'string' } }, required: ['pod'] } as const;

  const known = (pod: string): boolean => podIndex(pod) !== undefined && s.state.pods[pod] !== undefined;

  app.get('/v1/health', async (_req, reply) => {
    const deploy = s.plan('deploy')!.body;
    const status = planHttpStatus(deploy);
    return reply.code(status === 417 ? 200 : status).send({ deploy: deploy.status });
  });

  app.get('/v1/plans', async () => ['deploy', 'recovery']);
  app.get<{ Params: { plan: string } }>('/v1/plans/:plan', async (req, reply) => {
    const p = s.plan(req.params.plan);
    if (p === undefined) return reply.code(404).send({ message: `Plan not found: ${req.params.plan}` });
    return reply.code(planHttpStatus(p.body)).send(p.body);
  });
  app.post<{ Params: { plan: string; cmd: string }; Querystring: { phase?: string; step?: string } }>('/v1/plans/:plan/:cmd', async (req, reply) => {
    const cmd = PLAN_COMMANDS[req.params.cmd];
    if (cmd === undefined) return reply.code(404).send({ message: `unknown plan command ${req.params.cmd}` });
    if (req.params.plan !== 'deploy') return reply.code(req.params.plan === 'recovery' ? 400 : 404).send({ message: req.params.plan === 'recovery' ? 'the recovery plan is driven by the scheduler' : `Plan not found: ${req.params.plan}` });
    try {
      s.planCommand(cmd, req.query.phase, req.query.step);
    } catch (err) {
      return reply.code(400).send({ message: (err as Error).message });
    }
    return { message: `Received cmd: ${req.params.cmd}` };
  });

  app.get('/v1/pod', async () => s.podNames());
  const podStatus = (pod: string): Record<string, unknown> => ({
    name: pod,
    tasks: [{ name: s.spec(pod).taskName, id: taskId(s, pod), status: s.taskStatus(pod) }],
  });
  app.get('/v1/pod/status', async () => ({ service: s.options.service.name, pods: [{ name: 'etcd', instances: s.podNames().map(podStatus) }] }));
  app.get<{ Params: { pod: string } }>('/v1/pod/:pod/status', { schema: { params: podParam } }, async (req, reply) => {
    if (!known(req.params.pod)) return reply.code(404).send({ message: `Pod not found: ${req.params.pod}` });
    return podStatus(req.params.pod);
  });
  app.get<{ Params: { pod: string } }>('/v1/pod/:pod/info', { schema: { params: podParam } }, async (req, reply) => {
    const pod = req.params.pod;
    if (!known(pod)) return reply.code(404).send({ message: `Pod not found: ${pod}` });
    const spec = s.spec(pod);
    const rec = s.state.pods[pod]!;
    return [{
      info: { name: spec.taskName, taskId: taskId(s, pod), pod, podIndex: rec.index, address: spec.address, clientUrl: spec.clientUrl, peerUrl: spec.peerUrl, sandbox: spec.sandbox, dataDir: spec.dataDir, log: spec.logFile, goal: rec.goal, memberId: rec.memberId ?? null, kind: rec.task?.kind ?? null, pid: rec.task?.pid ?? null, configHash: rec.task?.configHash ?? null, initialized: s.markerPresent(pod), join: rec.join ?? null },
      status: { state: s.taskStatus(pod), healthy: s.runtime(pod).healthy, busy: s.runtime(pod).busy ?? null, lastError: rec.lastError ?? null },
    }];
  });
  for (const verb of ['restart', 'replace', 'pause', 'resume'] as const) {
    app.post<{ Params: { pod: string } }>(`/v1/pod/:pod/${verb}`, { schema: { params: podParam } }, async (req, reply) => {
      const pod = req.params.pod;
      if (!known(pod)) return reply.code(404).send({ message: `Pod not found: ${pod}` });
      await s.preempt(pod);
      const ok = verb === 'restart' ? s.podRestart(pod) : verb === 'replace' ? s.podReplace(pod) : verb === 'pause' ? s.podPause(pod) : s.podResume(pod);
      if (!ok) return reply.code(409).send({ message: `pod ${pod} is busy (${s.runtime(pod).busy}); try again when it is done` });
      return { pod, tasks: [s.spec(pod).taskName] };
    });
  }

  app.get('/v1/endpoints', async () => ['api']);
  app.get<{ Params: { name: string } }>('/v1/endpoints/:name', async (req, reply) => {
    if (req.params.name !== 'api') return reply.code(404).send({ message: `Endpoint not found: ${req.params.name}` });
    return endpointsApi(s);
  });

  app.get('/v1/state/framework_id', async () => s.options.service.name);
  app.get('/v1/state/properties', async () => ['config-id', 'deployed', 'initial-members']);
  app.get<{ Params: { name: string } }>('/v1/state/properties/:name', async (req, reply) => {
    switch (req.params.name) {
      case 'config-id': return s.state.configId;
      case 'deployed': return s.state.deployed;
      case 'initial-members': return s.state.initialMembers;
      default: return reply.code(404).send({ message: `Property not found: ${req.params.name}` });
    }
  });
  app.get('/v1/state', async () => s.state);
  app.get('/v1/configurations/target', async () => s.options);
  app.get('/v1/configurations/targetId', async () => s.state.configId);
  app.get('/v1/describe', async () => ({ userOptions: s.state.userOptions, resolvedOptions: s.options }));

  app.post<{ Body: { options: UserOptions; replace?: boolean } }>('/v1/update', {
    schema: { body: { type: 'object', properties: { options: { type: 'object' }, replace: { type: 'boolean' } }, required: ['options'] } },
  }, async (req, reply) => {
    const r = s.update(req.body.options, req.body.replace === true);
    if (r.errors.length > 0) return reply.code(400).send({ message: 'configuration rejected', errors: r.errors });
    return { message: 'configuration accepted', configId: r.configId };
  });
  app.post<{ Body: { killTasks?: boolean } }>('/v1/shutdown', async (req) => {
    onShutdown(req.body?.killTasks === true);
    return { message: 'shutting down' };
  });
  registerDashboard(app, s);
  return app;
}

function taskId(s: Scheduler, pod: string): string {
  const t = s.state.pods[pod]?.task;
  return t === undefined ? '' : `${s.spec(pod).taskName}__${t.pid}-${t.startTicks}`;
}

export function endpointsApi(s: Scheduler): { address: string[]; dns: string[]; vip: string } {
  const o = s.options;
  const address = s.podNames().map((p) => `${s.spec(p).address}:${o.etcd.client_port}`);
  // No DNS here: every pod's "name" is its own loopback address, so dns repeats address.
  return { address, dns: [...address], vip: `${o.service.vip_address}:${o.etcd.client_port}` };
}
