// Waiting out a stream's backpressure: shared by the streaming answers of the v2 watch (an HTTP
// response), the v3 gRPC services (a call) and the v3 gateway over WebSocket (a connection).

/** What drainedOrGone listens on: Node's streams, GrpcCall and WebSocketConn all are. */
interface Listenable {
  on(event: string, listener: () => void): unknown;
  off(event: string, listener: () => void): unknown;
}

/** Resolves at the first 'drain', or at `goneEvent` (the stream is gone and never drains),
 *  whichever comes first; no listener is left behind. */
export function drainedOrGone(stream: Listenable, goneEvent: string): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      stream.off('drain', done);
      stream.off(goneEvent, done);
      resolve();
    };
    stream.on('drain', done);
    stream.on(goneEvent, done);
  });
}
