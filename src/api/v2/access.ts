// v2 auth checks on a request (etcd v2http client_auth.go): HTTP Basic credentials, root access for the
// members/auth endpoints, key-prefix access (guest role when no credentials) for /v2/keys.
import type { V2AuthBackend } from './backend.js';

/** Go's r.BasicAuth(): undefined when absent or malformed. */
export function parseBasicAuth(header: string | undefined): { user: string; password: string } | undefined {
  if (header === undefined || header.length < 6) return undefined;
  if (header.slice(0, 6).toLowerCase() !== 'basic ') return undefined;
  const b64 = header.slice(6);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(b64) || b64.length % 4 !== 0) return undefined;
  const text = Buffer.from(b64, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon === -1) return undefined;
  return { user: text.slice(0, colon), password: text.slice(colon + 1) };
}

/** The authenticated user name, or undefined (bad encoding, unknown user, wrong password). */
export function userFromBasicAuth(auth: V2AuthBackend, header: string | undefined): string | undefined {
  const cred = parseBasicAuth(header);
  if (cred === undefined) return undefined;
  try {
    auth.getUser(cred.user);
  } catch {
    return undefined;
  }
  if (!auth.checkPassword(cred.user, cred.password)) return undefined;
  return cred.user;
}

/** etcd's hasRootAccess: true when auth is off, or the credentials name a user with the root role. */
export function hasRootAccess(auth: V2AuthBackend, header: string | undefined): boolean {
  if (!auth.enabled()) return true;
  const user = userFromBasicAuth(auth, header);
  if (user === undefined) return false;
  return (auth.getUser(user).roles ?? []).includes('root');
}

/** etcd's hasWriteRootAccess: reads are open to all. */
export function hasWriteRootAccess(auth: V2AuthBackend, method: string, header: string | undefined): boolean {
  if (method === 'GET' || method === 'HEAD') return true;
  return hasRootAccess(auth, header);
}

/** etcd's hasKeyPrefixAccess: no credentials = the guest role (non-recursive check). */
export function hasKeyPrefixAccess(auth: V2AuthBackend, method: string, header: string | undefined, key: string, recursive: boolean): boolean {
  if (!auth.enabled()) return true;
  const write = method !== 'GET' && method !== 'HEAD';
  if (header === undefined || header === '') return auth.hasKeyAccess(undefined, key, write, false);
  const user = userFromBasicAuth(auth, header);
  if (user === undefined) return false;
  return auth.hasKeyAccess(user, key, write, recursive);
}
