// A raw HTTP/1.1 client for tests: exact status, headers and body bytes, a hard timeout, no pooling.
import http from 'node:http';

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface RawRequest {
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  timeoutMs?: number;
}

/** Splits a URL without normalising its path (`new URL` would resolve `..` and `//`). */
export function splitUrl(url: string): { host: string; port: string; path: string } {
  const m = /^http:\/\/([^/:]+):(\d+)(.*)$/.exec(url);
  if (!m) throw new Error(`not an http://host:port URL: ${url}`);
  return { host: m[1]!, port: m[2]!, path: m[3] || '/' };
}

export function request(req: RawRequest): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const u = splitUrl(req.url);
    const headers: Record<string, string> = { ...req.headers };
    if (req.body !== undefined) headers['content-length'] = String(Buffer.byteLength(req.body));
    const r = http.request(
      { host: u.host, port: u.port, path: u.path, method: req.method, headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    r.setTimeout(req.timeoutMs ?? 10000, () => r.destroy(new Error(`timeout after ${req.timeoutMs ?? 10000} ms: ${req.method} ${req.url}`)));
    r.on('error', reject);
    if (req.body !== undefined) r.write(req.body);
    r.end();
  });
}

/** Opens a streaming GET and collects the first `lines` newline-terminated lines, then closes it. */
export function requestLines(url: string, lines: number, timeoutMs: number, headers?: Record<string, string>): { ready: Promise<RawResponse>; done: Promise<{ status: number; headers: http.IncomingHttpHeaders; lines: string[] }> ; abort(): void } {
  let abort = (): void => {};
  let onReady: (r: RawResponse) => void = () => {};
  let onReadyErr: (e: Error) => void = () => {};
  const ready = new Promise<RawResponse>((res, rej) => { onReady = res; onReadyErr = rej; });
  ready.catch(() => {});
  const done = new Promise<{ status: number; headers: http.IncomingHttpHeaders; lines: string[] }>((resolve, reject) => {
    const u = splitUrl(url);
    const r = http.request({ host: u.host, port: u.port, path: u.path, method: 'GET', headers, agent: false }, (res) => {
      onReady({ status: res.statusCode ?? 0, headers: res.headers, body: '' });
      let buf = '';
      const got: string[] = [];
      const finish = (): void => {
        clearTimeout(t);
        r.destroy();
        resolve({ status: res.statusCode ?? 0, headers: res.headers, lines: got });
      };
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        buf += d;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line.trim() !== '') got.push(line);
          if (got.length >= lines) return finish();
        }
      });
      res.on('end', () => { if (buf.trim() !== '') got.push(buf); finish(); });
      res.on('error', () => finish());
    });
    const t = setTimeout(() => { r.destroy(); reject(new Error(`stream ${url}: fewer than ${lines} lines within ${timeoutMs} ms`)); }, timeoutMs);
    abort = () => { clearTimeout(t); r.destroy(); };
    r.on('error', (e) => { clearTimeout(t); onReadyErr(e); reject(e); });
    r.end();
  });
  done.catch(() => {});
  return { ready, done, abort: () => abort() };
}
