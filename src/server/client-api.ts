// Assembles what the client port serves over HTTP/1.1, in one visible place.
import type { FastifyInstance } from 'fastify';
import { hostWhitelistCheck, registerClientHttp } from '../api/http/client.js';
import { sendGoError } from '../api/v2/reply.js';
import { handshakeResponse, WebSocketConn } from '../api/http/websocket.js';
import { headerHasToken, headerOf, headerValues, type Http1Head, type WebSocketRoute } from '../api/http/ws-intake.js';
import { registerGateway } from '../api/v3/gateway.js';
import { GATEWAY_PATH, gatewayWebSocketHandler, proxySubprotocol, proxyToken, wsMessageBytesMax } from '../api/v3/gateway-ws.js';
import type { V3Backend } from '../api/v3/backend.js';
import { MemberV2Backend } from './v2-backend.js';
import type { TsetcdServer } from './server.js';

/** Registers the HTTP/1.1 routes; returns the route for the gateway's WebSockets (undefined
 *  without --enable-grpc-gateway), which the client listeners take before the HTTP server. */
export function registerClientApi(app: FastifyInstance, server: TsetcdServer, v3: V3Backend): WebSocketRoute | undefined {
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
  if (!server.cfg.enableGrpcGateway) return undefined;
  const opts = { maxRequestBytes: server.cfg.maxRequestBytes, maxTxnOps: server.cfg.maxTxnOps };
  registerGateway(app, v3, opts);
  const serveWebSocket = gatewayWebSocketHandler(v3, opts);
  const messageBytesMax = wsMessageBytesMax(opts.maxRequestBytes);
  const hostAllowed = hostWhitelistCheck(server.cfg.hostWhitelist);

  // A gateway handshake the WebSocket route did not take: gorilla's refusals (after the Host
  // check and CORS, which the hooks before this one apply).
  app.addHook('onRequest', (request, reply, done) => {
    const h = request.headers;
    if (!isUpgrade([h.connection], [h.upgrade]) || !GATEWAY_PATH.test(request.url)) return done();
    reply.header('sec-websocket-version', '13');
    if (request.method !== 'GET') return sendGoError(reply, 405, 'Method Not Allowed');
    // A bad version or key, or a handshake that was not its connection's first request (only
    // those are taken, ws-intake.ts).
    if (!headerHasToken([h['sec-websocket-version'] as string | undefined], '13') || !h['sec-websocket-key']) return sendGoError(reply, 400, 'Bad Request');
    reply.header('connection', 'close');
    sendGoError(reply, 400, 'Bad Request');
  });

  return {
    accepts: (head: Http1Head, socket) =>
      head.method === 'GET' &&
      isUpgrade(headerValues(head, 'connection'), headerValues(head, 'upgrade')) &&
      GATEWAY_PATH.test(head.target) &&
      headerHasToken(headerValues(head, 'sec-websocket-version'), '13') &&
      (headerOf(head, 'sec-websocket-key') ?? '') !== '' &&
      hostAllowed(headerOf(head, 'host') ?? '', (socket as { encrypted?: boolean }).encrypted === true),
    serve: (socket, head, rest) => {
      const open = (): void => {
        // The client may have gone while the member was publishing itself.
        if (socket.destroyed) return;
        const protocols = headerOf(head, 'sec-websocket-protocol');
        socket.write(handshakeResponse(headerOf(head, 'sec-websocket-key')!, proxySubprotocol(protocols)));
        const conn = new WebSocketConn(socket, { messageBytesMax }, rest);
        serveWebSocket(conn, head.target, proxyToken(protocols, headerValues(head, 'cookie')));
      };
      // Like every client request, a handshake waits until the member has published itself.
      if (server.member.published) open();
      else {
        socket.once('error', () => socket.destroy());
        void server.member.whenPublished().then(open);
      }
    },
  };
}

/** gorilla's IsWebSocketUpgrade: Connection holds "upgrade" and Upgrade holds "websocket". */
function isUpgrade(connection: ReadonlyArray<string | undefined>, upgrade: ReadonlyArray<string | undefined>): boolean {
  return headerHasToken(connection, 'upgrade') && headerHasToken(upgrade, 'websocket');
}
