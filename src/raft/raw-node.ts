// RawNode: the caller-facing wrapper around the Raft state machine (etcd/raft's RawNode).
// It validates input, and packages what raft did into Ready / advance.
import type { ConfChange, ConfState, Entry, HardState, NodeId, SoftState } from './types.js';
import { NONE } from './types.js';
import type { Message } from './message.js';
import type { RaftConfig, RaftStatus, RawNodeApi, Ready } from './api.js';
import { ProposalDroppedError } from './api.js';
import { Raft } from './raft.js';
import { assert } from './log.js';
import { validateMessage } from './validate.js';
import { encodeConfChange } from './confchange.js';
import { COMMITTED_BYTES_PER_READY_MAX } from './limits.js';

const RESPONSE_TYPES = new Set<Message['type']>(['MsgAppResp', 'MsgVoteResp', 'MsgPreVoteResp', 'MsgHeartbeatResp', 'MsgReadIndexResp']);

function validateConfig(c: RaftConfig): void {
  const posInt = (v: number) => Number.isSafeInteger(v) && v > 0;
  if (typeof c.id !== 'string' || c.id === NONE) throw new Error('raft config: id must be a non-empty string');
  if (!posInt(c.heartbeatTick)) throw new Error('raft config: heartbeatTick must be a positive integer');
  if (!posInt(c.electionTick) || c.electionTick <= c.heartbeatTick) throw new Error('raft config: electionTick must be an integer greater than heartbeatTick');
  if (!posInt(c.maxSizePerMsg)) throw new Error('raft config: maxSizePerMsg must be a positive integer');
  if (!posInt(c.maxInflightMsgs)) throw new Error('raft config: maxInflightMsgs must be a positive integer');
  if (!Number.isSafeInteger(c.applied) || c.applied < 0) throw new Error('raft config: applied must be a non-negative integer');
  if (typeof c.random !== 'function') throw new Error('raft config: random is required');
}

export class RawNode implements RawNodeApi {
  private readonly r: Raft;
  private prevSoft: SoftState;
  private prevHard: HardState;
  /** A Ready was handed out and not yet advanced: handing out another would repeat its
   *  entries and committed entries (double persistence, double apply). */
  private readyOutstanding = false;

  constructor(config: RaftConfig) {
    validateConfig(config);
    this.r = new Raft(config);
    this.prevSoft = this.r.softState();
    this.prevHard = this.r.hardState();
  }

  tick(): void {
    this.r.tick();
  }

  campaign(): void {
    this.r.hup(false);
  }

  propose(data: Uint8Array): void {
    const reason = this.r.propose([{ type: 'normal', data }], this.r.id);
    if (reason !== undefined) throw new ProposalDroppedError(reason);
  }

  proposeBatch(datas: readonly Uint8Array[]): void {
    const reason = this.r.propose(
      datas.map((data) => ({ type: 'normal' as const, data })),
      this.r.id,
    );
    if (reason !== undefined) throw new ProposalDroppedError(reason);
  }

  proposeConfChange(cc: ConfChange): void {
    const reason = this.r.propose([{ type: 'confChange', data: encodeConfChange(cc) }], this.r.id);
    if (reason !== undefined) throw new ProposalDroppedError(reason);
  }

  applyConfChange(cc: ConfChange): ConfState {
    return this.r.applyConfChange(cc);
  }

  step(m: Message): void {
    const bad = validateMessage(m);
    const log = this.r.logger;
    if (bad !== undefined) {
      log.warn({ raftId: this.r.id, reason: bad, msgType: (m as { type?: unknown })?.type, from: (m as { from?: unknown })?.from }, 'raft: rejected malformed message');
      return;
    }
    if (m.to !== this.r.id) {
      log.warn({ raftId: this.r.id, to: m.to, msgType: m.type, from: m.from }, 'raft: ignored message addressed to another member');
      return;
    }
    if (m.from === this.r.id) {
      log.warn({ raftId: this.r.id, msgType: m.type }, 'raft: ignored message from self (local requests go through the API)');
      return;
    }
    // Answers from members we do not know (e.g. removed) are stale: ignore them.
    if (RESPONSE_TYPES.has(m.type) && !this.r.prs.progress.has(m.from)) {
      log.debug({ raftId: this.r.id, msgType: m.type, from: m.from }, 'raft: ignored response from unknown member');
      return;
    }
    this.r.step(m);
  }

  readIndex(context: Uint8Array): void {
    this.r.readIndex(context, this.r.id);
  }

  transferLeader(transferee: NodeId): void {
    this.r.transferLeader(transferee);
  }

  reportUnreachable(id: NodeId): void {
    this.r.reportUnreachable(id);
  }

  reportPersisted(index: number, term: number): void {
    this.r.reportPersisted(index, term);
  }

  reportSnapshot(id: NodeId, failed: boolean): void {
    this.r.reportSnapshot(id, failed);
  }

  hasReady(): boolean {
    const r = this.r;
    const ss = r.softState();
    if (ss.lead !== this.prevSoft.lead || ss.state !== this.prevSoft.state) return true;
    const hs = r.hardState();
    if (hs.term !== this.prevHard.term || hs.vote !== this.prevHard.vote || hs.commit !== this.prevHard.commit) return true;
    if (r.log.hasPendingSnapshot()) return true;
    if (r.msgs.length !== 0 || r.log.unstableEntries().length !== 0 || r.readStates.length !== 0) return true;
    return r.log.hasNextEnts();
  }

  ready(): Ready {
    if (this.readyOutstanding) throw new Error('raft: ready() called again before advance()');
    const r = this.r;
    const ss = r.softState();
    const hs = r.hardState();
    const softChanged = ss.lead !== this.prevSoft.lead || ss.state !== this.prevSoft.state;
    const hardChanged = hs.term !== this.prevHard.term || hs.vote !== this.prevHard.vote || hs.commit !== this.prevHard.commit;
    const entries: Entry[] = r.log.unstableEntries().slice();
    const snapshot = r.log.unstable.snapshot;
    const rd: Ready = {
      softState: softChanged ? ss : undefined,
      hardState: hardChanged ? hs : undefined,
      readStates: r.readStates,
      entries,
      snapshot,
      committedEntries: r.log.nextEnts(COMMITTED_BYTES_PER_READY_MAX),
      messages: r.msgs,
      mustSync: entries.length !== 0 || hs.vote !== this.prevHard.vote || hs.term !== this.prevHard.term,
    };
    if (softChanged) this.prevSoft = ss;
    r.msgs = [];
    r.readStates = [];
    this.readyOutstanding = true;
    return rd;
  }

  advance(rd: Ready): void {
    assert(this.readyOutstanding, 'advance() without a Ready');
    const r = this.r;
    if (rd.hardState) this.prevHard = rd.hardState;
    const n = rd.committedEntries.length;
    if (n > 0) r.log.appliedTo(rd.committedEntries[n - 1]!.index);
    else if (rd.snapshot) r.log.appliedTo(rd.snapshot.metadata.index);
    if (r.state === 'leader') r.reduceUncommittedBytes(rd.committedEntries);
    if (rd.entries.length > 0) {
      const e = rd.entries[rd.entries.length - 1]!;
      r.log.stableTo(e.index, e.term);
      // The caller must have put the entries into storage before advance, or they would vanish
      // from our view of the log.
      assert(r.log.storage.lastIndex() >= e.index || r.log.unstable.offset <= e.index,
        `advance: entry ${e.index} not in storage (last ${r.log.storage.lastIndex()})`);
    }
    if (rd.snapshot) {
      r.log.stableSnapTo(rd.snapshot.metadata.index);
      assert(r.log.storage.lastIndex() >= rd.snapshot.metadata.index, 'advance: snapshot not applied to storage');
    }
    this.readyOutstanding = false;
  }

  status(): RaftStatus {
    const r = this.r;
    let progress: Record<NodeId, { match: number; next: number; state: 'probe' | 'replicate' | 'snapshot'; recentActive: boolean }> | undefined;
    if (r.state === 'leader') {
      progress = {};
      for (const id of r.prs.ids) {
        const pr = r.prs.progress.get(id)!;
        progress[id] = { match: pr.match, next: pr.next, state: pr.state, recentActive: pr.recentActive };
      }
    }
    return {
      id: r.id, term: r.term, vote: r.vote, commit: r.log.committed, applied: r.log.applied, lead: r.lead,
      state: r.state, lastIndex: r.log.lastIndex(), confState: r.prs.confState(), progress, leadTransferee: r.leadTransferee,
    };
  }
}
