// The v2 store layer: the keys state machine and the v2 auth state machine.
export { V2Store, type V2StoreOptions } from './store.js';
export { V2_EVENT_HISTORY_MAX } from './history.js';
export { V2_WATCHER_EVENT_QUEUE_MAX } from './watcher_hub.js';
export { V2Error, V2_ERRORS, type V2ErrorCode } from './errors.js';
export type { V2Request, V2Event, V2Watcher, V2NodeJson, V2EventJson, V2Action } from './types.js';
export {
  V2AuthStore, AuthError, hashV2Password, verifyV2Password, ROOT_ROLE, GUEST_ROLE,
  type V2AuthCommand, type V2AuthResult, type V2User, type V2UserOut, type V2Role, type V2Permissions, type V2PermissionsInput,
} from './auth.js';
