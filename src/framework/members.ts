// The scheduler's client for a member: /health, and membership through the v2 members API.
// It talks to members' own client URLs (never through the VIP), with the TLS settings of the
// service, so membership changes work under every TLS mode.
import http from 'node:http';
import https from 'node:https';

export interface ClientTls {
  /** CA to verify members with (framework CA mode); undefined = don't verify (auto-TLS). */
  ca?: Buffer;
}

export interface MemberInfo {
  id: string;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
}

/** Bound on every call to a member, so one stuck member never stalls the scheduler. */
export const MEMBER_CALL_TIMEOUT_MS = 3000;

export interface HttpReply {
  status: number;
  body: string;
}

export function request(url: string, opts: { method?: string; body?: string; headers?: Record<string, string>; timeoutMs?: number; tls?: ClientTls }): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const mod = u.protocol === 'https:' ? https : http;
    const tlsOpts = u.protocol === 'https:' ? (opts.tls?.ca !== undefined ? { ca: opts.tls.ca } : { rejectUnauthorized: false }) : {};
    const req = mod.request(u, { method: opts.method ?? 'GET', headers: opts.headers, timeout: opts.timeoutMs ?? MEMBER_CALL_TIMEOUT_MS, agent: false, ...tlsOpts }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`timeout after ${opts.timeoutMs ?? MEMBER_CALL_TIMEOUT_MS} ms: ${opts.method ?? 'GET'} ${url}`)));
    req.on('error', reject);
    if (opts.body !== undefined) req.write(opts.body);
    req.end();
  });
}

/** The package's health and readiness check: GET /health whose body contains `true`. */
export async function checkHealth(clientUrl: string, tls: ClientTls, timeoutMs = 1500): Promise<boolean> {
  try {
    const r = await request(`${clientUrl}/health`, { timeoutMs, tls });
    return r.body.includes('true');
  } catch {
    return false;
  }
}

export async function listMembers(clientUrl: string, tls: ClientTls): Promise<MemberInfo[]> {
  const r = await request(`${clientUrl}/v2/members`, { tls });
  if (r.status !== 200) throw new Error(`GET ${clientUrl}/v2/members: HTTP ${r.status} ${r.body.trim()}`);
  const body = JSON.parse(r.body) as { members: MemberInfo[] };
  return body.members.map((m) => ({ id: m.id, name: m.name ?? '', peerURLs: m.peerURLs ?? [], clientURLs: m.clientURLs ?? [] }));
}

export async function addMember(clientUrl: string, peerUrl: string, tls: ClientTls): Promise<MemberInfo> {
  const r = await request(`${clientUrl}/v2/members`, { method: 'POST', body: JSON.stringify({ peerURLs: [peerUrl] }), headers: { 'Content-Type': 'application/json' }, tls, timeoutMs: 10000 });
  if (r.status !== 201) throw new Error(`member add ${peerUrl}: HTTP ${r.status} ${r.body.trim()}`);
  const m = JSON.parse(r.body) as MemberInfo;
  return { id: m.id, name: m.name ?? '', peerURLs: m.peerURLs ?? [], clientURLs: m.clientURLs ?? [] };
}

/** Remove a member; a member that is already gone counts as removed (idempotent). */
export async function removeMember(clientUrl: string, id: string, tls: ClientTls): Promise<void> {
  const r = await request(`${clientUrl}/v2/members/${id}`, { method: 'DELETE', tls, timeoutMs: 10000 });
  if (r.status !== 204 && r.status !== 404 && r.status !== 410) throw new Error(`member remove ${id}: HTTP ${r.status} ${r.body.trim()}`);
}
