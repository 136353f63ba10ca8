// Errors of the member itself (not of a store), with etcd's texts. The API layers map them:
// v2 answers 300 "Raft Internal Error" with the text as cause; v3 maps them to gRPC codes.

export const SERVER_ERRORS = {
  timeout: 'etcdserver: request timed out',
  leaderLost: 'etcdserver: request timed out, possibly due to previous leader failure',
  noLeader: 'etcdserver: no leader',
  stopped: 'etcdserver: server stopped',
  tooManyRequests: 'etcdserver: too many requests',
  notStarted: 'etcdserver: not enough started members',
  unhealthy: 'etcdserver: unhealthy cluster',
  memberExists: 'etcdserver: member ID already exist',
  memberNotFound: 'etcdserver: member not found',
  memberRemoved: 'etcdserver: member was removed',
  peerUrlExists: 'etcdserver: Peer URLs already exists',
  learnerNotReady: 'etcdserver: can only promote a learner member which is in sync with leader',
  notLearner: 'etcdserver: can only promote a learner member',
  tooManyLearners: 'etcdserver: too many learner members in cluster',
} as const;

export type ServerErrorKind = keyof typeof SERVER_ERRORS;

export class ServerError extends Error {
  readonly kind: ServerErrorKind;
  constructor(kind: ServerErrorKind) {
    super(SERVER_ERRORS[kind]);
    this.name = 'ServerError';
    this.kind = kind;
  }
}
