// etcd's --auto-tls / --peer-auto-tls: a self-signed certificate per member, kept in
// <data-dir>/fixtures/client and <data-dir>/fixtures/peer as cert.pem and key.pem, made on the
// first start and reused on later ones. Whoever talks to it skips verification (etcdctl
// --insecure-skip-tls-verify; peers with --peer-auto-tls do so by themselves), so it encrypts
// but does not authenticate.
//
// Same as etcd 3.4: ECDSA P-521 with SHA-512, valid 365 days, SANs = the listen hosts,
// subject O=etcd, key file 0600 in a 0700 directory.
// Unlike etcd, which reuses whatever files exist forever, the pair is made again when:
//   - either file is missing or unreadable, or the key does not belong to the certificate;
//   - less than 10% of its validity is left (AUTO_TLS_RENEW_FRACTION: ~36 days of 365), or it
//     is already expired or not yet valid;
//   - a listen host is not among its SANs (the listen URLs changed).
// A renewed certificate is used from the next start (or whenever the caller reloads it).
import { createPrivateKey, createPublicKey, X509Certificate as NodeX509 } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { certInfo, selfSignedCert, type CertUsage, type EcCurve } from './certs.js';

/** Renew when less than this fraction of the validity period is left. */
export const AUTO_TLS_RENEW_FRACTION = 0.1;
/** etcd's auto-TLS validity (1 year). */
export const AUTO_TLS_DAYS = 365;
/** etcd's auto-TLS curve. */
export const AUTO_TLS_CURVE: EcCurve = 'P-521';

export interface AutoTlsFiles {
  readonly certFile: string;
  readonly keyFile: string;
  /** True when this call wrote new files (first start, renewal, hosts changed). */
  readonly created: boolean;
}

export interface AutoTlsOptions {
  /** Default 'server' (etcd's client fixtures); the peer side should pass 'both'. */
  readonly usage?: CertUsage;
  readonly days?: number;
  readonly curve?: EcCurve;
  /** The current time (tests). */
  readonly now?: Date;
}

/** <data-dir>/fixtures/client or <data-dir>/fixtures/peer, as etcd names them. */
export function autoTlsDir(dataDir: string, side: 'client' | 'peer'): string {
  return join(dataDir, 'fixtures', side);
}

/** The hosts of listen URLs (brackets of IPv6 literals removed, duplicates dropped): the SANs
 *  etcd puts in an auto-TLS certificate. */
export function hostsOfUrls(urls: readonly URL[]): string[] {
  return [...new Set(urls.map((u) => u.hostname.replace(/^\[(.*)\]$/, '$1')))];
}

/**
 * Why a certificate/key pair can't be reused for `hosts` at `now`, or undefined if it can.
 * Exposed for the framework, which renews members' certificates by the same rule.
 */
export function autoTlsRenewalReason(certPem: string, keyPem: string, hosts: readonly string[], now: Date): string | undefined {
  let info;
  try {
    info = certInfo(certPem);
    const certKey = new NodeX509(certPem).publicKey.export({ type: 'spki', format: 'der' });
    const ownKey = createPublicKey(createPrivateKey(keyPem)).export({ type: 'spki', format: 'der' });
    if (!certKey.equals(ownKey)) return 'key does not match certificate';
  } catch (err) {
    return `unreadable: ${(err as Error).message}`;
  }
  const start = info.notBefore.getTime();
  const end = info.notAfter.getTime();
  const t = now.getTime();
  if (t < start) return 'not yet valid';
  if (t >= end) return 'expired';
  if (end - t < (end - start) * AUTO_TLS_RENEW_FRACTION) return `less than ${AUTO_TLS_RENEW_FRACTION * 100}% of validity left`;
  const sans = new Set(info.sans);
  const missing = hosts.filter((h) => !sans.has(h.replace(/^\[(.*)\]$/, '$1')));
  if (missing.length > 0) return `hosts not in SANs: ${missing.join(',')}`;
  return undefined;
}

async function readIfExists(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Writes through a temporary file and a rename, so a crash leaves the old file or the new one. */
async function writeAtomic(path: string, text: string, mode: number): Promise<void> {
  const tmp = `${path}.tmp`;
  await writeFile(tmp, text, { mode, flush: true });
  await rename(tmp, path);
}

/**
 * Makes sure `dir` holds a usable self-signed cert.pem/key.pem for `hosts` (see the rules at
 * the top of this file) and returns their paths. `dir` is created (0700) if missing.
 */
export async function ensureAutoTls(dir: string, hosts: readonly string[], opts: AutoTlsOptions = {}): Promise<AutoTlsFiles> {
  if (hosts.length === 0) throw new Error('auto TLS needs at least one host for the certificate');
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const [certPem, keyPem] = await Promise.all([readIfExists(certFile), readIfExists(keyFile)]);
  const now = opts.now ?? new Date();
  if (certPem !== undefined && keyPem !== undefined && autoTlsRenewalReason(certPem, keyPem, hosts, now) === undefined) {
    return { certFile, keyFile, created: false };
  }
  const made = await selfSignedCert({
    sans: hosts,
    days: opts.days ?? AUTO_TLS_DAYS,
    usage: opts.usage ?? 'server',
    curve: opts.curve ?? AUTO_TLS_CURVE,
    subject: { commonName: hosts[0]!.replace(/^\[(.*)\]$/, '$1'), organization: 'etcd' },
    notBefore: now,
  });
  // Key first: a crash between the two renames leaves a mismatched pair, which the next call
  // detects and replaces.
  await writeAtomic(keyFile, made.keyPem, 0o600);
  await writeAtomic(certFile, made.certPem, 0o644);
  return { certFile, keyFile, created: true };
}
