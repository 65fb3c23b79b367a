/**
 * The one storage interface behind sessions, login transactions, throttles, replay caches,
 * signing keys, rate limits and the OpenID Provider's grants. Two implementations pass the same
 * conformance suite (test/store/keyValueStore.test.ts): Redis, shared by every replica, and an
 * in-process memory store for a single instance. Every operation of the Redis store that fails
 * rejects with a GatewayError `PORTICO_ERR_UNAVAILABLE`, so callers fail closed by default.
 * Keys are plain strings; each store adds its own prefix.
 */
export type KeyValueStore = {
  readonly kind: 'redis' | 'memory';
  get(key: string): Promise<string | undefined>;
  /** Sets the value; `ttlMs` undefined keeps it until deleted. */
  set(key: string, value: string, ttlMs?: number): Promise<void>;
  /** Sets the value only when the key is absent; true when it did (SET NX). */
  add(key: string, value: string, ttlMs: number): Promise<boolean>;
  /** Replaces the value only when it is `expected` (undefined: absent); true when it did. */
  compareAndSet(key: string, expected: string | undefined, value: string, ttlMs?: number): Promise<boolean>;
  /** Deletes the key only when its value is `expected` (releasing one's own lock); true when it did. */
  deleteIf(key: string, expected: string): Promise<boolean>;
  /** Reads and deletes at once: a second `take` of the same key finds nothing. */
  take(key: string): Promise<string | undefined>;
  delete(...keys: string[]): Promise<void>;
  /** Milliseconds the key has left; undefined when it is absent or never expires. */
  ttl(key: string): Promise<number | undefined>;
  /**
   * Counts one hit in a fixed window that starts with the first hit and lasts `windowMs`.
   * Answers the count including this hit and the milliseconds until the window ends.
   */
  hit(key: string, windowMs: number): Promise<{ count: number; resetInMs: number }>;
  /** The count of a window without adding a hit (0 when there is none). */
  hits(key: string): Promise<{ count: number; resetInMs: number }>;
  /**
   * Takes back one hit of the current window (a login attempt that turned out not to count): never
   * below zero, the window's end unchanged, an absent key stays absent.
   */
  unhit(key: string): Promise<void>;
  /** Adds members to a set and (re)sets its expiry. */
  setAdd(key: string, members: readonly string[], ttlMs: number): Promise<void>;
  setMembers(key: string): Promise<string[]>;
  setRemove(key: string, members: readonly string[]): Promise<void>;
  /** Tells every replica (every subscriber of every store on the same backend). */
  publish(channel: string, message: string): Promise<void>;
  /** Listens on a channel; returns the function that stops listening. */
  subscribe(channel: string, listener: (message: string) => void): () => void;
  /**
   * Calls `listener` each time subscriptions resume after the backend was unreachable: whatever
   * was published meanwhile was missed. Returns the function that stops listening.
   */
  onResubscribed(listener: () => void): () => void;
  /**
   * Resolves true once the backend has confirmed every subscription, false after `ms` without
   * that: a replica that served meanwhile is told through `onResubscribed` when they are confirmed.
   */
  whenSubscribed(ms: number): Promise<boolean>;
  /** Whether the backend answers now (readiness). */
  ready(): { ok: boolean; detail?: string };
  close(): Promise<void>;
};
