import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hashApiKey } from '../../gateway/auth/apiKeys.ts';
import { addressKey } from '../../gateway/routePolicy/addressKey.ts';
import { startGateway } from '../helpers/gateway.ts';
import { send } from '../helpers/http.ts';
import { sharedRedisUrl, startRedis } from '../helpers/redis.ts';
import { startSso } from '../helpers/sso.ts';
import { upstreamFor } from '../helpers/upstream.ts';

const API = { accept: 'application/json' };

describe('rate limits', () => {
  it('answers 429 with Retry-After once an address passes its rate on a route', async (t) => {
    const up = await upstreamFor(t);
    const gw = await startGateway(
      t,
      `routes:
  - { id: api, path: /api/, upstream: "${up.url}", rateLimit: { perIp: 3/1m } }
  - { id: free, path: /, upstream: "${up.url}" }
`,
    );
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await send(gw.url, '/api/x', { headers: API })).status);
    assert.deepEqual(statuses, [200, 200, 200, 429]);
    const refused = await send(gw.url, '/api/x', { headers: API });
    assert.equal(refused.status, 429);
    const retryAfter = Number(refused.headers['retry-after']);
    assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After: ${refused.headers['retry-after']}`);
    assert.equal(JSON.parse(refused.text).error, 'PORTICO_ERR_TOO_MANY');
    assert.equal(up.requests.length, 3);
    // Another route, and another client, have counts of their own.
    assert.equal((await send(gw.url, '/other', { headers: API })).status, 200);
    assert.equal((await send(gw.url, '/api/x', { headers: API, localAddress: '127.0.0.2' })).status, 200);
  });

  it('counts the client X-Forwarded-For names behind a trusted proxy, and the peer otherwise', async (t) => {
    const up = await upstreamFor(t);
    const gw = await startGateway(
      t,
      `trustProxy: [127.0.0.1]
routes:
  - { id: api, path: /, upstream: "${up.url}", rateLimit: { perIp: 2/1m } }
`,
    );
    const from = async (xff: string, localAddress = '127.0.0.1') =>
      (await send(gw.url, '/x', { headers: { ...API, 'x-forwarded-for': xff }, localAddress })).status;
    assert.deepEqual(
      [await from('203.0.113.7'), await from('203.0.113.7'), await from('203.0.113.7')],
      [200, 200, 429],
    );
    assert.equal(await from('203.0.113.8'), 200, 'another client behind the proxy');
    // An untrusted peer cannot spread its requests over made-up addresses.
    const direct = [];
    for (const xff of ['198.51.100.1', '198.51.100.2', '198.51.100.3'])
      direct.push(await from(xff, '127.0.0.2'));
    assert.deepEqual(direct, [200, 200, 429]);
  });

  it('shares the counts between replicas through Redis', async (t) => {
    const redisUrl = await sharedRedisUrl();
    const up = await upstreamFor(t);
    const yaml = `session: { store: redis, redis: { url: "${redisUrl}", keyPrefix: "rate${Date.now()}${process.pid}:" } }
routes:
  - { id: api, path: /, upstream: "${up.url}", rateLimit: { perIp: 4/1m } }
`;
    const one = await startGateway(t, yaml);
    const two = await startGateway(t, yaml);
    const statuses = [];
    for (const gw of [one, two, one, two, one, two])
      statuses.push((await send(gw.url, '/x', { headers: API })).status);
    assert.deepEqual(statuses, [200, 200, 200, 200, 429, 429]);
  });

  it('keeps a route serving when Redis does not answer, uncounted', async (t) => {
    const redis = await startRedis(t);
    const up = await upstreamFor(t);
    const gw = await startGateway(
      t,
      `session: { store: redis, redis: { url: "${redis.url}" } }
routes:
  - { id: api, path: /, upstream: "${up.url}", rateLimit: { perIp: 1/1m } }
`,
    );
    assert.equal((await send(gw.url, '/x', { headers: API })).status, 200);
    assert.equal((await send(gw.url, '/x', { headers: API })).status, 429);
    await redis.stop();
    assert.equal((await send(gw.url, '/x', { headers: API })).status, 200);
    assert.equal((await send(gw.url, '/x', { headers: API })).status, 200);
  });

  it('limits each signed-in user on their own, wherever they come from', async (t) => {
    const up = await upstreamFor(t);
    const alice = 'ptk_alice_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG';
    const bob = 'ptk_bob_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHI';
    const s = await startSso(
      t,
      `  - { id: api, path: /, upstream: "${up.url}", auth: required, rateLimit: { perUser: 2/1m } }\n`,
      {
        extra: `apiKeys:\n  - { id: alice, hash: "${hashApiKey(alice)}" }\n  - { id: bob, hash: "${hashApiKey(bob)}" }\n`,
      },
    );
    const as = async (key: string, localAddress?: string) =>
      (await send(s.gw.url, '/x', { headers: { ...API, authorization: `Bearer ${key}` }, localAddress }))
        .status;
    assert.equal(await as(alice), 200);
    assert.equal(await as(alice, '127.0.0.2'), 200);
    assert.equal(await as(alice, '127.0.0.3'), 429, 'a new address is the same user');
    assert.equal(await as(bob), 200);
    // Without a login there is no user to count: the login is asked for as before.
    assert.equal((await send(s.gw.url, '/x', { headers: API })).status, 401);
  });

  it('counts IPv6 clients by their /64', () => {
    assert.equal(addressKey('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
    assert.equal(addressKey('2001:db8:1:2:ffff:ffff:ffff:ffff'), '2001:db8:1:2::/64');
    assert.equal(addressKey('2001:db8::1'), '2001:db8:0:0::/64');
    assert.equal(addressKey('::ffff:192.0.2.1'), '192.0.2.1');
    assert.equal(addressKey('::1'), '0:0:0:0::/64');
    assert.equal(addressKey('192.0.2.1'), '192.0.2.1');
  });
});
