// Simple tokens (etcd --auth-token=simple): opaque "<16 random letters>.<n>", held in this
// member's memory only, expiring after ttl of disuse (each use refreshes it), forgotten on
// restart, dropped when their user is deleted or changes password, or auth is disabled.
import { randomInt } from 'node:crypto';

/** At most this many live tokens per member; issuing one more first drops expired tokens, then
 *  the least recently used one (its client must authenticate again). */
export const AUTH_TOKENS_MAX = 65_536;
/** etcd's defaultSimpleTokenLength. */
export const SIMPLE_TOKEN_PREFIX_LETTERS = 16;

const LETTERS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';

interface Entry {
  user: string;
  expiresMs: number;
}

export class SimpleTokens {
  /** Insertion order = least recently used first (a use re-inserts). */
  private readonly tokens = new Map<string, Entry>();

  constructor(private readonly ttlMs: number) {
    if (!(ttlMs > 0)) throw new Error(`tokens: bad ttl ${ttlMs}`);
  }

  size(): number {
    return this.tokens.size;
  }

  /** A fresh token "<16 random letters>.<suffix>", not yet assigned. */
  static generate(suffix: number): string {
    let prefix = '';
    for (let i = 0; i < SIMPLE_TOKEN_PREFIX_LETTERS; i++) prefix += LETTERS[randomInt(LETTERS.length)];
    return `${prefix}.${suffix}`;
  }

  assign(user: string, suffix: number, nowMs: number): string {
    const token = SimpleTokens.generate(suffix);
    this.adopt(token, user, nowMs);
    return token;
  }

  /** Registers a token generated elsewhere: etcd assigns simple tokens through raft, so every
   *  member accepts a token any member issued. Re-adopting a known token refreshes it. */
  adopt(token: string, user: string, nowMs: number): void {
    if (this.tokens.has(token)) this.tokens.delete(token);
    if (this.tokens.size >= AUTH_TOKENS_MAX) this.evict(nowMs);
    this.tokens.set(token, { user, expiresMs: nowMs + this.ttlMs });
    if (this.tokens.size > AUTH_TOKENS_MAX) throw new Error('tokens: over the limit');
  }

  /** The user of a live token, refreshing its TTL; undefined if unknown or expired. */
  use(token: string, nowMs: number): string | undefined {
    const e = this.tokens.get(token);
    if (e === undefined) return undefined;
    this.tokens.delete(token);
    if (e.expiresMs <= nowMs) return undefined;
    e.expiresMs = nowMs + this.ttlMs;
    this.tokens.set(token, e);
    return e.user;
  }

  invalidateUser(user: string): void {
    for (const [t, e] of this.tokens) if (e.user === user) this.tokens.delete(t);
  }

  clear(): void {
    this.tokens.clear();
  }

  private evict(nowMs: number): void {
    for (const [t, e] of this.tokens) if (e.expiresMs <= nowMs) this.tokens.delete(t);
    if (this.tokens.size < AUTH_TOKENS_MAX) return;
    const oldest = this.tokens.keys().next();
    if (!oldest.done) this.tokens.delete(oldest.value);
  }
}
