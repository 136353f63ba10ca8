// etcd's --strict-reconfig-check: membership changes that would leave the cluster without a
// working quorum are refused before they are proposed (etcdserver mayAddMember/mayRemoveMember).
import type { PeerTransport } from '../api/peer/transport.js';
import type { RaftMember } from './member.js';
import { ServerError } from './errors.js';

/** A peer counts as up when connected for at least this long (etcd's HealthInterval). */
export const RECONFIG_HEALTH_INTERVAL_MS = 5000;

function connectedSince(t: PeerTransport, id: string, sinceMs: number): boolean {
  const s = t.stats()[id];
  return s !== undefined && s.connected && s.activeSince !== null && s.activeSince.getTime() <= sinceMs;
}

export function mayAddMember(m: RaftMember, t: PeerTransport, isLearner: boolean): void {
  if (!m.strictReconfigCheck) return;
  const voters = m.members().filter((x) => !x.isLearner);
  if (!isLearner) {
    // IsReadyToAddVotingMember: a started member has published its name.
    let nstarted = 0;
    for (const v of voters) if (v.name !== '') nstarted++;
    const nmembers = voters.length + 1;
    const restoring = nstarted === 1 && nmembers === 2; // growing a one-member cluster
    if (!restoring && nstarted < Math.floor(nmembers / 2) + 1) throw new ServerError('notStarted');
  }
  // isConnectedFullySince: every other voter connected for the last health interval.
  const since = Date.now() - RECONFIG_HEALTH_INTERVAL_MS;
  for (const v of voters) if (v.id !== m.id && !connectedSince(t, v.id, since)) throw new ServerError('unhealthy');
}

export function mayRemoveMember(m: RaftMember, t: PeerTransport, id: string): void {
  if (!m.strictReconfigCheck) return;
  const voters = m.members().filter((x) => !x.isLearner);
  const target = m.sm.membership.get(id);
  if (target === undefined || target.isLearner) return;
  const since = Date.now() - RECONFIG_HEALTH_INTERVAL_MS;
  let active = 1; // this member
  for (const v of voters) if (v.id !== m.id && connectedSince(t, v.id, since)) active++;
  if (id === m.id) {
    // Removing this member: the others must still have a quorum of the smaller cluster.
    if (active - 1 < Math.floor((voters.length - 1) / 2) + 1) throw new ServerError('unhealthy');
    return;
  }
  const targetActive = connectedSince(t, id, since);
  if ((targetActive ? active - 1 : active) < Math.floor((voters.length - 1) / 2) + 1) throw new ServerError('unhealthy');
}
