// X.509 material for TLS: a small certificate authority, certificates it issues, and
// self-signed certificates (etcd's --auto-tls). Everything goes in and out as PEM strings, so
// callers write files and hand them to node:tls, Go's etcd or etcdctl without conversions.
//
// Keys are ECDSA (P-256 by default; etcd's auto-TLS uses P-521, which `curve` also offers).
// Private keys are written as PKCS#8 ("BEGIN PRIVATE KEY"), which node:tls, OpenSSL and Go's
// tls.X509KeyPair all read. Node 20's crypto makes keys and parses certificates but can't
// build one; @peculiar/x509 does the DER encoding and signing over WebCrypto.
import { createPrivateKey, randomBytes, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
import { createRequire } from 'node:module';
import type * as X509 from '@peculiar/x509';

/** @peculiar/x509, loaded on first use: a member pays for its code and dependency tree only
 *  when it makes or reads certificates (auto-TLS); one serving plain HTTP or given its
 *  certificate files never does. With yaml (config/file.ts) also loaded lazily, an idle plain
 *  member measured 80-85 MiB of RSS instead of 94-97. */
let x509Module: typeof X509 | undefined;
function x509(): typeof X509 {
  return (x509Module ??= createRequire(import.meta.url)('@peculiar/x509') as typeof X509);
}

export type EcCurve = 'P-256' | 'P-384' | 'P-521';
/** What a leaf certificate may be used for (extended key usage): a TLS server, a TLS client
 *  (a peer dialing another peer, etcdctl with --cert), or both (peers are both). */
export type CertUsage = 'server' | 'client' | 'both';

/** A certificate and its private key, PEM. */
export interface CertKeyPem {
  readonly certPem: string;
  readonly keyPem: string;
}
/** A certificate authority: its self-signed certificate and the key that signs what it issues. */
export type CertificateAuthority = CertKeyPem;

/** The subject of a certificate. A string is taken as the common name. */
export type Subject = string | { readonly commonName: string; readonly organization?: string };

export interface IssueOptions {
  /** Subject alternative names: IP literals (v4, v6 with or without brackets) become IP SANs,
   *  anything else a DNS name. Clients verify the host they dial against these. */
  readonly sans: readonly string[];
  /** Validity in days from `notBefore`. */
  readonly days: number;
  readonly usage: CertUsage;
  /** Default: the first SAN, or 'tsetcd' without SANs. */
  readonly subject?: Subject;
  /** Default 'P-256'. */
  readonly curve?: EcCurve;
  /** Default: now minus CLOCK_SKEW_MS, so a peer whose clock is a little behind accepts it. */
  readonly notBefore?: Date;
}

/** Certificates start this long before they are made (clock skew between members). */
export const CLOCK_SKEW_MS = 5 * 60_000;
/** Most days a certificate may be valid; a bigger number is a unit mistake. */
export const CERT_DAYS_MAX = 100 * 366;
const DAY_MS = 86_400_000;

const HASH_OF: Record<EcCurve, string> = { 'P-256': 'SHA-256', 'P-384': 'SHA-384', 'P-521': 'SHA-512' };
const CURVE_OF_OPENSSL: Record<string, EcCurve> = { prime256v1: 'P-256', secp384r1: 'P-384', secp521r1: 'P-521' };

function ecParams(curve: EcCurve): webcrypto.EcKeyGenParams & { hash: string } {
  return { name: 'ECDSA', namedCurve: curve, hash: HASH_OF[curve] };
}

function checkDays(days: number): void {
  if (!Number.isInteger(days) || days < 1 || days > CERT_DAYS_MAX) {
    throw new RangeError(`certificate validity must be 1..${CERT_DAYS_MAX} whole days, got ${days}`);
  }
}

/** Escapes a value for an RFC 4514 distinguished name string. */
function dnValue(v: string): string {
  return v.replace(/([,+"\\<>;=#])/g, '\\$1');
}
function subjectName(s: Subject): string {
  const o = typeof s === 'string' ? { commonName: s } : s;
  if (o.commonName === '') throw new Error('certificate subject needs a common name');
  return o.organization === undefined ? `CN=${dnValue(o.commonName)}` : `CN=${dnValue(o.commonName)}, O=${dnValue(o.organization)}`;
}

/** A random positive 128-bit serial (RFC 5280: at most 20 octets, positive, unique per CA). */
function serialHex(): string {
  const b = randomBytes(16);
  b[0] = (b[0]! & 0x7f) | 0x01;
  return b.toString('hex');
}

function sanNames(sans: readonly string[]): X509.JsonGeneralName[] {
  return sans.map((s) => {
    const bare = s.replace(/^\[(.*)\]$/, '$1');
    if (bare === '') throw new Error('empty subject alternative name');
    return isIP(bare) !== 0 ? { type: 'ip', value: bare } : { type: 'dns', value: bare };
  });
}

function pem(label: string, der: ArrayBuffer): string {
  const b64 = Buffer.from(der).toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

async function newKeys(curve: EcCurve): Promise<webcrypto.CryptoKeyPair> {
  return webcrypto.subtle.generateKey(ecParams(curve), true, ['sign', 'verify']) as Promise<webcrypto.CryptoKeyPair>;
}

async function keyPem(key: webcrypto.CryptoKey): Promise<string> {
  return pem('PRIVATE KEY', await webcrypto.subtle.exportKey('pkcs8', key));
}

/** Imports an EC private key PEM (PKCS#8 or SEC1 "EC PRIVATE KEY") for signing. */
async function importSigningKey(pemText: string): Promise<{ key: webcrypto.CryptoKey; curve: EcCurve }> {
  const ko = createPrivateKey(pemText);
  const named = ko.asymmetricKeyDetails?.namedCurve ?? '';
  const curve = CURVE_OF_OPENSSL[named];
  if (ko.asymmetricKeyType !== 'ec' || curve === undefined) {
    throw new Error(`CA key must be ECDSA P-256, P-384 or P-521 (got ${ko.asymmetricKeyType ?? 'unknown'} ${named})`);
  }
  const der = ko.export({ type: 'pkcs8', format: 'der' });
  const key = await webcrypto.subtle.importKey('pkcs8', der, ecParams(curve), false, ['sign']);
  return { key, curve };
}

function validity(notBefore: Date | undefined, days: number): { notBefore: Date; notAfter: Date } {
  checkDays(days);
  const nb = notBefore ?? new Date(Date.now() - CLOCK_SKEW_MS);
  return { notBefore: nb, notAfter: new Date(nb.getTime() + days * DAY_MS) };
}

function leafExtensions(usage: CertUsage, sans: readonly string[]): X509.Extension[] {
  const { BasicConstraintsExtension, ExtendedKeyUsage, ExtendedKeyUsageExtension, KeyUsageFlags, KeyUsagesExtension, SubjectAlternativeNameExtension } = x509();
  const eku = usage === 'server' ? [ExtendedKeyUsage.serverAuth] : usage === 'client' ? [ExtendedKeyUsage.clientAuth] : [ExtendedKeyUsage.serverAuth, ExtendedKeyUsage.clientAuth];
  const exts: X509.Extension[] = [
    new BasicConstraintsExtension(false, undefined, true),
    // keyEncipherment as Go's etcd sets it; TLS with ECDSA keys only needs digitalSignature.
    new KeyUsagesExtension(KeyUsageFlags.digitalSignature | KeyUsageFlags.keyEncipherment, true),
    new ExtendedKeyUsageExtension(eku, false),
  ];
  if (sans.length > 0) exts.push(new SubjectAlternativeNameExtension(sanNames(sans), false));
  return exts;
}

/**
 * Makes a certificate authority: a self-signed CA certificate (basicConstraints CA:true,
 * keyCertSign) valid for `days`, and its key. Give `certPem` to whoever must trust what it
 * issues (--trusted-ca-file, --peer-trusted-ca-file, etcdctl --cacert).
 */
export async function createCa(subject: Subject, days: number, opts: { curve?: EcCurve; notBefore?: Date } = {}): Promise<CertificateAuthority> {
  const { BasicConstraintsExtension, KeyUsageFlags, KeyUsagesExtension, SubjectKeyIdentifierExtension, X509CertificateGenerator } = x509();
  const curve = opts.curve ?? 'P-256';
  const keys = await newKeys(curve);
  const cert = await X509CertificateGenerator.createSelfSigned({
    serialNumber: serialHex(),
    name: subjectName(subject),
    ...validity(opts.notBefore, days),
    keys,
    signingAlgorithm: ecParams(curve),
    extensions: [
      new BasicConstraintsExtension(true, undefined, true),
      new KeyUsagesExtension(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign | KeyUsageFlags.digitalSignature, true),
      await SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString('pem') + '\n', keyPem: await keyPem(keys.privateKey) };
}

/** Issues a leaf certificate signed by `ca`, with a fresh key of its own. */
export async function issueCert(ca: CertificateAuthority, opts: IssueOptions): Promise<CertKeyPem> {
  const { AuthorityKeyIdentifierExtension, SubjectKeyIdentifierExtension, X509Certificate, X509CertificateGenerator } = x509();
  const caCert = new X509Certificate(ca.certPem);
  const signer = await importSigningKey(ca.keyPem);
  const curve = opts.curve ?? 'P-256';
  const keys = await newKeys(curve);
  const cert = await X509CertificateGenerator.create({
    serialNumber: serialHex(),
    subject: subjectName(opts.subject ?? opts.sans[0] ?? 'tsetcd'),
    issuer: caCert.subject,
    ...validity(opts.notBefore, opts.days),
    publicKey: keys.publicKey,
    signingKey: signer.key,
    signingAlgorithm: ecParams(signer.curve),
    extensions: [
      ...leafExtensions(opts.usage, opts.sans),
      await SubjectKeyIdentifierExtension.create(keys.publicKey),
      await AuthorityKeyIdentifierExtension.create(caCert),
    ],
  });
  return { certPem: cert.toString('pem') + '\n', keyPem: await keyPem(keys.privateKey) };
}

/**
 * A self-signed leaf certificate (no CA), what etcd's --auto-tls makes: whoever talks to it
 * skips verification or pins this exact certificate as its CA.
 */
export async function selfSignedCert(opts: IssueOptions): Promise<CertKeyPem> {
  const { SubjectKeyIdentifierExtension, X509CertificateGenerator } = x509();
  const curve = opts.curve ?? 'P-256';
  const keys = await newKeys(curve);
  const cert = await X509CertificateGenerator.createSelfSigned({
    serialNumber: serialHex(),
    name: subjectName(opts.subject ?? opts.sans[0] ?? 'tsetcd'),
    ...validity(opts.notBefore, opts.days),
    keys,
    signingAlgorithm: ecParams(curve),
    extensions: [...leafExtensions(opts.usage, opts.sans), await SubjectKeyIdentifierExtension.create(keys.publicKey)],
  });
  return { certPem: cert.toString('pem') + '\n', keyPem: await keyPem(keys.privateKey) };
}

export interface CertInfo {
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Subject alternative names as strings (IPs and DNS names), in certificate order. */
  readonly sans: readonly string[];
  readonly subject: string;
  readonly issuer: string;
}

/** Reads the first certificate of a PEM text. Throws on anything that is not one. */
export function certInfo(certPem: string): CertInfo {
  const { SubjectAlternativeNameExtension, X509Certificate } = x509();
  const cert = new X509Certificate(certPem);
  const san = cert.getExtension(SubjectAlternativeNameExtension);
  const sans = san === null ? [] : san.names.items.filter((n) => n.type === 'ip' || n.type === 'dns').map((n) => n.value);
  return { notBefore: cert.notBefore, notAfter: cert.notAfter, sans, subject: cert.subject, issuer: cert.issuer };
}

/** When the certificate stops being valid (its notAfter). */
export function certExpiry(certPem: string): Date {
  return new (x509().X509Certificate)(certPem).notAfter;
}
