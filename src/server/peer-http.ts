// Small HTTP requests from one member to another's peer port (joining: /members; followers:
// leader-only operations), over TLS when the peer URLs are https. Global fetch cannot present a
// client certificate in Node 20, so this uses node:http(s) directly.
import http from 'node:http';
import https from 'node:https';
import { peerClientTlsOptions, type TlsMaterial } from '../api/tls/index.js';

/** Answers from a peer's HTTP endpoints are small; more than this is not a peer speaking. */
export const PEER_HTTP_RESPONSE_BYTES_MAX = 4 * 1024 * 1024;

export interface PeerHttpResponse {
  readonly status: number;
  readonly headers: Record<string, string | undefined>;
  readonly body: string;
}

export function peerRequest(url: URL, method: 'GET' | 'POST', body: string | undefined, tls: TlsMaterial | undefined, timeoutMs: number): Promise<PeerHttpResponse> {
  return new Promise((resolve, reject) => {
    const opts: https.RequestOptions = {
      method,
      timeout: timeoutMs,
      headers: body !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {},
      ...(url.protocol === 'https:' ? peerClientTlsOptions(tls, url) : {}),
    };
    const req = (url.protocol === 'https:' ? https : http).request(url, opts, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > PEER_HTTP_RESPONSE_BYTES_MAX) req.destroy(new Error('peer response too large'));
        else chunks.push(c);
      });
      res.on('end', () => {
        const headers: Record<string, string | undefined> = {};
        for (const [k, v] of Object.entries(res.headers)) headers[k] = Array.isArray(v) ? v.join(', ') : v;
        resolve({ status: res.statusCode ?? 0, headers, body: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`peer request timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}
