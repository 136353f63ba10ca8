// The running member: raft + WAL + snapshots + state machine + peer transport, driven by one
// Ready loop. Data flows one way: propose -> raft -> WAL fsync -> commit -> apply -> reply.
import { nowMs } from './clock.js';
import type { Logger } from 'pino';
import { RawNode } from '../raft/raw-node.js';
import type { MemoryStorage } from '../raft/storage.js';
import type { Ready, RaftStatus } from '../raft/api.js';
import { ProposalDroppedError } from '../raft/api.js';
import type { ConfChange, ConfState, Entry, HardState, NodeId, Snapshot } from '../raft/types.js';
import type { Message, MsgApp } from '../raft/message.js';
import { decodeConfChange } from '../raft/confchange.js';
import { ENTRY_OVERHEAD_BYTES } from '../raft/limits.js';
import { MvccReadError } from '../store/mvcc/kvstore.js';
import { decodeCommand, decodeContext, encodeCommand, encodeContext, type Command } from './command.js';
import { StateMachine } from './apply.js';
import { BACKEND_BATCH_OPS_MAX } from '../store/backend.js';
import type { MemberMetrics } from '../api/metrics/index.js';
import type { Member } from './membership.js';
import { ServerError } from './errors.js';

/** How long a proposal may wait to be applied before the client gets "request timed out"
 *  (etcd: 5 s + 2 x election timeout). */
export function requestTimeoutMs(electionTimeoutMs: number): number {
  return 5000 + 2 * electionTimeoutMs;
}

/** The v3 backend's staged writes are written to level at most this long after they were
 *  staged (etcd's --backend-batch-interval default). */
export const BACKEND_BATCH_INTERVAL_MS = 100;
/** The v3 backend's staged writes are written at once when this many are staged (etcd's
 *  --backend-batch-limit default). */
export const BACKEND_BATCH_LIMIT_OPS = 10_000;

/** A ReadIndex request with no answer after this long is sent again (etcd's readIndexRetryTime). */
export const READ_INDEX_RETRY_MS = 500;

/** Entries kept in the log behind a snapshot so that a slow follower can catch up by log
 *  rather than by snapshot (etcd: 5000). TSETCD_SNAPSHOT_CATCHUP_ENTRIES lowers it for tests
 *  that must see a snapshot sent to a follower without writing thousands of keys. */
export const SNAPSHOT_CATCH_UP_ENTRIES = Number(process.env.TSETCD_SNAPSHOT_CATCHUP_ENTRIES ?? 5000);
/** Raft entries since the last snapshot stay in memory (for followers to catch up from); past
 *  this many bytes of them a member snapshots before --snapshot-count entries. etcd 3.4 counts
 *  entries only, so 100,000 entries of 1 KiB puts hold 100 MiB on every member. The entries a
 *  snapshot leaves behind it for catching up are bounded by the same number of bytes as well as
 *  by SNAPSHOT_CATCH_UP_ENTRIES: a follower further behind gets the snapshot. */
export const SNAPSHOT_LOG_BYTES = 8 * 1024 * 1024;
/** ...unless the snapshot's own data (v2 store, auth, membership) is large: then a snapshot
 *  waits for this many times its size in log bytes, so that snapshotting costs at most a
 *  fraction of the writes. */
export const SNAPSHOT_LOG_BYTES_PER_DATA_BYTE = 4;
/** Proposals waiting for apply on this member; beyond it new proposals are refused at once
 *  ("too many requests") instead of queueing without bound. */
export const PENDING_PROPOSALS_MAX = 100_000;
/** Linearizable reads waiting for one ReadIndex round; beyond it they are refused. */
export const PENDING_READS_MAX = 100_000;
/** Most entries handed to raft in one proposal batch (raft's own limit is 4096). */
export const PROPOSAL_BATCH_ENTRIES_MAX = 1024;
/** Most bytes of entry data in one proposal batch (one larger proposal still goes alone). */
export const PROPOSAL_BATCH_BYTES_MAX = 4 * 1024 * 1024;
/** etcd's default backend quota (--quota-backend-bytes 0): 2 GiB. */
export const DEFAULT_QUOTA_BACKEND_BYTES = 2 * 1024 * 1024 * 1024;

export interface DurableLog {
  /** Persist hard state and entries in order; resolves once durable when mustSync. */
  save(hs: HardState | undefined, entries: readonly Entry[], mustSync: boolean): Promise<void>;
  saveSnapshot(snap: Snapshot): Promise<void>;
  /** A snapshot at `index` is durable: older WAL segments and snapshots may go. */
  release(index: number): Promise<void>;
  close(): Promise<void>;
}

export interface Transport {
  send(messages: readonly Message[]): void;
  /** Writes what send() queued now, not at the end of the event-loop turn. */
  flush(): void;
  addPeer(id: string, urls: string[]): void;
  updatePeer(id: string, urls: string[]): void;
  removePeer(id: string): void;
}

export interface MemberOptions {
  readonly id: string;
  readonly name: string;
  readonly clientUrls: readonly string[];
  readonly heartbeatMs: number;
  readonly electionMs: number;
  readonly snapshotCount: number;
  readonly preVote: boolean;
  readonly logger: Logger;
  /** --quota-backend-bytes: 0 = etcd's default (2 GiB), negative = no quota. */
  readonly quotaBackendBytes: number;
  /** --experimental-watch-progress-notify-interval; 0 = off. */
  readonly watchProgressNotifyMs: number;
  /** --strict-reconfig-check. */
  readonly strictReconfigCheck: boolean;
  /** --unsafe-no-fsync: acknowledged writes may be lost on a crash. */
  readonly unsafeNoFsync: boolean;
}

/** A conf change's waiter is keyed by the change, which is all its applier knows of it. */
const CONF_CHANGE_WAITER_PREFIX = 'cc:';
function confChangeWaiterKey(cc: ConfChange): string {
  return `${CONF_CHANGE_WAITER_PREFIX}${cc.type}:${cc.nodeId}`;
}

interface Waiter {
  resolve(v: unknown): void;
  reject(e: unknown): void;
  /** performance.now() past which the client gets "request timed out" (expireWaiters). */
  deadline: number;
}

export class RaftMember {
  readonly id: string;
  readonly opts: MemberOptions;
  readonly node: RawNode;
  readonly storage: MemoryStorage;
  sm: StateMachine;
  private readonly log: Logger;
  private readonly wal: DurableLog;
  private transport: Transport | undefined;

  appliedIndex: number;
  private snapshotIndex: number;
  /** Bytes of the entries applied since the last snapshot (data + ENTRY_OVERHEAD_BYTES). */
  private logBytesSinceSnapshot = 0;
  /** Size of the last snapshot's data (see SNAPSHOT_LOG_BYTES_PER_DATA_BYTE). */
  private snapshotDataBytes = 0;
  confState: ConfState;
  term = 0;
  commitIndex = 0;
  lead: NodeId = '';
  private stateName: RaftStatus['state'] = 'follower';

  private readonly waiters = new Map<string, Waiter>();
  /** performance.now() when this member last saw a new leader (etcd's leadElectedTime). */
  private leadElectedAt = -Infinity;
  private reqSeq = 0;
  private readonly idPrefix: string;

  private readonly readWaiters: Array<{ resolve(): void; reject(e: unknown): void }> = [];
  private readInFlight: { ctx: string; batch: Array<{ resolve(): void; reject(e: unknown): void }>; timer: NodeJS.Timeout } | undefined;
  private readonly appliedWaiters: Array<{ index: number; resolve(): void }> = [];

  private tickTimer: NodeJS.Timeout | undefined;
  private progressTimer: NodeJS.Timeout | undefined;
  private quotaChecking = false;
  private syncTimer: NodeJS.Timeout | undefined;
  private loopScheduled = false;
  private loopRunning = false;
  private stopped = false;
  private fatal: Error | undefined;

  readonly startTime = new Date();
  leaderSince = new Date();
  leaderChanges = 0;
  published = false;
  private publishWaiters: Array<() => void> = [];
  private readonly onRemoved: () => void;
  /** Set by the server: event counters for /metrics. */
  metrics: MemberMetrics | undefined;
  /** Called after every apply batch (watchers of membership, metrics). */
  onApplied: (() => void) | undefined;

  constructor(args: {
    opts: MemberOptions;
    storage: MemoryStorage;
    wal: DurableLog;
    sm: StateMachine;
    appliedIndex: number;
    confState: ConfState;
    onRemoved: () => void;
  }) {
    this.opts = args.opts;
    this.id = args.opts.id;
    this.log = args.opts.logger;
    this.storage = args.storage;
    this.wal = args.wal;
    this.sm = args.sm;
    this.appliedIndex = args.appliedIndex;
    this.snapshotIndex = args.appliedIndex;
    this.confState = args.confState;
    this.onRemoved = args.onRemoved;
    this.idPrefix = `${this.id}:${Date.now().toString(36)}:`;
    const electionTick = Math.max(1, Math.round(args.opts.electionMs / args.opts.heartbeatMs));
    let seed = (parseInt(this.id.slice(-8), 16) ^ Date.now()) >>> 0;
    this.node = new RawNode({
      id: this.id,
      electionTick,
      heartbeatTick: 1,
      storage: this.storage,
      applied: args.appliedIndex,
      maxSizePerMsg: 1024 * 1024,
      maxInflightMsgs: 512,
      checkQuorum: true,
      preVote: args.opts.preVote,
      leaderCountsSelfWhenPersisted: true,
      // raft's randomness only spreads election timeouts; a per-process seed is enough.
      random: () => {
        seed = (seed + 0x6d2b79f5) >>> 0;
        let t = seed;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
      },
      logger: {
        debug: (o, m) => this.log.debug(o, m),
        info: (o, m) => this.log.info(o, m),
        warn: (o, m) => this.log.warn(o, m),
      },
    });
  }

  attachTransport(t: Transport): void {
    this.transport = t;
  }

  start(): void {
    this.tickTimer = setInterval(() => {
      this.expireWaiters(performance.now());
      this.node.tick();
      if (this.parked.length > 0) this.unpark();
      this.schedule();
    }, this.opts.heartbeatMs);
    // The leader expires v2 TTLs through the log, about every 500 ms as etcd does.
    this.syncTimer = setInterval(() => {
      this.maybeSync();
      this.revokeExpiredLeases();
      void this.checkQuota();
    }, 500);
    if (this.opts.watchProgressNotifyMs > 0) {
      this.progressTimer = setInterval(() => this.sm.v3.mvcc.watchHub.notifyProgress(), this.opts.watchProgressNotifyMs);
    }
    this.schedule();
  }

  // ---- proposals ---------------------------------------------------------------------------

  nextId(): string {
    return this.idPrefix + (++this.reqSeq).toString(36);
  }

  /** Propose a command; resolves with what applying it returned on this member. */
  propose(build: (id: string) => Command): Promise<unknown> {
    // Stopped: no tick is left to time a waiter out, so none is made.
    if (this.stopped) return Promise.reject(this.fatal ?? new ServerError('stopped'));
    if (this.waiters.size >= PENDING_PROPOSALS_MAX) return Promise.reject(new ServerError('tooManyRequests'));
    const id = this.nextId();
    const cmd = build(id);
    return new Promise((resolve, reject) => {
      this.waiters.set(id, { resolve, reject, deadline: performance.now() + requestTimeoutMs(this.opts.electionMs) });
      this.proposeOrPark(id, encodeCommand(cmd));
    });
  }

  /** Fails the proposals whose request timeout has passed; run every tick, so a timeout comes
   *  up to one heartbeat late. Not a timer per proposal: under load that was thousands of
   *  timers a second, each living as long as its request, long enough for the garbage collector
   *  to move it to the old generation. Every waiter's deadline is its insertion time plus the
   *  same timeout, and the map keeps insertion order, so the expired ones are its first ones. */
  private expireWaiters(now: number): void {
    for (const [id, w] of this.waiters) {
      if (w.deadline > now) break;
      this.waiters.delete(id);
      if (!id.startsWith(CONF_CHANGE_WAITER_PREFIX)) this.metrics?.onProposalFailed();
      w.reject(this.proposalTimeoutError(w.deadline - requestTimeoutMs(this.opts.electionMs)));
    }
  }

  /** etcd's error for a proposal made at `start` (performance.now()) that timed out: "possibly
   *  due to previous leader failure" when a leader was elected up to two election timeouts after
   *  it started, else "request timed out" (also while there is no leader: etcd 3.4's
   *  parseProposeCtxErr). */
  private proposalTimeoutError(start: number): ServerError {
    const elected = this.leadElectedAt;
    return new ServerError(start > elected - 2 * this.opts.electionMs && start < elected ? 'leaderLost' : 'timeout');
  }

  /** Proposals made while there is no leader (or while leadership is being handed over) wait
   *  for the next leader instead of failing at once, as etcd's do; the waiter's timeout still
   *  bounds them. Bounded by PENDING_PROPOSALS_MAX through the waiters map. */
  private readonly parked: Array<{ id: string; data: Uint8Array }> = [];

  /** Proposals made in this event-loop turn, handed to raft as one batch when the Ready loop
   *  runs: one append and one MsgApp per follower for all of them, not one each. */
  private proposing: Array<{ id: string; data: Uint8Array }> = [];

  private proposeOrPark(id: string, data: Uint8Array): void {
    if (this.lead === '') {
      this.parked.push({ id, data });
      return;
    }
    this.proposing.push({ id, data });
    this.schedule();
  }

  /** Hands the queued proposals to raft in batches of at most PROPOSAL_BATCH_ENTRIES_MAX entries
   *  and PROPOSAL_BATCH_BYTES_MAX bytes. A batch raft drops (no leader, transfer in progress, too
   *  much uncommitted) is parked for the next leader; any other refusal fails its proposals. */
  private flushProposals(): void {
    if (this.proposing.length === 0) return;
    // A proposal whose waiter timed out meanwhile is not worth a log entry.
    const all = this.proposing.filter((p) => this.waiters.has(p.id));
    this.proposing = [];
    let start = 0;
    while (start < all.length) {
      let end = start;
      let bytes = 0;
      while (end < all.length && end - start < PROPOSAL_BATCH_ENTRIES_MAX && (end === start || bytes + all[end]!.data.length <= PROPOSAL_BATCH_BYTES_MAX)) {
        bytes += all[end]!.data.length;
        end++;
      }
      const batch = all.slice(start, end);
      start = end;
      if (this.lead === '') {
        this.parked.push(...batch);
        continue;
      }
      try {
        this.node.proposeBatch(batch.map((p) => p.data));
      } catch (err) {
        if (err instanceof ProposalDroppedError) {
          this.parked.push(...batch);
          continue;
        }
        for (const p of batch) this.takeWaiter(p.id)?.reject(err);
      }
    }
  }

  private unpark(): void {
    if (this.parked.length === 0 || this.lead === '') return;
    const list = this.parked.splice(0);
    for (const p of list) if (this.waiters.has(p.id)) this.proposeOrPark(p.id, p.data);
  }

  proposeConfChange(cc: ConfChange): Promise<void> {
    if (this.stopped) return Promise.reject(this.fatal ?? new ServerError('stopped'));
    return new Promise((resolve, reject) => {
      const key = confChangeWaiterKey(cc);
      // The same change asked for twice at once: one waiter settles both, at the end of the map
      // (expireWaiters relies on insertion order; set() on an existing key keeps its place).
      const prev = this.waiters.get(key);
      this.waiters.delete(key);
      const waiter: Waiter = {
        resolve: (v) => {
          prev?.resolve(v);
          resolve();
        },
        reject: (e) => {
          prev?.reject(e);
          reject(e);
        },
        deadline: performance.now() + requestTimeoutMs(this.opts.electionMs),
      };
      this.waiters.set(key, waiter);
      try {
        this.node.proposeConfChange(cc);
      } catch (err) {
        // Only this caller failed: an earlier identical change is in the log and may commit.
        this.waiters.delete(key);
        if (prev !== undefined) this.waiters.set(key, { resolve: prev.resolve, reject: prev.reject, deadline: waiter.deadline });
        reject(err instanceof ProposalDroppedError ? new ServerError(this.lead === '' ? 'noLeader' : 'timeout') : err);
        return;
      }
      this.schedule();
    });
  }

  /** Resolves once a local read reflects every write committed before the call (ReadIndex).
   *  Reads that arrive while one round is in flight share the next round. */
  linearizableBarrier(): Promise<void> {
    if (this.fatal !== undefined) return Promise.reject(this.fatal);
    if (this.stopped) return Promise.reject(new ServerError('stopped'));
    if (this.readWaiters.length >= PENDING_READS_MAX) return Promise.reject(new ServerError('tooManyRequests'));
    return new Promise((resolve, reject) => {
      this.readWaiters.push({ resolve, reject });
      this.startReadRound();
    });
  }

  /**
   * One ReadIndex round for every read waiting. Like etcd, the request is sent again while no
   * answer comes: every heartbeat until a leader is known, then every READ_INDEX_RETRY_MS (the
   * leader it went to may have stepped down or restarted, and dropped it), until the request
   * timeout. One timer per round, re-armed only while the round is slow.
   */
  private startReadRound(): void {
    if (this.readInFlight !== undefined || this.readWaiters.length === 0) return;
    const batch = this.readWaiters.splice(0, this.readWaiters.length);
    const ctx = this.nextId();
    const deadline = performance.now() + requestTimeoutMs(this.opts.electionMs);
    let askedAt = -Infinity;
    const ask = (now: number): void => {
      askedAt = now;
      this.node.readIndex(Buffer.from(ctx));
      this.schedule();
    };
    const nextTick = (now: number): number => Math.max(1, Math.min(this.lead === '' ? this.opts.heartbeatMs : READ_INDEX_RETRY_MS, deadline - now));
    const tick = (): void => {
      const r = this.readInFlight;
      if (r?.ctx !== ctx) return;
      const now = performance.now();
      if (this.stopped || now >= deadline) {
        this.readInFlight = undefined;
        // (etcd 3.4's read loop answers a read that timed out with "request timed out", leader or not.)
        const err = this.stopped ? (this.fatal ?? new ServerError('stopped')) : new ServerError('timeout');
        for (const w of batch) w.reject(err);
        // Stopped: the reads queued behind this round get no round of their own.
        if (this.stopped) for (const w of this.readWaiters.splice(0)) w.reject(err);
        else this.startReadRound();
        return;
      }
      if (this.lead !== '' && now - askedAt >= READ_INDEX_RETRY_MS) ask(now);
      r.timer = setTimeout(tick, nextTick(now));
    };
    const now = performance.now();
    this.readInFlight = { ctx, batch, timer: setTimeout(tick, nextTick(now)) };
    if (this.lead !== '') ask(now);
  }

  private readDone(ctx: string, index: number): void {
    const r = this.readInFlight;
    if (r === undefined || r.ctx !== ctx) return;
    clearTimeout(r.timer);
    this.readInFlight = undefined;
    this.waitApplied(index).then(() => {
      for (const w of r.batch) w.resolve();
    });
    this.startReadRound();
  }

  waitApplied(index: number): Promise<void> {
    if (this.appliedIndex >= index) return Promise.resolve();
    return new Promise((resolve) => this.appliedWaiters.push({ index, resolve }));
  }

  whenPublished(): Promise<void> {
    if (this.published) return Promise.resolve();
    return new Promise((resolve) => this.publishWaiters.push(resolve));
  }

  step(m: Message): void {
    if (this.stopped) return;
    this.node.step(m);
    this.schedule();
  }

  // ---- the Ready loop ------------------------------------------------------------------------

  schedule(): void {
    if (this.loopScheduled || this.stopped) return;
    this.loopScheduled = true;
    setImmediate(() => {
      this.loopScheduled = false;
      void this.runLoop();
    });
  }

  private async runLoop(): Promise<void> {
    if (this.loopRunning || this.stopped) return;
    this.loopRunning = true;
    try {
      while (!this.stopped) {
        this.flushProposals();
        if (!this.node.hasReady()) break;
        const rd = this.node.ready();
        await this.handleReady(rd);
        this.node.advance(rd);
      }
    } catch (err) {
      this.die(err as Error);
    } finally {
      this.loopRunning = false;
    }
  }

  /** WAL saves a member may have in flight while it goes on reading the log; past it the
   *  Ready loop waits for them (the WAL's own byte limit bounds memory too). */
  static readonly SAVES_IN_FLIGHT_MAX = 32;
  /** The latest WAL save issued (saves complete in issue order). */
  private lastSave: Promise<void> = Promise.resolve();
  /** The latest save that had to be durable (entries, term, vote): what a follower's messages
   *  wait for. A commit-only hard state write need not hold them up. */
  private lastSyncSave: Promise<void> = Promise.resolve();
  private savesInFlight = 0;

  private async handleReady(rd: Ready): Promise<void> {
    if (rd.softState !== undefined) this.onSoftState(rd.softState.lead, rd.softState.state);
    if (rd.hardState !== undefined) {
      this.term = rd.hardState.term;
      this.commitIndex = rd.hardState.commit;
    }
    if (rd.snapshot === undefined && !rd.committedEntries.some((e) => e.type === 'confChange')) {
      this.handlePipelinedReady(rd);
      if (this.savesInFlight > RaftMember.SAVES_IN_FLIGHT_MAX) await this.lastSave;
      if (rd.committedEntries.length > 0) await this.afterCommitted();
      return;
    }
    // The rare snapshot or membership Ready: strictly in order (persist, then apply), after every
    // pipelined save so far and a local snapshot's save.
    await this.lastSave;
    await this.snapshotSaving;
    await this.handleReadyInOrder(rd);
  }

  /**
   * No member waits for its disk before reading on (etcd 3.6's async storage writes): the WAL
   * write is issued and the entries go to raft's storage at once.
   * - A follower's messages (acknowledgements, votes) go out only once every durable save so
   *   far completed, so nothing unsynced is ever acknowledged.
   * - The leader sends its appends at once (its followers write in parallel) and counts its own
   *   copy toward commit only when the save completes (reportPersisted;
   *   leaderCountsSelfWhenPersisted in raft).
   * Committed entries are therefore durable on a quorum and are applied at once.
   */
  private handlePipelinedReady(rd: Ready): void {
    const isLeader = this.stateName === 'leader';
    const messages = coalesceAppends(this.withV3Snapshots(rd.messages));
    if (isLeader && messages.length > 0) {
      this.transport?.send(messages);
      // The Ready loop runs late in the event-loop turn (setImmediate); the transport's own
      // flush would wait for the next turn, and every put waits for the followers' disk writes
      // these appends start.
      this.transport?.flush();
    }
    if (rd.entries.length > 0 || rd.hardState !== undefined) {
      const sync = rd.mustSync && !this.opts.unsafeNoFsync;
      const t0 = performance.now();
      this.savesInFlight++;
      const last = rd.entries.length > 0 ? rd.entries[rd.entries.length - 1]! : undefined;
      this.lastSave = this.wal.save(rd.hardState, rd.entries, sync).then(
        () => {
          this.savesInFlight--;
          if (sync) this.metrics?.observeWalFsync((performance.now() - t0) / 1000);
          if (last !== undefined && !this.stopped) {
            this.node.reportPersisted(last.index, last.term);
            this.schedule();
          }
        },
        (err) => this.die(err as Error),
      );
      if (rd.entries.length > 0 || rd.mustSync) this.lastSyncSave = this.lastSave;
      if (rd.hardState !== undefined) this.storage.setHardState(rd.hardState);
      if (rd.entries.length > 0) this.storage.append(rd.entries as Entry[]);
    }
    if (!isLeader && messages.length > 0) {
      void this.lastSyncSave.then(() => {
        if (!this.stopped) this.transport?.send(messages);
      });
    }
    for (const rs of rd.readStates) this.readDone(Buffer.from(rs.context).toString(), rs.index);
    if (rd.committedEntries.length > 0) {
      for (const e of rd.committedEntries) this.applyEntry(e);
      this.afterApply();
    }
  }

  private async afterCommitted(): Promise<void> {
    this.metrics?.setProposalsCommitted(this.commitIndex);
    this.metrics?.setProposalsApplied(this.appliedIndex);
    const wait = this.commitBackend();
    if (wait !== undefined) await wait;
    this.maybeSnapshot();
  }

  private async handleReadyInOrder(rd: Ready): Promise<void> {
    const isLeader = this.stateName === 'leader';
    // The leader sends before its own fsync (etcd does): its disk write and the followers'
    // run in parallel; safety holds because the leader counts itself only once durable.
    const messages = coalesceAppends(this.withV3Snapshots(rd.messages));
    if (isLeader) this.transport?.send(messages);
    // Committed entries that are already durable here are applied before this Ready's own
    // disk write, so replies do not wait for an fsync that does not concern them (etcd applies
    // in parallel with the WAL write for the same reason).
    const committed = rd.committedEntries;
    let applied = 0;
    if (rd.snapshot === undefined && committed.length > 0) {
      const durableLast = rd.entries.length > 0 ? Math.min(this.storage.lastIndex(), rd.entries[0]!.index - 1) : this.storage.lastIndex();
      while (applied < committed.length && committed[applied]!.index <= durableLast) this.applyEntry(committed[applied++]!);
      if (applied > 0) this.afterApply();
    }
    if (rd.snapshot !== undefined) {
      await this.wal.saveSnapshot(rd.snapshot);
      this.storage.applySnapshot(rd.snapshot);
    }
    if (rd.entries.length > 0 || rd.mustSync) {
      const t0 = performance.now();
      // --unsafe-no-fsync (etcd's hidden flag): write, but never wait for the disk.
      await this.wal.save(rd.hardState, rd.entries, rd.mustSync && !this.opts.unsafeNoFsync);
      if (rd.mustSync) this.metrics?.observeWalFsync((performance.now() - t0) / 1000);
      if (rd.hardState !== undefined) this.storage.setHardState(rd.hardState);
      if (rd.entries.length > 0) {
        this.storage.append(rd.entries as Entry[]);
        const last = rd.entries[rd.entries.length - 1]!;
        this.node.reportPersisted(last.index, last.term);
      }
    } else if (rd.hardState !== undefined) {
      // Only the commit index moved: etcd does not sync that, and neither need we wait for the
      // write. The WAL keeps call order; a failure stops the member.
      this.lastSave = this.wal.save(rd.hardState, [], false).catch((err) => this.die(err as Error));
      this.storage.setHardState(rd.hardState);
    }
    if (!isLeader) this.transport?.send(messages);
    if (rd.snapshot !== undefined) await this.applySnapshot(rd.snapshot);
    for (const rs of rd.readStates) this.readDone(Buffer.from(rs.context).toString(), rs.index);
    if (applied < committed.length) {
      for (let i = applied; i < committed.length; i++) this.applyEntry(committed[i]!);
      this.afterApply();
    }
    if (committed.length > 0) await this.afterCommitted();
  }

  /** A snapshot sent to a follower carries the v3 state too (a local snapshot does not: the
   *  backend holds it). */
  private withV3Snapshots(messages: readonly Message[]): readonly Message[] {
    let out: Message[] | undefined;
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i]!;
      if (m.type !== 'MsgSnap') continue;
      out ??= [...messages];
      out[i] = { ...m, snapshot: { metadata: m.snapshot.metadata, data: StateMachine.withV3(m.snapshot.data, this.sm.v3) } };
    }
    return out ?? messages;
  }

  get strictReconfigCheck(): boolean {
    return this.opts.strictReconfigCheck;
  }

  pendingProposals(): number {
    return this.waiters.size;
  }

  private onSoftState(lead: NodeId, state: RaftStatus['state']): void {
    if (lead !== this.lead || (state === 'leader') !== (this.stateName === 'leader')) this.metrics?.onLeaderChange(lead, state === 'leader');
    if (lead !== this.lead) {
      if (lead !== '') {
        this.leaderChanges++;
        this.leaderSince = new Date();
        this.leadElectedAt = performance.now();
        this.log.info({ 'raft-term': this.term, leader: lead }, lead === this.id ? 'became leader' : 'elected leader');
      } else {
        this.log.info({ 'raft-term': this.term }, 'lost leader');
      }
      this.lead = lead;
    }
    if (state !== this.stateName) {
      const wasLeader = this.stateName === 'leader';
      this.stateName = state;
      if (state === 'leader') this.onBecameLeader();
      else if (wasLeader) this.sm.v3.lessor.demote();
    }
    if (lead !== '' && this.readInFlight !== undefined) this.schedule();
    if (lead !== '') setImmediate(() => this.unpark());
    if (lead !== '' && !this.published) this.publish();
  }

  private onBecameLeader(): void {
    // Leases expire on the leader only; a new leader gives every lease its remaining TTL plus an
    // election timeout, so no lease dies for the election itself (etcd's Promote).
    this.sm.v3.lessor.promote(nowMs(), this.opts.electionMs);
    if (this.sm.membership.clusterVersion === '') {
      this.propose((id) => ({ t: 'clusterVersion', id, version: '3.4.0' })).then(
        () => this.log.info({ 'cluster-version': '3.4' }, 'set initial cluster version'),
        () => undefined,
      );
    }
  }

  private publishing = false;
  private publish(): void {
    if (this.publishing || this.published) return;
    this.publishing = true;
    const attempt = (): void => {
      if (this.stopped) return;
      this.propose((id) => ({ t: 'publish', id, memberId: this.id, attrs: { name: this.opts.name, clientUrls: [...this.opts.clientUrls] } })).then(
        () => {
          this.publishing = false;
          this.published = true;
          this.log.info(
            { 'local-member-id': this.id, 'local-member-attributes': `{Name:${this.opts.name} ClientURLs:[${this.opts.clientUrls.join(' ')}]}`, 'cluster-id': this.sm.membership.clusterId },
            'published local member to cluster through raft',
          );
          for (const w of this.publishWaiters.splice(0)) w();
        },
        (err) => {
          this.log.warn({ error: String(err) }, 'failed to publish local member to cluster through raft');
          setTimeout(attempt, this.opts.heartbeatMs * 5);
        },
      );
    };
    attempt();
  }

  private applyEntry(e: Entry): void {
    if (e.index <= this.appliedIndex) return;
    const v3 = this.sm.v3;
    // The v3 backend may already hold this entry's effects (it is committed ahead of snapshots,
    // and a restart replays the WAL from the snapshot): apply v3 commands only past it.
    const v3Fresh = e.index > v3.consistentIndex();
    if (e.type === 'confChange') {
      this.applyConfChange(decodeConfChange(e.data));
    } else if (e.data.length > 0) {
      const cmd = decodeCommand(e.data);
      if (cmd.t === 'memberUpdate' && cmd.memberId !== this.id) this.transport?.updatePeer(cmd.memberId, [...cmd.peerUrls]);
      let result: unknown;
      let error: unknown;
      if (cmd.t !== 'v3' || v3Fresh) {
        try {
          result = this.sm.apply(cmd);
        } catch (err) {
          // The other members applied this entry; one that could not read its own store would
          // go on with a different state.
          if (err instanceof MvccReadError) return this.die(err);
          error = err;
        }
      }
      const w = this.takeWaiter(cmd.id);
      if (w !== undefined) {
        if (error !== undefined) w.reject(error);
        else w.resolve(result);
      }
    }
    if (v3Fresh) v3.backend.setConsistentIndex(e.index, e.term);
    this.appliedIndex = e.index;
    this.logBytesSinceSnapshot += e.data.length + ENTRY_OVERHEAD_BYTES;
  }

  private applyConfChange(cc: ConfChange): void {
    const ms = this.sm.membership;
    const ctx = decodeContext(cc.context);
    this.confState = this.node.applyConfChange(cc);
    switch (cc.type) {
      case 'addNode':
      case 'addLearner': {
        const existing = ms.get(cc.nodeId);
        if (existing !== undefined) {
          if (cc.type === 'addNode') ms.promote(cc.nodeId);
        } else if (!ms.isRemoved(cc.nodeId)) {
          ms.add({ id: cc.nodeId, name: ctx.name, peerUrls: [...ctx.peerUrls], clientUrls: [], isLearner: cc.type === 'addLearner' });
        }
        if (cc.nodeId !== this.id) this.transport?.addPeer(cc.nodeId, [...(ms.get(cc.nodeId)?.peerUrls ?? ctx.peerUrls)]);
        break;
      }
      case 'removeNode':
        ms.remove(cc.nodeId);
        if (cc.nodeId === this.id) {
          this.log.warn({ 'local-member-id': this.id }, 'the local member has been permanently removed from the cluster');
          setImmediate(() => this.onRemoved());
        } else {
          this.transport?.removePeer(cc.nodeId);
        }
        break;
      default: {
        const never: never = cc.type;
        throw new Error(`unknown conf change ${String(never)}`);
      }
    }
    this.takeWaiter(confChangeWaiterKey(cc))?.resolve(undefined);
  }

  /** The waiter of a proposal, removed, for settling; undefined if it timed out or was never
   *  made here. */
  private takeWaiter(id: string): Waiter | undefined {
    const w = this.waiters.get(id);
    if (w === undefined) return undefined;
    this.waiters.delete(id);
    return w;
  }

  /** A peer URL update goes through the log (not a raft conf change: raft does not know URLs),
   *  so every member dials the new address from the same log position. */
  updatePeerUrls(id: string, peerUrls: string[]): Promise<unknown> {
    return this.propose((rid) => ({ t: 'memberUpdate', id: rid, memberId: id, peerUrls }));
  }

  private async applySnapshot(snap: Snapshot): Promise<void> {
    if (snap.metadata.index <= this.appliedIndex) return;
    // Watchers of the old store end (the v2 API answers 400 "watcher is cleared due to etcd
    // recovery"), as in etcd.
    this.sm.v2.removeAllWatchers();
    const { sm, v3Data } = StateMachine.recover(snap.data, nowMs, this.sm.v3);
    // The v3 part was added by the sender at its consistent index (>= the snapshot's index);
    // entries up to that index are then skipped for v3 (see applyEntry).
    if (v3Data !== undefined) await this.sm.v3.restore(v3Data);
    this.sm = sm;
    this.confState = snap.metadata.confState;
    this.appliedIndex = snap.metadata.index;
    this.snapshotTaken(snap);
    for (const m of this.sm.membership.list()) if (m.id !== this.id) this.transport?.addPeer(m.id, m.peerUrls);
    this.log.info({ 'snapshot-index': snap.metadata.index }, 'applied incoming snapshot');
    this.afterApply();
  }

  /** Pending: the timer that writes the backend's staged batch (see commitBackend). */
  private backendTimer: NodeJS.Timeout | undefined;

  /** Commits the v3 backend's staged writes without holding up the Ready loop (the WAL already
   *  has the entries; the backend coalesces batches). Like etcd's backend (--backend-batch-interval
   *  100 ms, --backend-batch-limit 10000), writes are batched over BACKEND_BATCH_INTERVAL_MS, or
   *  written at once past BACKEND_BATCH_LIMIT_OPS: a level write per apply round cost every member
   *  CPU at each round. Only when a burst has staged more than BACKEND_BATCH_OPS_MAX writes does
   *  the loop wait, to bound memory. */
  private commitBackend(): Promise<void> | undefined {
    const be = this.sm.v3.backend;
    // Nothing staged (v2 writes, v3 requests that changed nothing): the backend is unchanged, so
    // its persisted consistent index may stay behind. Every entry after it then had no effect
    // on the backend, and replaying it after a restart has none either; the next batch with
    // changes carries the current index, and a snapshot commits it durably (maybeSnapshot), so
    // at boot the index is never behind the snapshot.
    if (be.stagedOps() === 0) return undefined;
    if (be.stagedOps() < BACKEND_BATCH_LIMIT_OPS) {
      // Staged writes are served from memory meanwhile (values the backend lacks stay held) and
      // a crash loses nothing: the WAL holds every entry past the persisted consistent index.
      this.backendTimer ??= setTimeout(() => {
        this.backendTimer = undefined;
        if (!this.stopped) void this.writeBackend();
      }, BACKEND_BATCH_INTERVAL_MS);
      return undefined;
    }
    return this.writeBackend();
  }

  private writeBackend(): Promise<void> | undefined {
    const be = this.sm.v3.backend;
    clearTimeout(this.backendTimer);
    this.backendTimer = undefined;
    // (A snapshot or a physical compaction may have committed everything meanwhile.)
    if (be.stagedOps() === 0) return undefined;
    const backlog = be.stagedOps() > BACKEND_BATCH_OPS_MAX;
    const t0 = performance.now();
    const p = be.commit().then(
      () => this.metrics?.observeBackendCommit((performance.now() - t0) / 1000),
      (err) => this.die(err as Error),
    );
    return backlog ? p : undefined;
  }

  private afterApply(): void {
    if (this.appliedWaiters.length > 0) {
      let keep = 0;
      for (let i = 0; i < this.appliedWaiters.length; i++) {
        const w = this.appliedWaiters[i]!;
        if (w.index <= this.appliedIndex) w.resolve();
        else this.appliedWaiters[keep++] = w;
      }
      this.appliedWaiters.length = keep;
    }
    this.onApplied?.();
  }

  /** The latest snapshot (saved here or installed from the leader): what maybeSnapshot counts
   *  from. */
  private snapshotTaken(snap: Snapshot): void {
    this.snapshotIndex = snap.metadata.index;
    this.logBytesSinceSnapshot = 0;
    this.snapshotDataBytes = snap.data.length;
  }

  /** A local snapshot being made durable, beside the Ready loop (see maybeSnapshot). */
  private snapshotSaving: Promise<void> | undefined;

  /**
   * Past --snapshot-count entries (or the log bytes limit) since the last snapshot, takes one at
   * the applied index. The state is captured at once; making it durable (the backend's synced
   * commit, the snapshot file and its WAL marker, then compacting the log and releasing old WAL
   * segments) takes tens of milliseconds of disk and runs while the Ready loop goes on, as etcd
   * saves its snapshots from a goroutine: awaiting it there held every proposal and every
   * acknowledgement up (9-65 ms per snapshot measured under put load, every few seconds).
   * What keeps this safe: the backend commits its batches one at a time, each recording the
   * consistent index of the writes it carries, so the synced one is at or past the snapshot;
   * the WAL keeps call order, so every hard state saved before the marker is in the log before
   * it; nothing is released before the marker is synced. A Ready that installs a snapshot or
   * changes the membership, and stop(), first wait for a save in progress; no second snapshot
   * starts before the first is durable.
   */
  private maybeSnapshot(): void {
    if (this.snapshotSaving !== undefined) return;
    const logBytesMax = Math.max(SNAPSHOT_LOG_BYTES, SNAPSHOT_LOG_BYTES_PER_DATA_BYTE * this.snapshotDataBytes);
    if (this.appliedIndex - this.snapshotIndex < this.opts.snapshotCount && this.logBytesSinceSnapshot < logBytesMax) return;
    const index = this.appliedIndex;
    const snap = this.storage.createSnapshot(index, this.confState, this.sm.save());
    this.snapshotTaken(snap);
    const t0 = performance.now();
    this.snapshotSaving = this.saveSnapshot(snap)
      .then(
        () => this.log.info({ 'snapshot-index': index, 'took-ms': Math.round(performance.now() - t0) }, 'saved snapshot'),
        (err) => {
          if (!this.stopped) this.die(err as Error);
        },
      )
      .finally(() => {
        this.snapshotSaving = undefined;
      });
  }

  private async saveSnapshot(snap: Snapshot): Promise<void> {
    const index = snap.metadata.index;
    // The backend first, synced, with its consistent index (>= index): once the snapshot is
    // saved, the entries up to it are never replayed into the backend again (etcd commits its
    // backend before a snapshot for the same reason).
    await this.sm.v3.backend.commitDurable();
    await this.wal.saveSnapshot(snap);
    const compactTo = this.storage.catchUpStart(index, SNAPSHOT_CATCH_UP_ENTRIES, SNAPSHOT_LOG_BYTES) - 1;
    if (compactTo > this.storage.firstIndex()) this.storage.compact(compactTo);
    await this.wal.release(index);
  }

  /** --quota-backend-bytes: past it this member raises NOSPACE through the log, and writes that
   *  grow the store are refused until compaction, defragmentation and `alarm disarm`. */
  private async checkQuota(): Promise<void> {
    const quota = this.opts.quotaBackendBytes;
    if (quota < 0 || this.quotaChecking || this.lead === '') return;
    const v3 = this.sm.v3;
    if (v3.alarms.has(`${this.id}/NOSPACE`)) return;
    this.quotaChecking = true;
    try {
      const size = await v3.backend.sizeBytes();
      if (size > (quota === 0 ? DEFAULT_QUOTA_BACKEND_BYTES : quota)) {
        this.log.warn({ 'quota-size-bytes': quota, 'db-size-bytes': size }, 'database space exceeded; raising NOSPACE alarm');
        await this.propose((rid) => ({ t: 'v3', id: rid, req: { op: 'alarm', action: 'ACTIVATE', memberId: this.id, alarm: 'NOSPACE' } }));
      }
    } catch {
      // retried on the next round
    } finally {
      this.quotaChecking = false;
    }
  }

  /** Leases revoked per round by the leader (etcd: leaseRevokeRate 1000/s). */
  static readonly LEASE_REVOKES_PER_ROUND_MAX = 500;

  private revokeExpiredLeases(): void {
    if (this.stateName !== 'leader') return;
    for (const id of this.sm.v3.lessor.expired(nowMs(), RaftMember.LEASE_REVOKES_PER_ROUND_MAX)) {
      this.propose((rid) => ({ t: 'v3', id: rid, req: { op: 'leaseRevoke', id } })).catch(() => undefined);
    }
  }

  private maybeSync(): void {
    if (this.stateName !== 'leader') return;
    const next = this.sm.v2.nextExpirationMs();
    const now = nowMs();
    if (next === undefined || next > now) return;
    this.propose((id) => ({ t: 'v2', id, req: { method: 'SYNC', path: '/', timeMs: now } })).catch(() => undefined);
  }

  // ---- status and shutdown ----------------------------------------------------------------

  isLeader(): boolean {
    return this.stateName === 'leader';
  }

  state(): RaftStatus['state'] {
    return this.stateName;
  }

  members(): Member[] {
    return this.sm.membership.list();
  }

  /** On SIGTERM a leader hands leadership to the most up-to-date follower first (etcd does), so
   *  a rolling restart costs no election timeout. Bounded by one election timeout. */
  async transferLeadershipBeforeStop(): Promise<void> {
    if (this.stateName !== 'leader') return;
    const st = this.node.status();
    let best: string | undefined;
    let bestMatch = -1;
    for (const [id, p] of Object.entries(st.progress ?? {})) {
      if (id === this.id || this.confState.learners.includes(id)) continue;
      if (p.match > bestMatch) {
        best = id;
        bestMatch = p.match;
      }
    }
    if (best === undefined) return;
    this.log.info({ 'local-member-id': this.id, 'transferee-id': best }, 'leadership transfer starting');
    this.node.transferLeader(best);
    this.schedule();
    const deadline = Date.now() + this.opts.electionMs * 2;
    while (Date.now() < deadline && this.lead === this.id) await new Promise((r) => setTimeout(r, this.opts.heartbeatMs / 2));
    this.log.info({ 'local-member-id': this.id, 'new-leader': this.lead }, this.lead !== this.id ? 'leadership transfer finished' : 'leadership transfer failed');
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.tickTimer);
    clearInterval(this.syncTimer);
    clearInterval(this.progressTimer);
    for (const [, w] of this.waiters) w.reject(new ServerError('stopped'));
    this.waiters.clear();
    while (this.loopRunning) await new Promise((r) => setTimeout(r, 5));
    clearTimeout(this.backendTimer);
    await this.snapshotSaving;
    await this.wal.close();
    await this.sm.v3.backend.commit().catch(() => undefined);
    await this.sm.v3.close();
  }

  /** Disk or invariant failure: stop taking writes with a clear error rather than acknowledge
   *  what is not durable. */
  private die(err: Error): void {
    this.fatal = err;
    this.log.fatal({ error: err.message, stack: err.stack }, 'member stopped: unrecoverable error');
    for (const [, w] of this.waiters) w.reject(err);
    this.waiters.clear();
    this.stopped = true;
    clearInterval(this.tickTimer);
    clearInterval(this.syncTimer);
    clearTimeout(this.backendTimer);
    setImmediate(() => process.exit(1));
  }
}

export { encodeContext };

/**
 * Drops a commit-only MsgApp (no entries) when the same batch holds another MsgApp to that peer
 * in the same term, carrying the higher of the two commit indexes on the one kept. Under load a
 * leader's Ready often has both (new proposals, and a commit that an ack just advanced): the
 * follower then gets one message and sends one ack instead of two. Safe as raft goes: the kept
 * message is one the leader could have sent had its commit advanced first (a follower commits
 * min(commit, last new index)), and the dropped one is only a message lost.
 */
export function coalesceAppends(messages: readonly Message[]): readonly Message[] {
  let apps = 0;
  for (const m of messages) if (m.type === 'MsgApp') apps++;
  if (apps < 2) return messages;
  // Per peer: the index in `out` of its latest MsgApp, while nothing else went to that peer
  // after it (messages to one peer keep their order).
  const kept = new Map<string, number>();
  const out: Message[] = [];
  for (const m of messages) {
    if (m.type !== 'MsgApp') {
      kept.delete(m.to);
      out.push(m);
      continue;
    }
    const at = kept.get(m.to);
    const prev = at === undefined ? undefined : (out[at] as MsgApp);
    if (prev !== undefined && prev.term === m.term && m.entries.length === 0) {
      if (m.commit > prev.commit) out[at!] = { ...prev, commit: m.commit };
    } else if (prev !== undefined && prev.term === m.term && prev.entries.length === 0) {
      // The earlier one was commit-only: this one takes its place.
      out[at!] = m.commit >= prev.commit ? m : { ...m, commit: prev.commit };
    } else {
      kept.set(m.to, out.length);
      out.push(m);
    }
  }
  return out.length === messages.length ? messages : out;
}
