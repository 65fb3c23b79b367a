// Redis cut off without the connection closing (a partition that drops packets, a NAT or conntrack
// entry lost in a failover, a proxy that stops forwarding): nothing tells the client its socket
// is dead, and TCP may never say so. The gateway must notice by itself and connect again, not
// answer 503 until someone restarts it, and its subscriber must not go deaf for good.
import assert from 'node:assert/strict';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { createRedisClient, waitForRedis } from '../../gateway/store/redisClient.ts';
import { createRedisStore } from '../../gateway/store/redisStore.ts';
import { eventually } from '../helpers/eventually.ts';
import { startRedis } from '../helpers/redis.ts';

/** A loopback TCP relay to Redis whose open connections can be silenced (never closed). */
async function relay(t: TestContext, redisPort: number) {
  const open: { client: Socket; upstream: Socket }[] = [];
  const every: typeof open = [];
  const server: Server = createServer((client) => {
    const upstream = connect(redisPort, '127.0.0.1');
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('error', () => {});
    upstream.on('error', () => {});
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    open.push({ client, upstream });
    every.push({ client, upstream });
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  t.after(() => {
    for (const c of every) {
      c.client.destroy();
      c.upstream.destroy();
    }
    server.close();
  });
  return {
    port: (server.address() as { port: number }).port,
    /** Every connection open now stops carrying anything either way; new ones work. */
    silence() {
      for (const { client, upstream } of open.splice(0)) {
        client.unpipe(upstream);
        upstream.unpipe(client);
        client.pause();
        upstream.pause();
      }
    },
  };
}

/** A Redis of its own, reached through a relay the test can silence, and the gateway's store on it. */
async function storeBehindRelay(t: TestContext) {
  const redis = await startRedis(t);
  const path = await relay(t, redis.port);
  const client = createRedisClient(
    { host: '127.0.0.1', port: path.port, commandTimeout: '300ms' } as never,
    '/',
    pino({ level: 'silent' }),
  );
  const store = createRedisStore(client, { prefix: 'partition:' });
  return { redis, path, client, store };
}

describe('Redis cut off with the connection left open', () => {
  it('fails closed while silent, then reconnects by itself and serves again', async (t) => {
    const { path, client, store } = await storeBehindRelay(t);
    t.after(() => store.close().then(() => client.disconnect()));
    await waitForRedis(client, 3000);
    await store.set('k', 'v');
    assert.equal(await store.get('k'), 'v');

    path.silence();
    await assert.rejects(store.get('k'), { code: 'PORTICO_ERR_UNAVAILABLE' });
    // The path works again for a new connection: the client must make one.
    const got = await eventually(
      () => store.get('k').catch(() => 'unavailable'),
      (v) => v === 'v',
      { timeoutMs: 6000, intervalMs: 100 },
    );
    assert.equal(got, 'v', 'still failing: the client kept its dead connection');
  });

  it('keeps hearing announcements: a silenced subscriber reconnects and says what it may have missed', async (t) => {
    const { redis, path, client, store } = await storeBehindRelay(t);
    const direct = new Redis(redis.url);
    t.after(async () => {
      await store.close();
      client.disconnect();
      direct.disconnect();
    });
    const heard: string[] = [];
    let resumed = 0;
    store.subscribe('ended', (m) => heard.push(m));
    store.onResubscribed(() => resumed++);
    assert.equal(await store.whenSubscribed(3000), true);
    await direct.publish('partition:ended', 'first');
    await eventually(
      async () => heard.length,
      (n) => n === 1,
      { timeoutMs: 3000 },
    );

    path.silence();
    await direct.publish('partition:ended', 'lost'); // sent into the silenced connection
    await eventually(
      async () => resumed,
      (n) => n > 0,
      { timeoutMs: 8000, intervalMs: 100 },
    );
    assert.ok(resumed > 0, 'the subscriber never noticed it was cut off');
    await direct.publish('partition:ended', 'after');
    await eventually(
      async () => heard.includes('after'),
      (v) => v,
      { timeoutMs: 3000 },
    );
    assert.ok(heard.includes('after'));
  });
});
