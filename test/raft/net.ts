// A tiny deterministic in-test network for driving RawNodes by hand: it drains Ready from each
// node (persisting into its MemoryStorage, applying committed entries and conf changes), and
// delivers messages in FIFO order, with optional drop/partition filters.
import { RawNode } from '../../src/raft/raw-node.js';
import { MemoryStorage } from '../../src/raft/storage.js';
import { decodeConfChange } from '../../src/raft/confchange.js';
import type { RaftConfig, RaftLogger } from '../../src/raft/api.js';
import type { Message } from '../../src/raft/message.js';
import type { ConfState, Entry, NodeId, ReadState } from '../../src/raft/types.js';

/** Hard bound on delivery rounds so a livelock fails the test instead of hanging it. */
const DELIVERY_ROUNDS_MAX = 10_000;

export function seeded(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class CaptureLogger implements RaftLogger {
  lines: { level: string; msg: string; obj: object }[] = [];
  debug(obj: object, msg: string): void { this.lines.push({ level: 'debug', msg, obj }); }
  info(obj: object, msg: string): void { this.lines.push({ level: 'info', msg, obj }); }
  warn(obj: object, msg: string): void { this.lines.push({ level: 'warn', msg, obj }); }
}

export const ids = (n: number): NodeId[] => Array.from({ length: n }, (_, i) => (i + 1).toString(16).padStart(16, '0'));

export interface Member {
  id: NodeId;
  node: RawNode;
  storage: MemoryStorage;
  applied: Entry[];
  readStates: ReadState[];
  confState: ConfState;
  logger: CaptureLogger;
}

export type Filter = (m: Message) => boolean; // true = drop

export class Net {
  readonly members = new Map<NodeId, Member>();
  queue: Message[] = [];
  filters: Filter[] = [];
  /** Every message ever delivered (or dropped), in order, for assertions. */
  log: Message[] = [];
  private seed = 1;

  constructor(public readonly cfg: Partial<RaftConfig> = {}) {}

  static cluster(n: number, cfg: Partial<RaftConfig> = {}, learners: NodeId[] = []): Net {
    const net = new Net(cfg);
    const all = ids(n);
    const cs: ConfState = { voters: all.filter((i) => !learners.includes(i)), learners };
    for (const id of all) net.add(id, new MemoryStorage(cs));
    return net;
  }

  add(id: NodeId, storage: MemoryStorage, extra: Partial<RaftConfig> = {}, applied = 0): Member {
    const logger = new CaptureLogger();
    const config: RaftConfig = {
      id, electionTick: 10, heartbeatTick: 1, storage, applied, maxSizePerMsg: 1024 * 1024, maxInflightMsgs: 256,
      checkQuorum: false, preVote: false, random: seeded(this.seed++), logger, ...this.cfg, ...extra,
    };
    const node = new RawNode(config);
    const m: Member = { id, node, storage, applied: [], readStates: [], confState: storage.initialState().confState, logger };
    this.members.set(id, m);
    return m;
  }

  get(id: NodeId): Member {
    const m = this.members.get(id);
    if (!m) throw new Error(`no member ${id}`);
    return m;
  }

  /** Drain one member's Ready: persist, queue messages, apply. */
  drain(id: NodeId): boolean {
    const m = this.get(id);
    if (!m.node.hasReady()) return false;
    const rd = m.node.ready();
    if (rd.snapshot) {
      m.storage.applySnapshot(rd.snapshot);
      m.confState = rd.snapshot.metadata.confState;
    }
    if (rd.entries.length) m.storage.append(rd.entries);
    if (rd.hardState) m.storage.setHardState(rd.hardState);
    for (const msg of rd.messages) this.queue.push(msg);
    for (const e of rd.committedEntries) {
      m.applied.push(e);
      if (e.type === 'confChange') m.confState = m.node.applyConfChange(decodeConfChange(e.data));
    }
    for (const rs of rd.readStates) m.readStates.push(rs);
    m.node.advance(rd);
    return true;
  }

  /** Drain and deliver until quiet. */
  settle(): void {
    for (let round = 0; round < DELIVERY_ROUNDS_MAX; round++) {
      let busy = false;
      for (const id of this.members.keys()) busy = this.drain(id) || busy;
      if (this.queue.length === 0 && !busy) return;
      const q = this.queue;
      this.queue = [];
      for (const msg of q) this.deliver(msg);
    }
    throw new Error('network did not settle');
  }

  deliver(msg: Message): void {
    this.log.push(msg);
    if (this.filters.some((f) => f(msg))) return;
    const to = this.members.get(msg.to);
    if (!to) return;
    to.node.step(msg);
  }

  /** Cut `group` off from everyone else (both directions). */
  isolate(...group: NodeId[]): Filter {
    const f: Filter = (m) => group.includes(m.from) !== group.includes(m.to);
    this.filters.push(f);
    return f;
  }

  heal(): void {
    this.filters = [];
  }

  tick(id: NodeId, n = 1): void {
    for (let i = 0; i < n; i++) this.get(id).node.tick();
  }

  tickAll(n = 1): void {
    for (let i = 0; i < n; i++) {
      for (const m of this.members.values()) m.node.tick();
      this.settle();
    }
  }

  campaign(id: NodeId): void {
    this.get(id).node.campaign();
    this.settle();
  }

  leaders(): NodeId[] {
    return [...this.members.values()].filter((m) => m.node.status().state === 'leader').map((m) => m.id);
  }

  /** Data of applied normal, non-empty entries as strings. */
  appliedData(id: NodeId): string[] {
    return this.get(id).applied.filter((e) => e.type === 'normal' && e.data.length > 0).map((e) => new TextDecoder().decode(e.data));
  }

  propose(id: NodeId, s: string): void {
    this.get(id).node.propose(new TextEncoder().encode(s));
    this.settle();
  }
}

export const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

/** A storage holding entries with the given terms at indexes 1.. and the given hard state. */
export function storageWith(cs: ConfState, terms: number[], hs?: { term: number; vote?: NodeId; commit?: number }): MemoryStorage {
  const s = new MemoryStorage(cs);
  s.append(terms.map((term, i) => ({ term, index: i + 1, type: 'normal' as const, data: new Uint8Array(0) })));
  if (hs) s.setHardState({ term: hs.term, vote: hs.vote ?? '', commit: hs.commit ?? 0 });
  return s;
}

export const count = (msgs: Message[], pred: (m: Message) => boolean): number => msgs.filter(pred).length;
