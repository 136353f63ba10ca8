// Assembles what the client port serves over HTTP/1.1, in one visible place.
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { isWebSocketRequest, WebSocketConn } from '../api/http/websocket.js';
import { GRPC_OVERHEAD_BYTES } from '../api/v3/grpc.js';
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
    const ws = registerGateway(app, v3, { maxRequestBytes: server.cfg.maxRequestBytes, maxTxnOps: server.cfg.maxTxnOps });
    // The gateway's paths over WebSocket (etcd's grpc-websocket-proxy); other upgrades are refused.
    app.server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      const path = req.url ?? '';
      if (!isWebSocketRequest(req) || !/^\/v3(beta)?\//.test(path)) {
        socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
        return;
      }
      const open = (): void => ws(path, req.headers.authorization, WebSocketConn.accept(req, socket, head, server.cfg.maxRequestBytes + GRPC_OVERHEAD_BYTES));
      if (server.member.published) open();
      else void server.member.whenPublished().then(open);
    });
  }
}
