// The cluster's membership as the applied log says it is: members with their peer URLs and
// published attributes, the ids removed for good, and the decided cluster version. Changed only
// by applying entries, so every member holds the same view at the same index.
export interface Member {
  readonly id: string;
  name: string;
  peerUrls: string[];
  clientUrls: string[];
  isLearner: boolean;
}

export interface MembershipState {
  readonly clusterId: string;
  readonly members: Member[];
  readonly removed: string[];
  readonly clusterVersion: string;
}

export class Membership {
  readonly clusterId: string;
  private readonly members = new Map<string, Member>();
  private readonly removed = new Set<string>();
  /** '' until the leader decides it ("not_decided" in /version). */
  clusterVersion = '';

  constructor(clusterId: string) {
    this.clusterId = clusterId;
  }

  static fromState(s: MembershipState): Membership {
    const m = new Membership(s.clusterId);
    for (const mem of s.members) m.members.set(mem.id, { ...mem, peerUrls: [...mem.peerUrls], clientUrls: [...mem.clientUrls] });
    for (const id of s.removed) m.removed.add(id);
    m.clusterVersion = s.clusterVersion;
    return m;
  }

  state(): MembershipState {
    return {
      clusterId: this.clusterId,
      members: this.list().map((m) => ({ ...m })),
      removed: [...this.removed].sort(),
      clusterVersion: this.clusterVersion,
    };
  }

  /** Members sorted by id, as etcd lists them. */
  list(): Member[] {
    return [...this.members.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  get(id: string): Member | undefined {
    return this.members.get(id);
  }

  isRemoved(id: string): boolean {
    return this.removed.has(id);
  }

  hasPeerUrl(url: string): Member | undefined {
    for (const m of this.members.values()) if (m.peerUrls.includes(url)) return m;
    return undefined;
  }

  add(m: Member): void {
    if (this.removed.has(m.id)) throw new Error(`membership: member ${m.id} was removed and cannot be added again`);
    this.members.set(m.id, m);
  }

  remove(id: string): void {
    this.members.delete(id);
    this.removed.add(id);
  }

  promote(id: string): void {
    const m = this.members.get(id);
    if (m !== undefined) m.isLearner = false;
  }

  updatePeerUrls(id: string, peerUrls: string[]): void {
    const m = this.members.get(id);
    if (m !== undefined) m.peerUrls = [...peerUrls];
  }

  publish(id: string, name: string, clientUrls: readonly string[]): void {
    const m = this.members.get(id);
    if (m === undefined) return; // published after removal: etcd ignores it too
    m.name = name;
    m.clientUrls = [...clientUrls];
  }
}
