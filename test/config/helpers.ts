// Shared helpers for the config tests: run the parser and insist on the outcome kind.
import assert from 'node:assert/strict';
import { parseMemberArgs, type MemberConfig, type ParseResult } from '../../src/api/config/index.js';

export type RunResult = Extract<ParseResult, { kind: 'run' }>;

export function run(argv: string[], env: NodeJS.ProcessEnv = {}): RunResult {
  const r = parseMemberArgs(argv, env);
  if (r.kind !== 'run') assert.fail(`expected a run config for ${JSON.stringify(argv)}, got ${JSON.stringify(r)}`);
  return r;
}

export function config(argv: string[], env: NodeJS.ProcessEnv = {}): MemberConfig {
  return run(argv, env).config;
}

export function failure(argv: string[], env: NodeJS.ProcessEnv = {}): { message: string; exitCode: number } {
  const r = parseMemberArgs(argv, env);
  if (r.kind !== 'error') assert.fail(`expected an error for ${JSON.stringify(argv)}, got ${r.kind}`);
  return { message: r.message, exitCode: r.exitCode };
}

/** Flags that make a member listen on explicit, valid loopback addresses. */
export const loopback = [
  '--listen-client-urls', 'http://127.0.0.1:23822', '--advertise-client-urls', 'http://127.0.0.1:23822',
  '--listen-peer-urls', 'http://127.0.0.1:23823', '--initial-advertise-peer-urls', 'http://127.0.0.1:23823',
  '--initial-cluster', 'default=http://127.0.0.1:23823',
];

export const texts = (urls: readonly URL[]): string[] => urls.map((u) => u.href);
