// The one table of v2 errors: etcd's v2error codes, messages and HTTP statuses.
// Handlers and the store throw V2Error(code, cause, index); nobody builds these strings elsewhere.

export const V2_ERRORS = {
  100: { message: 'Key not found', status: 404 },
  101: { message: 'Compare failed', status: 412 },
  102: { message: 'Not a file', status: 403 },
  103: { message: 'Reached the max number of peers in the cluster', status: 400 },
  104: { message: 'Not a directory', status: 400 },
  105: { message: 'Key already exists', status: 412 },
  106: { message: 'The prefix of given key is a keyword in etcd', status: 400 },
  107: { message: 'Root is read only', status: 400 },
  108: { message: 'Directory not empty', status: 403 },
  109: { message: 'Peer address has existed', status: 400 },
  110: { message: 'The request requires user authentication', status: 401 },
  200: { message: 'Value is Required in POST form', status: 400 },
  201: { message: 'PrevValue is Required in POST form', status: 400 },
  202: { message: 'The given TTL in POST form is not a number', status: 400 },
  203: { message: 'The given index in POST form is not a number', status: 400 },
  204: { message: 'Value or TTL is required in POST form', status: 400 },
  205: { message: 'The given timeout in POST form is not a number', status: 400 },
  206: { message: 'Name is required in POST form', status: 400 },
  207: { message: 'Index or value is required', status: 400 },
  208: { message: 'Index and value cannot both be specified', status: 400 },
  209: { message: 'Invalid field', status: 400 },
  210: { message: 'Invalid POST form', status: 400 },
  211: { message: 'Value provided on refresh', status: 400 },
  212: { message: 'A TTL must be provided on refresh', status: 400 },
  300: { message: 'Raft Internal Error', status: 500 },
  301: { message: 'During Leader Election', status: 500 },
  400: { message: 'watcher is cleared due to etcd recovery', status: 400 },
  401: { message: 'The event in requested index is outdated and cleared', status: 400 },
  402: { message: 'Standby Internal Error', status: 400 },
  403: { message: 'Invalid active size', status: 400 },
  404: { message: 'Standby remove error', status: 400 },
  500: { message: 'Client Internal Error', status: 500 },
} as const;

export type V2ErrorCode = keyof typeof V2_ERRORS;

export class V2Error extends Error {
  readonly errorCode: V2ErrorCode;
  readonly cause_: string;
  /** The store index when the error happened (etcd's `index` field and X-Etcd-Index). */
  index: number;
  constructor(code: V2ErrorCode, cause = '', index = 0) {
    super(V2_ERRORS[code].message);
    this.name = 'V2Error';
    this.errorCode = code;
    this.cause_ = cause;
    this.index = index;
  }
  get status(): number {
    return V2_ERRORS[this.errorCode].status;
  }
  /** etcd's body: cause omitted when empty. Key order as etcd's. */
  toJSON(): { errorCode: number; message: string; cause?: string; index: number } {
    return this.cause_ === ''
      ? { errorCode: this.errorCode, message: this.message, index: this.index }
      : { errorCode: this.errorCode, message: this.message, cause: this.cause_, index: this.index };
  }
}
