import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import session from 'express-session';
import RedisStore from 'connect-redis';
import type { Cluster, Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import type { Logger } from 'pino';
import { parseDuration } from '../../config/duration.ts';
import type { Config } from '../../config/types.ts';
import { GatewayError } from '../../errors.ts';
import { channels } from '../../ops/channels.ts';
import { createRedisClient, type RedisConfig } from '../redis.ts';
import { LruSessionStore } from './lruStore.ts';
import type { LoginTransaction, StoredSession } from './sessionData.ts';
import { readSessionId } from './sessionCookie.ts';

const PREFIX = 'portico:sess:';
const INDEX = 'portico:idx:';
const REVOKED_CHANNEL = 'portico:session-revoked';

export type LoadedSession = { id: string; data: StoredSession };

export type Sessions = {
  readonly cookieName: string;
  readonly secure: boolean;
  readonly maxAgeMs: number;
  readonly idleMs: number;
  readonly redis: Redis | Cluster | undefined;
  /** express-session for Portico's own endpoints (login, callback, logout, me). */
  readonly middleware: ReturnType<typeof session>;
  /** The session of a proxied request, from a short in-process cache or the store. */
  load(req: IncomingMessage): LoadedSession | undefined | Promise<LoadedSession | undefined>;
  save(id: string, data: StoredSession): Promise<void>;
  /** Records which sessions belong to a user and an IdP session, for revocation. */
  index(id: string, data: StoredSession): Promise<void>;
  destroy(id: string): Promise<void>;
  /** Ends every session of a user (sub) or of an IdP session (sid), on every replica. */
  revoke(q: { idp?: string; sub?: string; sid?: string; username?: string }): Promise<number>;
  /** Runs `fn` once per session at a time across replicas (token refresh). */
  withLock<T>(id: string, fn: () => Promise<T>): Promise<T | undefined>;
  /** One-time login transactions kept server-side (POST-binding callbacks carry no cookie). */
  putTransaction(state: string, txn: LoginTransaction, ttlMs: number): Promise<void>;
  takeTransaction(state: string): Promise<LoginTransaction | undefined>;
  ready(): Promise<{ ok: boolean; store: string; detail?: string }>;
  close(): Promise<void>;
};

/**
 * Sessions live in Redis (`store: redis`, shared by every replica) or in a bounded in-process
 * LRU (`store: memory`, one instance). Tokens stay server-side; the cookie holds only a signed id.
 */
export function createSessions(config: Config, log: Logger): Sessions {
  const raw = config.raw.session ?? {};
  const secrets =
    raw.secret === undefined
      ? [randomBytes(32).toString('hex')]
      : Array.isArray(raw.secret)
        ? [...raw.secret]
        : [raw.secret];
  const maxAgeMs = parseDuration(raw.maxAge ?? '8h');
  const idleMs = parseDuration(raw.idleTimeout ?? '2h');
  const cacheMs = parseDuration((raw as { cacheTtl?: string }).cacheTtl ?? '1s');
  const cookieName = raw.cookieName ?? 'portico_session';
  const secure = config.publicUrl?.protocol === 'https:';
  const useRedis = raw.store === 'redis';
  const redis = useRedis ? createRedisClient((raw.redis ?? {}) as RedisConfig, log) : undefined;
  const subscriber = redis ? (redis.duplicate() as Redis) : undefined;
  const ttlSeconds = Math.ceil(maxAgeMs / 1000);

  const store: session.Store = redis
    ? new RedisStore({ client: redis, prefix: PREFIX, ttl: ttlSeconds, disableTouch: true })
    : new LruSessionStore({ max: raw.maxEntries ?? 10_000, ttlMs: maxAgeMs });
  const memoryIndex = new Map<string, Set<string>>();
  const cache = new LRUCache<string, StoredSession>({ max: 50_000, ttl: cacheMs });
  const transactions = new LRUCache<string, string>({ max: 10_000, ttl: 10 * 60_000 });

  subscriber?.on('message', (_channel, id: string) => cache.delete(id));
  subscriber?.subscribe(REVOKED_CHANNEL).catch(() => {});
  subscriber?.on('ready', () => subscriber.subscribe(REVOKED_CHANNEL).catch(() => {}));
  subscriber?.on('error', () => {});

  const unavailable = (cause: unknown) => new GatewayError('PORTICO_ERR_UNAVAILABLE', { cause });
  const storeGet = (id: string) =>
    new Promise<StoredSession | undefined>((resolve, reject) =>
      store.get(id, (err, data) => (err ? reject(unavailable(err)) : resolve(data ?? undefined))),
    );
  const storeSet = (id: string, data: StoredSession) =>
    new Promise<void>((resolve, reject) =>
      store.set(id, data, (err) => (err ? reject(unavailable(err)) : resolve())),
    );
  const storeDestroy = (id: string) =>
    new Promise<void>((resolve, reject) =>
      store.destroy(id, (err) => (err ? reject(unavailable(err)) : resolve())),
    );

  const middleware = session({
    name: cookieName,
    secret: secrets,
    store,
    resave: false,
    saveUninitialized: false,
    rolling: false,
    unset: 'destroy',
    cookie: { httpOnly: true, sameSite: 'lax', secure, path: '/', maxAge: maxAgeMs },
  });

  const indexKeys = (data: StoredSession) => {
    const id = data.identity;
    if (!id) return [];
    const keys = [`${INDEX}${id.idp}:sub:${id.sub}`, `${INDEX}user:${id.username}`];
    if (data.idpSid) keys.push(`${INDEX}${id.idp}:sid:${data.idpSid}`);
    return keys;
  };

  /** Tells features (the OpenID Provider ends its own sessions and grants with it). */
  const ended = (sessionId: string) => {
    if (channels.sessionEnded.hasSubscribers) channels.sessionEnded.publish({ sessionId });
  };

  /** Absolute and idle expiry; idle tracking writes at most once a minute, not on every request. */
  const check = (id: string, data: StoredSession): LoadedSession | undefined => {
    const now = Date.now();
    if (
      (data.createdAt && now - data.createdAt > maxAgeMs) ||
      (data.lastSeen && now - data.lastSeen > idleMs)
    ) {
      cache.delete(id);
      storeDestroy(id).catch(() => {});
      ended(id);
      return undefined;
    }
    if (data.identity && (!data.lastSeen || now - data.lastSeen > 60_000)) {
      data = { ...data, lastSeen: now };
      cache.set(id, data);
      storeSet(id, data).catch((err) => log.warn({ err }, 'session touch failed'));
    }
    return { id, data };
  };

  const sessions: Sessions = {
    cookieName,
    secure,
    maxAgeMs,
    idleMs,
    redis,
    middleware,
    load(req) {
      const id = readSessionId(req.headers.cookie, cookieName, secrets);
      if (!id) return undefined;
      // A cached session is answered synchronously: the proxied path then pays no promise hop.
      const cached = cache.get(id);
      if (cached) return check(id, cached);
      return storeGet(id).then((data) => {
        if (!data) return undefined;
        cache.set(id, data);
        return check(id, data);
      });
    },
    async save(id, data) {
      cache.delete(id);
      await storeSet(id, data);
    },
    async index(id, data) {
      const keys = indexKeys(data);
      if (redis) {
        const multi = redis.multi();
        for (const k of keys) multi.sadd(k, id).expire(k, ttlSeconds);
        await multi.exec();
      } else {
        for (const k of keys) {
          let set = memoryIndex.get(k);
          if (!set) memoryIndex.set(k, (set = new Set()));
          set.add(id);
        }
      }
    },
    async destroy(id) {
      cache.delete(id);
      await storeDestroy(id);
      ended(id);
      if (redis) await redis.publish(REVOKED_CHANNEL, id).catch(() => {});
    },
    async revoke(q) {
      const keys: string[] = [];
      if (q.sid && q.idp) keys.push(`${INDEX}${q.idp}:sid:${q.sid}`);
      if (q.sub && q.idp) keys.push(`${INDEX}${q.idp}:sub:${q.sub}`);
      if (q.username) keys.push(`${INDEX}user:${q.username}`);
      const ids = new Set<string>();
      for (const k of keys) {
        const members = redis ? await redis.smembers(k) : [...(memoryIndex.get(k) ?? [])];
        for (const m of members) ids.add(m);
        if (redis) await redis.del(k);
        else memoryIndex.delete(k);
      }
      for (const id of ids) await sessions.destroy(id);
      return ids.size;
    },
    async withLock(id, fn) {
      if (!redis) return memoryLock(id, fn);
      const key = `portico:lock:${id}`;
      const token = randomBytes(8).toString('hex');
      const got = await redis.set(key, token, 'PX', 10_000, 'NX');
      if (got !== 'OK') return undefined;
      try {
        return await fn();
      } finally {
        // Release only our own lock (it may have expired and been taken by another replica).
        await redis
          .eval(
            "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end",
            1,
            key,
            token,
          )
          .catch(() => {});
      }
    },
    async putTransaction(state, txn, ttlMs) {
      const value = JSON.stringify(txn);
      if (redis)
        await redis
          .set(`portico:login:${state}`, value, 'PX', ttlMs)
          .catch((err) => Promise.reject(unavailable(err)));
      else transactions.set(state, value, { ttl: ttlMs });
    },
    async takeTransaction(state) {
      let value: string | null | undefined;
      if (redis)
        value = await redis.getdel(`portico:login:${state}`).catch((err) => Promise.reject(unavailable(err)));
      else {
        value = transactions.get(state);
        transactions.delete(state);
      }
      return value ? (JSON.parse(value) as LoginTransaction) : undefined;
    },
    async ready() {
      if (!redis) return { ok: true, store: 'memory' };
      if (redis.status === 'ready') return { ok: true, store: 'redis' };
      return { ok: false, store: 'redis', detail: `redis is ${redis.status}` };
    },
    async close() {
      subscriber?.disconnect();
      redis?.disconnect();
    },
  };
  return sessions;
}

const memoryLocks = new Map<string, Promise<unknown>>();
async function memoryLock<T>(id: string, fn: () => Promise<T>): Promise<T | undefined> {
  if (memoryLocks.has(id)) return undefined;
  const p = fn();
  memoryLocks.set(id, p);
  try {
    return await p;
  } finally {
    memoryLocks.delete(id);
  }
}

/** Waits (bounded) until Redis is connected, so the first requests after start do not fail. */
export async function waitForRedis(sessions: Sessions, ms: number): Promise<void> {
  const r = sessions.redis;
  if (!r || r.status === 'ready') return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    r.once('ready', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
