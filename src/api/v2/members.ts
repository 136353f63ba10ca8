// /v2/members (etcd v2http membersHandler) and /v2/machines.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { hasWriteRootAccess } from './access.js';
import type { V2Backend, V2Member } from './backend.js';
import { HttpError, JSON_CT, sendGoError, sendHttpError, sendMethodNotAllowed, TEXT_CT } from './reply.js';

const MEMBERS_ALLOW = 'GET,POST,DELETE,PUT';

/** etcd prints member ids with types.ID.String(): hex without leading zeros. */
export function printId(id: string): string {
  const t = id.replace(/^0+/, '');
  return t === '' ? '0' : t;
}

/** etcd's types.IDFromString (ParseUint base 16) -> our 16-digit form; undefined when not hex. */
export function parseMemberId(s: string): string | undefined {
  if (!/^[0-9a-fA-F]{1,16}$/.test(s)) return undefined;
  return s.toLowerCase().padStart(16, '0');
}

function memberJson(m: V2Member): { id: string; name: string; peerURLs: readonly string[]; clientURLs: readonly string[] } {
  return { id: printId(m.id), name: m.name, peerURLs: m.peerUrls, clientURLs: m.clientUrls };
}

/** etcd's types.NewURLs: validated, trimmed, sorted. Throws HttpError 400 with etcd's text. */
export function parsePeerUrls(v: unknown): string[] {
  const list = Array.isArray(v) ? v : [];
  if (list.length === 0) throw new HttpError(400, 'no valid URLs given');
  const out: string[] = [];
  for (const raw of list) {
    if (typeof raw !== 'string') throw new HttpError(400, 'json: cannot unmarshal into Go struct field of type string');
    const s = raw.trim();
    const m = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/([^/?#]*)([^?#]*)/.exec(s);
    const scheme = m?.[1]?.toLowerCase();
    if (m === null || (scheme !== 'http' && scheme !== 'https' && scheme !== 'unix' && scheme !== 'unixs')) {
      throw new HttpError(400, `URL scheme must be http, https, unix, or unixs: ${s}`);
    }
    if (!/^(\[[^\]]*\]|[^:[\]]*):[0-9a-zA-Z]*$/.test(m[2]!)) throw new HttpError(400, `URL address does not have the form "host:port": ${s}`);
    if (m[3] !== '') throw new HttpError(400, `URL must not contain a path: ${s}`);
    out.push(s);
  }
  return out.sort();
}

/** etcd's unmarshalRequest: Content-Type must be application/json (415), body must be a JSON object
 *  with peerURLs (400). */
function readPeerUrls(request: FastifyRequest): string[] {
  let ct = request.headers['content-type'] ?? '';
  const semi = ct.indexOf(';');
  if (semi !== -1) ct = ct.slice(0, semi).trim().toLowerCase();
  if (ct !== 'application/json') throw new HttpError(415, `Bad Content-Type ${ct}, accept application/json`);
  const body = request.body as Buffer | undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body === undefined ? '' : body.toString('utf8'));
  } catch (e) {
    throw new HttpError(400, goJsonSyntaxError(e));
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new HttpError(400, 'json: cannot unmarshal into Go value of type struct');
  }
  return parsePeerUrls((parsed as { peerURLs?: unknown }).peerURLs);
}

/** Go's encoding/json syntax error text for what JSON.parse rejected (clients see etcd's words). */
function goJsonSyntaxError(e: unknown): string {
  const msg = e instanceof Error ? e.message : '';
  if (/end of JSON input/i.test(msg)) return 'unexpected end of JSON input';
  const m = /Unexpected token '?(.)'?/.exec(msg);
  if (m !== null) return `invalid character '${m[1]}' looking for beginning of value`;
  return 'invalid JSON';
}

/** Maps a member-server rejection to etcd's answer. */
function memberError(e: unknown, idText: string): HttpError {
  if (e instanceof HttpError) return e;
  const kind = (e as { kind?: unknown } | null)?.kind;
  switch (kind) {
    case 'memberExists':
      return new HttpError(409, 'membership: ID exists');
    case 'peerUrlExists':
      return new HttpError(409, 'membership: peerURL exists');
    case 'memberNotFound':
      return new HttpError(404, `No such member: ${idText}`);
    case 'memberRemoved':
      return new HttpError(410, `Member permanently removed: ${idText}`);
    default:
      return new HttpError(500, 'Internal Server Error');
  }
}

export async function serveMembers(backend: V2Backend, request: FastifyRequest, reply: FastifyReply, sub: string): Promise<void> {
  const m = request.method;
  if (m !== 'GET' && m !== 'POST' && m !== 'DELETE' && m !== 'PUT') return sendMethodNotAllowed(reply, MEMBERS_ALLOW);
  if (!hasWriteRootAccess(backend.auth, m, request.headers.authorization)) return sendHttpError(reply, 401, 'Insufficient credentials');
  reply.header('x-etcd-cluster-id', backend.clusterId);
  const rest = sub.startsWith('/') ? sub.slice(1) : sub;
  try {
    switch (m) {
      case 'GET': {
        if (rest === '') {
          const body = JSON.stringify({ members: backend.members().map(memberJson) }) + '\n';
          return void reply.code(200).header('content-type', JSON_CT).send(Buffer.from(body));
        }
        if (rest === 'leader') {
          const lid = backend.leaderId();
          const leader = lid === undefined ? undefined : backend.members().find((x) => x.id === lid);
          if (leader === undefined) throw new HttpError(503, 'During election');
          return void reply.code(200).header('content-type', JSON_CT).send(Buffer.from(JSON.stringify(memberJson(leader)) + '\n'));
        }
        throw new HttpError(404, 'Not found');
      }
      case 'POST': {
        const urls = readPeerUrls(request);
        let added: V2Member;
        try {
          added = await backend.addMember(urls);
        } catch (e) {
          throw memberError(e, '');
        }
        return void reply.code(201).header('content-type', JSON_CT).send(Buffer.from(JSON.stringify(memberJson(added)) + '\n'));
      }
      case 'DELETE':
      case 'PUT': {
        if (rest === '') return sendGoError(reply, 405, 'Method Not Allowed');
        const id = parseMemberId(rest);
        if (id === undefined) throw new HttpError(404, `No such member: ${rest}`);
        const idText = printId(id);
        if (m === 'DELETE') {
          try {
            await backend.removeMember(id);
          } catch (e) {
            throw memberError(e, idText);
          }
        } else {
          const urls = readPeerUrls(request);
          try {
            await backend.updateMember(id, urls);
          } catch (e) {
            const he = memberError(e, idText);
            throw he.status === 410 ? new HttpError(500, 'Internal Server Error') : he;
          }
        }
        return void reply.code(204).send();
      }
    }
  } catch (e) {
    if (e instanceof HttpError) return sendHttpError(reply, e.status, e.message);
    throw e;
  }
}

export function serveMachines(backend: V2Backend, request: FastifyRequest, reply: FastifyReply): void {
  if (request.method !== 'GET' && request.method !== 'HEAD') return sendMethodNotAllowed(reply, 'GET,HEAD');
  const urls: string[] = [];
  for (const mem of backend.members()) urls.push(...mem.clientUrls);
  urls.sort();
  reply.code(200).header('content-type', TEXT_CT).send(urls.join(', '));
}
