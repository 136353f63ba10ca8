// A whole Raft cluster in one process, driven by a seeded scheduler. One step is one action
// (tick a node, deliver a message, drop, partition, crash, propose, ...); after it, every node
// the action touched drains its Ready in the documented order (persist, send, apply, advance)
// and the checkers look at what changed. The run is a pure function of its options.
import { RawNode } from '../../src/raft/raw-node.js';
import { MemoryStorage } from '../../src/raft/storage.js';
import { decodeConfChange, encodeConfChange } from '../../src/raft/confchange.js';
import { ProposalDroppedError } from '../../src/raft/api.js';
import type { RaftConfig, Ready } from '../../src/raft/api.js';
import type { Message } from '../../src/raft/message.js';
import type { ConfChange, ConfState, Entry, HardState, NodeId, Snapshot, StateType } from '../../src/raft/types.js';
import { Checker, InvariantViolation } from './checker.js';
import type { LogView } from './checker.js';
import { Network } from './network.js';
import type { InFlight } from './network.js';
import { Prng, derive, hashBytes, mixHash } from './prng.js';

export type Bug = 'voteIgnoresLog' | 'commitPreviousTermByCounting';
export type Profile = 'default' | 'adversarial';

export interface SimOptions {
  readonly seed: number;
  readonly nodes: number;
  readonly steps: number;
  readonly bug?: Bug;
  /** 'adversarial' favours crashes and partitions (used to hunt planted bugs). */
  readonly profile?: Profile;
  /** Keep a human-readable log of every action (replay prints it). */
  readonly trace?: boolean;
  /** Skip the final heal phase and its liveness assertion. */
  readonly skipLiveness?: boolean;
}

export interface SimStats {
  steps: number;
  ticks: number;
  delivered: number;
  dropped: number;
  leaders: number;
  maxTerm: number;
  proposed: number;
  applied: number;
  reads: number;
  readsChecked: number;
  confChanges: number;
  transfers: number;
  crashes: number;
  snapshotsCreated: number;
  snapshotsInstalled: number;
  partitions: number;
  healTicksToLeader: number;
  healTicksToCommit: number;
}

export interface SimResult {
  readonly ok: boolean;
  readonly violation?: InvariantViolation;
  /** A non-invariant failure (an exception thrown by raft or by the harness). */
  readonly error?: Error;
  readonly stats: SimStats;
  readonly trace: readonly string[];
}

const ELECTION_TICK = 10;
const HEARTBEAT_TICK = 2;
/** Ids beyond the initial members that conf changes may add. */
const SPARE_IDS = 2;
/** Voters are never removed below this count, so the heal phase can always form a quorum. */
const MIN_VOTERS = 3;
/** A Ready drain that does not settle within this many rounds is a bug (raft or harness). */
const READY_ROUNDS_MAX = 100;

export function nodeIdOf(i: number): NodeId {
  return (i + 1).toString(16).padStart(16, '0');
}

function shortId(id: NodeId): string {
  return id.replace(/^0+/, '') || '0';
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** The application state: a running fingerprint of every normal entry applied. */
function encodeAppState(hash: number, count: number): Uint8Array {
  const b = new Uint8Array(8);
  const v = new DataView(b.buffer);
  v.setUint32(0, hash);
  v.setUint32(4, count);
  return b;
}

function decodeAppState(data: Uint8Array): { hash: number; count: number } {
  if (data.length === 0) return { hash: 0, count: 0 };
  if (data.length !== 8) throw new Error(`snapshot data of ${data.length} bytes`);
  const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
  return { hash: v.getUint32(0), count: v.getUint32(4) };
}

export function entryHash(e: Entry): number {
  return mixHash(e.type === 'confChange' ? 1 : 0, hashBytes(e.data));
}

/** What survives a crash: the WAL (hard state + entries) and the last snapshot. */
class Disk implements LogView {
  snapshot: Snapshot;
  hardState: HardState = { term: 0, vote: '', commit: 0 };
  /** entries[k].index === dummyIndex + 1 + k. */
  dummyIndex = 0;
  dummyTerm = 0;
  entries: Entry[] = [];

  constructor(confState: ConfState) {
    this.snapshot = { metadata: { index: 0, term: 0, confState }, data: new Uint8Array(0) };
  }

  get snapshotIndex(): number {
    return this.dummyIndex;
  }

  get lastIndex(): number {
    return this.dummyIndex + this.entries.length;
  }

  /** Term at i, or -1 when i is outside what the disk holds. */
  termAt(i: number): number {
    if (i === this.dummyIndex) return this.dummyTerm;
    const e = this.entries[i - this.dummyIndex - 1];
    return e === undefined ? -1 : e.term;
  }

  hashAt(i: number): number {
    const e = this.entries[i - this.dummyIndex - 1];
    return e === undefined ? -1 : entryHash(e);
  }

  /** Append as a WAL does: a conflicting suffix is replaced. */
  append(ents: readonly Entry[]): void {
    const first = ents[0]!.index;
    if (first > this.lastIndex + 1) throw new Error(`disk: append at ${first} leaves a gap after ${this.lastIndex}`);
    // Entries at or below the compaction point are already covered by the snapshot.
    const skip = Math.max(0, this.dummyIndex + 1 - first);
    if (skip >= ents.length) return;
    this.entries.length = first + skip - this.dummyIndex - 1;
    for (let k = skip; k < ents.length; k++) this.entries.push(ents[k]!);
  }

  installSnapshot(snap: Snapshot): void {
    this.snapshot = snap;
    this.dummyIndex = snap.metadata.index;
    this.dummyTerm = snap.metadata.term;
    this.entries = [];
  }

  compact(index: number): void {
    if (index <= this.dummyIndex) return;
    const t = this.termAt(index);
    if (t < 0) throw new Error(`disk: compact at ${index} outside the log`);
    this.entries = this.entries.slice(index - this.dummyIndex);
    this.dummyIndex = index;
    this.dummyTerm = t;
  }
}

class SimNode {
  raw: RawNode | null = null;
  storage: MemoryStorage | null = null;
  /** Bumped at every restart; a message carries its sender's epoch. */
  epoch = 0;
  state: StateType = 'follower';
  lead: NodeId = '';
  appliedIndex = 0;
  appliedHash = 0;
  appliedCount = 0;
  /** The configuration as of appliedIndex (what a snapshot taken now must carry). */
  confState: ConfState;
  readonly disk: Disk;
  readonly rng: Prng;

  constructor(readonly id: NodeId, initial: ConfState, seed: number) {
    this.disk = new Disk(initial);
    this.confState = initial;
    this.rng = derive(seed, `node-${id}`);
  }

  get up(): boolean {
    return this.raw !== null;
  }
}

function isMember(cs: ConfState, id: NodeId): boolean {
  return cs.voters.includes(id) || cs.learners.includes(id);
}

/** The application's own check of a conf change at apply time (etcd's
 *  ValidateConfigurationChange): a change that no longer makes sense is not applied. */
function confChangeValid(cs: ConfState, cc: ConfChange): boolean {
  switch (cc.type) {
    case 'addNode':
      return !cs.voters.includes(cc.nodeId);
    case 'addLearner':
      return !isMember(cs, cc.nodeId);
    case 'removeNode':
      if (cs.learners.includes(cc.nodeId)) return true;
      return cs.voters.includes(cc.nodeId) && cs.voters.length > MIN_VOTERS;
    default: {
      const never: never = cc.type;
      throw new Error(`unknown conf change ${String(never)}`);
    }
  }
}

export class Cluster {
  readonly nodes = new Map<NodeId, SimNode>();
  readonly ids: NodeId[] = [];
  readonly net: Network;
  readonly checker = new Checker();
  readonly rng: Prng;
  readonly initial: ConfState;
  readonly stats: SimStats = {
    steps: 0, ticks: 0, delivered: 0, dropped: 0, leaders: 0, maxTerm: 0, proposed: 0, applied: 0,
    reads: 0, readsChecked: 0, confChanges: 0, transfers: 0, crashes: 0, snapshotsCreated: 0,
    snapshotsInstalled: 0, partitions: 0, healTicksToLeader: 0, healTicksToCommit: 0,
  };
  readonly trace: string[] = [];
  private readonly preVote: boolean;
  private readonly checkQuorum: boolean;
  private readonly maxSizePerMsg: number;
  private readonly maxInflightMsgs: number;
  private seq = 0;
  private readonly dirty = new Set<SimNode>();

  constructor(readonly opts: SimOptions) {
    this.rng = derive(opts.seed, 'scheduler');
    this.net = new Network(derive(opts.seed, 'network'));
    const voters: NodeId[] = [];
    for (let i = 0; i < opts.nodes; i++) voters.push(nodeIdOf(i));
    for (let i = 0; i < opts.nodes + SPARE_IDS; i++) this.ids.push(nodeIdOf(i));
    this.initial = { voters, learners: [] };
    const cfg = derive(opts.seed, 'config');
    // Bug hunts keep pre-vote off: the planted bugs are in the vote/commit rules themselves.
    this.preVote = opts.bug === undefined ? cfg.chance(0.6) : cfg.chance(0.3);
    this.checkQuorum = cfg.chance(0.6);
    this.net.lossRate = cfg.chance(0.5) ? cfg.next() * 0.05 : 0;
    // A tiny byte limit sends one entry per MsgApp, so followers catch up entry by entry.
    this.maxSizePerMsg = opts.profile === 'adversarial' && cfg.chance(0.5) ? 1 : cfg.pick([1, 64, 256, 4096]);
    this.maxInflightMsgs = cfg.pick([1, 4, 64]);
    for (const id of voters) this.start(this.addNode(id));
  }

  private log(s: string): void {
    if (this.opts.trace) this.trace.push(`[${this.stats.steps}] ${s}`);
  }

  private addNode(id: NodeId): SimNode {
    const n = new SimNode(id, this.initial, this.opts.seed);
    this.nodes.set(id, n);
    return n;
  }

  /** Start (or restart) a node from its disk: a new MemoryStorage and a new RawNode whose applied
   *  index is the snapshot's; the application state comes back from the snapshot, and raft hands
   *  out the committed entries after it again. */
  private start(n: SimNode): void {
    const d = n.disk;
    const snap = d.snapshot;
    const storage = new MemoryStorage(this.initial);
    if (snap.metadata.index > 0) storage.applySnapshot(snap);
    // Entries between an older compaction point and the snapshot are not needed any more.
    if (d.dummyIndex < snap.metadata.index) d.compact(snap.metadata.index);
    if (d.entries.length > 0) storage.append(d.entries);
    storage.setHardState(d.hardState);
    const app = decodeAppState(snap.data);
    n.appliedIndex = snap.metadata.index;
    n.appliedHash = app.hash;
    n.appliedCount = app.count;
    n.confState = snap.metadata.confState;
    n.state = 'follower';
    n.lead = '';
    n.epoch++;
    const rng = n.rng;
    const config: RaftConfig = {
      id: n.id,
      electionTick: ELECTION_TICK,
      heartbeatTick: HEARTBEAT_TICK,
      storage,
      applied: snap.metadata.index,
      maxSizePerMsg: this.maxSizePerMsg,
      maxInflightMsgs: this.maxInflightMsgs,
      checkQuorum: this.checkQuorum,
      preVote: this.preVote,
      random: () => rng.next(),
      testingBugs: this.opts.bug === undefined ? undefined : { [this.opts.bug]: true },
    };
    n.storage = storage;
    n.raw = new RawNode(config);
    this.dirty.add(n);
  }

  private crash(n: SimNode): void {
    n.raw = null;
    n.storage = null;
    n.state = 'follower';
    n.lead = '';
    this.stats.crashes++;
  }

  private liveNodes(): SimNode[] {
    const out: SimNode[] = [];
    for (const n of this.nodes.values()) if (n.up) out.push(n);
    return out;
  }

  private leaders(): SimNode[] {
    const out: SimNode[] = [];
    for (const n of this.nodes.values()) if (n.up && n.state === 'leader') out.push(n);
    return out;
  }

  // ---- the Ready loop -------------------------------------------------------------------

  private drainAll(): void {
    for (let round = 0; this.dirty.size > 0; round++) {
      if (round > READY_ROUNDS_MAX) throw new Error('Ready did not settle');
      const batch = [...this.dirty];
      this.dirty.clear();
      for (const n of batch) this.drain(n);
    }
  }

  private drain(n: SimNode): void {
    for (let i = 0; n.raw !== null && n.raw.hasReady(); i++) {
      if (i > READY_ROUNDS_MAX) throw new Error(`node ${n.id}: hasReady() stays true`);
      const raw: RawNode = n.raw;
      const rd = raw.ready();
      this.handleReady(n, raw, rd);
    }
  }

  private handleReady(n: SimNode, raw: RawNode, rd: Ready): void {
    const storage = n.storage!;
    // 1. persist: snapshot, entries, hard state (the disk is what survives a crash).
    if (rd.snapshot !== undefined && rd.snapshot.metadata.index > 0) {
      n.disk.installSnapshot(rd.snapshot);
      storage.applySnapshot(rd.snapshot);
    }
    if (rd.entries.length > 0) {
      const prevTermOf = (e: Entry): number => n.disk.termAt(e.index - 1);
      n.disk.append(rd.entries);
      storage.append(rd.entries);
      for (const e of rd.entries) if (e.index > n.disk.dummyIndex) this.checker.onAppend(n.id, { index: e.index, term: e.term, hash: entryHash(e) }, prevTermOf(e));
    }
    if (rd.hardState !== undefined) {
      n.disk.hardState = rd.hardState;
      storage.setHardState(rd.hardState);
      this.checker.onCommit(rd.hardState.commit);
      if (rd.hardState.term > this.stats.maxTerm) this.stats.maxTerm = rd.hardState.term;
    }
    if (rd.softState !== undefined) {
      const was = n.state;
      n.state = rd.softState.state;
      n.lead = rd.softState.lead;
      if (n.state === 'leader' && was !== 'leader') {
        const term = raw.status().term;
        this.stats.leaders++;
        this.log(`${shortId(n.id)} becomes leader of term ${term}`);
        this.checker.onLeader(n.id, term, n.disk);
      }
    }
    // 2. send.
    for (const m of rd.messages) this.send(n, m);
    // 3. apply.
    if (rd.snapshot !== undefined && rd.snapshot.metadata.index > 0) {
      const snap = rd.snapshot;
      const app = decodeAppState(snap.data);
      n.appliedIndex = snap.metadata.index;
      n.appliedHash = app.hash;
      n.appliedCount = app.count;
      n.confState = snap.metadata.confState;
      this.stats.snapshotsInstalled++;
      this.log(`${shortId(n.id)} installs snapshot at ${snap.metadata.index}`);
      this.checker.onStateAt(n.id, snap.metadata.index, app.hash);
    }
    for (const e of rd.committedEntries) this.apply(n, raw, e);
    for (const rs of rd.readStates) this.checker.onReadState(n.id, dec.decode(rs.context), rs.index);
    raw.advance(rd);
  }

  private apply(n: SimNode, raw: RawNode, e: Entry): void {
    if (e.index !== n.appliedIndex + 1) {
      throw new InvariantViolation('stateMachineSafety', `node ${n.id} applies index ${e.index} after ${n.appliedIndex}`);
    }
    this.checker.onApply(n.id, { index: e.index, term: e.term, hash: entryHash(e) });
    if (e.type === 'normal') {
      if (e.data.length > 0) {
        const h = hashBytes(e.data);
        if (this.healHash !== 0 && h === this.healHash) this.healApplied.add(n.id);
        n.appliedHash = mixHash(mixHash(n.appliedHash, e.index), h);
        n.appliedCount++;
        this.stats.applied++;
      }
    } else {
      const cc = decodeConfChange(e.data);
      if (confChangeValid(n.confState, cc)) {
        n.confState = raw.applyConfChange(cc);
        this.log(`${shortId(n.id)} applies ${cc.type} ${shortId(cc.nodeId)} at ${e.index}: voters ${n.confState.voters.map(shortId)} learners ${n.confState.learners.map(shortId)}`);
      } else {
        // Applied as a no-op, as etcd does when the member change is no longer valid.
        n.confState = raw.applyConfChange({ type: 'removeNode', nodeId: '', context: new Uint8Array(0) });
      }
    }
    n.appliedIndex = e.index;
    this.checker.onStateAt(n.id, e.index, n.appliedHash);
  }

  // ---- the network --------------------------------------------------------------------

  private send(from: SimNode, m: Message): void {
    this.net.send(m, from.epoch, (f) => this.lost(f));
  }

  /** A message that will never arrive: a snapshot send is reported failed, as etcd's transport does. */
  private lost(f: InFlight): void {
    if (f.msg.type !== 'MsgSnap') return;
    const sender = this.nodes.get(f.msg.from);
    if (sender !== undefined && sender.raw !== null && sender.epoch === f.senderEpoch) {
      sender.raw.reportSnapshot(f.msg.to, true);
      this.dirty.add(sender);
    }
  }

  private deliver(f: InFlight): void {
    const m = f.msg;
    const to = this.nodes.get(m.to);
    if (to === undefined || to.raw === null || this.net.isCut(m.from, m.to)) {
      this.stats.dropped++;
      this.lost(f);
      return;
    }
    this.stats.delivered++;
    to.raw.step(m);
    this.dirty.add(to);
    if (m.type === 'MsgSnap') {
      const sender = this.nodes.get(m.from);
      if (sender !== undefined && sender.raw !== null && sender.epoch === f.senderEpoch) {
        sender.raw.reportSnapshot(m.to, false);
        this.dirty.add(sender);
      }
    }
  }

  // ---- scheduler actions ----------------------------------------------------------------

  /** Weights of: tick, deliver, drop, duplicate, partition, one-way cut, heal, crash, restart,
   *  propose, conf change, transfer leader, read index, snapshot+compact. */
  private weights(): number[] {
    const backlog = Math.min(this.net.pool.length, 100);
    // Faults are episodes: breaking is rarer than healing, so the cluster spends most steps
    // able to make progress and the invariants are exercised on real traffic.
    if (this.opts.profile === 'adversarial') {
      return [25, 30 + backlog, 1, 1, 4, 1, 4, 1.5, 3, 12, 0.3, 0.5, 2, 1];
    }
    return [25, 30 + backlog, 1, 1, 0.4, 0.4, 1, 0.5, 1.5, 8, 0.7, 0.5, 3, 1];
  }

  step(): void {
    this.stats.steps++;
    const action = this.rng.weighted(this.weights());
    switch (action) {
      case 0: this.actTick(); break;
      case 1: this.actDeliver(); break;
      case 2: { const f = this.net.dropRandom(); if (f !== undefined) { this.stats.dropped++; this.lost(f); } break; }
      case 3: this.net.duplicateRandom(); break;
      case 4: this.actPartition(); break;
      case 5: this.actCutOneWay(); break;
      case 6: this.net.healAll(); this.log('heal all links'); break;
      case 7: this.actCrash(); break;
      case 8: this.actRestart(); break;
      case 9: this.actPropose(); break;
      case 10: this.actConfChange(); break;
      case 11: this.actTransfer(); break;
      case 12: this.actRead(); break;
      case 13: this.actCompact(); break;
      default: throw new Error(`no action ${action}`);
    }
    this.drainAll();
  }

  private actTick(): void {
    const live = this.liveNodes();
    if (live.length === 0) return;
    const n = this.rng.pick(live);
    n.raw!.tick();
    this.stats.ticks++;
    this.dirty.add(n);
  }

  private actDeliver(): void {
    const f = this.net.take(0.2);
    if (f !== undefined) this.deliver(f);
  }

  private actPartition(): void {
    const existing = [...this.nodes.keys()];
    const a: NodeId[] = [];
    const b: NodeId[] = [];
    const leaders = this.leaders();
    if (this.opts.profile === 'adversarial' && leaders.length > 0 && this.rng.chance(0.7)) {
      // Cut the leader off (sometimes with one companion) right after it took writes.
      const l = this.rng.pick(leaders).id;
      const buddy = this.rng.chance(0.3) ? this.rng.pick(existing) : l;
      for (const id of existing) (id === l || id === buddy ? a : b).push(id);
    } else {
      for (const id of existing) (this.rng.chance(0.5) ? a : b).push(id);
    }
    this.net.partition(a, b);
    this.stats.partitions++;
    this.log(`partition {${a.map(shortId)}} | {${b.map(shortId)}}`);
  }

  private actCutOneWay(): void {
    const existing = [...this.nodes.keys()];
    const from = this.rng.pick(existing);
    const to = this.rng.pick(existing);
    if (from === to) return;
    this.net.cutOneWay(from, to);
    this.stats.partitions++;
    this.log(`cut ${shortId(from)} -> ${shortId(to)}`);
  }

  private actCrash(): void {
    const live = this.liveNodes();
    if (live.length === 0) return;
    const leaders = this.leaders();
    const n = this.opts.profile === 'adversarial' && leaders.length > 0 && this.rng.chance(0.7)
      ? this.rng.pick(leaders) : this.rng.pick(live);
    this.crash(n);
    this.log(`crash ${shortId(n.id)}`);
  }

  private actRestart(): void {
    const down: SimNode[] = [];
    for (const n of this.nodes.values()) if (!n.up) down.push(n);
    if (down.length === 0) return;
    const n = this.rng.pick(down);
    this.start(n);
    this.log(`restart ${shortId(n.id)} (snapshot ${n.disk.snapshot.metadata.index}, last ${n.disk.lastIndex}, term ${n.disk.hardState.term})`);
  }

  private tryLocal(what: string, f: () => void): boolean {
    try {
      f();
      return true;
    } catch (err) {
      if (err instanceof ProposalDroppedError) {
        this.log(`${what}: dropped`);
        return false;
      }
      throw err;
    }
  }

  private actPropose(): void {
    const live = this.liveNodes();
    if (live.length === 0) return;
    // Mostly at the leader, sometimes at a follower (which forwards it).
    const leaders = this.leaders();
    const n = leaders.length > 0 && this.rng.chance(0.7) ? this.rng.pick(leaders) : this.rng.pick(live);
    const data = enc.encode(`w${this.opts.seed}:${++this.seq}`);
    if (this.tryLocal(`propose at ${shortId(n.id)}`, () => n.raw!.propose(data))) this.stats.proposed++;
    this.dirty.add(n);
  }

  private actRead(): void {
    const live = this.liveNodes();
    if (live.length === 0) return;
    const n = this.rng.pick(live);
    const ctx = `r${++this.seq}`;
    this.checker.onReadIssued(ctx);
    n.raw!.readIndex(enc.encode(ctx));
    this.stats.reads++;
    this.dirty.add(n);
  }

  private actConfChange(): void {
    const leaders = this.leaders();
    if (leaders.length === 0) return;
    const l = this.rng.pick(leaders);
    const cs = l.confState;
    const choices: ConfChange[] = [];
    const ctx = new Uint8Array(0);
    for (const id of this.ids) {
      if (!isMember(cs, id)) {
        choices.push({ type: 'addLearner', nodeId: id, context: ctx });
        choices.push({ type: 'addNode', nodeId: id, context: ctx });
      }
    }
    for (const id of cs.learners) {
      choices.push({ type: 'addNode', nodeId: id, context: ctx });
      choices.push({ type: 'removeNode', nodeId: id, context: ctx });
    }
    if (cs.voters.length > MIN_VOTERS) {
      for (const id of cs.voters) choices.push({ type: 'removeNode', nodeId: id, context: ctx });
    }
    if (choices.length === 0) return;
    const cc = this.rng.pick(choices);
    // A new member's process starts before (or as) it is added, with an empty disk.
    if (!this.nodes.has(cc.nodeId)) this.start(this.addNode(cc.nodeId));
    if (this.tryLocal(`conf change at ${shortId(l.id)}`, () => l.raw!.proposeConfChange(cc))) {
      this.stats.confChanges++;
      this.log(`propose ${cc.type} ${shortId(cc.nodeId)} at leader ${shortId(l.id)}`);
    }
    this.dirty.add(l);
  }

  private actTransfer(): void {
    const leaders = this.leaders();
    if (leaders.length === 0) return;
    const l = this.rng.pick(leaders);
    const targets = l.confState.voters.filter((id) => id !== l.id);
    if (targets.length === 0) return;
    const t = this.rng.pick(targets);
    l.raw!.transferLeader(t);
    this.stats.transfers++;
    this.log(`transfer leader ${shortId(l.id)} -> ${shortId(t)}`);
    this.dirty.add(l);
  }

  /** Take a snapshot at the applied index and compact the log behind it, keeping a few entries
   *  so that slow followers are served sometimes from the log, sometimes by MsgSnap. */
  private actCompact(): void {
    const live = this.liveNodes();
    if (live.length === 0) return;
    const n = this.rng.pick(live);
    const at = n.appliedIndex;
    if (at <= n.disk.snapshot.metadata.index) return;
    const storage = n.storage!;
    const snap = storage.createSnapshot(at, n.confState, encodeAppState(n.appliedHash, n.appliedCount));
    const keep = this.rng.int(4);
    const compactAt = Math.max(at - keep, n.disk.dummyIndex);
    if (compactAt > n.disk.dummyIndex) storage.compact(compactAt);
    n.disk.snapshot = snap;
    n.disk.compact(compactAt);
    this.stats.snapshotsCreated++;
    this.log(`${shortId(n.id)} snapshots at ${at}, compacts to ${compactAt}`);
  }

  // ---- liveness ------------------------------------------------------------------------

  /** The configuration the most advanced node has applied. */
  private latestConf(): ConfState {
    let best: SimNode | undefined;
    for (const n of this.nodes.values()) if (best === undefined || n.appliedIndex > best.appliedIndex) best = n;
    return best!.confState;
  }

  /** One heal round: run exactly the current members, tick each once, deliver everything. */
  private healRound(): void {
    const leaders = this.leaders();
    const conf = leaders.length === 1 ? leaders[0]!.confState : this.latestConf();
    for (const n of this.nodes.values()) {
      const member = isMember(conf, n.id);
      // A removed member stops itself (etcd's members do when peers tell them they were removed).
      if (n.up && !member) this.crash(n);
      else if (!n.up && member) this.start(n);
    }
    this.drainAll();
    for (const n of this.liveNodes()) {
      n.raw!.tick();
      this.stats.ticks++;
      this.dirty.add(n);
    }
    this.drainAll();
    for (let i = 0; i < 20000 && this.net.pool.length > 0; i++) {
      this.deliver(this.net.pool.shift()!);
      this.drainAll();
    }
  }

  /** All nodes up, all links up, no loss: a leader must appear and a fresh proposal must be
   *  applied by every voter, each within a bound. */
  heal(): void {
    this.log('--- heal phase ---');
    this.net.healAll();
    this.net.lossRate = 0;
    const bound = 10 * ELECTION_TICK * this.opts.nodes;
    let leader: SimNode | undefined;
    for (let t = 0; t < bound && leader === undefined; t++) {
      this.healRound();
      this.stats.healTicksToLeader = t + 1;
      const ls = this.leaders();
      if (ls.length === 1 && ls[0]!.confState.voters.every((id) => this.nodes.get(id)?.lead === ls[0]!.id)) leader = ls[0];
    }
    if (leader === undefined) {
      throw new InvariantViolation('liveness', `no leader recognised by all voters within ${bound} ticks after healing`);
    }
    const data = enc.encode(`heal${this.opts.seed}`);
    this.healHash = hashBytes(data);
    let proposedAt = -1;
    for (let t = 0; t < bound; t++) {
      const ls = this.leaders();
      if (ls.length === 1 && proposedAt < 0) {
        const l = ls[0]!;
        if (this.tryLocal('heal propose', () => l.raw!.propose(data))) proposedAt = t;
        this.dirty.add(l);
        this.drainAll();
      }
      this.healRound();
      this.stats.healTicksToCommit = t + 1;
      if (proposedAt >= 0 && this.healProposalApplied()) return;
      // A proposal lost with a leader change is proposed again.
      if (proposedAt >= 0 && t - proposedAt > 4 * ELECTION_TICK) proposedAt = -1;
    }
    throw new InvariantViolation('liveness', `a proposal made after healing was not applied by every voter within ${bound} ticks`);
  }

  private healHash = 0;
  private readonly healApplied = new Set<NodeId>();

  private healProposalApplied(): boolean {
    const conf = this.latestConf();
    return conf.voters.every((id) => {
      const n = this.nodes.get(id);
      return n !== undefined && n.up && this.healApplied.has(id);
    });
  }
}

export function runSim(opts: SimOptions): SimResult {
  const c = new Cluster(opts);
  try {
    for (let i = 0; i < opts.steps; i++) c.step();
    if (!opts.skipLiveness) c.heal();
    c.stats.readsChecked = c.checker.readsChecked;
    return { ok: true, stats: c.stats, trace: c.trace };
  } catch (err) {
    c.stats.readsChecked = c.checker.readsChecked;
    if (err instanceof InvariantViolation) return { ok: false, violation: err, stats: c.stats, trace: c.trace };
    return { ok: false, error: err as Error, stats: c.stats, trace: c.trace };
  }
}

export function replayCommand(opts: SimOptions): string {
  let s = `node dist/test/sim/replay.js --seed ${opts.seed} --nodes ${opts.nodes} --steps ${opts.steps}`;
  if (opts.bug !== undefined) s += ` --bug ${opts.bug}`;
  if (opts.profile === 'adversarial') s += ' --profile adversarial';
  return s;
}
