// The realm's state, in memory and per platform instance: sign-ins in progress (Keycloak's
// authentication sessions), user sessions (its SSO sessions), one-time codes, refresh tokens and
// the users it knows. Every entry expires; the caches are bounded.
import { randomBytes, randomUUID } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { FederatedIdentity } from './identityProvider.ts';

/** What a client (the AI platform's UI) asked the authorization endpoint for. */
export type ClientRequest = {
  clientId: string;
  redirectUri: string;
  scope: string;
  state?: string;
  nonce?: string;
  codeChallenge?: string;
};

/** A sign-in in progress: the client's request and, once started, the one at the provider. */
export type AuthSession = {
  id: string;
  /** Ties the login page's links to this browser's AUTH_SESSION_ID cookie. */
  tabId: string;
  client: ClientRequest;
  broker?: { alias: string; state: string; nonce: string; codeVerifier?: string };
};

export type RealmUser = { id: string; username: string; email?: string; name?: string; createdAt: number };

export type UserSession = {
  id: string;
  userId: string;
  /** The identity provider that signed the user in, and its subject and session for back-channel logout. */
  idpAlias: string;
  idpSub: string;
  idpSid?: string;
  idpIdToken: string;
  /** Seconds since the epoch (`auth_time`). */
  authTime: number;
};

export type CodeGrant = {
  clientId: string;
  redirectUri: string;
  sessionId: string;
  scope: string;
  nonce?: string;
  codeChallenge?: string;
};

export type RefreshGrant = { clientId: string; sessionId: string; scope: string };

export type PendingLogout = { postLogoutRedirectUri?: string; state?: string };

export type BrokerStoreOptions = {
  /** Keycloak's "SSO Session Max"; default 10 h. */
  sessionTtlMs?: number;
  /** How long a sign-in may take; default 30 min (Keycloak's "Login timeout" is 30 min). */
  authSessionTtlMs?: number;
  /** Default 60 s. */
  codeTtlMs?: number;
};

export type BrokerStore = ReturnType<typeof createBrokerStore>;

const MAX = 10_000;

export function createBrokerStore(o: BrokerStoreOptions = {}) {
  const sessionTtl = o.sessionTtlMs ?? 10 * 3600_000;
  const authSessions = new LRUCache<string, AuthSession>({
    max: MAX,
    ttl: o.authSessionTtlMs ?? 30 * 60_000,
  });
  const userSessions = new LRUCache<string, UserSession>({ max: MAX, ttl: sessionTtl });
  const codes = new LRUCache<string, CodeGrant>({ max: MAX, ttl: o.codeTtlMs ?? 60_000 });
  const refreshTokens = new LRUCache<string, RefreshGrant>({ max: MAX, ttl: sessionTtl });
  const pendingLogouts = new LRUCache<string, PendingLogout>({ max: MAX, ttl: 10 * 60_000 });
  const seenLogoutTokens = new LRUCache<string, true>({ max: MAX, ttl: 15 * 60_000 });
  const users = new Map<string, RealmUser>();
  const links = new Map<string, string>(); // `${alias}\n${sub}` → user id

  const take = <V extends {}>(cache: LRUCache<string, V>, key: string | undefined): V | undefined => {
    if (key === undefined) return undefined;
    const value = cache.get(key);
    cache.delete(key);
    return value;
  };

  return {
    newAuthSession(client: ClientRequest): AuthSession {
      const session = { id: secret(), tabId: secret(12), client };
      authSessions.set(session.id, session);
      return session;
    },
    authSession: (id: string | undefined) => (id === undefined ? undefined : authSessions.get(id)),
    saveAuthSession: (session: AuthSession) => void authSessions.set(session.id, session),
    endAuthSession: (id: string) => void authSessions.delete(id),

    /**
     * Keycloak's first-broker-login with "auto-link by username": the provider's subject is
     * linked to the realm user of that username, who is created on the first sign-in.
     */
    linkUser(alias: string, who: FederatedIdentity): RealmUser {
      const linkKey = `${alias}\n${who.sub}`;
      let user = users.get(links.get(linkKey) ?? '');
      user ??= [...users.values()].find((u) => u.username === who.username);
      if (!user) {
        user = { id: randomUUID(), username: who.username, createdAt: Date.now() };
        users.set(user.id, user);
      }
      links.set(linkKey, user.id);
      if (who.email !== undefined) user.email = who.email;
      if (who.name !== undefined) user.name = who.name;
      return user;
    },
    user: (id: string) => users.get(id),
    userCount: () => users.size,

    startSession(init: Omit<UserSession, 'id' | 'authTime'>): UserSession {
      const session = { ...init, id: randomUUID(), authTime: Math.floor(Date.now() / 1000) };
      userSessions.set(session.id, session);
      return session;
    },
    activeSession: (id: string | undefined) => (id === undefined ? undefined : userSessions.get(id)),
    /** Refresh tokens of an ended session are refused from then on (they name the session). */
    endSession: (id: string) => userSessions.delete(id),
    /** Ends every session that an identity provider's session (or, without one, its subject) started. */
    endSessionsFrom(alias: string, by: { sid?: string; sub?: string }): number {
      let ended = 0;
      for (const [id, s] of userSessions.entries()) {
        if (s.idpAlias !== alias) continue;
        const match = by.sid !== undefined ? s.idpSid === by.sid : s.idpSub === by.sub;
        if (match && userSessions.delete(id)) ended++;
      }
      return ended;
    },
    sessionCount: () => userSessions.size,

    newCode(grant: CodeGrant): string {
      const code = secret();
      codes.set(code, grant);
      return code;
    },
    /** A code works once: it is gone before the caller looks at it. */
    takeCode: (code: string | undefined) => take(codes, code),

    newRefreshToken(grant: RefreshGrant): string {
      const token = secret(48);
      refreshTokens.set(token, grant);
      return token;
    },
    /** Refresh tokens rotate: each is taken on use and a new one issued. */
    takeRefreshToken: (token: string | undefined) => take(refreshTokens, token),

    newPendingLogout(p: PendingLogout): string {
      const id = secret();
      pendingLogouts.set(id, p);
      return id;
    },
    takePendingLogout: (id: string | undefined) => take(pendingLogouts, id),

    /** False when this logout token (by `jti`) was seen before: a replay. */
    firstSightOfLogoutToken(jti: string): boolean {
      if (seenLogoutTokens.has(jti)) return false;
      seenLogoutTokens.set(jti, true);
      return true;
    },
  };
}

function secret(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}
