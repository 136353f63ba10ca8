// Pieces the tests of our HTTP/2 gRPC server share: raw frames, JSON gRPC messages, and a
// GrpcHttp2Server behind a loopback listener.
import net from 'node:net';
import zlib from 'node:zlib';
import type { GrpcHttp2Server } from '../../src/api/v3/grpc-http2.js';

export { CLIENT_PREFACE } from '../../src/api/v3/h2-intake.js';

/** HTTP/2 frame: 3-byte length, type, flags, stream id, payload. */
export function h2frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId, 5);
  return Buffer.concat([head, payload]);
}

/** A length-prefixed gRPC message holding `v` as JSON, gzip-compressed if asked. */
export function grpcMessage(v: unknown, compressed?: 'gzip'): Buffer {
  let body = Buffer.from(JSON.stringify(v));
  if (compressed) body = zlib.gzipSync(body);
  const f = Buffer.alloc(5 + body.length);
  f[0] = compressed ? 1 : 0;
  f.writeUInt32BE(body.length, 1);
  body.copy(f, 5);
  return f;
}

/** Serves `server` on an OS-chosen loopback port; `close` stops both. */
export async function serveOnLoopback(server: GrpcHttp2Server): Promise<{ port: number; close: () => Promise<void> }> {
  const listener = net.createServer((s) => server.injectConnection(s));
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
  return {
    port: (listener.address() as net.AddressInfo).port,
    close: async () => {
      listener.close();
      await server.close();
    },
  };
}
