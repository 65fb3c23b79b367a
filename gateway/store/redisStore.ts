import type { Cluster, Redis } from 'ioredis';
import { GatewayError } from '../errors.ts';
import type { KeyValueStore } from './keyValueStore.ts';

type Client = Redis | Cluster;

/** How often the subscriber's connection is asked whether it is still there. */
const SUBSCRIBER_PING_MS = 2000;

const COMPARE_AND_SET = `
local cur = redis.call('get', KEYS[1])
if (ARGV[1] == '0' and cur == false) or (ARGV[1] == '1' and cur == ARGV[2]) then
  if ARGV[4] == '' then redis.call('set', KEYS[1], ARGV[3]) else redis.call('set', KEYS[1], ARGV[3], 'PX', ARGV[4]) end
  return 1
end
return 0`;
// DECR keeps the key's expiry; a key that is gone (its window over) is not brought back at -1.
const UNHIT = `local c = tonumber(redis.call('get', KEYS[1])) if c and c > 0 then return redis.call('decr', KEYS[1]) end return 0`;
const DELETE_IF = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

/**
 * The store shared by replicas. Commands fail at once while Redis is down (the client is made
 * without an offline queue, see auth/redis.ts), and every failure becomes a 503 GatewayError:
 * protected routes fail closed and recover by themselves when Redis is back. Subscriptions use
 * one extra connection, opened on the first `subscribe`.
 */
export function createRedisStore(client: Client, options: { prefix?: string } = {}): KeyValueStore {
  const prefix = options.prefix ?? 'portico:';
  const k = (key: string) => prefix + key;
  let subscriber: Redis | undefined;
  const listeners = new Map<string, Set<(message: string) => void>>();
  const resumed = new Set<() => void>();
  // Channels wanted but not confirmed by Redis since the subscriber last connected, and whoever
  // waits for them: a replica must not serve before it can hear a session end elsewhere.
  const unconfirmed = new Set<string>();
  const waiters = new Set<() => void>();
  // Set when announcements may have been missed (a reconnect, or a wait that gave up): the
  // listeners are told once every wanted channel is confirmed again, not at the first of them.
  let missed = false;

  const guard = async <T>(p: Promise<T>): Promise<T> => {
    try {
      const r = await p;
      // MULTI answers null when aborted; per-command errors sit in the result pairs.
      if (Array.isArray(r)) for (const pair of r) if (Array.isArray(pair) && pair[0]) throw pair[0];
      return r;
    } catch (err) {
      throw new GatewayError('PORTICO_ERR_UNAVAILABLE', { cause: err });
    }
  };

  /**
   * Subscribes until Redis confirms. ioredis only resubscribes channels Redis had confirmed, and a
   * SUBSCRIBE queued while Redis was unreachable (or the machine too busy to connect in time) is
   * dropped with the queue after maxRetriesPerRequest; one that fails on a ready connection (a
   * command timeout on a busy machine) would be lost too: that replica would never hear a session
   * end or a maintenance switch. So a failure is retried a second later while the connection is
   * ready, and every 'ready' subscribes every wanted channel again anyway.
   */
  const allConfirmed = () => {
    for (const w of [...waiters]) w();
    if (missed) {
      missed = false;
      for (const l of resumed) l();
    }
  };
  const confirm = (s: Redis, channels: string[]) => {
    s.subscribe(...channels).then(
      () => {
        for (const c of channels) unconfirmed.delete(c);
        if (unconfirmed.size === 0) allConfirmed();
      },
      () =>
        setTimeout(() => {
          const still = channels.filter((c) => listeners.has(c));
          if (s.status === 'ready' && still.length > 0) confirm(s, still);
        }, 1000).unref(),
    );
  };

  const ensureSubscriber = () => {
    if (subscriber) return subscriber;
    const s = (client as Redis).duplicate({ lazyConnect: false, enableOfflineQueue: true }) as Redis;
    s.on('error', () => {}); // the main client reports Redis outages
    s.on('message', (channel: string, message: string) => {
      for (const l of listeners.get(channel) ?? []) l(message);
    });
    s.on('close', () => {
      for (const c of listeners.keys()) unconfirmed.add(c);
    });
    // A subscriber only listens: cut off without its connection closing, it would wait for good and
    // never hear a session end again. A PING now and then gives the socket timeout (redisClient.ts)
    // something to wait for, so a silent connection is dropped, made again and resubscribed.
    const heartbeat = setInterval(() => {
      if (s.status === 'ready') s.ping().catch(() => {});
    }, SUBSCRIBER_PING_MS);
    heartbeat.unref();
    s.on('end', () => clearInterval(heartbeat));
    let readyBefore = false;
    s.on('ready', () => {
      if (readyBefore) missed = true;
      readyBefore = true;
      const wanted = [...listeners.keys()];
      if (wanted.length > 0) confirm(s, wanted);
    });
    subscriber = s;
    return s;
  };

  return {
    kind: 'redis',
    async get(key) {
      return (await guard(client.get(k(key)))) ?? undefined;
    },
    async set(key, value, ttlMs) {
      if (ttlMs === undefined) await guard(client.set(k(key), value));
      else await guard(client.set(k(key), value, 'PX', Math.max(1, Math.ceil(ttlMs))));
    },
    async add(key, value, ttlMs) {
      return (await guard(client.set(k(key), value, 'PX', Math.max(1, Math.ceil(ttlMs)), 'NX'))) === 'OK';
    },
    async compareAndSet(key, expected, value, ttlMs) {
      const r = await guard(
        client.eval(
          COMPARE_AND_SET,
          1,
          k(key),
          expected === undefined ? '0' : '1',
          expected ?? '',
          value,
          ttlMs === undefined ? '' : String(Math.max(1, Math.ceil(ttlMs))),
        ),
      );
      return r === 1;
    },
    async deleteIf(key, expected) {
      return (await guard(client.eval(DELETE_IF, 1, k(key), expected))) === 1;
    },
    async take(key) {
      return (await guard(client.getdel(k(key)))) ?? undefined;
    },
    async delete(...keys) {
      if (keys.length === 0) return;
      // One DEL per key: in a cluster the keys may live on different slots.
      await guard(Promise.all(keys.map((key) => client.del(k(key)))));
    },
    async ttl(key) {
      const ms = await guard(client.pttl(k(key)));
      return ms > 0 ? ms : undefined;
    },
    async hit(key, windowMs) {
      const full = k(key);
      const r = (await guard(
        client
          .multi()
          .set(full, '0', 'PX', Math.max(1, Math.ceil(windowMs)), 'NX')
          .incr(full)
          .pttl(full)
          .exec(),
      )) as [unknown, unknown][] | null;
      if (!r) throw new GatewayError('PORTICO_ERR_UNAVAILABLE', { cause: new Error('transaction aborted') });
      const ttl = Number(r[2]![1]);
      return { count: Number(r[1]![1]), resetInMs: ttl > 0 ? ttl : windowMs };
    },
    async hits(key) {
      const full = k(key);
      const r = (await guard(client.multi().get(full).pttl(full).exec())) as [unknown, unknown][] | null;
      if (!r) throw new GatewayError('PORTICO_ERR_UNAVAILABLE', { cause: new Error('transaction aborted') });
      const ttl = Number(r[1]![1]);
      return { count: Number(r[0]![1] ?? 0), resetInMs: ttl > 0 ? ttl : 0 };
    },
    async unhit(key) {
      await guard(client.eval(UNHIT, 1, k(key)));
    },
    async setAdd(key, members, ttlMs) {
      if (members.length === 0) return;
      const full = k(key);
      await guard(
        client
          .multi()
          .sadd(full, ...members)
          .pexpire(full, Math.max(1, Math.ceil(ttlMs)))
          .exec(),
      );
    },
    async setMembers(key) {
      return guard(client.smembers(k(key)));
    },
    async setRemove(key, members) {
      if (members.length === 0) return;
      await guard(client.srem(k(key), ...members));
    },
    async publish(channel, message) {
      await guard(client.publish(k(channel), message));
    },
    onResubscribed(listener) {
      resumed.add(listener);
      return () => resumed.delete(listener);
    },
    subscribe(channel, listener) {
      const full = k(channel);
      let set = listeners.get(full);
      if (!set) {
        listeners.set(full, (set = new Set()));
        unconfirmed.add(full);
        const s = ensureSubscriber();
        // Not connected yet: its 'ready' subscribes every wanted channel.
        if (s.status === 'ready') confirm(s, [full]);
      }
      set.add(listener);
      return () => {
        set.delete(listener);
        if (set.size === 0) {
          listeners.delete(full);
          unconfirmed.delete(full);
          if (unconfirmed.size === 0) allConfirmed();
          subscriber?.unsubscribe(full).catch(() => {});
        }
      };
    },
    whenSubscribed(ms) {
      if (unconfirmed.size === 0) return Promise.resolve(true);
      return new Promise<boolean>((done) => {
        const finish = (ok: boolean) => {
          clearTimeout(timer);
          waiters.delete(confirmed);
          if (!ok) missed = true;
          done(ok);
        };
        const confirmed = () => finish(true);
        const timer = setTimeout(() => finish(false), ms);
        timer.unref();
        waiters.add(confirmed);
      });
    },
    ready() {
      return client.status === 'ready' ? { ok: true } : { ok: false, detail: `redis is ${client.status}` };
    },
    async close() {
      listeners.clear();
      subscriber?.disconnect();
    },
  };
}
