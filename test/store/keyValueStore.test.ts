import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { describe, type TestContext, test } from 'node:test';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { createMemoryStore } from '../../gateway/store/memoryStore.ts';
import { createRedisClient } from '../../gateway/store/redisClient.ts';
import { createRedisStore } from '../../gateway/store/redisStore.ts';
import type { KeyValueStore } from '../../gateway/store/keyValueStore.ts';
import { eventually as eventuallySeen } from '../helpers/eventually.ts';
import { sharedRedisUrl, startRedis } from '../helpers/redis.ts';

type Make = (t: import('node:test').TestContext) => Promise<KeyValueStore>;

const kinds: [string, Make][] = [
  ['memory', async () => createMemoryStore()],
  [
    'redis',
    async (t) => {
      const client = new Redis(await sharedRedisUrl(), { enableOfflineQueue: false, lazyConnect: true });
      await client.connect();
      const store = createRedisStore(client, { prefix: `test:${randomUUID()}:` });
      t.after(async () => {
        await store.close();
        client.disconnect();
      });
      return store;
    },
  ],
];

/** Resolves once `predicate` holds, checking whenever the store might have changed. */
async function eventually(predicate: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await predicate()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail('condition not reached');
}

for (const [kind, make] of kinds) {
  describe(`key-value store: ${kind}`, () => {
    test('gets what was set, and nothing for a key never set', async (t) => {
      const s = await make(t);
      await s.set('a', 'one');
      assert.equal(await s.get('a'), 'one');
      assert.equal(await s.get('b'), undefined);
    });

    test('forgets a value when its TTL has passed', async (t) => {
      const s = await make(t);
      await s.set('short', 'x', 30);
      assert.equal(await s.get('short'), 'x');
      await eventually(async () => (await s.get('short')) === undefined);
    });

    test('adds a value only when the key is absent', async (t) => {
      const s = await make(t);
      assert.equal(await s.add('once', '1', 10_000), true);
      assert.equal(await s.add('once', '2', 10_000), false);
      assert.equal(await s.get('once'), '1');
    });

    test('replaces a value only when it is the one expected', async (t) => {
      const s = await make(t);
      assert.equal(await s.compareAndSet('cas', undefined, 'v1'), true);
      assert.equal(await s.compareAndSet('cas', undefined, 'v2'), false, 'absent was expected');
      assert.equal(await s.compareAndSet('cas', 'stale', 'v2'), false);
      assert.equal(await s.compareAndSet('cas', 'v1', 'v2', 10_000), true);
      assert.equal(await s.get('cas'), 'v2');
      assert.ok(((await s.ttl('cas')) ?? 0) > 0, 'the TTL given with the swap applies');
    });

    test('deletes a key only when it holds the expected value (a lock released by its owner)', async (t) => {
      const s = await make(t);
      await s.set('lock', 'mine', 10_000);
      assert.equal(await s.deleteIf('lock', 'theirs'), false);
      assert.equal(await s.get('lock'), 'mine');
      assert.equal(await s.deleteIf('lock', 'mine'), true);
      assert.equal(await s.get('lock'), undefined);
    });

    test('takes a value once: the second take finds nothing', async (t) => {
      const s = await make(t);
      await s.set('txn', 'state', 10_000);
      assert.equal(await s.take('txn'), 'state');
      assert.equal(await s.take('txn'), undefined);
    });

    test('deletes several keys at once', async (t) => {
      const s = await make(t);
      await s.set('d1', '1');
      await s.set('d2', '2');
      await s.delete('d1', 'd2', 'never-set');
      assert.equal(await s.get('d1'), undefined);
      assert.equal(await s.get('d2'), undefined);
    });

    test('counts hits in a window that starts with the first hit and keeps its end', async (t) => {
      const s = await make(t);
      const first = await s.hit('w', 60_000);
      assert.equal(first.count, 1);
      assert.ok(first.resetInMs > 59_000 && first.resetInMs <= 60_000);
      const second = await s.hit('w', 60_000);
      assert.equal(second.count, 2);
      assert.ok(second.resetInMs <= first.resetInMs, 'a later hit does not extend the window');
      assert.deepEqual((await s.hits('w')).count, 2);
      assert.deepEqual(await s.hits('none'), { count: 0, resetInMs: 0 });
    });

    test('takes a hit back without moving the end of the window, never below zero nor bringing a key back', async (t) => {
      const s = await make(t);
      const first = await s.hit('u', 60_000);
      await s.hit('u', 60_000);
      await s.unhit('u');
      const left = await s.hits('u');
      assert.equal(left.count, 1);
      assert.ok(left.resetInMs > 0 && left.resetInMs <= first.resetInMs, 'the window keeps its end');
      await s.unhit('u');
      await s.unhit('u');
      assert.equal((await s.hits('u')).count, 0);
      assert.equal((await s.hit('u', 60_000)).count, 1);
      await s.unhit('never-hit');
      assert.equal(await s.get('never-hit'), undefined);
    });

    test('starts a new window once the old one is over', async (t) => {
      const s = await make(t);
      await s.hit('short-window', 30);
      await s.hit('short-window', 30);
      await eventually(async () => (await s.hits('short-window')).count === 0);
      assert.equal((await s.hit('short-window', 30)).count, 1);
    });

    test('keeps sets of members, removes members, and expires the set', async (t) => {
      const s = await make(t);
      await s.setAdd('set', ['a', 'b'], 10_000);
      await s.setAdd('set', ['b', 'c'], 10_000);
      assert.deepEqual((await s.setMembers('set')).sort(), ['a', 'b', 'c']);
      await s.setRemove('set', ['a']);
      assert.deepEqual((await s.setMembers('set')).sort(), ['b', 'c']);
      assert.deepEqual(await s.setMembers('no-set'), []);
      await s.setAdd('short-set', ['x'], 30);
      await eventually(async () => (await s.setMembers('short-set')).length === 0);
    });

    test('delivers a published message to subscribers, and stops after unsubscribing', async (t) => {
      const s = await make(t);
      const got: string[] = [];
      const stop = s.subscribe('news', (m) => got.push(m));
      // Redis acknowledges a subscription asynchronously: publish until it is heard.
      await eventually(async () => {
        await s.publish('news', 'hello');
        return got.length > 0;
      });
      assert.equal(got[0], 'hello');
      stop();
      const before = got.length;
      await s.publish('news', 'after');
      await new Promise((r) => setImmediate(r));
      assert.equal(got.length, before);
    });

    test('says it is ready while the backend answers', async (t) => {
      const s = await make(t);
      assert.equal(s.ready().ok, true);
    });
  });
}

describe('key-value store: redis outage', () => {
  test('fails closed with PORTICO_ERR_UNAVAILABLE while Redis is down, and works again when it is back', async (t) => {
    const server = await startRedis(t);
    const client = new Redis(server.url, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      retryStrategy: () => 50,
    });
    client.on('error', () => {});
    t.after(() => client.disconnect());
    await once(client, 'ready');
    const s = createRedisStore(client);
    await s.set('k', 'v');
    await server.stop();
    await assert.rejects(s.get('k'), { code: 'PORTICO_ERR_UNAVAILABLE', status: 503 });
    // events.once would reject on the connection errors of the reconnect attempts.
    if (client.status === 'ready') await new Promise((r) => client.once('close', r));
    assert.equal(s.ready().ok, false);
    const back = new Promise((r) => client.once('ready', r));
    await server.start();
    await back;
    await s.set('k', 'back');
    assert.equal(await s.get('k'), 'back');
  });
});

describe('key-value store: memory bounds', () => {
  test('drops the least recently used entries beyond its bound', async () => {
    const s = createMemoryStore({ maxEntries: 3 });
    for (const key of ['a', 'b', 'c']) await s.set(key, key);
    await s.get('a');
    await s.set('d', 'd');
    assert.equal(await s.get('b'), undefined);
    assert.equal(await s.get('a'), 'a');
    assert.equal(await s.get('d'), 'd');
  });
});

describe('Redis subscriptions', () => {
  /** A store on a Redis server of its own (stopped first when `stopped`), closed after the test. */
  async function ownRedisStore(t: TestContext, prefix: string, stopped = false) {
    const server = await startRedis(t);
    if (stopped) await server.stop();
    const client = createRedisClient({ url: server.url }, '/', pino({ level: 'silent' })) as Redis;
    const store = createRedisStore(client, { prefix });
    t.after(async () => {
      await store.close();
      client.disconnect();
    });
    return { server, client, store };
  }

  test('refused by Redis are asked again until confirmed, and a replica that served meanwhile is told once they are', async (t) => {
    const { client, store } = await ownRedisStore(t, 'refused:');
    await new Promise((resolve) => client.once('ready', resolve));
    // No channel is allowed: every SUBSCRIBE fails with NOPERM on a connection that is ready.
    await client.call('ACL', 'SETUSER', 'default', 'resetchannels');
    const got: string[] = [];
    store.subscribe('session-ended', (m) => got.push(m));
    let resumed = 0;
    store.onResubscribed(() => resumed++);
    assert.equal(await store.whenSubscribed(1500), false);
    await client.call('ACL', 'SETUSER', 'default', 'allchannels');
    assert.equal(await store.whenSubscribed(5000), true);
    await store.publish('session-ended', 'abc');
    assert.deepEqual(
      await eventuallySeen(
        async () => got,
        (g) => g.length > 0,
      ),
      ['abc'],
    );
    assert.equal(resumed, 1);
  });

  test('are waited for: a store whose channels Redis confirmed says so at once', async (t) => {
    const { client, store } = await ownRedisStore(t, 'wait:');
    store.subscribe('session-ended', () => {});
    let resumed = 0;
    store.onResubscribed(() => resumed++);
    assert.equal(await store.whenSubscribed(5000), true);
    // The subscriber connection can be confirmed before this one is up (no offline queue).
    if (client.status !== 'ready') await new Promise((resolve) => client.once('ready', resolve));
    const channels = (await client.pubsub('CHANNELS', '*')) as string[];
    assert.deepEqual(channels, ['wait:session-ended']);
    // Nobody served unsubscribed: nothing was missed, nothing to look up.
    assert.equal(resumed, 0);
  });

  test('made while Redis is unreachable take effect once it is up (a replica that starts under load still hears every announcement)', async (t) => {
    const { server, client, store } = await ownRedisStore(t, 'sub:', true);
    const got: string[] = [];
    store.subscribe('session-ended', (m) => got.push(m));
    // Long enough for the queued SUBSCRIBE to outlive the client's retries (maxRetriesPerRequest).
    await new Promise<void>((resolve) => {
      let attempts = 0;
      client.on('reconnecting', () => {
        if (++attempts === 3) resolve();
      });
    });
    await server.start();
    await new Promise((resolve) => client.once('ready', resolve));
    const heard = await eventuallySeen(
      async () => {
        await store.publish('session-ended', 'abc');
        return got;
      },
      (g) => g.length > 0,
    );
    assert.deepEqual(heard.slice(0, 1), ['abc']);
  });

  test('say when they resume after Redis was unreachable, since what was published meanwhile was missed', async (t) => {
    const { server, client, store } = await ownRedisStore(t, 'resume:');
    store.subscribe('session-ended', () => {});
    let resumed = 0;
    store.onResubscribed(() => resumed++);
    await new Promise((resolve) => client.once('ready', resolve));
    // Subscribed before the outage (the subscriber connects on its own, later under load).
    const channels = await eventuallySeen(
      () => client.pubsub('CHANNELS', '*') as Promise<string[]>,
      (c) => c.length > 0,
    );
    assert.equal(channels.length, 1);
    await server.stop();
    await server.start();
    assert.equal(
      await eventuallySeen(
        async () => resumed,
        (n) => n > 0,
      ),
      1,
    );
  });
});
