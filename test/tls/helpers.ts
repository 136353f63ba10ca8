// Shared helpers for the TLS tests: temp dirs with PEM files, TlsConfig values, loopback servers.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TlsConfig } from '../../src/api/config/index.js';
import type { CertKeyPem } from '../../src/api/tls/certs.js';

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
