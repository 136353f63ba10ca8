// JWT auth tokens (--auth-token jwt,pub-key=...,priv-key=...,sign-method=...,ttl=...), as etcd
// 3.4 issues them: header {"alg","typ":"JWT"}, claims {"exp","revision","username"} (in that
// order), signed with the configured key. Unlike simple tokens they are not replicated: any
// member with the key verifies them, they survive restarts, and they expire `ttl` after they
// were issued (5 minutes by default), used or not. The revision claim is the auth store's
// revision at issue: once users, roles or permissions change, requests with older tokens are
// refused with "revision of auth store is old" and clients authenticate again.
import { constants, createHmac, createPrivateKey, createPublicKey, sign, verify, timingSafeEqual, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseGoDurationNs } from '../../api/config/go.js';

/** etcd's default token lifetime (jwt option ttl). */
export const JWT_TTL_DEFAULT_MS = 5 * 60_000;
/** A token longer than this is not parsed (a valid one is a few hundred bytes). */
export const JWT_TOKEN_BYTES_MAX = 16 * 1024;

type Family = 'RS' | 'PS' | 'ES' | 'HS';
/** The curve each ES method signs on (r||s of its size). */
const EC_CURVES = { '256': 'prime256v1', '384': 'secp384r1', '512': 'secp521r1' } as const;
const HASHES = { '256': 'sha256', '384': 'sha384', '512': 'sha512' } as const;

/** Why a jwt --auth-token cannot be used; `message` is etcd's. */
export class JwtConfigError extends Error {}

export interface JwtClaims {
  readonly username: string;
  readonly revision: number;
}

export class JwtTokens {
  private readonly header: string;

  private constructor(
    private readonly alg: string,
    private readonly family: Family,
    private readonly hash: 'sha256' | 'sha384' | 'sha512',
    private readonly signKey: KeyObject | Buffer | undefined,
    private readonly verifyKey: KeyObject | Buffer,
    readonly ttlMs: number,
  ) {
    this.header = b64url(JSON.stringify({ alg, typ: 'JWT' }));
  }

  /** The provider for an --auth-token value ("jwt,opt=value,..."); throws JwtConfigError with
   *  etcd's message. `warn` hears about options etcd ignores. */
  static fromOption(value: string, warn: (msg: string) => void, read: (path: string) => Buffer = readFileSync): JwtTokens {
    const opts = new Map<string, string>();
    for (const part of value.split(',').slice(1)) {
      const eq = part.indexOf('=');
      if (eq > 0) opts.set(part.slice(0, eq), part.slice(eq + 1));
    }
    const unknown = [...opts.keys()].filter((k) => !['pub-key', 'priv-key', 'sign-method', 'ttl'].includes(k));
    if (unknown.length > 0) warn(`auth: unknown JWT options: [${unknown.join(' ')}]`);
    const alg = opts.get('sign-method') ?? '';
    const m = /^(RS|PS|ES|HS)(256|384|512)$/.exec(alg);
    if (m === null) throw new JwtConfigError('auth: invalid auth signature method');
    const family = m[1] as Family;
    const bits = m[2] as keyof typeof HASHES;
    let ttlMs = JWT_TTL_DEFAULT_MS;
    const ttl = opts.get('ttl');
    if (ttl !== undefined && ttl !== '') {
      try {
        ttlMs = parseGoDurationNs(ttl) / 1e6;
      } catch (err) {
        throw new JwtConfigError((err as Error).message);
      }
    }
    // An empty file is no key (an empty HMAC secret would let anyone sign).
    const file = (k: string): Buffer | undefined => {
      const p = opts.get(k);
      if (p === undefined || p === '') return undefined;
      let data: Buffer;
      try {
        data = read(p);
      } catch (err) {
        throw new JwtConfigError(`open ${p}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message}`);
      }
      return data.length > 0 ? data : undefined;
    };
    const privPem = file('priv-key');
    const pubPem = file('pub-key');
    if (family === 'HS') {
      if (privPem === undefined) throw new JwtConfigError('auth: missing key data');
      return new JwtTokens(alg, family, HASHES[bits], privPem, privPem, ttlMs);
    }
    const wantType = family === 'ES' ? 'ec' : 'rsa';
    const what = family === 'ES' ? 'ECDSA' : 'RSA';
    const load = (pem: Buffer | undefined, make: (pem: Buffer) => KeyObject, kind: 'private' | 'public'): KeyObject | undefined => {
      if (pem === undefined) return undefined;
      let key: KeyObject | undefined;
      try {
        key = make(pem);
      } catch {
        key = undefined;
      }
      if (key?.asymmetricKeyType !== wantType) throw new JwtConfigError(`key is not a valid ${what} ${kind} key`);
      return key;
    };
    const priv = load(privPem, createPrivateKey, 'private');
    const pub = load(pubPem, createPublicKey, 'public');
    // With a private key, etcd verifies with its public half and ignores pub-key.
    const verifyKey = priv !== undefined ? createPublicKey(priv) : pub;
    if (verifyKey === undefined) throw new JwtConfigError('auth: missing key data');
    if (family === 'ES' && verifyKey.asymmetricKeyDetails?.namedCurve !== EC_CURVES[bits]) throw new JwtConfigError(`key is invalid (${alg} needs curve ${EC_CURVES[bits]})`);
    return new JwtTokens(alg, family, HASHES[bits], priv, verifyKey, ttlMs);
  }

  /** A new token for `username` at auth revision `revision`; throws when the provider only has
   *  a public key (etcd's ErrVerifyOnly). */
  assign(username: string, revision: number, nowMs: number): string {
    if (this.signKey === undefined) throw new Error('auth: token signing attempted with verify-only key');
    const claims = b64url(JSON.stringify({ exp: Math.floor((nowMs + this.ttlMs) / 1000), revision, username }));
    const input = `${this.header}.${claims}`;
    return `${input}.${this.signature(input).toString('base64url')}`;
  }

  /** The claims of a token this provider signed and that has not expired; else undefined. */
  info(token: string, nowMs: number): JwtClaims | undefined {
    if (token.length > JWT_TOKEN_BYTES_MAX) return undefined;
    const parts = token.split('.');
    if (parts.length !== 3) return undefined;
    const [h, c, s] = parts as [string, string, string];
    try {
      const header = JSON.parse(strictB64url(h).toString('utf8')) as { alg?: unknown };
      if (header.alg !== this.alg) return undefined;
      if (!this.verifySignature(`${h}.${c}`, strictB64url(s))) return undefined;
      const claims = JSON.parse(strictB64url(c).toString('utf8')) as { exp?: unknown; nbf?: unknown; iat?: unknown; revision?: unknown; username?: unknown };
      // golang-jwt's MapClaims.Valid, in whole seconds: exp 0 is unset, exp == now still valid,
      // nbf and iat must not be in the future.
      const now = Math.floor(nowMs / 1000);
      if (typeof claims.exp === 'number' && claims.exp !== 0 && now > claims.exp) return undefined;
      if (typeof claims.nbf === 'number' && now < claims.nbf) return undefined;
      if (typeof claims.iat === 'number' && now < claims.iat) return undefined;
      if (typeof claims.username !== 'string' || typeof claims.revision !== 'number') return undefined;
      return { username: claims.username, revision: claims.revision };
    } catch {
      return undefined;
    }
  }

  private signature(input: string): Buffer {
    const key = this.signKey!;
    switch (this.family) {
      case 'HS':
        return createHmac(this.hash, key as Buffer).update(input).digest();
      case 'RS':
        return sign(this.hash, Buffer.from(input), key as KeyObject);
      case 'PS':
        return sign(this.hash, Buffer.from(input), { key: key as KeyObject, padding: RSA_PKCS1_PSS_PADDING, saltLength: PSS_SALT_DIGEST });
      case 'ES':
        return sign(this.hash, Buffer.from(input), { key: key as KeyObject, dsaEncoding: 'ieee-p1363' });
    }
  }

  private verifySignature(input: string, sig: Buffer): boolean {
    const key = this.verifyKey;
    switch (this.family) {
      case 'HS': {
        const want = createHmac(this.hash, key as Buffer).update(input).digest();
        return want.length === sig.length && timingSafeEqual(want, sig);
      }
      case 'RS':
        return verify(this.hash, Buffer.from(input), key as KeyObject, sig);
      case 'PS':
        return verify(this.hash, Buffer.from(input), { key: key as KeyObject, padding: RSA_PKCS1_PSS_PADDING, saltLength: PSS_SALT_AUTO }, sig);
      case 'ES':
        return verify(this.hash, Buffer.from(input), { key: key as KeyObject, dsaEncoding: 'ieee-p1363' }, sig);
    }
  }
}

const { RSA_PKCS1_PSS_PADDING, RSA_PSS_SALTLEN_DIGEST: PSS_SALT_DIGEST, RSA_PSS_SALTLEN_AUTO: PSS_SALT_AUTO } = constants;

/** Unpadded base64url in its canonical form only (Node's decoder would skip stray characters;
 *  Go's is stricter than Node's but takes a few forms this refuses, e.g. '=' padding). */
function strictB64url(s: string): Buffer {
  const b = Buffer.from(s, 'base64url');
  if (b.toString('base64url') !== s) throw new Error('not base64url');
  return b;
}

function b64url(s: string): string {
  return Buffer.from(s, 'utf8').toString('base64url');
}
