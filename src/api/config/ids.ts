// Member and cluster ids exactly as etcd 3.4 derives them (etcdserver/api/membership):
// a member id is the first 8 bytes (big-endian) of sha1(sorted peer URLs concatenated +
// cluster token [+ unix seconds, for members added at runtime]); the cluster id is the first
// 8 bytes of sha1 over the member ids, sorted numerically, 8 bytes big-endian each.
// Equal ids are what let tsetcd members, etcdctl and etcd's own tooling agree on who is who.
import { createHash } from 'node:crypto';
import { urlText } from './go.js';

function first8BytesBigEndian(digest: Buffer): bigint {
  return digest.readBigUInt64BE(0);
}

/** etcd ids as tsetcd prints them: 16 lower-case hex digits, zero-padded. */
export function formatId(id: bigint): string {
  return id.toString(16).padStart(16, '0');
}

/**
 * etcd's own text for an id (types.ID.String()): lower-case hex WITHOUT zero padding, as in
 * the X-Etcd-Cluster-ID header and in etcd's logs. Accepts a bigint or a hex string.
 */
export function etcdIdText(id: bigint | string): string {
  const v = typeof id === 'bigint' ? id : BigInt(`0x${id}`);
  return v.toString(16);
}

/** membership.NewMember's id. `addedAtUnixS` only for members added at runtime (member add). */
export function memberIdOf(peerUrls: readonly URL[], clusterToken: string, addedAtUnixS?: number): bigint {
  const texts = peerUrls.map(urlText).sort();
  let material = texts.join('') + clusterToken;
  if (addedAtUnixS !== undefined) material += String(Math.floor(addedAtUnixS));
  return first8BytesBigEndian(createHash('sha1').update(material, 'utf8').digest());
}

/** RaftCluster.genID over the given member ids. */
export function clusterIdOf(memberIds: readonly bigint[]): bigint {
  const sorted = [...memberIds].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const buf = Buffer.alloc(8 * sorted.length);
  sorted.forEach((id, i) => buf.writeBigUInt64BE(id, 8 * i));
  return first8BytesBigEndian(createHash('sha1').update(buf).digest());
}

/** Ids for a new cluster bootstrapped from --initial-cluster and --initial-cluster-token. */
export function deriveIds(
  initialCluster: ReadonlyArray<{ name: string; peerUrls: readonly URL[] }>,
  token: string,
): { clusterId: string; memberIds: Map<string, string> } {
  const memberIds = new Map<string, string>();
  const raw: bigint[] = [];
  for (const m of initialCluster) {
    const id = memberIdOf(m.peerUrls, token);
    raw.push(id);
    memberIds.set(m.name, formatId(id));
  }
  return { clusterId: formatId(clusterIdOf(raw)), memberIds };
}
