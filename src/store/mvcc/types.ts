// The v3 KV requests and responses as the stores see them: etcd's etcdserverpb/mvccpb messages
// with protobufjs's camelCase field names, int64 revisions as JS numbers and lease ids as bigint
// (etcd's lease ids use all 63 bits). The gRPC layer converts wire messages to these and back;
// the raft log carries them msgpack-encoded (msgpackr round-trips bigint).
// Absent optional fields mean proto3 defaults (0, false, empty).

export type Bytes = Uint8Array;
export type LeaseId = bigint;

export interface KeyValue {
  key: Bytes;
  createRevision: number;
  modRevision: number;
  version: number;
  value: Bytes;
  /** 0n when the key has no lease. */
  lease: LeaseId;
}

export type SortOrder = 'NONE' | 'ASCEND' | 'DESCEND';
export type SortTarget = 'KEY' | 'VERSION' | 'CREATE' | 'MOD' | 'VALUE';

export interface RangeRequest {
  key: Bytes;
  rangeEnd?: Bytes;
  limit?: number;
  revision?: number;
  sortOrder?: SortOrder;
  sortTarget?: SortTarget;
  serializable?: boolean;
  keysOnly?: boolean;
  countOnly?: boolean;
  minModRevision?: number;
  maxModRevision?: number;
  minCreateRevision?: number;
  maxCreateRevision?: number;
}
export interface RangeResponse {
  kvs: KeyValue[];
  more: boolean;
  count: number;
}

export interface PutRequest {
  key: Bytes;
  value?: Bytes;
  lease?: LeaseId;
  prevKv?: boolean;
  ignoreValue?: boolean;
  ignoreLease?: boolean;
}
export interface PutResponse {
  prevKv?: KeyValue;
}

export interface DeleteRangeRequest {
  key: Bytes;
  rangeEnd?: Bytes;
  prevKv?: boolean;
}
export interface DeleteRangeResponse {
  deleted: number;
  prevKvs: KeyValue[];
}

export type CompareResult = 'EQUAL' | 'GREATER' | 'LESS' | 'NOT_EQUAL';
export type CompareTarget = 'VERSION' | 'CREATE' | 'MOD' | 'VALUE' | 'LEASE';

export interface Compare {
  result?: CompareResult; // default EQUAL
  target?: CompareTarget; // default VERSION
  key: Bytes;
  rangeEnd?: Bytes;
  version?: number;
  createRevision?: number;
  modRevision?: number;
  value?: Bytes;
  lease?: LeaseId;
}

export type RequestOp =
  | { requestRange: RangeRequest }
  | { requestPut: PutRequest }
  | { requestDeleteRange: DeleteRangeRequest }
  | { requestTxn: TxnRequest };

export type ResponseOp =
  | { responseRange: RangeResponse }
  | { responsePut: PutResponse }
  | { responseDeleteRange: DeleteRangeResponse }
  | { responseTxn: TxnResponse };

export interface TxnRequest {
  compare?: Compare[];
  success?: RequestOp[];
  failure?: RequestOp[];
}
export interface TxnResponse {
  succeeded: boolean;
  responses: ResponseOp[];
}

export interface CompactionRequest {
  revision: number;
  physical?: boolean;
}

export type EventType = 'PUT' | 'DELETE';
export interface MvccEvent {
  type: EventType;
  kv: KeyValue;
  prevKv?: KeyValue;
}
