// The replicated state machine of a member: the v2 store, the v2 auth state and the membership.
// Applying the same entries in the same order gives the same state on every member; a snapshot
// is this state encoded at one index.
import { Packr } from 'msgpackr';
import { V2Store } from '../store/v2/store.js';
import { V2AuthStore, type V2AuthCommand } from '../store/v2/auth.js';
import { Membership, type MembershipState } from './membership.js';
import type { Command } from './command.js';
import type { V3State } from './v3.js';

const packr = new Packr({ useRecords: false, moreTypes: false });

export interface AppliedSnapshotData {
  readonly v2: Uint8Array;
  readonly auth: Uint8Array;
  readonly membership: MembershipState;
  /** Only in snapshots sent to a follower: the v3 state, which the local backend already holds
   *  for snapshots kept on disk. */
  readonly v3?: Uint8Array;
}

export class StateMachine {
  v2: V2Store;
  auth: V2AuthStore;
  membership: Membership;
  readonly v3: V3State;

  constructor(v2: V2Store, auth: V2AuthStore, membership: Membership, v3: V3State) {
    this.v2 = v2;
    this.auth = auth;
    this.membership = membership;
    this.v3 = v3;
  }

  /** Applies one command; returns what the proposer's waiter receives, or throws the typed error
   *  (V2Error, AuthError) the proposer's client should see. Never throws for anything else. */
  apply(cmd: Command): unknown {
    switch (cmd.t) {
      case 'v2':
        return this.v2.apply(cmd.req);
      case 'v3':
        return this.v3.apply(cmd.req, cmd);
      case 'v2auth':
        return this.auth.applyAuth(cmd.cmd as V2AuthCommand);
      case 'publish':
        this.membership.publish(cmd.memberId, cmd.attrs.name, cmd.attrs.clientUrls);
        return undefined;
      case 'memberUpdate':
        this.membership.updatePeerUrls(cmd.memberId, [...cmd.peerUrls]);
        return undefined;
      case 'clusterVersion':
        this.membership.clusterVersion = cmd.version;
        return undefined;
      case 'noop':
        return undefined;
      default: {
        const never: never = cmd;
        throw new Error(`unknown command ${(never as { t: string }).t}`);
      }
    }
  }

  /** The state a snapshot on disk keeps (v2, membership); withV3 adds the v3 state for a
   *  snapshot sent to a follower. */
  save(withV3 = false): Uint8Array {
    const data: AppliedSnapshotData = {
      v2: this.v2.save(),
      auth: this.auth.save(),
      membership: this.membership.state(),
      ...(withV3 ? { v3: this.v3.saveSnapshot() } : {}),
    };
    return packr.pack(data);
  }

  /** Re-encodes a snapshot's data with the current v3 state added (see save). */
  static withV3(data: Uint8Array, v3: V3State): Uint8Array {
    const d = packr.unpack(data) as AppliedSnapshotData;
    return packr.pack({ ...d, v3: v3.saveSnapshot() });
  }

  /** The v2 side and membership of a snapshot, with the given v3 state (restored separately). */
  static recover(data: Uint8Array, nowMs: () => number, v3: V3State): { sm: StateMachine; v3Data: Uint8Array | undefined } {
    const d = packr.unpack(data) as AppliedSnapshotData;
    return {
      sm: new StateMachine(V2Store.recover(d.v2, { nowMs }), V2AuthStore.recover(d.auth), Membership.fromState(d.membership), v3),
      v3Data: d.v3,
    };
  }
}
