// /v2/stats/{store,self,leader} (etcd v2http statsHandler): raw JSON without a trailing newline.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { V2Backend } from './backend.js';
import { JSON_CT, sendHttpError, sendMethodNotAllowed } from './reply.js';

export type StatsKind = 'store' | 'self' | 'leader';

export function serveStats(backend: V2Backend, request: FastifyRequest, reply: FastifyReply, kind: StatsKind): void {
  if (request.method !== 'GET') return sendMethodNotAllowed(reply, 'GET');
  let obj: object | undefined;
  switch (kind) {
    case 'store':
      obj = backend.store.statsJson();
      break;
    case 'self':
      obj = backend.selfStats();
      break;
    case 'leader':
      obj = backend.leaderStats();
      if (obj === undefined) return sendHttpError(reply, 403, 'not current leader');
      break;
    default: {
      const never: never = kind;
      throw new Error(`unknown stats kind ${String(never)}`);
    }
  }
  reply.code(200).header('content-type', JSON_CT).send(Buffer.from(JSON.stringify(obj)));
}
