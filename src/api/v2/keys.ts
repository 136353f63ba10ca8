// /v2/keys: etcd v2http keysHandler. parseKeyRequest mirrors etcd's check by check (same order, same
// causes); reads are served from the local store, quorum reads and writes go through raft.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { V2Error } from '../../store/v2/errors.js';
import type { V2Event, V2Request } from '../../store/v2/types.js';
import { hasKeyPrefixAccess } from './access.js';
import type { V2Backend } from './backend.js';
import { FORM_TOO_LARGE, isFormContentType, parseGoBool, parseGoUint, parseQueryInto, type Form } from './form.js';
import { JSON_CT, sendMethodNotAllowed, sendV2Error } from './reply.js';
import { serveWatch } from './watch.js';

const KEYS_ALLOW = 'HEAD,GET,PUT,POST,DELETE';
const MS_PER_S = 1000;

/** A parsed /v2/keys request (etcd's etcdserverpb.Request plus the HTTP-only flags). */
export interface KeyRequest {
  method: 'GET' | 'HEAD' | 'PUT' | 'POST' | 'DELETE';
  /** The key, clean and absolute ("/" for the root). */
  path: string;
  val: string;
  dir: boolean;
  prevValue: string;
  prevIndex: number;
  prevExist: boolean | undefined;
  wait: boolean;
  since: number;
  recursive: boolean;
  sorted: boolean;
  quorum: boolean;
  stream: boolean;
  refresh: boolean | undefined;
  /** undefined = no TTL given (or ttl=). */
  ttlSeconds: number | undefined;
  noValueOnSuccess: boolean;
}

function boolParam(form: Form, name: string, cause: string): boolean {
  const v = form.get(name);
  if (v === undefined) return false;
  const b = parseGoBool(v);
  if (b === undefined) throw new V2Error(209, cause);
  return b;
}

function uintParam(form: Form, name: string, code: 202 | 203, cause: string): number {
  const v = form.get(name);
  if (v === undefined) return 0;
  const n = parseGoUint(v);
  if (n === undefined) throw new V2Error(code, cause);
  return n;
}

/** etcd's parseKeyRequest. `body` is the raw body (only read for PUT/POST/PATCH forms, as Go does);
 *  `bodyTooLarge` when it exceeded V2_FORM_BODY_BYTES_MAX. Throws V2Error. */
export function parseKeyRequest(
  method: KeyRequest['method'],
  keyPath: string,
  rawQuery: string,
  contentType: string | undefined,
  body: Buffer | undefined,
  bodyTooLarge: boolean,
): KeyRequest {
  const form: Form = new Map();
  let formErr: string | undefined;
  if ((method === 'PUT' || method === 'POST') && isFormContentType(contentType)) {
    if (bodyTooLarge) formErr = FORM_TOO_LARGE;
    else if (body !== undefined && body.length > 0) formErr = parseQueryInto(form, body.toString('utf8'));
  }
  if (rawQuery !== '') {
    const qErr = parseQueryInto(form, rawQuery);
    formErr ??= qErr;
  }
  if (formErr !== undefined) throw new V2Error(210, formErr);

  const prevIndex = uintParam(form, 'prevIndex', 203, 'invalid value for "prevIndex"');
  const since = uintParam(form, 'waitIndex', 203, 'invalid value for "waitIndex"');
  const recursive = boolParam(form, 'recursive', 'invalid value for "recursive"');
  const sorted = boolParam(form, 'sorted', 'invalid value for "sorted"');
  const wait = boolParam(form, 'wait', 'invalid value for "wait"');
  const dir = boolParam(form, 'dir', 'invalid value for "dir"');
  const quorum = boolParam(form, 'quorum', 'invalid value for "quorum"');
  const stream = boolParam(form, 'stream', 'invalid value for "stream"');
  if (wait && method !== 'GET') throw new V2Error(209, '"wait" can only be used with GET requests');

  const prevValue = form.get('prevValue');
  if (prevValue === '') throw new V2Error(201, '"prevValue" cannot be empty');

  const noValueOnSuccess = boolParam(form, 'noValueOnSuccess', 'invalid value for "noValueOnSuccess"');

  let ttlSeconds: number | undefined;
  const ttlText = form.get('ttl');
  if (ttlText !== undefined && ttlText !== '') ttlSeconds = uintParam(form, 'ttl', 202, 'invalid value for "ttl"');

  let prevExist: boolean | undefined;
  const peText = form.get('prevExist');
  if (peText !== undefined) {
    prevExist = parseGoBool(peText);
    if (prevExist === undefined) throw new V2Error(209, 'invalid value for prevExist');
  }

  let refresh: boolean | undefined;
  const refreshText = form.get('refresh');
  if (refreshText !== undefined) {
    refresh = parseGoBool(refreshText);
    if (refresh === undefined) throw new V2Error(209, 'invalid value for refresh');
    if (refresh) {
      const v = form.get('value');
      if (v !== undefined && v !== '') throw new V2Error(211, 'A value was provided on a refresh');
      if (ttlSeconds === undefined) throw new V2Error(212, 'No TTL value set');
    }
  }

  return {
    method,
    path: keyPath === '' ? '/' : keyPath,
    val: form.get('value') ?? '',
    dir,
    prevValue: prevValue ?? '',
    prevIndex,
    prevExist,
    wait,
    since,
    recursive,
    sorted,
    quorum,
    stream,
    refresh,
    ttlSeconds,
    noValueOnSuccess,
  };
}

/** The replicated request for a write or quorum read; expiration decided here, now. */
export function toV2Request(kr: KeyRequest, nowMs: number): V2Request {
  const method = kr.method === 'GET' || kr.method === 'HEAD' ? 'QGET' : kr.method;
  const req: {
    -readonly [K in keyof V2Request]: V2Request[K];
  } = { method, path: kr.path };
  if (kr.val !== '') req.val = kr.val;
  if (kr.dir) req.dir = true;
  if (kr.prevValue !== '') req.prevValue = kr.prevValue;
  if (kr.prevIndex !== 0) req.prevIndex = kr.prevIndex;
  if (kr.prevExist !== undefined) req.prevExist = kr.prevExist;
  if (kr.ttlSeconds !== undefined) req.expirationMs = nowMs + kr.ttlSeconds * MS_PER_S;
  if (kr.recursive) req.recursive = true;
  if (kr.sorted) req.sorted = true;
  if (kr.refresh === true) req.refresh = true;
  return req;
}

export interface KeysContext {
  readonly backend: V2Backend;
}

/** The whole /v2/keys handler. `keyPath` is the decoded, clean path after "/v2/keys" ('' or "/..."). */
export async function serveKeys(
  ctx: KeysContext,
  request: FastifyRequest,
  reply: FastifyReply,
  keyPath: string,
  rawQuery: string,
  bodyTooLarge: boolean,
): Promise<void> {
  const m = request.method;
  if (m !== 'GET' && m !== 'HEAD' && m !== 'PUT' && m !== 'POST' && m !== 'DELETE') {
    sendMethodNotAllowed(reply, KEYS_ALLOW);
    return;
  }
  const backend = ctx.backend;
  reply.header('x-etcd-cluster-id', backend.clusterId);
  if (bodyTooLarge) reply.header('connection', 'close');
  let kr: KeyRequest;
  try {
    kr = parseKeyRequest(m, keyPath, rawQuery, request.headers['content-type'], request.body as Buffer | undefined, bodyTooLarge);
  } catch (e) {
    if (e instanceof V2Error) return sendV2Error(reply, e);
    throw e;
  }
  if (!hasKeyPrefixAccess(backend.auth, m, request.headers.authorization, keyPath, kr.recursive)) {
    return sendV2Error(reply, new V2Error(110, 'Insufficient credentials', 0));
  }
  let ev: V2Event;
  try {
    if (m === 'GET' && kr.quorum) {
      ev = await backend.write(toV2Request(kr, backend.nowMs()));
    } else if (m === 'GET' || m === 'HEAD') {
      if (kr.wait) {
        const watcher = backend.store.watch(kr.path, kr.recursive, kr.stream, kr.since);
        serveWatch(backend, reply, watcher, kr.stream);
        return;
      }
      ev = backend.store.get(kr.path, kr.recursive, kr.sorted);
    } else {
      ev = await backend.write(toV2Request(kr, backend.nowMs()));
    }
  } catch (e) {
    if (e instanceof V2Error) return sendV2Error(reply, e);
    // Timeouts, lost leader, stopped server: etcd answers 300 with the Go error text as cause.
    const cause = e instanceof Error ? e.message : String(e);
    return sendV2Error(reply, new V2Error(300, cause, 0));
  }
  sendKeyEvent(backend, reply, ev, kr.noValueOnSuccess);
}

/** etcd's writeKeyEvent. */
export function sendKeyEvent(backend: V2Backend, reply: FastifyReply, ev: V2Event, noValueOnSuccess: boolean): void {
  const a = ev.action;
  const body =
    noValueOnSuccess && (a === 'set' || a === 'compareAndSwap' || a === 'create' || a === 'update')
      ? `{"action":"${a}"}\n`
      : JSON.stringify(ev) + '\n';
  reply
    .code(ev.created ? 201 : 200)
    .header('content-type', JSON_CT)
    .header('x-etcd-index', String(ev.etcdIndex))
    .header('x-raft-index', String(backend.raftIndex()))
    .header('x-raft-term', String(backend.raftTerm()))
    .send(Buffer.from(body));
}
