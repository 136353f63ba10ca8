export * from './store.js';
export { verifyPassword, PASSWORD_BYTES_MAX } from './password.js';
export { AUTH_TOKENS_MAX } from './tokens.js';
