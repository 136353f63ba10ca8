// Password hashing for v3 users. etcd uses bcrypt; we use node's scrypt (no dependency). The hash
// is computed once by the proposing member (it has a random salt, so it must not be computed in
// apply) and travels in the raft entry; it is never shown to clients.
//
// Format: "scrypt$<N>$<r>$<p>$<salt base64>$<key base64>".
import { randomBytes, scrypt, scryptSync, timingSafeEqual } from 'node:crypto';

const SCRYPT_N = 16_384;
const SCRYPT_R = 8;
const SCRYPT_P = 1;
const SALT_BYTES = 16;
const KEY_BYTES = 32;
/** Hashes with larger parameters are refused when verifying (they would be a CPU/memory bomb). */
const SCRYPT_N_MAX = 1 << 20;
const SCRYPT_R_MAX = 32;
const SCRYPT_P_MAX = 16;
/** A password longer than this is refused by hashPassword (bcrypt's limit is 72 bytes; etcd
 *  truncates there; we simply bound the work). */
export const PASSWORD_BYTES_MAX = 4096;

function maxmem(n: number, r: number): number {
  return 256 * n * r + 1024 * 1024;
}

function checkPassword(password: string): void {
  if (Buffer.byteLength(password, 'utf8') > PASSWORD_BYTES_MAX) throw new Error(`password longer than ${PASSWORD_BYTES_MAX} bytes`);
}

function format(salt: Buffer, key: Buffer): string {
  return `scrypt$${SCRYPT_N}$${SCRYPT_R}$${SCRYPT_P}$${salt.toString('base64')}$${key.toString('base64')}`;
}

/** Hashes a password with a random salt (blocks the event loop for tens of ms: prefer
 *  hashPasswordAsync in the server). */
export function hashPassword(password: string): string {
  checkPassword(password);
  const salt = randomBytes(SALT_BYTES);
  const key = scryptSync(password, salt, KEY_BYTES, { N: SCRYPT_N, r: SCRYPT_R, p: SCRYPT_P, maxmem: maxmem(SCRYPT_N, SCRYPT_R) });
  return format(salt, key);
}

/** hashPassword on the libuv thread pool. */
export function hashPasswordAsync(password: string): Promise<string> {
  checkPassword(password);
  const salt = randomBytes(SALT_BYTES);
  return new Promise((resolve, reject) => {
    scrypt(password, salt, KEY_BYTES, { N: SCRYPT_N, r: SCRYPT_R, p: SCRYPT_P, maxmem: maxmem(SCRYPT_N, SCRYPT_R) }, (err, key) => {
      if (err) reject(err);
      else resolve(format(salt, key));
    });
  });
}

interface Parsed {
  n: number;
  r: number;
  p: number;
  salt: Buffer;
  key: Buffer;
}

/** Parses a stored hash; undefined if it is not one of ours. */
export function parsePasswordHash(hash: string): Parsed | undefined {
  const parts = hash.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return undefined;
  const n = Number(parts[1]);
  const r = Number(parts[2]);
  const p = Number(parts[3]);
  if (!Number.isInteger(n) || n < 2 || n > SCRYPT_N_MAX || (n & (n - 1)) !== 0) return undefined;
  if (!Number.isInteger(r) || r < 1 || r > SCRYPT_R_MAX) return undefined;
  if (!Number.isInteger(p) || p < 1 || p > SCRYPT_P_MAX) return undefined;
  const salt = Buffer.from(parts[4] as string, 'base64');
  const key = Buffer.from(parts[5] as string, 'base64');
  if (salt.length === 0 || key.length === 0) return undefined;
  return { n, r, p, salt, key };
}

/** True when `password` matches `hash` (constant-time comparison; runs on the thread pool). */
export function verifyPassword(password: string, hash: string): Promise<boolean> {
  const parsed = parsePasswordHash(hash);
  if (parsed === undefined || Buffer.byteLength(password, 'utf8') > PASSWORD_BYTES_MAX) return Promise.resolve(false);
  return new Promise((resolve, reject) => {
    scrypt(password, parsed.salt, parsed.key.length, { N: parsed.n, r: parsed.r, p: parsed.p, maxmem: maxmem(parsed.n, parsed.r) }, (err, key) => {
      if (err) reject(err);
      else resolve(timingSafeEqual(key, parsed.key));
    });
  });
}
