// The one table of v3 errors: etcd's rpctypes (api/v3rpc/rpctypes/error.go) — the gRPC status
// code and the exact message clients match on. Stores and appliers throw V3Error(kind); the gRPC
// layer turns it into a status, the gateway into etcd's JSON error body.

/** gRPC status codes used by etcd. */
export const GrpcCode = {
  OK: 0, CANCELLED: 1, UNKNOWN: 2, INVALID_ARGUMENT: 3, DEADLINE_EXCEEDED: 4, NOT_FOUND: 5,
  ALREADY_EXISTS: 6, PERMISSION_DENIED: 7, RESOURCE_EXHAUSTED: 8, FAILED_PRECONDITION: 9,
  ABORTED: 10, OUT_OF_RANGE: 11, UNIMPLEMENTED: 12, INTERNAL: 13, UNAVAILABLE: 14, DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

const C = GrpcCode;

export const V3_ERRORS = {
  emptyKey: [C.INVALID_ARGUMENT, 'etcdserver: key is not provided'],
  keyNotFound: [C.INVALID_ARGUMENT, 'etcdserver: key not found'],
  valueProvided: [C.INVALID_ARGUMENT, 'etcdserver: value is provided'],
  leaseProvided: [C.INVALID_ARGUMENT, 'etcdserver: lease is provided'],
  tooManyOps: [C.INVALID_ARGUMENT, 'etcdserver: too many operations in txn request'],
  duplicateKey: [C.INVALID_ARGUMENT, 'etcdserver: duplicate key given in txn request'],
  compacted: [C.OUT_OF_RANGE, 'etcdserver: mvcc: required revision has been compacted'],
  futureRev: [C.OUT_OF_RANGE, 'etcdserver: mvcc: required revision is a future revision'],
  noSpace: [C.RESOURCE_EXHAUSTED, 'etcdserver: mvcc: database space exceeded'],

  leaseNotFound: [C.NOT_FOUND, 'etcdserver: requested lease not found'],
  leaseExist: [C.FAILED_PRECONDITION, 'etcdserver: lease already exists'],
  leaseTTLTooLarge: [C.OUT_OF_RANGE, 'etcdserver: too large lease TTL'],

  memberExist: [C.FAILED_PRECONDITION, 'etcdserver: member ID already exist'],
  peerURLExist: [C.FAILED_PRECONDITION, 'etcdserver: Peer URLs already exists'],
  memberNotEnoughStarted: [C.FAILED_PRECONDITION, 'etcdserver: re-configuration failed due to not enough started members'],
  memberBadURLs: [C.INVALID_ARGUMENT, 'etcdserver: given member URLs are invalid'],
  memberNotFound: [C.NOT_FOUND, 'etcdserver: member not found'],
  memberNotLearner: [C.FAILED_PRECONDITION, 'etcdserver: can only promote a learner member'],
  learnerNotReady: [C.FAILED_PRECONDITION, 'etcdserver: can only promote a learner member which is in sync with leader'],
  tooManyLearners: [C.FAILED_PRECONDITION, 'etcdserver: too many learner members in cluster'],

  requestTooLarge: [C.INVALID_ARGUMENT, 'etcdserver: request is too large'],
  tooManyRequests: [C.RESOURCE_EXHAUSTED, 'etcdserver: too many requests'],

  rootUserNotExist: [C.FAILED_PRECONDITION, 'etcdserver: root user does not exist'],
  rootRoleNotExist: [C.FAILED_PRECONDITION, 'etcdserver: root user does not have root role'],
  userAlreadyExist: [C.FAILED_PRECONDITION, 'etcdserver: user name already exists'],
  userEmpty: [C.INVALID_ARGUMENT, 'etcdserver: user name is empty'],
  userNotFound: [C.FAILED_PRECONDITION, 'etcdserver: user name not found'],
  roleAlreadyExist: [C.FAILED_PRECONDITION, 'etcdserver: role name already exists'],
  roleNotFound: [C.FAILED_PRECONDITION, 'etcdserver: role name not found'],
  roleEmpty: [C.INVALID_ARGUMENT, 'etcdserver: role name is empty'],
  authFailed: [C.INVALID_ARGUMENT, 'etcdserver: authentication failed, invalid user ID or password'],
  // Not in rpctypes: etcd's auth.ErrNoPasswordUser reaches the client as gRPC Unknown (verified
  // against 3.4.23: Authenticate of a user added with --no-password).
  noPasswordUser: [C.UNKNOWN, 'auth: authentication failed, password was given for no password user'],
  permissionDenied: [C.PERMISSION_DENIED, 'etcdserver: permission denied'],
  roleNotGranted: [C.FAILED_PRECONDITION, 'etcdserver: role is not granted to the user'],
  permissionNotGranted: [C.FAILED_PRECONDITION, 'etcdserver: permission is not granted to the role'],
  authNotEnabled: [C.FAILED_PRECONDITION, 'etcdserver: authentication is not enabled'],
  invalidAuthToken: [C.UNAUTHENTICATED, 'etcdserver: invalid auth token'],
  invalidAuthMgmt: [C.INVALID_ARGUMENT, 'etcdserver: invalid auth management'],
  authOldRevision: [C.INVALID_ARGUMENT, 'etcdserver: revision of auth store is old'],

  noLeader: [C.UNAVAILABLE, 'etcdserver: no leader'],
  notLeader: [C.FAILED_PRECONDITION, 'etcdserver: not leader'],
  leaderChanged: [C.UNAVAILABLE, 'etcdserver: leader changed'],
  notCapable: [C.UNAVAILABLE, 'etcdserver: not capable'],
  stopped: [C.UNAVAILABLE, 'etcdserver: server stopped'],
  timeout: [C.UNAVAILABLE, 'etcdserver: request timed out'],
  timeoutDueToLeaderFail: [C.UNAVAILABLE, 'etcdserver: request timed out, possibly due to previous leader failure'],
  timeoutDueToConnectionLost: [C.UNAVAILABLE, 'etcdserver: request timed out, possibly due to connection lost'],
  unhealthy: [C.UNAVAILABLE, 'etcdserver: unhealthy cluster'],
  corrupt: [C.DATA_LOSS, 'etcdserver: corrupt cluster'],
  notSupportedForLearner: [C.UNAVAILABLE, 'etcdserver: rpc not supported for learner'],
  badLeaderTransferee: [C.FAILED_PRECONDITION, 'etcdserver: bad leader transferee'],
  noLeaderForWatch: [C.UNAVAILABLE, 'etcdserver: no leader'],

  // v3election / v3lock (concurrency package errors, returned as plain Go errors: code Unknown).
  electionNoLeader: [C.UNKNOWN, 'election: no leader'],
  electionNotLeader: [C.UNKNOWN, 'election: not leader'],
  electionMissingLeaderKey: [C.INVALID_ARGUMENT, '"leader" field must be provided'],
  sessionExpired: [C.UNKNOWN, 'session expired'],
  watchCanceled: [C.CANCELLED, 'etcdserver: watch canceled'],
} as const satisfies Record<string, readonly [number, string]>;

export type V3ErrorKind = keyof typeof V3_ERRORS;

export class V3Error extends Error {
  readonly kind: V3ErrorKind;
  readonly code: number;
  constructor(kind: V3ErrorKind) {
    super(V3_ERRORS[kind][1]);
    this.name = 'V3Error';
    this.kind = kind;
    this.code = V3_ERRORS[kind][0];
  }
}
