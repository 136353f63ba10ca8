// The replicated state machine of a member: the v2 store, the v2 auth state and the membership.
// Applying the same entries in the same order gives the same state on every member; a snapshot
// is this state encoded at one index.
import { Packr } from 'msgpackr';
import { V2Store } from '../store/v2/store.js';
import { V2AuthStore, type V2AuthCommand } from '../store/v2/auth.js';
import { Membership, type MembershipState } from './membership.js';
import type { Command } from './command.js';

const packr = new Packr({ useRecords: false, moreTypes: false });

export interface AppliedSnapshotData {
  readonly v2: Uint8Array;
  readonly auth: Uint8Array;
  readonly membership: MembershipState;
}

export class StateMachine {
  v2: V2Store;
  auth: V2AuthStore;
  membership: Membership;

  constructor(v2: V2Store, auth: V2AuthStore, membership: Membership) {
    this.v2 = v2;
    this.auth = auth;
    this.membership = membership;
  }

  /** Applies one command; returns what the proposer's waiter receives, or throws the typed error
   *  (V2Error, AuthError) the proposer's client should see. Never throws for anything else. */
  apply(cmd: Command): unknown {
    switch (cmd.t) {
      case 'v2':
        return this.v2.apply(cmd.req);
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

  save(): Uint8Array {
    const data: AppliedSnapshotData = { v2: this.v2.save(), auth: this.auth.save(), membership: this.membership.state() };
    return packr.pack(data);
  }

  static recover(data: Uint8Array, nowMs: () => number): StateMachine {
    const d = packr.unpack(data) as AppliedSnapshotData;
    return new StateMachine(V2Store.recover(d.v2, { nowMs }), V2AuthStore.recover(d.auth), Membership.fromState(d.membership));
  }
}
