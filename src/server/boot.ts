// Bringing a member up from its data dir: a new cluster, joining an existing one, or a restart
// from the WAL and the newest snapshot. Mirrors etcd's bootstrap (etcdserver/server.go NewServer).
import { nowMs } from './clock.js';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Packr } from 'msgpackr';
import type { Logger } from 'pino';
import { MemoryStorage } from '../raft/storage.js';
import { decodeConfChange, encodeConfChange } from '../raft/confchange.js';
import type { ConfState, Entry, HardState, Snapshot } from '../raft/types.js';
import { Wal } from '../store/wal/index.js';
import { Snapshotter } from '../store/snap/index.js';
import { V2Store } from '../store/v2/store.js';
import { V2AuthStore } from '../store/v2/auth.js';
import type { MemberConfig } from '../api/config/index.js';
import { deriveIds, formatId, memberIdOf } from '../api/config/index.js';
import { StateMachine } from './apply.js';
import type { TlsMaterial } from '../api/tls/index.js';
import { peerRequest } from './peer-http.js';
import { V3State } from './v3.js';
import { Membership } from './membership.js';
import { encodeContext } from './command.js';
import type { DurableLog } from './member.js';

const packr = new Packr({ useRecords: false, moreTypes: false });

/** What the WAL's metadata record says about whom this data dir belongs to. */
export interface WalMetadata {
  readonly clusterId: string;
  readonly memberId: string;
  readonly name: string;
  readonly token: string;
  /** How the data dir was created: 'new' (bootstrapped with the initial cluster) or 'existing' (joined). */
  readonly bootstrap?: 'new' | 'existing';
}

export interface Booted {
  readonly meta: WalMetadata;
  readonly storage: MemoryStorage;
  readonly durable: DurableLog;
  readonly sm: StateMachine;
  readonly appliedIndex: number;
  readonly confState: ConfState;
  /** Peers to dial before the log tells us more (id -> peer URLs). */
  readonly peers: Map<string, string[]>;
  readonly restarted: boolean;
}

export class BootError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BootError';
  }
}

/** WAL + snapshot files behind the member's DurableLog interface. */
class DiskLog implements DurableLog {
  constructor(
    private readonly wal: Wal,
    private readonly snapshotter: Snapshotter,
    private readonly maxSnapshots: number,
  ) {}
  save(hs: HardState | undefined, entries: readonly Entry[], mustSync: boolean): Promise<void> {
    return this.wal.save(hs, entries, mustSync);
  }
  async saveSnapshot(snap: Snapshot): Promise<void> {
    // The snapshot file first, then the WAL marker: a marker never names a missing file.
    await this.snapshotter.save(snap);
    await this.wal.saveSnapshot({ index: snap.metadata.index, term: snap.metadata.term });
  }
  async release(index: number): Promise<void> {
    await this.wal.releaseTo(index);
    await this.snapshotter.purge(this.maxSnapshots);
  }
  close(): Promise<void> {
    return this.wal.close();
  }
}

function freshStateMachine(clusterId: string, v3: V3State): StateMachine {
  return new StateMachine(new V2Store({ nowMs }), new V2AuthStore(), new Membership(clusterId), v3);
}

/** etcd's minimum lease TTL: 1.5 election timeouts, in whole seconds rounded up. */
export function minLeaseTtlS(cfg: MemberConfig): number {
  const electionTicks = Math.max(1, Math.round(cfg.electionTimeoutMs / cfg.heartbeatIntervalMs));
  return Math.ceil(((3 * electionTicks) / 2) * (cfg.heartbeatIntervalMs / 1000));
}

export async function boot(cfg: MemberConfig, log: Logger, peerTls?: TlsMaterial): Promise<Booted> {
  const memberDir = join(cfg.dataDir, 'member');
  const walDir = cfg.walDir !== '' ? cfg.walDir : join(memberDir, 'wal');
  const snapDir = join(memberDir, 'snap');
  await mkdir(snapDir, { recursive: true, mode: 0o700 });
  const walLogger = { info: (o: object, m: string) => log.info(o, m), warn: (o: object, m: string) => log.warn(o, m), debug: (o: object, m: string) => log.debug(o, m), error: (o: object, m: string) => log.error(o, m) };
  const snapshotter = new Snapshotter(snapDir, { logger: walLogger });
  const v3 = await V3State.open(memberDir, { minLeaseTtlS: minLeaseTtlS(cfg), authTokenTtlS: cfg.authTokenTtlS });
  const walOpts = { maxWals: cfg.maxWals, logger: walLogger };

  if (await Wal.exists(walDir)) {
    const snap = await snapshotter.loadNewest();
    const replay = await Wal.open(walDir, { ...walOpts, fromSnapshot: snap ? { index: snap.metadata.index, term: snap.metadata.term } : undefined });
    const meta = packr.unpack(replay.metadata) as WalMetadata;
    // The WAL records a commit index at least as new as every snapshot (the snapshot marker is
    // synced after the hard states before it): one that ends below the snapshot lost records.
    if (snap !== undefined && replay.hardState.commit < snap.metadata.index) {
      await replay.wal.close();
      throw new BootError(
        `WAL in ${walDir} is damaged: it ends at commit index ${replay.hardState.commit}, before the newest snapshot (index ${snap.metadata.index}); ` +
          'refusing to start (restore the data dir, or remove this member and add it again)',
      );
    }
    if (meta.token !== cfg.initialClusterToken && cfg.initialClusterState === 'new' && !cfg.forceNewCluster) {
      await replay.wal.close();
      throw new BootError(
        `data dir ${cfg.dataDir} belongs to cluster ${meta.clusterId} bootstrapped with --initial-cluster-token "${meta.token}", ` +
          `not "${cfg.initialClusterToken}" (cluster ID mismatch); refusing to start`,
      );
    }
    const inCluster = cfg.initialCluster.find((m) => m.name === cfg.name);
    if (inCluster === undefined) {
      await replay.wal.close();
      throw new BootError(`--initial-cluster has no member named "${cfg.name}"; this data dir belongs to member ${meta.memberId} ("${meta.name}")`);
    }
    // A data dir bootstrapped with an initial cluster must be started as the same member: the id
    // derived from this member's --initial-cluster entry and the token is the one in the data
    // dir. (Other entries may differ: a cluster that grew lists more members.)
    if (meta.bootstrap === 'new' && !cfg.forceNewCluster) {
      const derived = formatId(memberIdOf(inCluster.peerUrls, cfg.initialClusterToken));
      if (derived !== meta.memberId) {
        await replay.wal.close();
        throw new BootError(
          `--initial-cluster does not match the data dir ${cfg.dataDir}: its entry ${cfg.name}=${inCluster.peerUrls.map((u) => u.href).join(',')} ` +
            `is member ${derived}, but the data dir holds member ${meta.memberId} of cluster ${meta.clusterId}; refusing to start`,
        );
      }
    }
    const storage = new MemoryStorage();
    if (snap !== undefined) storage.applySnapshot(snap);
    let hardState = replay.hardState;
    let entries = replay.entries;
    if (cfg.forceNewCluster) {
      const forced = forceNewClusterEntries(meta.memberId, snap, hardState, entries);
      if (forced.length > 0) {
        hardState = { term: hardState.term, vote: hardState.vote, commit: forced[forced.length - 1]!.index };
        await replay.wal.save(hardState, forced, true);
        entries = [...entries, ...forced];
      }
      log.warn({ 'local-member-id': meta.memberId, 'removed-member-ids': forced.length }, 'forcing restart member as a single-member cluster (--force-new-cluster)');
    }
    storage.setHardState(hardState);
    if (entries.length > 0) storage.append(entries);
    let sm: StateMachine;
    if (snap === undefined) {
      sm = freshStateMachine(meta.clusterId, v3);
    } else {
      const rec = StateMachine.recover(snap.data, nowMs, v3);
      sm = rec.sm;
      // A snapshot received from the leader carries the v3 state: if the member stopped before
      // that state reached the backend, install it now (it is at or past the snapshot).
      if (rec.v3Data !== undefined && v3.snapshotConsistentIndex(rec.v3Data) > v3.consistentIndex()) await v3.restore(rec.v3Data);
      // Entries up to the snapshot are not replayed, so the backend must already hold their
      // effects: a consistent index behind the snapshot means it lost writes the WAL no longer has.
      if (v3.consistentIndex() < snap.metadata.index) {
        await replay.wal.close();
        await v3.close();
        throw new BootError(
          `the v3 backend in ${memberDir} is behind the newest snapshot (consistent index ${v3.consistentIndex()}, snapshot index ${snap.metadata.index}): ` +
            'it lost writes the WAL no longer holds; refusing to start (restore the data dir, or remove this member and add it again)',
        );
      }
    }
    const peers = new Map<string, string[]>();
    for (const m of sm.membership.list()) if (m.id !== meta.memberId) peers.set(m.id, [...m.peerUrls]);
    log.info(
      { 'local-member-id': meta.memberId, 'cluster-id': meta.clusterId, 'snapshot-index': snap?.metadata.index ?? 0, 'commit-index': replay.hardState.commit, 'last-index': replay.lastIndex },
      'restarting local member',
    );
    return {
      meta,
      storage,
      durable: new DiskLog(replay.wal, snapshotter, cfg.maxSnapshots),
      sm,
      appliedIndex: snap?.metadata.index ?? 0,
      confState: snap?.metadata.confState ?? { voters: [], learners: [] },
      peers,
      restarted: true,
    };
  }

  if (cfg.initialClusterState === 'new') {
    const { clusterId, memberIds } = deriveIds(cfg.initialCluster, cfg.initialClusterToken);
    const memberId = memberIds.get(cfg.name);
    if (memberId === undefined) throw new BootError(`couldn't find local name "${cfg.name}" in the initial cluster configuration`);
    const meta: WalMetadata = { clusterId, memberId, name: cfg.name, token: cfg.initialClusterToken, bootstrap: 'new' };
    // As etcd/raft's Bootstrap: the initial members are conf-change entries 1..n, committed at
    // term 1, so that a member joining later learns them by replaying the log.
    const sorted = cfg.initialCluster.map((m) => ({ name: m.name, id: memberIds.get(m.name)!, peerUrls: m.peerUrls.map((u) => u.href.replace(/\/$/, '')) })).sort((a, b) => (a.id < b.id ? -1 : 1));
    const entries: Entry[] = sorted.map((m, i) => ({
      term: 1,
      index: i + 1,
      type: 'confChange',
      data: encodeConfChange({ type: 'addNode', nodeId: m.id, context: encodeContext({ peerUrls: m.peerUrls, name: m.name, isLearner: false }) }),
    }));
    const hs: HardState = { term: 1, vote: '', commit: entries.length };
    const confState: ConfState = { voters: sorted.map((m) => m.id), learners: [] };
    const wal = await Wal.create(walDir, packr.pack(meta), walOpts);
    await wal.save(hs, entries, true);
    const storage = new MemoryStorage(confState);
    storage.append(entries);
    storage.setHardState(hs);
    const peers = new Map<string, string[]>();
    for (const m of sorted) if (m.id !== memberId) peers.set(m.id, m.peerUrls);
    log.info({ 'local-member-id': memberId, 'cluster-id': clusterId, 'initial-cluster': sorted.map((m) => `${m.name}=${m.peerUrls.join(',')}`).join(',') }, 'starting local member');
    return { meta, storage, durable: new DiskLog(wal, snapshotter, cfg.maxSnapshots), sm: freshStateMachine(clusterId, v3), appliedIndex: 0, confState, peers, restarted: false };
  }

  // --initial-cluster-state existing: ask the running members who we are.
  const remote = await fetchRemoteMembership(cfg, peerTls);
  const own = cfg.initialAdvertisePeerUrls.map((u) => u.href.replace(/\/$/, '')).sort().join(',');
  const me = remote.members.find((m) => [...m.peerURLs].sort().join(',') === own);
  if (me === undefined) {
    throw new BootError(`member with peer URLs ${own} has not been added to cluster ${remote.clusterId}; add it first (etcdctl member add)`);
  }
  const meta: WalMetadata = { clusterId: remote.clusterId, memberId: me.id, name: cfg.name, token: cfg.initialClusterToken, bootstrap: 'existing' };
  const wal = await Wal.create(walDir, packr.pack(meta), walOpts);
  const peers = new Map<string, string[]>();
  for (const m of remote.members) if (m.id !== me.id) peers.set(m.id, m.peerURLs);
  log.info({ 'local-member-id': me.id, 'cluster-id': remote.clusterId }, 'joining existing cluster');
  return {
    meta,
    storage: new MemoryStorage(),
    durable: new DiskLog(wal, snapshotter, cfg.maxSnapshots),
    sm: freshStateMachine(remote.clusterId, v3),
    appliedIndex: 0,
    confState: { voters: [], learners: [] },
    peers,
    restarted: false,
  };
}

/** etcd's --force-new-cluster: every entry in the log counts as committed, and conf changes
 *  that remove every other member are appended, so the member restarts as a cluster of one with
 *  its data. */
function forceNewClusterEntries(self: string, snap: Snapshot | undefined, hs: HardState, entries: readonly Entry[]): Entry[] {
  const ids = new Set<string>([...(snap?.metadata.confState.voters ?? []), ...(snap?.metadata.confState.learners ?? [])]);
  for (const e of entries) {
    if (e.type !== 'confChange') continue;
    const cc = decodeConfChange(e.data);
    if (cc.type === 'removeNode') ids.delete(cc.nodeId);
    else ids.add(cc.nodeId);
  }
  let index = entries.length > 0 ? entries[entries.length - 1]!.index : (snap?.metadata.index ?? 0);
  const out: Entry[] = [];
  for (const id of [...ids].sort()) {
    if (id === self) continue;
    out.push({ term: hs.term, index: ++index, type: 'confChange', data: encodeConfChange({ type: 'removeNode', nodeId: id, context: new Uint8Array(0) }) });
  }
  return out;
}

interface RemoteMember {
  id: string;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
}

/** Asks each other member's peer URL for /members (as etcd's GetClusterFromRemotePeers). */
async function fetchRemoteMembership(cfg: MemberConfig, peerTls: TlsMaterial | undefined): Promise<{ clusterId: string; members: RemoteMember[] }> {
  const own = new Set(cfg.initialAdvertisePeerUrls.map((u) => u.href));
  const errors: string[] = [];
  for (const m of cfg.initialCluster) {
    for (const u of m.peerUrls) {
      if (own.has(u.href)) continue;
      try {
        const r = await peerRequest(new URL('/members', u), 'GET', undefined, peerTls, 2000);
        if (r.status !== 200) throw new Error(`status ${r.status}`);
        const members = JSON.parse(r.body) as RemoteMember[];
        return { clusterId: r.headers['x-etcd-cluster-id'] ?? '', members };
      } catch (err) {
        errors.push(`${u.href}: ${(err as Error).message}`);
      }
    }
  }
  throw new BootError(`cannot fetch cluster info from peer urls: ${errors.join('; ') || 'no other member in --initial-cluster'}`);
}
