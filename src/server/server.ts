// One tsetcd member process: boots from the data dir, runs raft, serves peers and clients.
import http from 'node:http';
import type net from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { PeerTransport } from '../api/peer/transport.js';
import type { MemberConfig } from '../api/config/index.js';
import { boot } from './boot.js';
import { RaftMember } from './member.js';
import { createClientServer, listen, peerServerFactory } from './listeners.js';
import { registerClientApi } from './client-api.js';
import { createGrpcServer, type GrpcServerHandle } from '../api/v3/grpc.js';
import { MemberV3Backend, LEADER_FORWARD_TIMEOUT_MS } from './v3-backend.js';
import { V3Error, V3_ERRORS, type V3ErrorKind } from '../store/v3error.js';
import {
  createTlsClientServer, loadTlsMaterial, peerSocketRouter, routeClientSocket, tlsPeerDialer, tlsPeerServerFactory, type TlsMaterial,
} from '../api/tls/index.js';
import { peerRequest } from './peer-http.js';
import { MemberMetrics, registerMetricsRoute, createMetricsServer, type MetricsServer } from '../api/metrics/index.js';
import { DEFAULT_QUOTA_BACKEND_BYTES } from './member.js';
import { MemberV2Backend } from './v2-backend.js';
import { JwtTokens } from '../store/auth/jwt.js';

export const SERVER_VERSION = '3.4.23';

export class TsetcdServer {
  readonly cfg: MemberConfig;
  readonly log: Logger;
  member!: RaftMember;
  transport!: PeerTransport;
  private app!: FastifyInstance;
  private readonly clientServers: net.Server[] = [];
  private peerHttp!: http.Server;
  private peerTls: TlsMaterial | undefined;
  metrics!: MemberMetrics;
  private metricsServer: MetricsServer | undefined;
  v3!: MemberV3Backend;
  private grpc!: GrpcServerHandle;
  private stopping: Promise<void> | undefined;
  /** Resolves when the process should exit (removed from the cluster, or stopped). */
  readonly done: Promise<number>;
  private finish!: (code: number) => void;

  constructor(cfg: MemberConfig, log: Logger) {
    this.cfg = cfg;
    this.log = log;
    this.done = new Promise((r) => (this.finish = r));
  }

  async start(): Promise<void> {
    const cfg = this.cfg;
    for (const f of cfg.ignored) this.log.warn({ flag: f }, 'flag accepted and ignored by tsetcd');
    if (cfg.unsafeNoFsync) this.log.warn({}, '--unsafe-no-fsync: the WAL is not fsynced; a crash can lose acknowledged writes');
    let jwt: JwtTokens | undefined;
    if (cfg.authToken.split(',')[0] === 'jwt') {
      try {
        jwt = JwtTokens.fromOption(cfg.authToken, (msg) => this.log.warn({}, msg));
      } catch (err) {
        // etcd exits the same way, after logging the option's problem.
        throw new Error(`failed to create token provider: ${(err as Error).message}`);
      }
    }
    // TLS material first: auto-TLS writes <data-dir>/fixtures, and joining needs peer TLS.
    this.peerTls = await loadTlsMaterial(cfg.peerTls, 'peer', {
      dataDir: cfg.dataDir,
      listenUrls: cfg.listenPeerUrls,
      skipClientSanVerify: cfg.experimentalPeerSkipClientSanVerification,
    });
    const clientTls = await loadTlsMaterial(cfg.clientTls, 'client', { dataDir: cfg.dataDir, listenUrls: cfg.listenClientUrls });
    for (const w of [...(this.peerTls?.warnings ?? []), ...(clientTls?.warnings ?? [])]) this.log.warn({}, w);
    const onReject = (r: { remoteAddress: string; reason: string }): void => this.log.warn({ 'remote-addr': r.remoteAddress, error: r.reason }, 'rejected connection');
    const b = await boot(cfg, this.log, this.peerTls);
    const clientUrls = cfg.advertiseClientUrls.map((u) => u.href.replace(/\/$/, ''));
    this.member = new RaftMember({
      opts: {
        id: b.meta.memberId,
        name: cfg.name,
        clientUrls,
        heartbeatMs: cfg.heartbeatIntervalMs,
        electionMs: cfg.electionTimeoutMs,
        snapshotCount: cfg.snapshotCount,
        preVote: cfg.preVote,
        logger: this.log,
        quotaBackendBytes: cfg.quotaBackendBytes,
        watchProgressNotifyMs: cfg.experimentalWatchProgressNotifyIntervalMs,
        strictReconfigCheck: cfg.strictReconfigCheck,
        unsafeNoFsync: cfg.unsafeNoFsync,
      },
      storage: b.storage,
      wal: b.durable,
      sm: b.sm,
      appliedIndex: b.appliedIndex,
      confState: b.confState,
      onRemoved: () => void this.stop().then(() => this.finish(0)),
    });

    // Peer side: raft messages, plus /members and /version over HTTP for joining members.
    this.peerHttp = http.createServer((req, res) => this.servePeerHttp(req, res));
    this.transport = new PeerTransport({
      localId: b.meta.memberId,
      clusterId: b.meta.clusterId,
      logger: {
        debug: (o, m) => this.log.debug(o, m),
        info: (o, m) => this.log.info(o, m),
        warn: (o, m) => this.log.warn(o, m),
        error: (o, m) => this.log.error(o, m),
      },
      onMessage: (m) => this.member.step(m),
      onUnreachable: (id) => this.member.node.reportUnreachable(id),
      onSnapshotStatus: (id, failed) => this.member.node.reportSnapshot(id, failed),
      isRemoved: (id) => this.member.sm.membership.isRemoved(id),
      onRemoved: (by) => {
        this.log.warn({ 'local-member-id': b.meta.memberId, 'refused-by': by }, 'the member has been permanently removed from the cluster');
        void this.stop().then(() => this.finish(0));
      },
      dial: tlsPeerDialer(this.peerTls),
      createServer: tlsPeerServerFactory(this.peerTls, peerServerFactory(this.peerHttp), { route: peerSocketRouter(this.peerHttp), onReject }),
    });
    // Peers are known from the boot (initial cluster, snapshot, remote membership) and again
    // from replayed conf changes: adding a known peer only refreshes its URLs, as in etcd.
    const known = new Set<string>();
    const addPeer = (id: string, urls: readonly string[]): void => {
      const parsed = urls.map((u) => new URL(u));
      if (known.has(id)) this.transport.updatePeer(id, parsed);
      else this.transport.addPeer(id, parsed);
      known.add(id);
    };
    for (const [id, urls] of b.peers) addPeer(id, urls);
    this.member.attachTransport({
      send: (msgs) => this.transport.send(msgs),
      flush: () => this.transport.flush(),
      addPeer,
      updatePeer: (id, urls) => addPeer(id, urls),
      removePeer: (id) => {
        if (known.delete(id)) this.transport.removePeer(id);
      },
    });
    for (const u of cfg.listenPeerUrls) await this.transport.listen(u);
    this.log.info({ 'listen-peer-urls': cfg.listenPeerUrls.map((u) => u.href) }, 'starting peer listener');

    // Client side: gRPC (v3) and HTTP/1.1 (v2, gateway, health) on the same ports.
    this.v3 = new MemberV3Backend(
      this.member,
      { token: cfg.initialClusterToken, quotaBackendBytes: cfg.quotaBackendBytes, maxTxnOps: cfg.maxTxnOps, jwt },
      { forward: (op, args) => this.forwardToLeader(op, args) },
      () => this.transport,
    );
    this.app = Fastify({
      logger: false,
      bodyLimit: cfg.maxRequestBytes + 512 * 1024,
      serverFactory: (handler) => http.createServer(handler),
    });
    this.metrics = new MemberMetrics({ memberId: b.meta.memberId, extensive: cfg.metrics === 'extensive' });
    this.member.metrics = this.metrics;
    const metrics = this.metrics;
    this.grpc = createGrpcServer(this.v3, {
      maxRequestBytes: cfg.maxRequestBytes,
      maxTxnOps: cfg.maxTxnOps,
      ...(cfg.maxConcurrentStreams > 0 && cfg.maxConcurrentStreams < 2 ** 31 ? { maxConcurrentStreams: cfg.maxConcurrentStreams } : {}),
      keepaliveIntervalMs: cfg.grpcKeepaliveIntervalMs,
      keepaliveTimeoutMs: cfg.grpcKeepaliveTimeoutMs,
      // etcd's --auto-tls replaces the client TLS settings, --client-cert-auth included.
      clientCertAuth: cfg.clientTls.clientCertAuth && !(cfg.clientTls.autoTls && cfg.clientTls.certFile === '' && cfg.clientTls.keyFile === ''),
    }, {
      method: (path, type) => metrics.grpcMethodByPath(path, type),
      receivedBytes: (n) => metrics.addClientGrpcReceivedBytes(n),
      sentBytes: (n) => metrics.addClientGrpcSentBytes(n),
    });
    this.metrics.collectFrom({
      snapshot: async () => {
        const v3 = this.member.sm.v3;
        const size = await v3.backend.sizeBytes();
        return {
          lead: this.member.lead,
          isLeader: this.member.isLeader(),
          isLearner: this.member.sm.membership.get(this.member.id)?.isLearner ?? false,
          committedIndex: this.member.node.status().commit,
          appliedIndex: this.member.appliedIndex,
          pendingProposals: this.member.pendingProposals(),
          clusterVersion: this.member.sm.membership.clusterVersion,
          quotaBackendBytes: cfg.quotaBackendBytes > 0 ? cfg.quotaBackendBytes : DEFAULT_QUOTA_BACKEND_BYTES,
          dbTotalSizeBytes: size,
          dbTotalSizeInUseBytes: size,
          currentRevision: v3.mvcc.currentRevision(),
          compactRevision: v3.mvcc.compactRevision(),
          keysTotal: v3.mvcc.keyCount(),
          watchers: v3.mvcc.watchHub.watcherCount(),
          authRevision: v3.auth.revision(),
          peers: this.transport.stats(),
        };
      },
    });
    registerMetricsRoute(this.app, this.metrics);
    const webSocket = registerClientApi(this.app, this, this.v3);
    await this.app.ready();
    for (const u of cfg.listenClientUrls) {
      // Like HTTP requests, gRPC waits until the member has published itself (etcd serves nothing
      // before); the socket stays paused with its first bytes buffered until then.
      const http2 = (sock: net.Socket): void => {
        if (this.member.published) this.grpc.injectConnection(sock);
        else void this.member.whenPublished().then(() => this.grpc.injectConnection(sock));
      };
      const srv =
        u.protocol === 'https:' && clientTls !== undefined
          ? createTlsClientServer(clientTls, routeClientSocket({ http1: this.app.server, http2, webSocket }), onReject)
          : createClientServer({ http1: this.app.server, http2, webSocket });
      await listen(srv, u);
      this.clientServers.push(srv);
    }
    if (cfg.listenMetricsUrls.length > 0) {
      const health = new MemberV2Backend(this.member, () => this.transport, cfg.initialClusterToken);
      this.metricsServer = await createMetricsServer(cfg.listenMetricsUrls, { metrics: this.metrics, health: () => health.health([]) });
    }
    this.member.start();
    this.log.info({ 'local-member-id': b.meta.memberId, 'cluster-id': b.meta.clusterId }, 'starting server');
    void this.member.whenPublished().then(() => {
      this.log.info({ 'listen-client-urls': cfg.listenClientUrls.map((u) => u.href) }, 'ready to serve client requests');
    });
  }

  private servePeerHttp(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && url === '/members') {
      const members = this.member.members().map((m) => ({ id: m.id, name: m.name, peerURLs: m.peerUrls, clientURLs: m.clientUrls, isLearner: m.isLearner }));
      res.writeHead(200, { 'Content-Type': 'application/json', 'X-Etcd-Cluster-ID': this.member.sm.membership.clusterId });
      res.end(JSON.stringify(members));
      return;
    }
    if (req.method === 'POST' && url === '/tsetcd/leader') {
      this.serveLeaderOp(req, res);
      return;
    }
    if (req.method === 'GET' && url === '/version') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(this.versionJson()));
      return;
    }
    res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
    res.end('404 page not found\n');
  }

  /** Leader-only work a follower forwards here (lease renewals and TTLs, learner promotion), as
   *  etcd forwards them over its peer port. Body: {"op", "args"}; answer {"result"} or {"error"}. */
  private serveLeaderOp(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > TsetcdServer.LEADER_OP_BODY_BYTES_MAX) req.destroy();
      else chunks.push(c);
    });
    req.on('end', () => {
      let body: { op?: unknown; args?: unknown };
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { op?: unknown; args?: unknown };
      } catch {
        res.writeHead(400).end();
        return;
      }
      this.v3.serveLeaderOp(String(body.op), (body.args ?? {}) as Record<string, unknown>).then(
        (result) => res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ result })),
        (err) => res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ error: err instanceof V3Error ? err.kind : String(err) })),
      );
    });
  }

  /** Bodies of forwarded leader operations are tiny; anything larger is not ours. */
  static readonly LEADER_OP_BODY_BYTES_MAX = 64 * 1024;

  private async forwardToLeader(op: string, args: Record<string, unknown>): Promise<unknown> {
    const lead = this.member.lead;
    if (lead === '') throw new V3Error('noLeader');
    const m = this.member.sm.membership.get(lead);
    if (m === undefined || m.peerUrls.length === 0) throw new V3Error('noLeader');
    let lastErr: unknown;
    for (const u of m.peerUrls) {
      try {
        const r = await peerRequest(new URL('/tsetcd/leader', u), 'POST', JSON.stringify({ op, args }), this.peerTls, LEADER_FORWARD_TIMEOUT_MS);
        const j = JSON.parse(r.body) as { result?: unknown; error?: string };
        if (j.error !== undefined) {
          if (Object.hasOwn(V3_ERRORS, j.error)) throw new V3Error(j.error as V3ErrorKind);
          throw new Error(j.error);
        }
        return j.result;
      } catch (err) {
        if (err instanceof V3Error) throw err;
        lastErr = err;
      }
    }
    throw lastErr instanceof Error ? new V3Error('timeoutDueToConnectionLost') : new V3Error('noLeader');
  }

  versionJson(): { etcdserver: string; etcdcluster: string } {
    const cv = this.member.sm.membership.clusterVersion;
    return { etcdserver: SERVER_VERSION, etcdcluster: cv === '' ? 'not_decided' : cv };
  }

  /** Graceful stop (SIGTERM/SIGINT): hand leadership over first, then close everything. */
  stop(): Promise<void> {
    if (this.stopping === undefined) {
      this.stopping = (async () => {
        try {
          await this.member.transferLeadershipBeforeStop();
        } catch (err) {
          this.log.warn({ error: String(err) }, 'leadership transfer before stop failed');
        }
        for (const s of this.clientServers) s.close();
        await this.grpc?.close().catch(() => undefined);
        await this.metricsServer?.close().catch(() => undefined);
        await this.app?.close().catch(() => undefined);
        await this.member.stop();
        await this.transport.close();
        this.log.info({}, 'stopped member');
      })();
    }
    return this.stopping;
  }
}
