import { createHash, randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { stringifySetCookie } from 'cookie';
import type { KeyValueStore } from '../../store/keyValueStore.ts';
import { cookieValues } from './sessionCookie.ts';
import type { LoginResult } from '../providers/types.ts';
import type { LoginTransaction } from './sessionData.ts';

export const LOGIN_COOKIE = 'portico_login';

/**
 * The login cookie: on https `__Host-portico_login` (Path=/, no Domain), which browsers refuse
 * from a sibling subdomain or for a narrower path — the ways a planted cookie would make a
 * victim's browser finish the attacker's sign-in (login CSRF); on plain http `portico_login`.
 */
export function loginCookie(secure: boolean): { name: string; path: string } {
  return secure ? { name: `__Host-${LOGIN_COOKIE}`, path: '/' } : { name: LOGIN_COOKIE, path: '/_portico/' };
}

/**
 * The browser's login nonce, or undefined when it sends none or several different ones: one was
 * planted, and which is its own cannot be told (the attacker's would complete the attacker's sign-in).
 */
export function loginNonce(req: IncomingMessage, secure: boolean): string | undefined {
  const values = cookieValues(req.headers.cookie, loginCookie(secure).name);
  return values.length > 0 && values.every((v) => v === values[0]) ? values[0] : undefined;
}
const TTL_MS = 10 * 60_000;

export type LoginTransactions = {
  readonly ttlMs: number;
  /**
   * The browser's login nonce: the one its cookie already carries, or a new one with the
   * Set-Cookie that gives it (several tabs signing in at once share one).
   */
  browserNonce(req: IncomingMessage, secure: boolean): { nonce: string; setCookie?: string };
  /** Keeps a transaction by its `state` until the callback, bound to the browser's nonce. */
  put(state: string, txn: LoginTransaction, nonce: string | undefined): Promise<void>;
  /**
   * Takes a transaction once (a replayed callback finds nothing). A transaction bound to a browser
   * is only given to that browser: a callback URL pasted into another browser does not sign it in.
   */
  take(state: string, req: IncomingMessage, secure: boolean): Promise<LoginTransaction | undefined>;
  /** The transaction of a `state`, left in place, whichever browser asks (see holdOutcome). */
  peek(state: string): Promise<LoginTransaction | undefined>;
  /**
   * Holds the checked outcome of an identity provider's cross-site POST (a SAML answer, which
   * arrives without the Lax login cookie) for its transaction, one minute, until the browser
   * comes back by a top-level GET, which carries the cookie: `take` then checks the binding.
   */
  holdOutcome(state: string, result: LoginResult): Promise<void>;
  /** The outcome held for this `state`, once. */
  takeOutcome(state: string): Promise<LoginResult | undefined>;
};

const HOLD_MS = 60_000;

/**
 * Sign-ins in flight, apart from sessions: short-lived (10 minutes), in their own store (a
 * bounded memory store of their own, or Redis keys that expire), so anonymous visitors starting
 * logins can never push a signed-in user's session out, and never leave a session behind.
 */
export function createLoginTransactions(store: KeyValueStore): LoginTransactions {
  const digest = (nonce: string) => createHash('sha256').update(nonce).digest('base64url');
  return {
    ttlMs: TTL_MS,
    browserNonce(req, secure) {
      const existing = loginNonce(req, secure);
      if (existing && /^[A-Za-z0-9_-]{32,64}$/.test(existing)) return { nonce: existing };
      const nonce = randomBytes(32).toString('base64url');
      const { name, path } = loginCookie(secure);
      const setCookie = stringifySetCookie({
        name,
        value: nonce,
        httpOnly: true,
        sameSite: 'lax',
        secure,
        path,
        maxAge: TTL_MS / 1000,
      });
      return { nonce, setCookie };
    },
    async put(state, txn, nonce) {
      const bound: LoginTransaction = nonce ? { ...txn, binding: digest(nonce) } : txn;
      await store.set(`login:${state}`, JSON.stringify(bound), TTL_MS);
    },
    async take(state, req, secure) {
      const raw = await store.take(`login:${state}`);
      if (!raw) return undefined;
      const txn = JSON.parse(raw) as LoginTransaction;
      if (Date.now() - txn.createdAt > TTL_MS) return undefined;
      if (txn.binding) {
        const nonce = loginNonce(req, secure);
        if (!nonce || digest(nonce) !== txn.binding) return undefined;
      }
      return txn;
    },
    async peek(state) {
      const raw = await store.get(`login:${state}`);
      if (!raw) return undefined;
      const txn = JSON.parse(raw) as LoginTransaction;
      return Date.now() - txn.createdAt > TTL_MS ? undefined : txn;
    },
    async holdOutcome(state, result) {
      await store.set(`login-outcome:${state}`, JSON.stringify(result), HOLD_MS);
    },
    async takeOutcome(state) {
      const raw = await store.take(`login-outcome:${state}`);
      return raw === undefined ? undefined : (JSON.parse(raw) as LoginResult);
    },
  };
}
