// The gRPC methods a member serves, as grpc-prometheus labels them. etcd registers the
// interceptor metrics for every method of the services registered before
// grpc_prometheus.Register(server), so those series exist at 0 from the first scrape; the Lock and
// Election services are registered later and appear once called.

export type GrpcType = 'unary' | 'client_stream' | 'server_stream' | 'bidi_stream';

export interface GrpcMethodInfo {
  readonly service: string;
  readonly method: string;
  readonly type: GrpcType;
  /** Series exist at 0 before the first call (as in etcd 3.4.23). */
  readonly preinitialized: boolean;
}

/** grpc-go's codes in number order; grpc_code label values. */
export const GRPC_CODE_NAMES = [
  'OK', 'Canceled', 'Unknown', 'InvalidArgument', 'DeadlineExceeded', 'NotFound', 'AlreadyExists', 'PermissionDenied',
  'ResourceExhausted', 'FailedPrecondition', 'Aborted', 'OutOfRange', 'Unimplemented', 'Internal', 'Unavailable', 'DataLoss',
  'Unauthenticated',
] as const;

// Captured from etcd 3.4.23's grpc_server_started_total at its first scrape.
const PREINITIALIZED: ReadonlyArray<readonly [string, string, GrpcType]> = [
  ['etcdserverpb.Maintenance', 'Alarm', 'unary'],
  ['etcdserverpb.Auth', 'AuthDisable', 'unary'],
  ['etcdserverpb.Auth', 'AuthEnable', 'unary'],
  ['etcdserverpb.Auth', 'Authenticate', 'unary'],
  ['grpc.health.v1.Health', 'Check', 'unary'],
  ['etcdserverpb.KV', 'Compact', 'unary'],
  ['etcdserverpb.Maintenance', 'Defragment', 'unary'],
  ['etcdserverpb.KV', 'DeleteRange', 'unary'],
  ['etcdserverpb.Maintenance', 'Hash', 'unary'],
  ['etcdserverpb.Maintenance', 'HashKV', 'unary'],
  ['etcdserverpb.Lease', 'LeaseGrant', 'unary'],
  ['etcdserverpb.Lease', 'LeaseKeepAlive', 'bidi_stream'],
  ['etcdserverpb.Lease', 'LeaseLeases', 'unary'],
  ['etcdserverpb.Lease', 'LeaseRevoke', 'unary'],
  ['etcdserverpb.Lease', 'LeaseTimeToLive', 'unary'],
  ['etcdserverpb.Cluster', 'MemberAdd', 'unary'],
  ['etcdserverpb.Cluster', 'MemberList', 'unary'],
  ['etcdserverpb.Cluster', 'MemberPromote', 'unary'],
  ['etcdserverpb.Cluster', 'MemberRemove', 'unary'],
  ['etcdserverpb.Cluster', 'MemberUpdate', 'unary'],
  ['etcdserverpb.Maintenance', 'MoveLeader', 'unary'],
  ['etcdserverpb.KV', 'Put', 'unary'],
  ['etcdserverpb.KV', 'Range', 'unary'],
  ['etcdserverpb.Auth', 'RoleAdd', 'unary'],
  ['etcdserverpb.Auth', 'RoleDelete', 'unary'],
  ['etcdserverpb.Auth', 'RoleGet', 'unary'],
  ['etcdserverpb.Auth', 'RoleGrantPermission', 'unary'],
  ['etcdserverpb.Auth', 'RoleList', 'unary'],
  ['etcdserverpb.Auth', 'RoleRevokePermission', 'unary'],
  ['etcdserverpb.Maintenance', 'Snapshot', 'server_stream'],
  ['etcdserverpb.Maintenance', 'Status', 'unary'],
  ['etcdserverpb.KV', 'Txn', 'unary'],
  ['etcdserverpb.Auth', 'UserAdd', 'unary'],
  ['etcdserverpb.Auth', 'UserChangePassword', 'unary'],
  ['etcdserverpb.Auth', 'UserDelete', 'unary'],
  ['etcdserverpb.Auth', 'UserGet', 'unary'],
  ['etcdserverpb.Auth', 'UserGrantRole', 'unary'],
  ['etcdserverpb.Auth', 'UserList', 'unary'],
  ['etcdserverpb.Auth', 'UserRevokeRole', 'unary'],
  ['etcdserverpb.Watch', 'Watch', 'bidi_stream'],
  ['grpc.health.v1.Health', 'Watch', 'server_stream'],
];

const LAZY: ReadonlyArray<readonly [string, string, GrpcType]> = [
  ['v3lockpb.Lock', 'Lock', 'unary'],
  ['v3lockpb.Lock', 'Unlock', 'unary'],
  ['v3electionpb.Election', 'Campaign', 'unary'],
  ['v3electionpb.Election', 'Proclaim', 'unary'],
  ['v3electionpb.Election', 'Leader', 'unary'],
  ['v3electionpb.Election', 'Observe', 'server_stream'],
  ['v3electionpb.Election', 'Resign', 'unary'],
];

export const GRPC_METHODS: readonly GrpcMethodInfo[] = [
  ...PREINITIALIZED.map(([service, method, type]) => ({ service, method, type, preinitialized: true })),
  ...LAZY.map(([service, method, type]) => ({ service, method, type, preinitialized: false })),
];
