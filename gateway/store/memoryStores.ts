import type { KeyValueStore } from './keyValueStore.ts';
import { createMemoryStore } from './memoryStore.ts';

export type GatewayStores = {
  /** Keys, replay caches, maintenance switches, OP grant bindings: made by sign-ins and admins. */
  store: KeyValueStore;
  sessionStore: KeyValueStore;
  /** Sign-ins in flight: anyone can start one. */
  loginStore: KeyValueStore;
  /** Login throttle counters: every failed attempt, for any name typed, makes one. */
  throttleStore: KeyValueStore;
  /** The OpenID Provider's interactions, sessions, codes and tokens: an anonymous /auth makes one. */
  oidcStore: KeyValueStore;
};

/**
 * A single instance's stores, in memory, each bounded and evicting the least recently used entry
 * when full. Whatever an anonymous client can create has a store of its own, so a flood of it
 * pushes out only more of the same: not a signed-in user's session, not the signing keys, not the
 * throttle counters that stop password guessing (with Redis nothing is evicted: one store serves all).
 * The throttle counters are never evicted at all: a flood of failed attempts under many names and
 * addresses would otherwise push out a victim's count and buy a fresh budget of guesses, so their
 * store, when full, refuses new counters (sign-ins needing one get a 429) until the window expires.
 */
export function memoryStores(
  sessionEntries: number,
  caps: Partial<Record<keyof GatewayStores, number>> = {},
): GatewayStores {
  return {
    store: createMemoryStore({ maxEntries: caps.store ?? 100_000 }),
    sessionStore: createMemoryStore({ maxEntries: caps.sessionStore ?? sessionEntries * 6 }),
    loginStore: createMemoryStore({ maxEntries: caps.loginStore ?? 10_000 }),
    // Full, it refuses new counters instead of forgetting old ones: see createMemoryStore.
    throttleStore: createMemoryStore({ maxEntries: caps.throttleStore ?? 100_000, whenFull: 'refuse' }),
    oidcStore: createMemoryStore({ maxEntries: caps.oidcStore ?? 100_000 }),
  };
}
