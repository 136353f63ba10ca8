// Named limits of the Raft core. Each says what happens at the limit.

/** Bytes charged per entry on top of its data when sizing batches (term + index + type, framed).
 *  A constant rather than an encoded size so that sizing a batch costs one addition per entry. */
export const ENTRY_OVERHEAD_BYTES = 24;

/** Most entries in one MsgApp or MsgProp. The leader never sends more in one MsgApp (it splits
 *  the batch); a received message with more is malformed and dropped with a logged reason. */
export const MAX_ENTRIES_PER_MESSAGE = 65536;

/** Default limit on entries in one proposal batch when config.maxProposalEntries is unset;
 *  a larger batch is refused with ProposalDroppedError. */
export const PROPOSAL_ENTRIES_MAX_DEFAULT = 4096;

/** Default limit on the bytes of one proposal batch when config.maxProposalBytes is unset;
 *  a larger batch is refused with ProposalDroppedError. */
export const PROPOSAL_BYTES_MAX_DEFAULT = 16 * 1024 * 1024;

/** Limit on the bytes of entries a leader holds appended but not committed (etcd's
 *  MaxUncommittedEntriesSize). Above it new proposals are refused with ProposalDroppedError until
 *  commits catch up, so a leader cut off from its quorum cannot grow its log without bound.
 *  A proposal is always accepted when nothing is uncommitted, however large. */
export const UNCOMMITTED_BYTES_MAX = 256 * 1024 * 1024;

/** Limit on ReadIndex requests a leader queues before it has committed an entry in its term;
 *  more are dropped (logged), and the client retries as with any dropped read. */
export const PENDING_READ_INDEX_MAX = 4096;

/** Limit on ReadIndex requests awaiting a heartbeat quorum on the leader; more are dropped
 *  (logged). */
export const READ_INDEX_IN_FLIGHT_MAX = 65536;

/** Limit on the bytes of committed entries handed out in one Ready; the rest come in the next
 *  Ready. At least one entry is always handed out. */
export const COMMITTED_BYTES_PER_READY_MAX = 64 * 1024 * 1024;
