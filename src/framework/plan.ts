// Plans in the SDK's shape: plan -> phases -> steps, one step per pod (`etcd-N:[node]`), the
// phase named `agents` as in the package's svc.yml. Pure data and status arithmetic; the
// scheduler executes steps.
import { randomUUID } from 'node:crypto';

export type Status = 'PENDING' | 'PREPARED' | 'STARTING' | 'STARTED' | 'COMPLETE' | 'WAITING' | 'ERROR' | 'IN_PROGRESS';
export type Strategy = 'serial' | 'parallel';

export interface StepState {
  id: string;
  name: string;
  pod: string;
  status: Status;
  message: string;
}

export interface PhaseState {
  id: string;
  name: string;
  strategy: Strategy;
  steps: StepState[];
}

export interface PlanState {
  name: string;
  strategy: Strategy;
  phases: PhaseState[];
  /** Paused (interrupted): no new step starts; steps already running finish. */
  interrupted: boolean;
  /** The configuration this plan rolls out. */
  configId: number;
}

export function stepName(pod: string): string {
  return `${pod}:[node]`;
}

export function newPlan(name: string, pods: readonly string[], phaseStrategy: Strategy, configId: number): PlanState {
  return {
    name,
    strategy: 'serial',
    interrupted: false,
    configId,
    phases: [{ id: randomUUID(), name: 'agents', strategy: phaseStrategy, steps: pods.map((pod) => ({ id: randomUUID(), name: stepName(pod), pod, status: 'PENDING', message: '' })) }],
  };
}

/** Aggregate status of a list of children, as the SDK computes it. */
function aggregate(statuses: readonly Status[], interrupted: boolean): Status {
  if (statuses.length === 0 || statuses.every((s) => s === 'COMPLETE')) return 'COMPLETE';
  if (statuses.some((s) => s === 'ERROR')) return 'ERROR';
  if (interrupted) return 'WAITING';
  if (statuses.some((s) => s === 'STARTING' || s === 'STARTED' || s === 'PREPARED' || s === 'IN_PROGRESS')) return 'IN_PROGRESS';
  if (statuses.some((s) => s === 'COMPLETE')) return 'IN_PROGRESS';
  if (statuses.every((s) => s === 'WAITING')) return 'WAITING';
  return 'PENDING';
}

export function phaseStatus(p: PhaseState, interrupted: boolean): Status {
  return aggregate(p.steps.map((s) => s.status), interrupted);
}

export function planStatus(plan: PlanState, errors: readonly string[]): Status {
  if (errors.length > 0) return 'ERROR';
  return aggregate(plan.phases.map((p) => phaseStatus(p, plan.interrupted)), plan.interrupted);
}

/** The JSON body of GET /v1/plans/<plan>. */
export function planJson(plan: PlanState, errors: readonly string[]): Record<string, unknown> {
  return {
    phases: plan.phases.map((p) => ({
      id: p.id,
      name: p.name,
      steps: p.steps.map((s) => ({ id: s.id, status: s.status, name: s.name, message: s.message })),
      status: phaseStatus(p, plan.interrupted),
      strategy: p.strategy,
    })),
    errors: [...errors],
    status: planStatus(plan, errors),
    strategy: plan.strategy,
  };
}

/** HTTP status of GET /v1/plans/<plan>: 200 complete, 417 errors, 202 otherwise. */
export function planHttpStatus(body: Record<string, unknown>): number {
  const errors = body.errors as unknown[];
  if (errors.length > 0 || body.status === 'ERROR') return 417;
  return body.status === 'COMPLETE' ? 200 : 202;
}

interface PlanBody {
  status: string;
  strategy: string;
  errors: string[];
  phases: { name: string; status: string; strategy: string; steps: { name: string; status: string; message: string }[] }[];
}

/** The tree `plan status` prints. */
export function renderPlan(name: string, body: PlanBody): string {
  const lines = [`${name} (${body.strategy} strategy) (${body.status})`];
  body.phases.forEach((p, pi) => {
    const lastP = pi === body.phases.length - 1;
    lines.push(`${lastP ? '└─' : '├─'} ${p.name} (${p.strategy} strategy) (${p.status})`);
    p.steps.forEach((s, si) => {
      const lastS = si === p.steps.length - 1;
      lines.push(`${lastP ? '   ' : '│  '}${lastS ? '└─' : '├─'} ${s.name} (${s.status})${s.message !== '' && s.status !== 'COMPLETE' ? ` ${s.message}` : ''}`);
    });
  });
  if (body.errors.length > 0) {
    lines.push('', 'Errors:');
    for (const e of body.errors) lines.push(`- ${e}`);
  }
  return lines.join('\n');
}
