// The Raft state machine (etcd/raft's `raft` struct): elections with pre-vote and check-quorum,
// pipelined replication, snapshots, single-server membership changes, leadership transfer and
// ReadIndex. Pure: it reads its storage and appends to `msgs`; RawNode turns that into Ready.
import type { ConfChange, ConfState, Entry, EntryType, HardState, NodeId, ReadState, SoftState, StateType } from './types.js';
import { NONE } from './types.js';
import type { Message, MsgApp, MsgAppResp, MsgHeartbeat, MsgHeartbeatResp, MsgSnap, MsgVote, MsgVoteResp } from './message.js';
import type { RaftConfig, RaftLogger } from './api.js';
import { RaftCompactedError, RaftSnapshotTemporarilyUnavailableError } from './api.js';
import { RaftLog, assert } from './log.js';
import { ProgressTracker } from './progress.js';
import { ReadOnly } from './read-only.js';
import {
  ENTRY_OVERHEAD_BYTES, PENDING_READ_INDEX_MAX, PROPOSAL_BYTES_MAX_DEFAULT, PROPOSAL_ENTRIES_MAX_DEFAULT, UNCOMMITTED_BYTES_MAX,
} from './limits.js';

const EMPTY_BYTES = new Uint8Array(0);

const NOOP_LOGGER: RaftLogger = { debug() {}, info() {}, warn() {} };

type CampaignKind = 'preElection' | 'election' | 'transfer';

/** A proposal entry before the leader gives it a term and index. */
export interface ProposalEntry {
  readonly type: EntryType;
  readonly data: Uint8Array;
}

export class Raft {
  readonly id: NodeId;
  term = 0;
  vote: NodeId = NONE;
  readonly log: RaftLog;
  prs: ProgressTracker;
  state: StateType = 'follower';
  isLearner = false;
  lead: NodeId = NONE;
  /** Set while a leadership transfer is in progress: proposals are refused meanwhile. */
  leadTransferee: NodeId = NONE;
  /** Index of the last conf change appended by this leader; a new one is refused until the
   *  log is applied past it (one change at a time). */
  pendingConfIndex = 0;
  uncommittedBytes = 0;
  readOnly = new ReadOnly();
  /** ReadIndex requests that arrived before this leader committed an entry in its term. */
  pendingReadIndex: { from: NodeId; context: Uint8Array }[] = [];
  readStates: ReadState[] = [];
  /** Outgoing messages, drained by RawNode.ready(). Bounded by the work of the steps and ticks
   *  since the last Ready: at most a few messages per peer per step. */
  msgs: Message[] = [];

  electionElapsed = 0;
  heartbeatElapsed = 0;
  randomizedElectionTimeout = 0;
  readonly electionTimeout: number;
  readonly heartbeatTimeout: number;
  readonly checkQuorum: boolean;
  readonly preVote: boolean;
  readonly maxMsgBytes: number;
  readonly maxInflight: number;
  readonly maxProposalEntries: number;
  readonly maxProposalBytes: number;
  readonly random: () => number;
  readonly logger: RaftLogger;
  readonly voteIgnoresLog: boolean;
  /** RaftConfig.leaderCountsSelfWhenPersisted. */
  readonly countSelfWhenPersisted: boolean;
  readonly commitPreviousTermByCounting: boolean;

  constructor(c: RaftConfig) {
    this.id = c.id;
    this.log = new RaftLog(c.storage);
    this.electionTimeout = c.electionTick;
    this.heartbeatTimeout = c.heartbeatTick;
    this.checkQuorum = c.checkQuorum;
    this.preVote = c.preVote;
    this.maxMsgBytes = c.maxSizePerMsg;
    this.maxInflight = c.maxInflightMsgs;
    this.maxProposalEntries = c.maxProposalEntries ?? PROPOSAL_ENTRIES_MAX_DEFAULT;
    this.maxProposalBytes = c.maxProposalBytes ?? PROPOSAL_BYTES_MAX_DEFAULT;
    this.random = c.random;
    this.logger = c.logger ?? NOOP_LOGGER;
    this.countSelfWhenPersisted = c.leaderCountsSelfWhenPersisted === true;
    this.voteIgnoresLog = c.testingBugs?.voteIgnoresLog === true;
    this.commitPreviousTermByCounting = c.testingBugs?.commitPreviousTermByCounting === true;

    const { hardState: hs, confState: cs } = c.storage.initialState();
    this.prs = this.trackerFrom(cs);
    this.isLearner = this.prs.progress.get(this.id)?.isLearner ?? false;
    if (hs.term !== 0 || hs.vote !== NONE || hs.commit !== 0) {
      assert(hs.commit >= this.log.committed && hs.commit <= this.log.lastIndex(),
        `hard state commit ${hs.commit} is out of range [${this.log.committed}, ${this.log.lastIndex()}]`);
      this.log.committed = hs.commit;
      this.term = hs.term;
      this.vote = hs.vote;
    }
    if (c.applied > 0) this.log.appliedTo(c.applied);
    this.becomeFollower(this.term, NONE);
    this.logger.info({ raftId: this.id, term: this.term, commit: this.log.committed, applied: this.log.applied,
      lastIndex: this.log.lastIndex(), voters: cs.voters, learners: cs.learners }, 'raft: new node');
  }

  private trackerFrom(cs: ConfState): ProgressTracker {
    const prs = new ProgressTracker(this.maxInflight);
    const next = this.log.lastIndex() + 1;
    for (const id of cs.voters) prs.add(id, next, false);
    for (const id of cs.learners) {
      assert(!prs.progress.has(id), `${id} is both voter and learner`);
      prs.add(id, next, true);
    }
    return prs;
  }

  softState(): SoftState {
    return { lead: this.lead, state: this.state };
  }

  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.log.committed };
  }

  // ---- sending ----

  private send(m: Message): void {
    this.msgs.push(m);
  }

  private sendAppend(to: NodeId): void {
    this.maybeSendAppend(to, true);
  }

  /** Send a MsgApp (or MsgSnap when the entries are compacted) to `to`, unless it is paused or,
   *  with !sendIfEmpty, there is nothing new. True if a message was sent. */
  private maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.prs.progress.get(to);
    assert(pr !== undefined, `maybeSendAppend to unknown peer ${to}`);
    if (pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const logTerm = this.log.term(prevIndex);
    let ents: Entry[] | undefined;
    try {
      ents = this.log.entries(pr.next, this.maxMsgBytes);
    } catch (e) {
      if (!(e instanceof RaftCompactedError)) throw e;
    }
    if ((ents === undefined || ents.length === 0) && !sendIfEmpty) return false;
    if (logTerm === undefined || ents === undefined) {
      // The entries the follower needs are compacted: send the snapshot instead.
      if (!pr.recentActive) {
        this.logger.debug({ raftId: this.id, to }, 'raft: not sending snapshot to an inactive peer');
        return false;
      }
      let snap;
      try {
        snap = this.log.snapshot();
      } catch (e) {
        if (e instanceof RaftSnapshotTemporarilyUnavailableError) return false;
        throw e;
      }
      assert(snap.metadata.index > 0, `need a non-empty snapshot to send to ${to} (next ${pr.next} is compacted)`);
      pr.becomeSnapshot(snap.metadata.index);
      this.logger.info({ raftId: this.id, term: this.term, to, snapshotIndex: snap.metadata.index }, 'raft: sending snapshot');
      const m: MsgSnap = { type: 'MsgSnap', from: this.id, to, term: this.term, snapshot: snap };
      this.send(m);
      return true;
    }
    const m: MsgApp = { type: 'MsgApp', from: this.id, to, term: this.term, index: prevIndex, logTerm, entries: ents, commit: this.log.committed };
    const n = ents.length;
    if (n !== 0) {
      const last = ents[n - 1]!.index;
      switch (pr.state) {
        case 'replicate':
          pr.optimisticUpdate(last);
          pr.inflights.add(last);
          break;
        case 'probe':
          pr.probeSent = true;
          break;
        case 'snapshot':
          assert(false, `sending append to ${to} in snapshot state`);
      }
    }
    this.send(m);
    return true;
  }

  private sendHeartbeat(to: NodeId, context: Uint8Array): void {
    const pr = this.prs.progress.get(to)!;
    // Never tell a follower of a commit beyond what it is known to hold: it may not have it.
    const commit = Math.min(pr.match, this.log.committed);
    const m: MsgHeartbeat = { type: 'MsgHeartbeat', from: this.id, to, term: this.term, commit, context };
    this.send(m);
  }

  private bcastAppend(): void {
    for (const id of this.prs.ids) if (id !== this.id) this.sendAppend(id);
  }

  private bcastHeartbeat(): void {
    const ctx = this.readOnly.lastPendingContext() ?? EMPTY_BYTES;
    for (const id of this.prs.ids) if (id !== this.id) this.sendHeartbeat(id, ctx);
  }

  private sendTimeoutNow(to: NodeId): void {
    this.send({ type: 'MsgTimeoutNow', from: this.id, to, term: this.term });
  }

  // ---- state transitions ----

  private resetRandomizedElectionTimeout(): void {
    const r = this.random();
    assert(r >= 0 && r < 1, `config.random returned ${r}, outside [0, 1)`);
    this.randomizedElectionTimeout = this.electionTimeout + Math.floor(r * this.electionTimeout);
  }

  private reset(term: number): void {
    if (this.term !== term) {
      assert(term > this.term, `term moving backward from ${this.term} to ${term}`);
      this.term = term;
      this.vote = NONE;
    }
    this.lead = NONE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.leadTransferee = NONE;
    this.prs.resetVotes();
    const last = this.log.lastIndex();
    for (const [id, pr] of this.prs.progress) {
      pr.match = id === this.id ? last : 0;
      pr.next = last + 1;
      pr.state = 'probe';
      pr.pendingSnapshot = 0;
      pr.probeSent = false;
      pr.recentActive = false;
      pr.inflights.reset();
    }
    this.pendingConfIndex = 0;
    this.uncommittedBytes = 0;
    this.readOnly = new ReadOnly();
    this.pendingReadIndex = [];
  }

  becomeFollower(term: number, lead: NodeId): void {
    this.reset(term);
    this.lead = lead;
    this.state = 'follower';
  }

  private becomeCandidate(): void {
    assert(this.state !== 'leader', 'invalid transition leader -> candidate');
    this.reset(this.term + 1);
    this.vote = this.id;
    this.state = 'candidate';
    this.logger.info({ raftId: this.id, term: this.term }, 'raft: became candidate');
  }

  private becomePreCandidate(): void {
    assert(this.state !== 'leader', 'invalid transition leader -> pre-candidate');
    // Pre-vote changes neither term nor vote: a node partitioned away cannot inflate terms.
    this.prs.resetVotes();
    this.lead = NONE;
    this.state = 'preCandidate';
    this.logger.info({ raftId: this.id, term: this.term }, 'raft: became pre-candidate');
  }

  private becomeLeader(): void {
    assert(this.state !== 'follower', 'invalid transition follower -> leader');
    this.reset(this.term);
    this.lead = this.id;
    this.state = 'leader';
    const self = this.prs.progress.get(this.id);
    assert(self !== undefined, 'leader is not in its own configuration');
    self.becomeReplicate();
    self.recentActive = true;
    // Conservatively treat any unapplied entry as a possible pending conf change.
    this.pendingConfIndex = this.log.lastIndex();
    // An empty entry of this term: committing it commits everything before it (entries of
    // earlier terms are never committed by counting, Raft paper 5.4.2).
    const ok = this.appendEntries([{ type: 'normal', data: EMPTY_BYTES }]);
    assert(ok, 'empty entry dropped on becoming leader');
    this.logger.info({ raftId: this.id, term: this.term }, 'raft: became leader');
  }

  promotable(): boolean {
    const pr = this.prs.progress.get(this.id);
    return pr !== undefined && !pr.isLearner && !this.log.hasPendingSnapshot();
  }

  // ---- ticks ----

  tick(): void {
    if (this.state === 'leader') this.tickHeartbeat();
    else this.tickElection();
  }

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.hup(false);
    }
  }

  private tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.electionTimeout) {
      this.electionElapsed = 0;
      if (this.checkQuorum) this.checkQuorumActive();
      // A transfer that did not finish within an election timeout is abandoned.
      if (this.state === 'leader' && this.leadTransferee !== NONE) this.abortLeaderTransfer();
    }
    if (this.state !== 'leader') return;
    if (this.heartbeatElapsed >= this.heartbeatTimeout) {
      this.heartbeatElapsed = 0;
      this.bcastHeartbeat();
    }
  }

  private checkQuorumActive(): void {
    const self = this.prs.progress.get(this.id);
    if (self) self.recentActive = true;
    if (!this.prs.quorumActive()) {
      this.logger.warn({ raftId: this.id, term: this.term }, 'raft: stepped down to follower since quorum is not active');
      this.becomeFollower(this.term, NONE);
    }
    for (const [id, pr] of this.prs.progress) if (id !== this.id) pr.recentActive = false;
  }

  // ---- elections ----

  hup(transfer: boolean): void {
    if (this.state === 'leader') {
      this.logger.debug({ raftId: this.id }, 'raft: ignoring campaign, already leader');
      return;
    }
    if (!this.promotable()) {
      this.logger.warn({ raftId: this.id }, 'raft: is not promotable, cannot campaign');
      return;
    }
    // A committed but unapplied conf change may change who votes: wait until it is applied.
    if (this.log.committed > this.log.applied) {
      const ents = this.log.slice(this.log.applied + 1, this.log.committed + 1, Number.POSITIVE_INFINITY);
      if (ents.some((e) => e.type === 'confChange')) {
        this.logger.warn({ raftId: this.id }, 'raft: cannot campaign, pending configuration changes to apply');
        return;
      }
    }
    this.logger.info({ raftId: this.id, term: this.term }, 'raft: starting a new election');
    if (this.preVote && !transfer) this.campaign('preElection');
    else this.campaign(transfer ? 'transfer' : 'election');
  }

  private campaign(kind: CampaignKind): void {
    let voteType: 'MsgVote' | 'MsgPreVote';
    let term: number;
    if (kind === 'preElection') {
      this.becomePreCandidate();
      voteType = 'MsgPreVote';
      term = this.term + 1; // the term we would campaign in, without moving to it yet
    } else {
      this.becomeCandidate();
      voteType = 'MsgVote';
      term = this.term;
    }
    this.prs.recordVote(this.id, true);
    if (this.prs.tallyVotes().result === 'won') {
      // A single voter wins at once.
      if (kind === 'preElection') this.campaign('election');
      else this.becomeLeader();
      return;
    }
    const index = this.log.lastIndex();
    const logTerm = this.log.lastTerm();
    for (const id of this.prs.ids) {
      if (id === this.id || !this.prs.isVoter(id)) continue;
      const m: MsgVote = { type: voteType, from: this.id, to: id, term, index, logTerm, transfer: kind === 'transfer' };
      this.send(m);
    }
  }

  // ---- step ----

  /** Step a validated message from a peer (RawNode validates first). */
  step(m: Message): void {
    // Proposals and read requests forwarded by followers carry no term: they are requests to
    // whoever is leader now, not part of a term's protocol.
    if (m.type === 'MsgProp') {
      const reason = this.propose(m.entries, m.from);
      if (reason !== undefined) this.logger.debug({ raftId: this.id, from: m.from, reason }, 'raft: dropped forwarded proposal');
      return;
    }
    if (m.type === 'MsgReadIndex') {
      this.readIndex(m.context, m.from);
      return;
    }

    if (m.term > this.term) {
      if (m.type === 'MsgVote' || m.type === 'MsgPreVote') {
        const inLease = this.checkQuorum && this.lead !== NONE && this.electionElapsed < this.electionTimeout;
        if (!m.transfer && inLease) {
          // We heard from a live leader within the election timeout: this candidate is
          // disruptive (e.g. rejoining after a partition). Ignore it, do not bump our term.
          this.logger.info({ raftId: this.id, term: this.term, from: m.from, msgTerm: m.term, lead: this.lead },
            'raft: ignored vote request within the leader lease');
          return;
        }
      }
      if (m.type === 'MsgPreVote') {
        // Never change term in response to a pre-vote.
      } else if (m.type === 'MsgPreVoteResp' && !m.reject) {
        // A granted pre-vote carries the term we would campaign in; we move there only when
        // the pre-vote wins.
      } else {
        const leaderMsg = m.type === 'MsgApp' || m.type === 'MsgHeartbeat' || m.type === 'MsgSnap';
        this.logger.info({ raftId: this.id, term: this.term, msgType: m.type, from: m.from, msgTerm: m.term },
          'raft: received a message with a higher term');
        this.becomeFollower(m.term, leaderMsg ? m.from : NONE);
      }
    } else if (m.term < this.term) {
      if ((this.checkQuorum || this.preVote) && (m.type === 'MsgHeartbeat' || m.type === 'MsgApp')) {
        // A stale leader (e.g. healed partition) would otherwise never learn of the new term,
        // since with check-quorum/pre-vote we never bump terms on its behalf: tell it.
        this.send({ type: 'MsgAppResp', from: this.id, to: m.from, term: this.term, index: 0, reject: false, rejectHint: 0, logTerm: 0 });
      } else if (m.type === 'MsgPreVote') {
        // Answer so the pre-candidate learns our term and stops trying.
        this.send({ type: 'MsgPreVoteResp', from: this.id, to: m.from, term: this.term, reject: true });
      } else {
        this.logger.debug({ raftId: this.id, term: this.term, msgType: m.type, from: m.from, msgTerm: m.term },
          'raft: ignored a message with a lower term');
      }
      return;
    }

    if (m.type === 'MsgVote' || m.type === 'MsgPreVote') {
      this.handleVoteRequest(m);
      return;
    }
    switch (this.state) {
      case 'leader': this.stepLeader(m); break;
      case 'candidate':
      case 'preCandidate': this.stepCandidate(m); break;
      case 'follower': this.stepFollower(m); break;
      default: {
        const never: never = this.state;
        throw new Error(`unknown state ${String(never)}`);
      }
    }
  }

  private handleVoteRequest(m: MsgVote): void {
    const respType = m.type === 'MsgVote' ? 'MsgVoteResp' : 'MsgPreVoteResp';
    // We can vote if we already voted for this candidate, or have not voted and know no leader
    // in this term, or this is a pre-vote for a future term.
    const canVote = this.vote === m.from
      || (this.vote === NONE && this.lead === NONE)
      || (m.type === 'MsgPreVote' && m.term > this.term);
    const upToDate = this.voteIgnoresLog || this.log.isUpToDate(m.index, m.logTerm);
    // Learners answer too, as in etcd: one may have been promoted without knowing it yet. The
    // candidate counts only the voters of its own configuration.
    if (canVote && upToDate) {
      const resp: MsgVoteResp = { type: respType, from: this.id, to: m.from, term: m.term, reject: false };
      this.send(resp);
      if (m.type === 'MsgVote') {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
      this.logger.info({ raftId: this.id, term: this.term, msgType: m.type, from: m.from }, 'raft: cast vote');
    } else {
      const resp: MsgVoteResp = { type: respType, from: this.id, to: m.from, term: this.term, reject: true };
      this.send(resp);
      this.logger.info({ raftId: this.id, term: this.term, msgType: m.type, from: m.from, vote: this.vote }, 'raft: rejected vote');
    }
  }

  private stepLeader(m: Message): void {
    const pr = this.prs.progress.get(m.from);
    if (pr === undefined) {
      this.logger.debug({ raftId: this.id, from: m.from, msgType: m.type }, 'raft: no progress for sender');
      return;
    }
    switch (m.type) {
      case 'MsgAppResp':
        this.handleAppendResponse(m);
        return;
      case 'MsgHeartbeatResp':
        this.handleHeartbeatResponse(m);
        return;
      case 'MsgTransferLeader':
        this.transferLeader(m.transferee);
        return;
      default:
        this.logger.debug({ raftId: this.id, msgType: m.type, from: m.from }, 'raft: leader ignored message');
    }
  }

  private handleAppendResponse(m: MsgAppResp): void {
    const pr = this.prs.progress.get(m.from)!;
    pr.recentActive = true;
    if (m.reject) {
      // Fast backtracking: skip every entry of the follower's conflicting term at once.
      let nextProbe = m.rejectHint;
      if (m.logTerm > 0) nextProbe = this.log.findConflictByTerm(m.rejectHint, m.logTerm);
      if (pr.maybeDecrTo(m.index, nextProbe)) {
        if (pr.state === 'replicate') pr.becomeProbe();
        this.sendAppend(m.from);
      }
      return;
    }
    const oldPaused = pr.isPaused();
    if (!pr.maybeUpdate(m.index)) return;
    switch (pr.state) {
      case 'probe':
        pr.becomeReplicate();
        break;
      case 'snapshot':
        if (pr.match >= pr.pendingSnapshot) {
          pr.becomeProbe();
          pr.becomeReplicate();
        }
        break;
      case 'replicate':
        pr.inflights.freeLE(m.index);
        break;
    }
    if (this.maybeCommit()) {
      this.releasePendingReadIndex();
      this.bcastAppend();
    } else if (oldPaused) {
      this.sendAppend(m.from);
    }
    // Send as much as the window allows now, without empty messages.
    while (this.maybeSendAppend(m.from, false)) { /* bounded by maxInflightMsgs */ }
    if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) {
      this.logger.info({ raftId: this.id, to: m.from }, 'raft: transferee caught up, sending MsgTimeoutNow');
      this.sendTimeoutNow(m.from);
    }
  }

  private handleHeartbeatResponse(m: MsgHeartbeatResp): void {
    const pr = this.prs.progress.get(m.from)!;
    pr.recentActive = true;
    pr.probeSent = false;
    // A heartbeat answer means the follower is alive: free a slot so replication resumes even
    // if MsgAppResp were lost.
    if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirstOne();
    if (pr.match < this.log.lastIndex()) this.sendAppend(m.from);
    if (m.context.length === 0) return;
    const acks = this.readOnly.recvAck(m.from, m.context);
    if (acks === undefined) return;
    let voters = 0;
    for (const id of acks) if (this.prs.isVoter(id)) voters++;
    if (voters < this.prs.quorum()) return;
    for (const rs of this.readOnly.advance(m.context)) this.respondToReadIndex(rs.req.from, rs.req.context, rs.index);
  }

  private stepCandidate(m: Message): void {
    const myVoteResp = this.state === 'preCandidate' ? 'MsgPreVoteResp' : 'MsgVoteResp';
    switch (m.type) {
      case 'MsgApp':
        this.becomeFollower(m.term, m.from);
        this.handleAppendEntries(m);
        return;
      case 'MsgHeartbeat':
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return;
      case 'MsgSnap':
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        return;
      case 'MsgVoteResp':
      case 'MsgPreVoteResp': {
        if (m.type !== myVoteResp) return;
        this.prs.recordVote(m.from, !m.reject);
        const t = this.prs.tallyVotes();
        this.logger.info({ raftId: this.id, term: this.term, granted: t.granted, rejected: t.rejected }, 'raft: vote tally');
        if (t.result === 'won') {
          if (this.state === 'preCandidate') {
            this.campaign('election');
          } else {
            this.becomeLeader();
            this.bcastAppend();
          }
        } else if (t.result === 'lost') {
          this.becomeFollower(this.term, NONE);
        }
        return;
      }
      default:
        this.logger.debug({ raftId: this.id, msgType: m.type, from: m.from }, 'raft: candidate ignored message');
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case 'MsgApp':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppendEntries(m);
        return;
      case 'MsgHeartbeat':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleHeartbeat(m);
        return;
      case 'MsgSnap':
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapshot(m);
        return;
      case 'MsgTransferLeader':
        if (this.lead === NONE) {
          this.logger.info({ raftId: this.id }, 'raft: no leader, dropping leader transfer request');
          return;
        }
        this.send({ ...m, from: this.id, to: this.lead, term: this.term });
        return;
      case 'MsgTimeoutNow':
        // Leadership transfers never pre-vote: the leader asked us, so there is no partition
        // to guard against, and voters with a live leader still grant (transfer=true).
        this.logger.info({ raftId: this.id, term: this.term, from: m.from }, 'raft: received MsgTimeoutNow, campaigning');
        this.hup(true);
        return;
      case 'MsgReadIndexResp':
        this.readStates.push({ index: m.index, context: m.context });
        return;
      default:
        this.logger.debug({ raftId: this.id, msgType: m.type, from: m.from }, 'raft: follower ignored message');
    }
  }

  // ---- follower handlers ----

  private handleAppendEntries(m: MsgApp): void {
    if (m.index < this.log.committed) {
      this.send({ type: 'MsgAppResp', from: this.id, to: m.from, term: this.term, index: this.log.committed, reject: false, rejectHint: 0, logTerm: 0 });
      return;
    }
    const lastNew = this.log.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNew !== undefined) {
      this.send({ type: 'MsgAppResp', from: this.id, to: m.from, term: this.term, index: lastNew, reject: false, rejectHint: 0, logTerm: 0 });
      return;
    }
    // Reject with a hint: the last index whose term is <= the probed term, and that term, so the
    // leader can skip a whole conflicting term in one round trip.
    let hint = Math.min(m.index, this.log.lastIndex());
    hint = this.log.findConflictByTerm(hint, m.logTerm);
    const hintTerm = this.log.term(hint) ?? 0;
    this.logger.debug({ raftId: this.id, term: this.term, index: m.index, logTerm: m.logTerm, hint, hintTerm }, 'raft: rejected MsgApp');
    this.send({ type: 'MsgAppResp', from: this.id, to: m.from, term: this.term, index: m.index, reject: true, rejectHint: hint, logTerm: hintTerm });
  }

  private handleHeartbeat(m: MsgHeartbeat): void {
    this.log.commitTo(m.commit);
    const resp: MsgHeartbeatResp = { type: 'MsgHeartbeatResp', from: this.id, to: m.from, term: this.term, context: m.context };
    this.send(resp);
  }

  private handleSnapshot(m: MsgSnap): void {
    const s = m.snapshot;
    if (this.restore(s)) {
      this.logger.info({ raftId: this.id, term: this.term, index: s.metadata.index, snapTerm: s.metadata.term }, 'raft: restored snapshot');
      this.send({ type: 'MsgAppResp', from: this.id, to: m.from, term: this.term, index: this.log.lastIndex(), reject: false, rejectHint: 0, logTerm: 0 });
    } else {
      this.logger.info({ raftId: this.id, term: this.term, index: s.metadata.index }, 'raft: ignored snapshot');
      this.send({ type: 'MsgAppResp', from: this.id, to: m.from, term: this.term, index: this.log.committed, reject: false, rejectHint: 0, logTerm: 0 });
    }
  }

  private restore(s: MsgSnap['snapshot']): boolean {
    if (s.metadata.index <= this.log.committed) return false;
    if (this.state !== 'follower') {
      // Only a follower may restore; never happens via step, which makes us follower first.
      this.becomeFollower(this.term + 1, NONE);
      return false;
    }
    if (this.log.matchTerm(s.metadata.index, s.metadata.term)) {
      // We already hold the snapshot's last entry: just fast-forward the commit.
      this.log.commitTo(s.metadata.index);
      return false;
    }
    this.log.restore(s);
    this.prs = this.trackerFrom(s.metadata.confState);
    const self = this.prs.progress.get(this.id);
    this.isLearner = self?.isLearner ?? false;
    if (self) self.maybeUpdate(self.next - 1);
    return true;
  }

  // ---- leader: proposals ----

  /** Handle a proposal (local when from === this.id). Returns why it was dropped, if it was. */
  propose(entries: readonly ProposalEntry[], from: NodeId): string | undefined {
    if (entries.length === 0) return 'empty proposal';
    if (entries.length > this.maxProposalEntries) return `${entries.length} entries is over the limit of ${this.maxProposalEntries}`;
    let bytes = 0;
    for (const e of entries) bytes += e.data.length;
    if (bytes > this.maxProposalBytes) return `${bytes} bytes is over the limit of ${this.maxProposalBytes}`;
    switch (this.state) {
      case 'leader':
        break;
      case 'follower': {
        if (this.lead === NONE) return 'no leader';
        const fwd: Entry[] = entries.map((e) => ({ term: 0, index: 0, type: e.type, data: e.data }));
        this.send({ type: 'MsgProp', from: this.id, to: this.lead, term: 0, entries: fwd });
        return undefined;
      }
      case 'candidate':
      case 'preCandidate':
        return 'no leader';
    }
    if (!this.prs.progress.has(this.id)) return 'leader is not in the configuration';
    if (this.leadTransferee !== NONE) return `leadership transfer to ${this.leadTransferee} in progress`;
    let list = entries;
    for (let i = 0; i < entries.length; i++) {
      if (entries[i]!.type !== 'confChange') continue;
      if (this.pendingConfIndex > this.log.applied) {
        // One membership change at a time: refuse locally; a forwarded one becomes a no-op entry
        // (as etcd does), since the proposer is remote and cannot be told.
        if (from === this.id) return 'a configuration change is already pending';
        if (list === entries) list = entries.slice();
        (list as ProposalEntry[])[i] = { type: 'normal', data: EMPTY_BYTES };
      } else {
        this.pendingConfIndex = this.log.lastIndex() + i + 1;
      }
    }
    if (!this.appendEntries(list)) return 'too many uncommitted bytes';
    this.bcastAppend();
    return undefined;
  }

  private appendEntries(es: readonly ProposalEntry[]): boolean {
    let bytes = 0;
    for (const e of es) bytes += e.data.length;
    // Refuse when too much is uncommitted, but always accept when nothing is (so one large
    // proposal cannot block forever), and never refuse an empty entry.
    if (this.uncommittedBytes > 0 && bytes > 0 && this.uncommittedBytes + bytes > UNCOMMITTED_BYTES_MAX) return false;
    this.uncommittedBytes += bytes;
    const li = this.log.lastIndex();
    const ents: Entry[] = new Array<Entry>(es.length);
    for (let i = 0; i < es.length; i++) ents[i] = { term: this.term, index: li + 1 + i, type: es[i]!.type, data: es[i]!.data };
    const newLast = this.log.append(ents);
    // Classic mode: the leader's copy counts at once (the caller persists before advance).
    // Otherwise it counts when reportPersisted says the disk has it.
    if (!this.countSelfWhenPersisted) {
      this.prs.progress.get(this.id)!.maybeUpdate(newLast);
      if (this.maybeCommit()) this.releasePendingReadIndex();
    }
    return true;
  }

  reportPersisted(index: number, term: number): void {
    if (!this.countSelfWhenPersisted || this.state !== 'leader' || term !== this.term) return;
    if (!(Number.isSafeInteger(index) && index >= 0) || index > this.log.lastIndex()) return;
    const self = this.prs.progress.get(this.id);
    if (self === undefined || !self.maybeUpdate(index)) return;
    if (this.maybeCommit()) {
      this.releasePendingReadIndex();
      this.bcastAppend();
    }
  }

  reduceUncommittedBytes(ents: readonly Entry[]): void {
    if (this.uncommittedBytes === 0) return;
    let bytes = 0;
    for (const e of ents) bytes += e.data.length;
    this.uncommittedBytes = bytes > this.uncommittedBytes ? 0 : this.uncommittedBytes - bytes;
  }

  /** Advance commit to what a quorum holds, counting only entries of the current term. */
  maybeCommit(): boolean {
    const mci = this.prs.committed();
    if (this.commitPreviousTermByCounting) {
      // Deliberately unsafe (Raft paper figure 8): ignore the current-term rule.
      if (mci > this.log.committed) {
        this.log.commitTo(mci);
        return true;
      }
      return false;
    }
    return this.log.maybeCommit(mci, this.term);
  }

  private committedEntryInCurrentTerm(): boolean {
    return this.log.term(this.log.committed) === this.term;
  }

  // ---- ReadIndex ----

  readIndex(context: Uint8Array, from: NodeId): void {
    switch (this.state) {
      case 'leader':
        break;
      case 'follower':
        if (this.lead === NONE) {
          this.logger.info({ raftId: this.id }, 'raft: no leader, dropping ReadIndex');
          return;
        }
        if (from !== this.id) {
          // A request forwarded to us while we are no longer leader: relaying it would make its
          // answer come back to us, not to the member that asked. It retries.
          this.logger.info({ raftId: this.id, from }, 'raft: not leader, dropping forwarded ReadIndex');
          return;
        }
        this.send({ type: 'MsgReadIndex', from: this.id, to: this.lead, term: 0, context });
        return;
      default:
        this.logger.info({ raftId: this.id, state: this.state }, 'raft: no leader, dropping ReadIndex');
        return;
    }
    if (this.prs.voterCount === 1 && this.prs.isVoter(this.id)) {
      // Sole voter: our commit index is linearizable without asking anyone.
      this.respondToReadIndex(from, context, this.log.committed);
      return;
    }
    if (context.length === 0) {
      // The heartbeat round matches acks by context: an empty one can never be confirmed.
      this.logger.warn({ raftId: this.id, from }, 'raft: dropping ReadIndex with an empty context');
      return;
    }
    if (!this.committedEntryInCurrentTerm()) {
      // Our commit index may be behind the previous leader's until our first entry commits:
      // hold the request until then (etcd 3.5 behaviour), up to a limit.
      if (this.pendingReadIndex.length >= PENDING_READ_INDEX_MAX) {
        this.logger.warn({ raftId: this.id, from }, 'raft: too many pending ReadIndex requests, dropping');
        return;
      }
      this.pendingReadIndex.push({ from, context });
      return;
    }
    this.startReadIndex(from, context);
  }

  private startReadIndex(from: NodeId, context: Uint8Array): void {
    if (!this.readOnly.addRequest(this.log.committed, { from, context })) {
      this.logger.debug({ raftId: this.id, from }, 'raft: duplicate or too many in-flight ReadIndex, dropping');
      return;
    }
    this.readOnly.recvAck(this.id, context);
    for (const id of this.prs.ids) if (id !== this.id) this.sendHeartbeat(id, context);
  }

  private releasePendingReadIndex(): void {
    if (this.pendingReadIndex.length === 0 || !this.committedEntryInCurrentTerm()) return;
    const pending = this.pendingReadIndex;
    this.pendingReadIndex = [];
    for (const p of pending) this.startReadIndex(p.from, p.context);
  }

  private respondToReadIndex(from: NodeId, context: Uint8Array, index: number): void {
    if (from === this.id) this.readStates.push({ index, context });
    else this.send({ type: 'MsgReadIndexResp', from: this.id, to: from, term: this.term, index, context });
  }

  // ---- leadership transfer ----

  transferLeader(transferee: NodeId): void {
    if (this.state !== 'leader') {
      if (this.state === 'follower' && this.lead !== NONE) {
        this.send({ type: 'MsgTransferLeader', from: this.id, to: this.lead, term: this.term, transferee });
      } else {
        this.logger.info({ raftId: this.id, transferee }, 'raft: no leader, dropping leader transfer');
      }
      return;
    }
    const pr = this.prs.progress.get(transferee);
    if (pr === undefined || pr.isLearner) {
      this.logger.info({ raftId: this.id, transferee }, 'raft: ignored transfer to a non-voter');
      return;
    }
    if (this.leadTransferee !== NONE) {
      if (this.leadTransferee === transferee) return; // already under way
      this.abortLeaderTransfer();
    }
    if (transferee === this.id) return; // already leader
    // The transfer must finish within one election timeout, counted from now.
    this.electionElapsed = 0;
    this.leadTransferee = transferee;
    this.logger.info({ raftId: this.id, term: this.term, transferee }, 'raft: starting leadership transfer');
    if (pr.match === this.log.lastIndex()) this.sendTimeoutNow(transferee);
    else this.sendAppend(transferee);
  }

  abortLeaderTransfer(): void {
    this.leadTransferee = NONE;
  }

  // ---- membership ----

  applyConfChange(cc: ConfChange): ConfState {
    if (cc.nodeId === NONE) return this.prs.confState();
    const pr = this.prs.progress.get(cc.nodeId);
    switch (cc.type) {
      case 'addNode':
        if (pr === undefined) this.addProgress(cc.nodeId, false);
        else if (pr.isLearner) this.prs.promote(cc.nodeId);
        break;
      case 'addLearner':
        if (pr === undefined) this.addProgress(cc.nodeId, true);
        else if (!pr.isLearner) this.logger.info({ raftId: this.id, nodeId: cc.nodeId }, 'raft: ignored addLearner of a voter (no demotion)');
        break;
      case 'removeNode':
        if (pr !== undefined) this.prs.remove(cc.nodeId);
        break;
      default: {
        const never: never = cc.type;
        throw new Error(`unknown conf change type ${String(never)}`);
      }
    }
    const self = this.prs.progress.get(this.id);
    this.isLearner = self?.isLearner ?? false;
    const cs = this.prs.confState();
    this.logger.info({ raftId: this.id, term: this.term, change: cc.type, nodeId: cc.nodeId, voters: cs.voters, learners: cs.learners },
      'raft: applied conf change');
    if (this.state !== 'leader') return cs;
    if (self === undefined || self.isLearner) {
      // A leader removed from the voters must not go on leading a configuration it is not
      // part of: step down and let the remaining voters elect among themselves.
      this.logger.info({ raftId: this.id, term: this.term }, 'raft: leader removed from the configuration, stepping down');
      this.becomeFollower(this.term, NONE);
      return cs;
    }
    if (this.prs.voterCount === 0) return cs;
    // The quorum changed: entries may commit now, and new members need their first MsgApp.
    if (this.maybeCommit()) {
      this.releasePendingReadIndex();
      this.bcastAppend();
    } else {
      for (const id of this.prs.ids) if (id !== this.id) this.maybeSendAppend(id, false);
    }
    if (this.leadTransferee !== NONE && !this.prs.isVoter(this.leadTransferee)) this.abortLeaderTransfer();
    return cs;
  }

  private addProgress(id: NodeId, isLearner: boolean): void {
    const pr = this.prs.add(id, this.log.lastIndex() + 1, isLearner);
    // Count a new member as active so check-quorum does not depose us before it answers.
    pr.recentActive = true;
  }

  // ---- reports from the transport ----

  reportUnreachable(id: NodeId): void {
    if (this.state !== 'leader') return;
    const pr = this.prs.progress.get(id);
    // Stop optimistic pipelining: probe until the follower answers again.
    if (pr && pr.state === 'replicate') pr.becomeProbe();
  }

  reportSnapshot(id: NodeId, failed: boolean): void {
    if (this.state !== 'leader') return;
    const pr = this.prs.progress.get(id);
    if (!pr || pr.state !== 'snapshot') return;
    if (failed) pr.pendingSnapshot = 0;
    pr.becomeProbe();
    // Wait for the next heartbeat response before probing: the follower may still be busy
    // applying the snapshot.
    pr.probeSent = true;
  }
}
