// The framework's TLS material. CA mode: one CA per service (<service>/tls/ca.crt, the file
// clients may trust), and per pod node.crt/node.key/node.ca in the sandbox, signed by it, with
// SANs for the pod's address, its task name and the VIP (what the SDK's transport-encryption
// delivers, with IP SANs added so clients that dial addresses can verify). Auto-TLS mode: the
// member makes its own self-signed pair; the framework only makes sure it is renewed in time.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { certInfo, createCa, issueCert } from '../api/tls/certs.js';
import { writeFileAtomic } from './state.js';

/** CA validity: 10 years, as the DC/OS CA's certificates. */
export const CA_DAYS = 3650;
/** Member certificate validity; renewed (on the next launch) when less than RENEW_BEFORE_DAYS is left. */
export const MEMBER_CERT_DAYS = 365;
export const RENEW_BEFORE_DAYS = 30;
const DAY_MS = 86_400_000;

export function caFiles(tlsDir: string): { cert: string; key: string } {
  return { cert: join(tlsDir, 'ca.crt'), key: join(tlsDir, 'ca.key') };
}

export async function ensureCa(tlsDir: string, serviceName: string): Promise<void> {
  const f = caFiles(tlsDir);
  if (existsSync(f.cert) && existsSync(f.key)) return;
  const ca = await createCa({ commonName: `tsetcd ${serviceName} CA`, organization: 'tsetcd' }, CA_DAYS);
  writeFileAtomic(f.key, ca.keyPem, 0o600);
  writeFileAtomic(f.cert, ca.certPem);
}

export interface MemberCertFiles {
  cert: string;
  key: string;
  ca: string;
}

export function memberCertFiles(sandbox: string): MemberCertFiles {
  return { cert: join(sandbox, 'node.crt'), key: join(sandbox, 'node.key'), ca: join(sandbox, 'node.ca') };
}

/** Why a certificate must be made again (missing, expiring, SANs changed), or undefined. */
export function renewalReason(certFile: string, sans: readonly string[], nowMs = Date.now()): string | undefined {
  if (!existsSync(certFile)) return 'missing';
  try {
    const info = certInfo(readFileSync(certFile, 'utf8'));
    if (info.notAfter.getTime() - nowMs < RENEW_BEFORE_DAYS * DAY_MS) return `expires ${info.notAfter.toISOString()}`;
    for (const s of sans) if (!info.sans.includes(s)) return `SAN ${s} missing`;
    return undefined;
  } catch (err) {
    return `unreadable: ${(err as Error).message}`;
  }
}

/** Issue (or keep) the pod's certificate, signed by the service CA. */
export async function ensureMemberCert(tlsDir: string, sandbox: string, sans: readonly string[], taskName: string): Promise<MemberCertFiles> {
  const files = memberCertFiles(sandbox);
  const caF = caFiles(tlsDir);
  const caPem = readFileSync(caF.cert, 'utf8');
  if (renewalReason(files.cert, sans) !== undefined || !existsSync(files.key)) {
    const ca = { certPem: caPem, keyPem: readFileSync(caF.key, 'utf8') };
    const leaf = await issueCert(ca, { sans, days: MEMBER_CERT_DAYS, usage: 'both', subject: { commonName: taskName, organization: 'tsetcd' } });
    writeFileAtomic(files.key, leaf.keyPem, 0o600);
    writeFileAtomic(files.cert, leaf.certPem);
  }
  writeFileAtomic(files.ca, caPem);
  return files;
}

/** Auto-TLS: drop the member's self-signed pairs that are close to expiry so it makes new ones
 *  when it starts (etcd itself would reuse them until they lapse). */
export function expireAutoTlsFixtures(dataDir: string, nowMs = Date.now()): string[] {
  const dropped: string[] = [];
  for (const side of ['client', 'peer']) {
    const dir = join(dataDir, 'fixtures', side);
    const cert = join(dir, 'cert.pem');
    if (!existsSync(cert)) continue;
    const why = renewalReason(cert, [], nowMs);
    if (why !== undefined) {
      rmSync(dir, { recursive: true, force: true });
      dropped.push(`${side}: ${why}`);
    }
  }
  return dropped;
}

/** Days until the member's auto-TLS certificate expires (the smaller of client and peer). */
export function autoTlsDaysLeft(dataDir: string, nowMs = Date.now()): number | undefined {
  let min: number | undefined;
  for (const side of ['client', 'peer']) {
    const cert = join(dataDir, 'fixtures', side, 'cert.pem');
    if (!existsSync(cert)) continue;
    try {
      const d = (certInfo(readFileSync(cert, 'utf8')).notAfter.getTime() - nowMs) / DAY_MS;
      min = min === undefined ? d : Math.min(min, d);
    } catch { /* unreadable: the member replaces it */ }
  }
  return min;
}
