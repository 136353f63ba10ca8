// Assembles what the client port serves over HTTP/1.1, in one visible place.
import type { FastifyInstance } from 'fastify';
import { registerClientHttp } from '../api/http/client.js';
import { registerGateway } from '../api/v3/gateway.js';
import type { V3Backend } from '../api/v3/backend.js';
import { MemberV2Backend } from './v2-backend.js';
import type { TsetcdServer } from './server.js';

export function registerClientApi(app: FastifyInstance, server: TsetcdServer, v3: V3Backend): void {
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
  if (server.cfg.enableGrpcGateway) {
    registerGateway(app, v3, { maxRequestBytes: server.cfg.maxRequestBytes, maxTxnOps: server.cfg.maxTxnOps });
  }
}
