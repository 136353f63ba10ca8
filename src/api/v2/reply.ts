// (JSON bodies are sent as Buffers: fastify would add "; charset=utf-8" to a string's application/json.)
// How etcd's HTTP handlers write their answers: v2 key errors (JSON + "\n" with X-Etcd-Index),
// httptypes.HTTPError ({"message":...} without newline), Go's http.Error texts (405, 404).
import type { FastifyReply } from 'fastify';
import { V2Error } from '../../store/v2/errors.js';

export const JSON_CT = 'application/json';
export const TEXT_CT = 'text/plain; charset=utf-8';

/** An error answered as etcd's httptypes.HTTPError: status + {"message": ...}. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** A v2 key error: etcd's v2error.Error.WriteTo. */
export function sendV2Error(reply: FastifyReply, e: V2Error): void {
  reply
    .code(e.status)
    .header('x-etcd-index', String(e.index))
    .header('content-type', JSON_CT)
    .send(Buffer.from(JSON.stringify(e) + '\n'));
}

/** etcd's httptypes.HTTPError.WriteTo. */
export function sendHttpError(reply: FastifyReply, status: number, message: string): void {
  reply.code(status).header('content-type', JSON_CT).send(Buffer.from(JSON.stringify({ message })));
}

/** Go's http.Error: text/plain, nosniff, text + "\n". */
export function sendGoError(reply: FastifyReply, status: number, text: string): void {
  reply.code(status).header('content-type', TEXT_CT).header('x-content-type-options', 'nosniff').send(text + '\n');
}

/** Go's allowMethod failure: 405 with Allow (etcd joins the list with ","). */
export function sendMethodNotAllowed(reply: FastifyReply, allow: string): void {
  reply.header('allow', allow);
  sendGoError(reply, 405, 'Method Not Allowed');
}

export function sendNotFound(reply: FastifyReply): void {
  sendGoError(reply, 404, '404 page not found');
}

/** Go ServeMux's redirect to the cleaned path (301; a small HTML body for GET/HEAD only). */
export function sendCleanPathRedirect(reply: FastifyReply, method: string, cleaned: string, rawQuery: string): void {
  const loc = rawQuery === '' ? cleaned : cleaned + '?' + rawQuery;
  reply.code(301).header('location', loc);
  if (method === 'GET' || method === 'HEAD') {
    reply.header('content-type', 'text/html; charset=utf-8').send(`<a href="${htmlEscape(loc)}">Moved Permanently</a>.\n\n`);
  } else {
    reply.send();
  }
}

function htmlEscape(s: string): string {
  return s.replace(/[&<>"']/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '"' ? '&#34;' : '&#39;'));
}

/** Errors thrown by the auth backend carry {status, message}. */
export function isStatusError(e: unknown): e is { status: number; message: string } {
  return (
    typeof e === 'object' &&
    e !== null &&
    !(e instanceof V2Error) &&
    typeof (e as { status?: unknown }).status === 'number' &&
    typeof (e as { message?: unknown }).message === 'string'
  );
}
