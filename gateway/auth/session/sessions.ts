import { randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { stringifySetCookie } from 'cookie';
import type { Logger } from 'pino';
import type { SessionSettings } from '../../config/types.ts';
import type { Identity } from '../../context.ts';
import type { EventBus } from '../../events.ts';
import type { KeyValueStore } from '../../store/keyValueStore.ts';
import { cookieValues, readCookies, signCookie, unsignCookie } from './sessionCookie.ts';
import type { StoredSession, Tokens } from './sessionData.ts';
import { boundedCache } from '../../store/boundedCache.ts';
import { isStoreUnavailable } from '../../errors.ts';

const ENDED_CHANNEL = 'session-ended';
/**
 * The last-seen key is written at most this often, and at least four times per idle timeout: a
 * short `idleTimeout` (under a few minutes) would otherwise end sessions in use between touches.
 */
const TOUCH_EVERY_MS = 60_000;
/** How many times (a second apart) the end of a session is announced before giving up. */
const ANNOUNCE_TRIES = 60;
/** How often sessions signed out during a store outage are tried again. */
const PENDING_END_RETRY_MS = 2_000;
/** Sign-outs held through an outage; past it a sign-out answers 503 as every other store need does. */
const MAX_PENDING_ENDS = 100_000;

/** What `create` makes: 24 random bytes in base64url. */
const SESSION_ID = /^[A-Za-z0-9_-]{32}$/;
/** `s:<id>.<HMAC-SHA256 in base64 without padding>`, as signCookie writes a session id. */
const SIGNED_SHAPE = /^s:[A-Za-z0-9_-]{32}\.[A-Za-z0-9+/]{43}$/;
/** Session cookies of ours looked at in one Cookie header: a browser sends one, two with a planted one. */
const MAX_CHECKED = 8;

export type LoadedSession = { id: string; data: StoredSession };
export type RevokeQuery = { idp?: string; sub?: string; sid?: string; username?: string };

export type Sessions = {
  readonly cookieName: string;
  readonly maxAgeMs: number;
  readonly idleMs: number;
  /** The first secret: signs new cookies and form tokens. */
  readonly secret: string;
  /** The session id from a request's cookie, when its signature is ours (none of two of ours). */
  idOf(req: IncomingMessage): string | undefined;
  /**
   * Every session id a request's cookies of the name carry with our signature, live or not: two or
   * more when one was planted (sign-in and sign-out end them all, the browser presented them).
   */
  idsOf(req: IncomingMessage): string[];
  /**
   * The session of a request: synchronous from the short in-process cache, else from the store.
   * With several cookies of ours, the one whose session still stands, if only one does.
   */
  load(req: IncomingMessage): LoadedSession | undefined | Promise<LoadedSession | undefined>;
  /** Starts a new session (a new id every time: no fixation) and answers its Set-Cookie value. */
  create(
    data: { identity: Identity; tokens?: Tokens; idpSid?: string; namedUnder?: string; source?: string },
    secure: boolean,
  ): Promise<{ id: string; setCookie: string }>;
  /** Set-Cookie that removes the session cookie. */
  clearCookie(secure: boolean): string;
  /**
   * Replaces the tokens of a session if nobody changed it since `previous` was read (another
   * replica's rotated refresh token is never overwritten). Answers the session now stored.
   */
  updateTokens(id: string, previous: StoredSession, tokens: Tokens): Promise<StoredSession | undefined>;
  /** Reads a session from the store, past the cache (to see another replica's refresh). */
  fresh(id: string): Promise<StoredSession | undefined>;
  /**
   * Whether a session still stands, read past the cache and judged against the live config: one
   * made under a config this replica has not loaded yet (a rolling change) stands — the replicas
   * that have it decide — while one the change outdated ends.
   */
  stands(id: string): Promise<boolean>;
  /**
   * Whether a session still holds for its open terminals: the store still has it and the live
   * config does not end it (ending it if so), whatever its idle time — a terminal in use makes no
   * requests. For the sweep of open terminals and the lookups after a reload or an outage.
   */
  held(id: string): Promise<boolean>;
  /** Ends a session on every replica. */
  end(id: string, reason: string): Promise<void>;
  /**
   * Ends a session; while the store cannot be reached, ends it here at once (this replica refuses
   * it, its terminals close) and in the store as soon as this process reaches it again ('pending'):
   * a user who signs out during an outage must not be signed in again when it is over. Other
   * processes (replicas, `--workers`) honour the session until then, and a restart of this process
   * before then loses the pending end (the browser's cookie is cleared all the same).
   */
  endEventually(id: string, reason: string): Promise<'ended' | 'pending'>;
  /** Ends every session of a user (sub, username) or of an IdP session (sid), on every replica. */
  revoke(q: RevokeQuery, reason?: string): Promise<number>;
  /**
   * The live sessions `revoke` would end, ending none: for a caller that must check whose they are
   * first (a SAML LogoutRequest names a SessionIndex and the user it belongs to).
   */
  find(q: RevokeQuery): Promise<LoadedSession[]>;
  /** Runs `fn` once per session at a time across replicas (token refresh); undefined if busy. */
  withLock<T>(id: string, fn: () => Promise<T>): Promise<T | undefined>;
  ready(): { ok: boolean; store: string; detail?: string };
  close(): Promise<void>;
};

type Options = {
  settings: SessionSettings;
  store: KeyValueStore;
  events: EventBus;
  log: Logger;
  /**
   * Whether a session still means what it meant when it was made (the live config: its identity
   * provider is still configured, the primary provider has not changed): 'end' a session the
   * config outdated, 'refuse' one made under a config this replica has not loaded yet (a rolling
   * change: it is only not signed in here, never ended for every replica).
   */
  judge?: (data: StoredSession) => 'accept' | 'refuse' | 'end';
};

/**
 * Signed-in sessions in the key-value store (Redis for replicas, memory for one instance). The
 * cookie holds only a signed id; identity and tokens stay server-side. A session lives in two
 * keys: its data, which expires at the absolute maximum age and is written only at sign-in and on
 * token refresh (compare-and-set), and its last-seen time, whose TTL is the idle timeout and which
 * is touched at most once a minute. Touching never rewrites the data, so a refresh on one replica
 * cannot be undone by another replica's touch. Anonymous visitors never create a session: sign-ins
 * in flight live apart (loginTransactions.ts).
 */
export function createSessions(o: Options): Sessions {
  const { settings, store, events, log } = o;
  // Without a configured secret (no login configured) sessions cannot be created anyway.
  const secrets = settings.secrets ?? [randomBytes(32).toString('hex')];
  const instance = randomUUID();
  // Verified cookie values → id: a busy session pays the HMAC once, not on every request.
  const verified = boundedCache<string, string>(20_000, { ttl: 60_000 });
  const cache = boundedCache<string, StoredSession>(50_000, { ttl: Math.max(1, settings.cacheMs) });
  const dataKey = (id: string) => `sess:${id}`;
  const seenKey = (id: string) => `seen:${id}`;
  const locks = new Set<string>();
  /**
   * Sessions signed out while the store could not be reached (id → reason): refused here, ended in
   * the store once it answers. One entry per signed id presented, bounded by MAX_PENDING_ENDS.
   */
  const pendingEnds = new Map<string, string>();
  let pendingTimer: NodeJS.Timeout | undefined;
  /** A pass of endPending is running: one at a time, whoever signs out meanwhile. */
  let endingPending = false;

  const unsubscribe = store.subscribe(ENDED_CHANNEL, (message) => {
    let m: { id?: unknown; reason?: unknown; from?: unknown };
    try {
      m = JSON.parse(message);
    } catch {
      return;
    }
    if (typeof m.id !== 'string') return;
    cache.delete(m.id);
    if (m.from !== instance)
      events.emit('sessionEnded', { sessionId: m.id, reason: String(m.reason ?? 'ended'), local: false });
  });

  const indexKeys = (id: string, data: StoredSession) => {
    const identity = data.identity;
    const keys = [`idx:${identity.idp}:sub:${identity.sub}`, `idx:user:${identity.username}`];
    if (data.idpSid) keys.push(`idx:${identity.idp}:sid:${data.idpSid}`);
    return keys.map((k) => [k, id] as const);
  };

  /**
   * Index sets hold only live sessions, so a user who signs in every day (a script, a kiosk) does
   * not grow them without bound: an ended session leaves them in `end`, and one that expired
   * unseen (its keys lapsed, nobody called `end`) is dropped at the user's next sign-in.
   */
  const pruneIndex = async (id: string, data: StoredSession) => {
    for (const [k] of indexKeys(id, data)) {
      const gone: string[] = [];
      for (const m of await store.setMembers(k))
        if (m !== id && (await store.get(dataKey(m))) === undefined) gone.push(m);
      if (gone.length > 0) await store.setRemove(k, gone);
    }
  };

  const touchEveryMs = Math.min(TOUCH_EVERY_MS, settings.idleMs / 4);
  const sessionPair = `${settings.cookieName}=`;

  // Several cookies of the name: one was planted (a sibling subdomain's Domain= cookie, a proxied
  // page's script with a narrower Path, sent first). Values that are not ours are ignored (junk
  // must not lock the browser out).
  const several = (header: string) => header.indexOf(sessionPair) !== header.lastIndexOf(sessionPair);
  const idsOf = (req: IncomingMessage): string[] => {
    const header = req.headers.cookie;
    if (!header?.includes(settings.cookieName)) return [];
    const ids = new Set<string>();
    // Each value costs an HMAC per secret: a Cookie header of 700 junk copies cost 2 ms a request.
    // Only distinct values shaped as ours are checked, and no more than MAX_CHECKED of them.
    let checked = 0;
    for (const value of new Set(cookieValues(header, settings.cookieName))) {
      if (!SIGNED_SHAPE.test(value)) continue;
      if (++checked > MAX_CHECKED) break;
      const id = verify(value);
      if (id !== undefined) ids.add(id);
    }
    return [...ids];
  };
  const idOf = (req: IncomingMessage): string | undefined => {
    const header = req.headers.cookie;
    if (!header?.includes(settings.cookieName)) return undefined;
    if (several(header)) {
      // Two sessions of ours cannot be told apart here: neither is believed (load() looks further).
      const ids = idsOf(req);
      return ids.length === 1 ? ids[0] : undefined;
    }
    return soleId(header);
  };
  /** The id in the one cookie of the name a header holds, when its signature is ours. */
  const soleId = (header: string): string | undefined => {
    const value = readCookies(header)[settings.cookieName];
    return value ? verify(value) : undefined;
  };
  const verify = (value: string): string | undefined => {
    const key = `${secrets[0]}\n${value}`;
    const hit = verified.get(key);
    if (hit !== undefined) return hit;
    const id = unsignCookie(value, secrets);
    // Only an id as `create` makes them: a value signed for anything else is no session of ours.
    if (id === undefined || !SESSION_ID.test(id)) return undefined;
    verified.set(key, id);
    return id;
  };

  /** Whether a session still stands: its age, idle time and the live config (ending it if not). */
  const valid = (id: string, data: StoredSession): boolean => {
    const now = Date.now();
    if (
      now - data.createdAt > settings.maxAgeMs ||
      (data.lastSeen && now - data.lastSeen > settings.idleMs)
    ) {
      void sessions.end(id, 'expired').catch(() => {});
      return false;
    }
    const verdict = o.judge?.(data);
    if (verdict === 'end') void sessions.end(id, 'config-changed').catch(() => {});
    return verdict !== 'end' && verdict !== 'refuse';
  };

  /** Expiry checks and the once-a-minute touch of the last-seen key (never of the data). */
  const check = (id: string, data: StoredSession): LoadedSession | undefined => {
    if (!valid(id, data)) return undefined;
    const now = Date.now();
    if (!data.lastSeen || now - data.lastSeen > touchEveryMs) {
      data = { ...data, lastSeen: now };
      cache.set(id, data);
      store
        .set(seenKey(id), String(now), settings.idleMs)
        .catch((err) => log.warn({ err }, 'session touch failed'));
    }
    return { id, data };
  };

  const read = async (id: string): Promise<StoredSession | undefined> => {
    const [raw, seen] = await Promise.all([store.get(dataKey(id)), store.get(seenKey(id))]);
    if (raw === undefined) return undefined;
    if (seen === undefined) {
      // The idle timeout passed: the last-seen key expired first.
      void sessions.end(id, 'expired').catch(() => {});
      return undefined;
    }
    return { ...(JSON.parse(raw) as StoredSession), lastSeen: Number(seen) };
  };

  /**
   * Of several signed ids, the one whose session stands, if exactly one does. A planted cookie of a
   * session that has ended (its owner signed out, it expired) is no rival: otherwise it would lock
   * the browser out for its Max-Age, and signing in again would not help. Two live ones stay
   * ambiguous: either could be the planted one.
   */
  const liveOne = async (ids: string[]): Promise<LoadedSession | undefined> => {
    const found: LoadedSession[] = [];
    for (const id of ids) {
      if (pendingEnds.has(id)) continue;
      const data = cache.get(id) ?? (await read(id));
      if (data === undefined || !valid(id, data)) continue;
      cache.set(id, data);
      found.push({ id, data });
    }
    return found.length === 1 ? check(found[0]!.id, found[0]!.data) : undefined;
  };

  const cookie = (value: string, secure: boolean, maxAge: number) =>
    stringifySetCookie({
      name: settings.cookieName,
      value,
      httpOnly: true,
      sameSite: 'lax',
      // A __Host- cookie without Secure is refused by browsers: the name decides.
      secure: secure || settings.cookieName.startsWith('__Host-'),
      // Path=/ and no Domain: what __Host- asks for, and one cookie for every route.
      path: '/',
      maxAge,
    });

  let closed = false;
  /**
   * Tells the other replicas a session ended. Its keys are gone, so they refuse it once their short
   * cache lapses; but a terminal open there stays until they hear of it, and a replica whose own
   * connection stayed up never looks again. Redis dropped between the delete and this publish (or
   * only this replica is cut off): asked again every second for a minute, until it is heard.
   */
  const announceEnd = (id: string, reason: string, attempt: number): Promise<void> =>
    store.publish(ENDED_CHANNEL, JSON.stringify({ id, reason, from: instance })).catch((err: unknown) => {
      if (attempt === 1)
        log.warn({ err, reason }, 'could not announce the end of a session to other replicas; trying again');
      if (attempt < ANNOUNCE_TRIES && !closed)
        setTimeout(() => void announceEnd(id, reason, attempt + 1), 1000).unref();
      else if (!closed) log.warn({ reason }, 'gave up announcing the end of a session to other replicas');
    });

  const sessions: Sessions = {
    cookieName: settings.cookieName,
    maxAgeMs: settings.maxAgeMs,
    idleMs: settings.idleMs,
    secret: secrets[0]!,
    idOf,
    idsOf,
    load(req) {
      // Every request of a browser comes here: the header is looked through once (idOf would
      // check for a second cookie again).
      const header = req.headers.cookie;
      if (!header?.includes(settings.cookieName)) return undefined;
      if (several(header)) return liveOne(idsOf(req));
      const id = soleId(header);
      if (!id || pendingEnds.has(id)) return undefined;
      // A cached session is answered synchronously: the proxied path then pays no promise hop.
      const cached = cache.get(id);
      if (cached) return check(id, cached);
      return read(id).then((data) => {
        if (!data) return undefined;
        cache.set(id, data);
        return check(id, data);
      });
    },
    async create(data, secure) {
      const id = randomBytes(24).toString('base64url');
      const now = Date.now();
      const stored: StoredSession = { ...data, createdAt: now };
      await store.set(dataKey(id), JSON.stringify(stored), settings.maxAgeMs);
      await store.set(seenKey(id), String(now), settings.idleMs);
      await Promise.all(indexKeys(id, stored).map(([k, v]) => store.setAdd(k, [v], settings.maxAgeMs)));
      await pruneIndex(id, stored);
      return {
        id,
        setCookie: cookie(signCookie(id, secrets[0]!), secure, Math.floor(settings.maxAgeMs / 1000)),
      };
    },
    clearCookie: (secure) => cookie('', secure, 0),
    async fresh(id) {
      if (pendingEnds.has(id)) return undefined;
      const data = await read(id);
      const verdict = data ? o.judge?.(data) : undefined;
      if (verdict === 'end') void sessions.end(id, 'config-changed').catch(() => {});
      if (verdict === 'end' || verdict === 'refuse') return undefined;
      return data;
    },
    async held(id) {
      if (pendingEnds.has(id)) return false;
      const raw = await store.get(dataKey(id));
      if (raw === undefined) return false;
      // 'refuse' (made under a config this replica has not loaded yet) holds: the replicas that
      // have that config judge it.
      if (o.judge?.(JSON.parse(raw) as StoredSession) !== 'end') return true;
      void sessions.end(id, 'config-changed').catch(() => {});
      return false;
    },
    async stands(id) {
      if (pendingEnds.has(id)) return false;
      const data = await read(id);
      if (!data) return false;
      if (o.judge?.(data) !== 'end') return true;
      void sessions.end(id, 'config-changed').catch(() => {});
      return false;
    },
    async updateTokens(id, previous, tokens) {
      const { lastSeen: _seen, ...before } = previous;
      const current = await store.get(dataKey(id));
      if (current === undefined) return undefined;
      const stored = JSON.parse(current) as StoredSession;
      // Another replica refreshed first: keep its tokens, they are the ones the IdP knows.
      if (JSON.stringify(stored.tokens) !== JSON.stringify(before.tokens))
        return { ...stored, lastSeen: previous.lastSeen };
      const next: StoredSession = { ...stored, tokens };
      const left = Math.max(1, stored.createdAt + settings.maxAgeMs - Date.now());
      if (!(await store.compareAndSet(dataKey(id), current, JSON.stringify(next), left)))
        return sessions.fresh(id);
      cache.delete(id);
      return { ...next, lastSeen: previous.lastSeen };
    },
    async end(id, reason) {
      cache.delete(id);
      const raw = await store.get(dataKey(id));
      await store.delete(dataKey(id), seenKey(id));
      events.emit('sessionEnded', { sessionId: id, reason, local: true });
      await announceEnd(id, reason, 1);
      // Bookkeeping last: whatever happens to it, the session has ended everywhere.
      if (raw !== undefined)
        await Promise.all(
          indexKeys(id, JSON.parse(raw) as StoredSession).map(([k]) => store.setRemove(k, [id])),
        ).catch((err: unknown) => log.warn({ err }, 'session index cleanup failed'));
    },
    async endEventually(id, reason) {
      try {
        await sessions.end(id, reason);
        return 'ended';
      } catch (err) {
        if (!isStoreUnavailable(err)) throw err;
        if (pendingEnds.size >= MAX_PENDING_ENDS && !pendingEnds.has(id)) throw err;
        cache.delete(id);
        if (!pendingEnds.has(id)) {
          pendingEnds.set(id, reason);
          // Its terminals here close now; the store's part (and the other replicas) when it is back.
          events.emit('sessionEnded', { sessionId: id, reason, local: true });
        }
        log.warn(
          { reason, pending: pendingEnds.size },
          'a session was signed out while the session store could not be reached: refused here now, ended in the store once it answers',
        );
        if (!endingPending)
          pendingTimer ??= setTimeout(() => void endPending(), PENDING_END_RETRY_MS).unref();
        return 'pending';
      }
    },
    async revoke(q, reason = 'revoked') {
      const keys: string[] = [];
      if (q.sid && q.idp) keys.push(`idx:${q.idp}:sid:${q.sid}`);
      if (q.sub && q.idp) keys.push(`idx:${q.idp}:sub:${q.sub}`);
      if (q.username) keys.push(`idx:user:${q.username}`);
      const ids = new Set<string>();
      for (const k of keys) for (const m of await store.setMembers(k)) ids.add(m);
      let ended = 0;
      for (const id of ids) {
        // Index sets outlive some of their sessions; only live ones count.
        if ((await store.get(dataKey(id))) !== undefined) ended++;
        await sessions.end(id, reason);
      }
      // The index goes last: a revoke that Redis dropped half-way (503) finds the sessions it did
      // not end when asked again, instead of an empty index and sessions that stay signed in.
      await store.delete(...keys);
      return ended;
    },
    async find(q) {
      const keys: string[] = [];
      if (q.sid && q.idp) keys.push(`idx:${q.idp}:sid:${q.sid}`);
      if (q.sub && q.idp) keys.push(`idx:${q.idp}:sub:${q.sub}`);
      if (q.username) keys.push(`idx:user:${q.username}`);
      const ids = new Set<string>();
      for (const k of keys) for (const m of await store.setMembers(k)) ids.add(m);
      const found: LoadedSession[] = [];
      for (const id of ids) {
        const data = await read(id);
        if (data) found.push({ id, data });
      }
      return found;
    },
    async withLock(id, fn) {
      if (store.kind === 'memory') {
        if (locks.has(id)) return undefined;
        locks.add(id);
        try {
          return await fn();
        } finally {
          locks.delete(id);
        }
      }
      const key = `lock:${id}`;
      const token = randomBytes(8).toString('hex');
      if (!(await store.add(key, token, 10_000))) return undefined;
      try {
        return await fn();
      } finally {
        // Release only our own lock (it may have expired and been taken by another replica).
        await store.deleteIf(key, token).catch(() => {});
      }
    },
    ready() {
      const r = store.ready();
      return { ok: r.ok, store: store.kind, ...(r.detail ? { detail: r.detail } : {}) };
    },
    async close() {
      closed = true;
      clearTimeout(pendingTimer);
      if (pendingEnds.size > 0)
        log.warn(
          { pending: pendingEnds.size },
          'closing with sessions signed out during a store outage that the store has not ended yet',
        );
      unsubscribe();
    },
  };
  /** Ends in the store what was signed out during an outage, in order, until the store fails again. */
  const endPending = async () => {
    pendingTimer = undefined;
    if (closed) return;
    endingPending = true;
    try {
      for (const [id, reason] of pendingEnds) {
        try {
          await sessions.end(id, reason);
        } catch {
          break;
        }
        pendingEnds.delete(id);
        if (pendingEnds.size === 0)
          log.info('the sessions signed out during the store outage are ended in the store');
      }
    } finally {
      endingPending = false;
    }
    // The one place a pass schedules the next: sign-outs during this pass only joined the map.
    if (pendingEnds.size > 0 && !closed)
      pendingTimer ??= setTimeout(() => void endPending(), PENDING_END_RETRY_MS).unref();
  };
  return sessions;
}
