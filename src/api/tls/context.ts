// TLS for the member's listeners and its peer connections, from the --cert-file/--key-file/
// --trusted-ca-file/--client-cert-auth/--auto-tls family (and their --peer-* twins), with the
// rules of etcd 3.4's pkg/transport:
//   - a server asks for AND verifies client certificates when --client-cert-auth is set OR
//     --trusted-ca-file is set (3.4 behaviour, etcd-io/etcd#11124);
//   - --auto-tls (when no cert/key file is given) makes a self-signed pair under
//     <data-dir>/fixtures/<side>; a peer using it skips verification of the other side, as etcd;
//   - --*-allowed-cn / --*-allowed-hostname apply to the other side's certificate on both the
//     accepting and the dialing side (etcd's baseConfig);
//   - the peer listener also checks that a presented client certificate names the connecting
//     IP (an IP SAN, or a DNS SAN resolving to it), unless skipped (etcd's checkSAN);
//   - TLS 1.2 at least.
//
// The client port is multiplexed (gRPC over HTTP/2 and HTTP/1.1 on one port). With TLS the
// protocol is known only after the handshake: createTlsClientServer() hands each decrypted
// socket to a route function, and routeClientSocket() is that function for the usual case.
import { lookup } from 'node:dns/promises';
import { readFile } from 'node:fs/promises';
import type http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import { isIP } from 'node:net';
import tls from 'node:tls';
import type { TlsConfig } from '../config/index.js';
import { plainDialer, type PeerDialer, type PeerServerFactory } from '../peer/transport.js';
import { CLIENT_PREFACE as HTTP2_PREFACE } from '../v3/h2-intake.js';
import { routeHttp1, type WebSocketRoute } from '../http/ws-intake.js';
import { autoTlsDir, ensureAutoTls, hostsOfUrls } from './auto.js';

/** What a listener or dialer needs, loaded from files once at start. */
export interface TlsMaterial {
  readonly side: 'client' | 'peer';
  readonly certPem: string;
  readonly keyPem: string;
  /** Trusted CAs (--trusted-ca-file), PEM, possibly several certificates. */
  readonly caPem?: string;
  /** --client-crl-file / --peer-crl-file, PEM. */
  readonly crlPem?: string;
  /** Ask the other side for a certificate (client-cert-auth OR trusted-ca-file). */
  readonly requireClientCert: boolean;
  /** Verify the other side's chain. False for auto-TLS (self-signed, as etcd). */
  readonly verify: boolean;
  /** True when the pair came from auto-TLS. */
  readonly selfSigned: boolean;
  readonly allowedCn: string;
  readonly allowedHostname: string;
  /** etcd's hidden --experimental-peer-skip-client-san-verification (peer listener only). */
  readonly skipClientSanVerify: boolean;
  /** Things a user should be told (logged as warnings by the caller). */
  readonly warnings: readonly string[];
}

export interface LoadTlsOptions {
  /** --data-dir (auto-TLS writes under <dataDir>/fixtures/<side>). */
  readonly dataDir: string;
  /** The listen URLs of this side: their hosts become the auto-TLS SANs. */
  readonly listenUrls: readonly URL[];
  readonly skipClientSanVerify?: boolean;
}

/** The minimum TLS version, as etcd's baseConfig. */
export const TLS_MIN_VERSION = 'TLSv1.2';
/** A TLS handshake (and, without ALPN, the first bytes after it) must finish within this. */
export const TLS_HANDSHAKE_TIMEOUT_MS = 30_000;
/** The client port's ALPN offer: gRPC needs h2; HTTP/1.1 for curl and browsers. */
export const CLIENT_ALPN_PROTOCOLS = ['h2', 'http/1.1'] as const;

/** Whether a side has any TLS configured (a cert/key pair, or auto-TLS). */
export function tlsConfigured(cfg: TlsConfig): boolean {
  return cfg.certFile !== '' || cfg.keyFile !== '' || cfg.autoTls;
}

/**
 * Loads one side's TLS material, making the auto-TLS pair first when asked for and no
 * cert/key file is given. Undefined when the side has no TLS configured. Throws (with the
 * file name) when a file can't be read.
 */
export async function loadTlsMaterial(cfg: TlsConfig, side: 'client' | 'peer', opts: LoadTlsOptions): Promise<TlsMaterial | undefined> {
  if (!tlsConfigured(cfg)) return undefined;
  const warnings: string[] = [];
  let certFile = cfg.certFile;
  let keyFile = cfg.keyFile;
  let selfSigned = false;
  const filesGiven = certFile !== '' || keyFile !== '';
  if (cfg.autoTls && filesGiven) {
    warnings.push(`ignoring ${side === 'peer' ? 'peer ' : 'client '}auto TLS since certs given`);
  } else if (cfg.autoTls) {
    const hosts = hostsOfUrls(opts.listenUrls);
    const made = await ensureAutoTls(autoTlsDir(opts.dataDir, side), hosts, { usage: side === 'peer' ? 'both' : 'server' });
    certFile = made.certFile;
    keyFile = made.keyFile;
    selfSigned = true;
  }
  if (certFile === '' || keyFile === '') throw new Error(`${side} TLS needs both a cert file and a key file`);
  const read = async (what: string, path: string): Promise<string> => {
    try {
      return await readFile(path, 'utf8');
    } catch (err) {
      throw new Error(`cannot read ${side} TLS ${what} ${path}: ${(err as Error).message}`);
    }
  };
  const certPem = await read('cert file', certFile);
  const keyPem = await read('key file', keyFile);
  const caPem = cfg.trustedCaFile === '' ? undefined : await read('trusted CA file', cfg.trustedCaFile);
  const crlPem = cfg.crlFile === '' ? undefined : await read('CRL file', cfg.crlFile);
  // Fail now, with the file names, rather than on the first connection.
  try {
    tls.createSecureContext({ cert: certPem, key: keyPem, ca: caPem, crl: crlPem });
  } catch (err) {
    throw new Error(`${side} TLS material (${certFile}, ${keyFile}${caPem === undefined ? '' : `, ${cfg.trustedCaFile}`}) is unusable: ${(err as Error).message}`);
  }
  return {
    side,
    certPem,
    keyPem,
    caPem,
    crlPem,
    requireClientCert: cfg.clientCertAuth || cfg.trustedCaFile !== '',
    verify: !selfSigned,
    selfSigned,
    allowedCn: cfg.allowedCn,
    allowedHostname: cfg.allowedHostname,
    skipClientSanVerify: opts.skipClientSanVerify ?? false,
    warnings,
  };
}

// ---------------------------------------------------------------------------------------------
// Checks after the handshake

/** Why the other side's certificate is refused by the allowed-CN/hostname rules, or undefined. */
function identityRefusal(socket: tls.TLSSocket, m: TlsMaterial, accepting: boolean): string | undefined {
  const cert = socket.getPeerCertificate();
  const presented = cert !== null && typeof cert === 'object' && Object.keys(cert).length > 0;
  if (!presented) {
    // rejectUnauthorized refuses a missing certificate for us, except where we do not verify.
    return accepting && m.requireClientCert ? 'no client certificate' : undefined;
  }
  if (m.allowedCn !== '' && cert.subject?.CN !== m.allowedCn) return 'CommonName authentication failed';
  if (m.allowedHostname !== '' && tls.checkServerIdentity(m.allowedHostname, cert) !== undefined) return 'HostName authentication failed';
  return undefined;
}

/** etcd's checkSAN: a client certificate with SANs must name the IP it connects from. */
async function sanRefusal(socket: tls.TLSSocket): Promise<string | undefined> {
  const cert = socket.getPeerCertificate();
  if (cert === null || typeof cert !== 'object' || Object.keys(cert).length === 0) return undefined;
  const names = (cert.subjectaltname ?? '').split(', ').filter((s) => s !== '');
  const ips = names.filter((n) => n.startsWith('IP Address:')).map((n) => normalizeIp(n.slice('IP Address:'.length)));
  const dns = names.filter((n) => n.startsWith('DNS:')).map((n) => n.slice('DNS:'.length));
  if (ips.length === 0 && dns.length === 0) return undefined;
  const remote = normalizeIp(socket.remoteAddress ?? '');
  if (ips.includes(remote)) return undefined;
  for (const name of dns) {
    try {
      const addrs = await lookup(name, { all: true });
      if (addrs.some((a) => normalizeIp(a.address) === remote)) return undefined;
    } catch {
      // An unresolvable name names no IP; try the next.
    }
  }
  return `client certificate SANs (${names.join(', ')}) do not name the connecting address ${remote}`;
}

function normalizeIp(ip: string): string {
  const v4mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (v4mapped !== null) return v4mapped[1]!;
  if (isIP(ip) === 6) {
    // Node prints IPv6 SANs expanded ("0:0:0:0:0:0:0:1") and addresses compressed ("::1").
    return new URL(`http://[${ip}]/`).hostname.replace(/^\[(.*)\]$/, '$1');
  }
  return ip;
}

/** A refused connection, for the caller's log (etcd: "rejected connection from ..."). */
export interface TlsRejection {
  readonly remoteAddress: string;
  readonly reason: string;
}
export type TlsRejectionListener = (r: TlsRejection) => void;

// ---------------------------------------------------------------------------------------------
// (a) The client port

/** Chooses the ALPN protocol: h2 for clients that offer only h2 (gRPC: grpc-go, grpc-js, C-core
 *  with grpc-exp), HTTP/1.1 for anyone that also speaks it (curl, browsers, Go's http client),
 *  so the v2 API, the gateway and /metrics are never asked of the gRPC server. */
function chooseClientAlpn(arg: { protocols: string[] }): string | undefined {
  if (arg.protocols.includes('http/1.1')) return 'http/1.1';
  if (arg.protocols.includes('h2')) return 'h2';
  return undefined; // nothing we speak: the handshake fails with no_application_protocol
}

/** tls.createServer options for the client port: the peer port's, plus ALPN (h2 or http/1.1). */
export function clientServerTlsOptions(m: TlsMaterial): tls.TlsOptions {
  return { ...peerServerTlsOptions(m), ALPNCallback: chooseClientAlpn };
}

/**
 * A TLS server for one https:// client URL. `route` gets each socket once the handshake is
 * done and the client's certificate passed the checks; what it reads is plaintext. Refused
 * handshakes go to `onReject` (for the log). Listen on it like any net.Server.
 */
export function createTlsClientServer(m: TlsMaterial, route: (socket: tls.TLSSocket) => void, onReject?: TlsRejectionListener): net.Server {
  const server = tls.createServer(clientServerTlsOptions(m), (socket) => {
    const refusal = identityRefusal(socket, m, true);
    if (refusal !== undefined) {
      onReject?.({ remoteAddress: socket.remoteAddress ?? '', reason: refusal });
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    route(socket);
  });
  server.on('tlsClientError', (err, socket) => {
    onReject?.({ remoteAddress: socket.remoteAddress ?? '', reason: err.message });
    socket.destroy();
  });
  return server;
}


export interface ClientPortRoutes {
  /** HTTP/1.1: the socket is given with http1.emit('connection', socket). */
  readonly http1: http.Server;
  /** HTTP/2 (gRPC): the v3 gRPC server's injectConnection. Undefined:
   *  such connections are closed. */
  readonly http2?: (socket: net.Socket) => void;
  /** The gateway's WebSockets (wss://), told from other HTTP/1.1 connections by their first
   *  request (ws-intake.ts). Undefined: none are served. */
  readonly webSocket?: WebSocketRoute;
}

/**
 * The usual `route` for createTlsClientServer: by the ALPN protocol when one was agreed ('h2'
 * to http2, 'http/1.1' to http1); without ALPN, by the first bytes (the HTTP/2 preface or
 * not), as the plain port does. Node's HTTP/2 server drops TLS sockets whose alpnProtocol is
 * not 'h2', so a prior-knowledge HTTP/2 socket is marked 'h2' before it is handed over.
 */
export function routeClientSocket(routes: ClientPortRoutes): (socket: tls.TLSSocket) => void {
  const toHttp2 = (socket: tls.TLSSocket): void => {
    if (routes.http2 === undefined) socket.destroy();
    else routes.http2(socket);
  };
  return (socket) => {
    if (socket.alpnProtocol === 'h2') return toHttp2(socket);
    if (socket.alpnProtocol === 'http/1.1') {
      socket.pause();
      routeHttp1(socket, routes.http1, routes.webSocket);
      return;
    }
    socket.setTimeout(TLS_HANDSHAKE_TIMEOUT_MS, () => socket.destroy());
    socket.once('error', () => socket.destroy());
    socket.once('data', (chunk: Buffer) => {
      socket.setTimeout(0);
      socket.pause();
      socket.unshift(chunk);
      const n = Math.min(chunk.length, HTTP2_PREFACE.length);
      if (chunk.subarray(0, n).equals(HTTP2_PREFACE.subarray(0, n))) {
        // Not resumed here: Node's HTTP/2 session reads the unshifted bytes from the socket's
        // buffer when it takes the socket over; a resume() would flush them to nobody.
        (socket as { alpnProtocol: string | false | null }).alpnProtocol = 'h2';
        toHttp2(socket);
      } else {
        routeHttp1(socket, routes.http1, routes.webSocket, chunk);
      }
    });
  };
}

// ---------------------------------------------------------------------------------------------
// (b) Peers

/** tls.createServer options for the peer port. */
export function peerServerTlsOptions(m: TlsMaterial): tls.TlsOptions {
  return {
    cert: m.certPem,
    key: m.keyPem,
    ca: m.caPem,
    crl: m.crlPem,
    requestCert: m.requireClientCert,
    rejectUnauthorized: m.requireClientCert && m.verify,
    minVersion: TLS_MIN_VERSION,
    handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS,
  };
}

/**
 * A PeerServerFactory: https:// peer URLs get a TLS server that checks the dialing peer
 * (chain, allowed CN/hostname, SAN vs. connecting IP) and then calls `onSocket`, as `plain`
 * would; http:// URLs are served by `plain` (e.g. the lead's peerServerFactory(peerHttp)).
 * `route`, if given, replaces onSocket for TLS sockets: pass one that also sends HTTP requests
 * (/members, /version) to the peer HTTP server; see peerSocketRouter().
 */
export function tlsPeerServerFactory(
  m: TlsMaterial | undefined,
  plain: PeerServerFactory,
  opts: { route?: (socket: tls.TLSSocket, onSocket: (s: net.Socket) => void) => void; onReject?: TlsRejectionListener } = {},
): PeerServerFactory {
  return (url, onSocket) => {
    if (url.protocol !== 'https:') return plain(url, onSocket);
    if (m === undefined) throw new Error(`cannot listen on TLS for ${url.host}: KeyFile and CertFile are not presented`);
    const reject = (socket: tls.TLSSocket, reason: string): void => {
      opts.onReject?.({ remoteAddress: socket.remoteAddress ?? '', reason });
      socket.destroy();
    };
    const server = tls.createServer(peerServerTlsOptions(m), (socket) => {
      socket.setNoDelay(true);
      const refusal = identityRefusal(socket, m, true);
      if (refusal !== undefined) return reject(socket, refusal);
      const deliver = (): void => {
        if (opts.route !== undefined) opts.route(socket, onSocket);
        else onSocket(socket);
      };
      if (m.skipClientSanVerify || !m.verify || !m.requireClientCert) return deliver();
      void sanRefusal(socket).then((r) => (r === undefined ? deliver() : reject(socket, r)));
    });
    server.on('tlsClientError', (err, socket) => reject(socket as tls.TLSSocket, err.message));
    return server;
  };
}

function looksLikeHttp1(chunk: Buffer): boolean {
  return /^(GET|PUT|POST|HEAD|DELETE|OPTIONS|PATCH) /.test(chunk.subarray(0, 8).toString('latin1'));
}

/** A `route` for tlsPeerServerFactory: HTTP requests go to `http1`, the rest (our raft frames)
 *  to the transport, as the plain peer port does. */
export function peerSocketRouter(http1: http.Server): (socket: tls.TLSSocket, onSocket: (s: net.Socket) => void) => void {
  return (socket, onSocket) => {
    socket.setTimeout(TLS_HANDSHAKE_TIMEOUT_MS, () => socket.destroy());
    socket.once('error', () => socket.destroy());
    socket.once('data', (chunk: Buffer) => {
      socket.setTimeout(0);
      socket.pause();
      socket.unshift(chunk);
      if (looksLikeHttp1(chunk)) http1.emit('connection', socket);
      else onSocket(socket);
      socket.resume();
    });
  };
}

function hostOf(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, '$1');
}

/** tls.connect options for dialing a peer (or fetching /members from one) at `url`. */
export function peerClientTlsOptions(m: TlsMaterial | undefined, url: URL): tls.ConnectionOptions {
  const host = hostOf(url);
  return {
    host,
    port: Number(url.port),
    // SNI only carries DNS names; the certificate is still checked against an IP host.
    servername: isIP(host) === 0 ? host : undefined,
    cert: m?.certPem,
    key: m?.keyPem,
    ca: m?.caPem,
    crl: m?.crlPem,
    // Auto-TLS peers skip verification, as etcd (InsecureSkipVerify for selfCert).
    rejectUnauthorized: m === undefined ? true : m.verify,
    minVersion: TLS_MIN_VERSION,
  };
}

/** Dials `url` with TLS, honouring `signal`; resolves once the handshake and the allowed
 *  CN/hostname checks passed. */
export function dialTls(url: URL, options: tls.ConnectionOptions, signal: AbortSignal, m?: TlsMaterial): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(new Error('dial aborted'));
      return;
    }
    const socket = tls.connect(options);
    const done = (err: Error | undefined): void => {
      signal.removeEventListener('abort', onAbort);
      socket.off('error', onError);
      if (err === undefined) {
        resolve(socket);
      } else {
        socket.destroy();
        reject(err);
      }
    };
    const onAbort = (): void => done(new Error('dial aborted'));
    const onError = (err: Error): void => done(err);
    signal.addEventListener('abort', onAbort, { once: true });
    socket.once('error', onError);
    socket.once('secureConnect', () => {
      const refusal = m === undefined ? undefined : identityRefusal(socket, m, false);
      done(refusal === undefined ? undefined : new Error(`peer ${url.host}: ${refusal}`));
    });
  });
}

/** A PeerDialer: https:// peers over TLS with this side's material, http:// through `plain`. */
export function tlsPeerDialer(m: TlsMaterial | undefined, plain: PeerDialer = plainDialer): PeerDialer {
  return (url, signal) => {
    if (url.protocol !== 'https:') return plain(url, signal);
    return dialTls(url, peerClientTlsOptions(m, url), signal, m);
  };
}

export interface TlsHttpResponse {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: string;
}

/**
 * GET over https with the given TLS options (at most `bodyBytesMax` of body): what a member
 * uses to ask a peer for /members when peer URLs are https (global fetch can't take a client
 * certificate in Node 20), and what tests use against the client port.
 */
export function httpsGet(url: URL, options: tls.ConnectionOptions, timeoutMs: number, bodyBytesMax = 4 * 1024 * 1024): Promise<TlsHttpResponse> {
  // The URL says where to connect; the options only bring the TLS settings.
  const { host: _host, port: _port, ...tlsOnly } = options;
  return new Promise((resolve, reject) => {
    const req = https.request(url, { ...tlsOnly, method: 'GET', agent: false, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      let bytes = 0;
      res.on('data', (c: Buffer) => {
        bytes += c.length;
        if (bytes > bodyBytesMax) {
          req.destroy(new Error(`response from ${url.href} exceeds ${bodyBytesMax} bytes`));
          return;
        }
        chunks.push(c);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url.href} timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

// ---------------------------------------------------------------------------------------------
// (c) The client side, for tests and tools

/** etcdctl's TLS flags. */
export interface ClientTlsFiles {
  /** --cacert */
  readonly trustedCaFile?: string;
  /** --cert */
  readonly certFile?: string;
  /** --key */
  readonly keyFile?: string;
  /** --insecure-skip-tls-verify */
  readonly insecureSkipVerify?: boolean;
}

/** tls.connect options as etcdctl would build them from its flags, for `url`. */
export async function clientTlsOptions(files: ClientTlsFiles, url: URL): Promise<tls.ConnectionOptions> {
  const read = (p: string | undefined): Promise<string | undefined> => (p === undefined || p === '' ? Promise.resolve(undefined) : readFile(p, 'utf8'));
  const [ca, cert, key] = await Promise.all([read(files.trustedCaFile), read(files.certFile), read(files.keyFile)]);
  const host = hostOf(url);
  return {
    host,
    port: Number(url.port),
    servername: isIP(host) === 0 ? host : undefined,
    ca,
    cert,
    key,
    rejectUnauthorized: files.insecureSkipVerify !== true,
    minVersion: TLS_MIN_VERSION,
  };
}
