// The member's listeners. Like etcd's cmux, one client port carries HTTP/1.1 (v2, gateway,
// health, metrics) and HTTP/2 gRPC; one peer port carries our raft transport and a few HTTP
// endpoints (/members, /version) that joining members and tools ask for.
import net from 'node:net';
import type http from 'node:http';
import { CLIENT_PREFACE as HTTP2_PREFACE } from '../api/v3/h2-intake.js';
import { routeHttp1, type WebSocketRoute } from '../api/http/ws-intake.js';

/** How long a new connection may stay silent before its protocol is known; an idle socket
 *  that never speaks is closed rather than held forever. */
export const SNIFF_TIMEOUT_MS = 30_000;

function looksLikeHttp1(chunk: Buffer): boolean {
  // Methods we serve on any port; enough to tell HTTP from our msgpack frames.
  const head = chunk.subarray(0, 8).toString('latin1');
  return /^(GET|PUT|POST|HEAD|DELETE|OPTIONS|PATCH) /.test(head);
}

/** Reads the first chunk of each connection, puts it back and hands the socket on. The route
 *  returns whether the new owner reads through the stream API (HTTP/1.1, our transport), which
 *  then needs the socket resumed; an HTTP/2 session takes the buffered bytes itself when it is
 *  created, and resuming would hand them to nobody. */
function sniffing(route: (socket: net.Socket, first: Buffer) => boolean): (socket: net.Socket) => void {
  return (socket) => {
    socket.setNoDelay(true);
    socket.setTimeout(SNIFF_TIMEOUT_MS, () => socket.destroy());
    socket.once('error', () => socket.destroy());
    socket.once('data', (chunk: Buffer) => {
      socket.setTimeout(0);
      socket.pause();
      socket.unshift(chunk);
      if (route(socket, chunk)) socket.resume();
    });
  };
}

export interface ClientPortHandlers {
  readonly http1: http.Server;
  /** gRPC (HTTP/2) connections; undefined until the v3 API is served: such connections are closed. */
  readonly http2?: (socket: net.Socket) => void;
  /** The gateway's WebSockets, told from other HTTP/1.1 connections by their first request
   *  (ws-intake.ts); undefined: none are served. */
  readonly webSocket?: WebSocketRoute;
}

export function createClientServer(h: ClientPortHandlers): net.Server {
  return net.createServer(
    sniffing((socket, first) => {
      if (first.length >= 3 && first.subarray(0, Math.min(first.length, HTTP2_PREFACE.length)).equals(HTTP2_PREFACE.subarray(0, Math.min(first.length, HTTP2_PREFACE.length)))) {
        if (h.http2 !== undefined) h.http2(socket);
        else socket.destroy();
        return false;
      }
      routeHttp1(socket, h.http1, h.webSocket, first);
      return false;
    }),
  );
}

/** A server factory for the peer transport: HTTP requests go to `http1`, the rest to the transport. */
export function peerServerFactory(http1: http.Server): (url: URL, onSocket: (s: net.Socket) => void) => net.Server {
  return (_url, onSocket) =>
    net.createServer(
      sniffing((socket, first) => {
        if (looksLikeHttp1(first)) http1.emit('connection', socket);
        else onSocket(socket);
        return true;
      }),
    );
}

export function listen(server: net.Server, url: URL): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    server.listen({ host: host === 'localhost' ? '127.0.0.1' : host, port: Number(url.port) }, () => {
      server.off('error', onError);
      resolve();
    });
  });
}
