// Assembles what the client port serves over HTTP/1.1, in one visible place.
import type { FastifyInstance } from 'fastify';
import { registerClientHttp } from '../api/http/client.js';
import { MemberV2Backend } from './v2-backend.js';
import type { TsetcdServer } from './server.js';

export function registerClientApi(app: FastifyInstance, server: TsetcdServer): void {
  const backend = new MemberV2Backend(server.member, () => server.transport, server.cfg.initialClusterToken);
  // etcd serves no client request before the member has published itself through raft: the
  // request waits (TCP accepted, no answer), it is not refused.
  app.addHook('onRequest', async () => {
    if (!server.member.published) await server.member.whenPublished();
  });
  registerClientHttp(app, backend, {
    enableV2: server.cfg.enableV2,
    corsOrigins: server.cfg.cors,
    hostWhitelist: server.cfg.hostWhitelist,
  });
}
