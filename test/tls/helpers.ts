// Shared helpers for the TLS tests: temp dirs with PEM files, TlsConfig values, loopback servers,
// a single member (etcd or tsetcd) on an https:// client port.
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TlsConfig } from '../../src/api/config/index.js';
import type { CertKeyPem } from '../../src/api/tls/certs.js';
import { implCommand, trackChild, type Impl } from '../harness/cluster.js';

export const T = { timeout: 30_000 };

export interface TempDir {
  readonly path: string;
  /** Writes `<name>.pem` / `<name>.key` for a pair and returns their paths. */
  pair(name: string, p: CertKeyPem): Promise<{ certFile: string; keyFile: string }>;
  file(name: string, text: string): Promise<string>;
  remove(): Promise<void>;
}

export async function tempDir(): Promise<TempDir> {
  const path = await mkdtemp(join(tmpdir(), 'tsetcd-tls-'));
  const file = async (name: string, text: string): Promise<string> => {
    const p = join(path, name);
    await writeFile(p, text, { mode: 0o600 });
    return p;
  };
  return {
    path,
    file,
    pair: async (name, p) => ({ certFile: await file(`${name}.pem`, p.certPem), keyFile: await file(`${name}.key`, p.keyPem) }),
    remove: () => rm(path, { recursive: true, force: true }),
  };
}

export function tlsConfig(over: Partial<TlsConfig>): TlsConfig {
  return { certFile: '', keyFile: '', trustedCaFile: '', clientCertAuth: false, autoTls: false, crlFile: '', allowedHostname: '', allowedCn: '', ...over };
}

export function listenLoopback(server: net.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0 }, () => {
      server.off('error', reject);
      const a = server.address();
      if (a === null || typeof a === 'string') throw new Error('no address');
      resolve(a.port);
    });
  });
}

export function closeServer(server: net.Server): Promise<void> {
  return new Promise((resolve) => {
    (server as net.Server & { closeAllConnections?: () => void }).closeAllConnections?.();
    server.close(() => resolve());
  });
}

/** Bytes of a member's output kept for failure messages. */
const MEMBER_LOG_TAIL_BYTES = 8000;

export interface TlsMember {
  /** The last MEMBER_LOG_TAIL_BYTES of its stdout and stderr. */
  log(): string;
  /** SIGKILL, and the exit waited for. */
  stop(): Promise<void>;
}

/** Starts a one-member cluster of `impl` named `name`, data under dir, serving clients on
 *  https://127.0.0.1:clientPort with the server pair, peers on plain http, plus `flags`. */
export function spawnTlsMember(
  impl: Impl,
  o: { name: string; dir: string; clientPort: number; peerPort: number; server: { certFile: string; keyFile: string }; flags: string[] },
): TlsMember {
  const { cmd, args, env } = implCommand(impl);
  const client = `https://127.0.0.1:${o.clientPort}`;
  const peer = `http://127.0.0.1:${o.peerPort}`;
  const member = spawn(cmd, [...args,
    '--name', o.name, '--data-dir', join(o.dir, 'data'),
    '--listen-client-urls', client, '--advertise-client-urls', client,
    '--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer,
    '--initial-cluster', `${o.name}=${peer}`,
    '--cert-file', o.server.certFile, '--key-file', o.server.keyFile, ...o.flags,
  ], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let log = '';
  const keep = (d: Buffer): void => {
    log = (log + d.toString()).slice(-MEMBER_LOG_TAIL_BYTES);
  };
  member.stdout!.on('data', keep);
  member.stderr!.on('data', keep);
  trackChild(member);
  return {
    log: () => log,
    stop: async () => {
      member.kill('SIGKILL');
      await new Promise((r) => (member.exitCode !== null || member.signalCode !== null ? r(undefined) : member.once('exit', r)));
    },
  };
}
