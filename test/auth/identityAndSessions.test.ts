import assert from 'node:assert/strict';
import { pino } from 'pino';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { WebSocket } from 'ws';
import { hashApiKey } from '../../gateway/auth/apiKeys.ts';
import { startGateway } from '../helpers/gateway.ts';
import { json, send } from '../helpers/http.ts';
import { clientCredentialsToken, driveLogout, startTestIdp } from '../helpers/idp.ts';
import { sharedRedisUrl, startRedis } from '../helpers/redis.ts';
import {
  freePort,
  IDENTITY_HEADERS,
  login,
  logout,
  porticoClient,
  SESSION_SECRET,
  startIdpFor,
  startSso,
} from '../helpers/sso.ts';
import { startUpstream } from '../helpers/upstream.ts';
import { nextEvent } from '../helpers/events.ts';
import { eventually } from '../helpers/eventually.ts';

/** Every spelling a backend could read as the same header: cases and `_` for `-`. */
function spellings(name: string): string[] {
  const under = name.replace(/-/g, '_');
  return [
    name,
    name.toLowerCase(),
    name.toUpperCase(),
    under,
    under.toLowerCase(),
    under.toUpperCase(),
    name.replace(/-([a-z])/gi, (_m, c: string) => `-${c.toLowerCase()}`),
  ];
}

function routes(aiUrl: string, customerUrl: string) {
  return `  - { id: ai-platform, path: /dce5/, upstream: "${aiUrl}", auth: required, allow: { groups: [ai-users] }, websocket: true, inject: { headers: true, jwt: true } }
  - { id: customer, path: /, upstream: "${customerUrl}", auth: optional }
`;
}

async function upstreams(t: import('node:test').TestContext) {
  const ai = await startUpstream({ websocket: true });
  const customer = await startUpstream();
  t.after(() => Promise.all([ai.close(), customer.close()]));
  return { ai, customer };
}

describe('identity headers cannot be spoofed', () => {
  for (const name of IDENTITY_HEADERS) {
    it(`drops every spelling of ${name} from anonymous and signed-in requests`, async (t) => {
      const { ai, customer } = await upstreams(t);
      const s = await startSso(t, routes(ai.url, customer.url));
      const spoof: string[] = [];
      for (const spelling of spellings(name)) spoof.push(spelling, 'mallory');
      // anonymous, on the optional route
      await send(s.gw.url, '/', { headers: spoof });
      for (const [k, v] of Object.entries(customer.last().headers))
        assert.notEqual(v, 'mallory', `${k} reached the upstream`);
      assert.ok(!customer.last().rawHeaders.includes('mallory'));
      // signed in, on the required route
      const { client } = await login(s, 'alice');
      const r = await send(s.gw.url, '/dce5/x', {
        headers: [...spoof, 'Cookie', client.cookieHeader(), 'Accept', 'text/html'],
      });
      assert.equal(r.status, 200);
      assert.ok(!ai.last().rawHeaders.includes('mallory'), `a spelling of ${name} reached the upstream`);
    });
  }
});

describe('machine clients', () => {
  it('with bearer: verify, accepts a JWT access token from the IdP and answers 401 JSON for a bad one', async (t) => {
    const { ai, customer } = await upstreams(t);
    const s = await startSso(
      t,
      routes(ai.url, customer.url).replace(
        'allow: { groups: [ai-users] }',
        'allow: { idps: [corp] }, bearer: verify',
      ),
      {
        extra: '',
      },
    );
    s.idp.setClient({
      clientId: 'ci-bot',
      clientSecret: 'ci-bot-secret',
      redirectUris: ['http://127.0.0.1:9/unused'],
    });
    const token = await clientCredentialsToken(s.idp, 'ci-bot', 'ci-bot-secret');
    // The IdP's API audience must be accepted: configured per provider.
    const yaml = s.yaml.replace(
      'clientSecret: portico-secret,',
      'clientSecret: portico-secret, audiences: ["urn:portico:api"],',
    );
    s.gw.write(yaml);
    assert.equal(s.gw.gateway.reload().ok, true);
    const ok = await send(s.gw.url, '/dce5/api', {
      headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
    });
    assert.equal(ok.status, 200);
    assert.equal(ai.last().headers['x-forwarded-user'], 'ci-bot');
    const bad = await send(s.gw.url, '/dce5/api', {
      headers: { authorization: `Bearer ${token.slice(0, -4)}AAAA`, accept: 'text/html' },
    });
    assert.equal(bad.status, 401);
    assert.equal(json(bad).error, 'PORTICO_ERR_UNAUTHENTICATED');
  });

  it('accepts a Portico API key, applies the allow rules to it and never forwards it', async (t) => {
    const { ai, customer } = await upstreams(t);
    const key = 'ptk_deploy_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG';
    const other = 'ptk_viewer_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG';
    const s = await startSso(t, routes(ai.url, customer.url), {
      extra: `apiKeys:\n  - { id: deploy, hash: "${hashApiKey(key)}", groups: [ai-users] }\n  - { id: viewer, hash: "${hashApiKey(other)}", groups: [staff] }\n`,
    });
    const r = await send(s.gw.url, '/dce5/api', { headers: { authorization: `Bearer ${key}` } });
    assert.equal(r.status, 200);
    assert.equal(ai.last().headers['x-forwarded-user'], 'deploy');
    assert.equal(ai.last().headers.authorization, undefined);
    assert.equal(
      (await send(s.gw.url, '/dce5/api', { headers: { authorization: `Bearer ${other}` } })).status,
      403,
    );
    assert.equal(
      (await send(s.gw.url, '/dce5/api', { headers: { authorization: 'Bearer ptk_deploy_wrong' } })).status,
      401,
    );
  });
});

describe('WebSockets and the session', () => {
  it('opens the terminal WebSocket only with a session whose user is allowed, and from our own origin', async (t) => {
    const { ai, customer } = await upstreams(t);
    const s = await startSso(t, routes(ai.url, customer.url));
    const url = `${s.gw.url.replace('http', 'ws')}/dce5/terminal/ws`;
    const anonymous = new WebSocket(url, ['tty']);
    anonymous.on('error', () => {});
    const [, refused] = (await once(anonymous, 'unexpected-response')) as [unknown, { statusCode: number }];
    assert.equal(refused.statusCode, 401);

    const { client } = await login(s, 'alice');
    const ws = new WebSocket(url, ['tty'], {
      headers: { cookie: client.cookieHeader() },
      origin: s.publicUrl,
    });
    await once(ws, 'open');
    const upgrade = ai.requests.find((r) => r.method === 'UPGRADE')!;
    assert.equal(upgrade.headers['x-forwarded-user'], 'alice');
    ws.close();

    const hijack = new WebSocket(url, ['tty'], {
      headers: { cookie: client.cookieHeader() },
      origin: 'https://evil.example',
    });
    hijack.on('error', () => {});
    const [, foreign] = (await once(hijack, 'unexpected-response')) as [unknown, { statusCode: number }];
    assert.equal(foreign.statusCode, 403);

    const bob = await login(s, 'bob');
    const denied = new WebSocket(url, ['tty'], { headers: { cookie: bob.client.cookieHeader() } });
    denied.on('error', () => {});
    const [, forbidden] = (await once(denied, 'unexpected-response')) as [unknown, { statusCode: number }];
    assert.equal(forbidden.statusCode, 403);
  });
});

describe('sessions shared through Redis', () => {
  it('lets a session made on one replica work on another, and a logout on one end it on both', async (t) => {
    const redisUrl = await sharedRedisUrl();
    const { ai, customer } = await upstreams(t);
    const prefix = `shared${Date.now()}:`;
    const a = await startSso(t, routes(ai.url, customer.url), {
      store: 'redis',
      redisUrl,
      keyPrefix: prefix,
    });
    // B's own address is in no config: it listens where the kernel puts it.
    const b = await startGateway(t, a.yaml);
    const { client } = await login(a, 'alice');
    const cookie = client.cookieHeader();
    const onB = await send(b.url, '/dce5/', { headers: { cookie, accept: 'application/json' } });
    assert.equal(onB.status, 200);
    // Both replicas sign with the same keys: B's assertion verifies against A's JWKS.
    const kidB = JSON.parse(
      Buffer.from(
        (ai.last().headers['x-portico-assertion'] as string).split('.')[0]!,
        'base64url',
      ).toString(),
    ).kid;
    const jwksA = json<{ keys: { kid: string }[] }>(await send(a.gw.url, '/_portico/jwks.json'));
    assert.ok(jwksA.keys.some((k) => k.kid === kidB));
    const endedOnB = nextEvent(b.gateway.events, 'sessionEnded', (e) => !e.local);
    const out = await logout(client);
    assert.equal(out.status, 303);
    await endedOnB; // the announcement through Redis
    const afterOnB = await send(b.url, '/dce5/', { headers: { cookie, accept: 'application/json' } });
    assert.equal(afterOnB.status, 401);
  });

  it('ends the sessions of an IdP session on back-channel logout', async (t) => {
    const redisUrl = await sharedRedisUrl();
    const { ai, customer } = await upstreams(t);
    const s = await startSso(t, routes(ai.url, customer.url), { store: 'redis', redisUrl });
    const { client, idpJar } = await login(s, 'alice');
    assert.equal((await client.request('/dce5/', { headers: { accept: 'application/json' } })).status, 200);
    // The user signs out at the IdP itself (from the customer system, say): the IdP calls us back.
    const end = new URL(s.idp.endpoints.endSession);
    const ended = nextEvent(s.gw.gateway.events, 'sessionEnded');
    await driveLogout(s.idp, end.href, idpJar);
    const delivered = s.idp.backchannelResults.filter((r) => r.clientId === 'portico');
    assert.ok(delivered.length > 0 && delivered.every((r) => r.ok), JSON.stringify(s.idp.backchannelResults));
    await ended;
    assert.equal((await client.request('/dce5/', { headers: { accept: 'application/json' } })).status, 401);
  });

  it('accepts a back-channel logout token once: a replay is refused', async (t) => {
    const { ai, customer } = await upstreams(t);
    // The IdP's logout token goes to a receiver first, so the test holds a copy to replay.
    const receiver = await startUpstream();
    t.after(() => receiver.close());
    const port = await freePort();
    const publicUrl = `http://127.0.0.1:${port}`;
    const idp = await startTestIdp(t, {
      clients: [
        { ...porticoClient(publicUrl), backchannelLogoutUri: new URL('backchannel', receiver.url).href },
      ],
      logErrors: false,
    });
    const s = await startSso(t, routes(ai.url, customer.url), { idp, port });
    const { client, idpJar } = await login(s, 'alice');
    await driveLogout(s.idp, new URL(s.idp.endpoints.endSession).href, idpJar);
    const delivered = receiver.requests.find((r) => r.url === '/backchannel');
    assert.ok(delivered, 'the IdP sent a logout token');
    const post = () =>
      send(s.gw.url, '/_portico/backchannel-logout/corp', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: delivered.body.toString(),
      });
    assert.equal((await post()).status, 200);
    assert.equal((await client.request('/dce5/', { headers: { accept: 'application/json' } })).status, 401);
    const again = await post();
    assert.equal(again.status, 400);
    assert.match(json<{ error_description: string }>(again).error_description, /already used/);
  });

  it('refuses a forged back-channel logout token', async (t) => {
    const { ai, customer } = await upstreams(t);
    const s = await startSso(t, routes(ai.url, customer.url));
    const r = await send(s.gw.url, '/_portico/backchannel-logout/corp', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'logout_token=eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.',
    });
    assert.equal(r.status, 400);
  });

  it('fails closed with 503 while Redis is down, keeps public routes up, and recovers without a restart', async (t) => {
    const redis = await startRedis(t);
    const { ai, customer } = await upstreams(t);
    const lines: { msg: string }[] = [];
    const logger = pino({ level: 'info' }, { write: (l: string) => lines.push(JSON.parse(l)) });
    const s = await startSso(t, routes(ai.url, customer.url), {
      store: 'redis',
      redisUrl: redis.url,
      logger,
    });
    const { client } = await login(s, 'alice');
    await redis.stop();
    // The point: wait out the in-process session cache (1 s), so the next request must ask Redis.
    await sleep(1100);
    const down = await client.request('/dce5/', { headers: { accept: 'application/json' } });
    assert.equal(down.status, 503);
    assert.equal(json(down).error, 'PORTICO_ERR_UNAVAILABLE');
    // Each such answer is not an error line of its own (an outage under load flooded the log).
    for (let i = 0; i < 10; i++)
      assert.equal((await client.request('/dce5/', { headers: { accept: 'application/json' } })).status, 503);
    const said = lines.filter((l) => l.msg.startsWith('PORTICO_ERR_UNAVAILABLE'));
    assert.equal(said.length, 1, JSON.stringify(said));
    const publicRoute = await client.request('/');
    assert.equal(publicRoute.status, 200);
    const ready = await send(s.gw.url, '/_portico/readyz');
    assert.equal(ready.status, 503);
    await redis.start();
    // Redis came back empty (it keeps nothing on disk): the old session is gone, the gateway answers
    // again once its client has reconnected (ioredis retries on its own schedule).
    const status = (
      await eventually(
        () => client.request('/dce5/', { headers: { accept: 'application/json' } }),
        (r) => r.status === 401,
        { timeoutMs: 6000, intervalMs: 100 },
      )
    ).status;
    assert.equal(status, 401);
    const again = await login(s, 'alice');
    assert.equal(again.landed.status, 200);
    assert.equal((await send(s.gw.url, '/_portico/readyz')).status, 200);
  });
});

describe('signing out while Redis does not answer', () => {
  it('signs the browser out at once, refuses its cookie here, and ends the session in Redis once it answers', async (t) => {
    const redis = await startRedis(t);
    const { ai, customer } = await upstreams(t);
    const s = await startSso(t, routes(ai.url, customer.url), { store: 'redis', redisUrl: redis.url });
    const { client } = await login(s, 'alice');
    const api = { accept: 'application/json' };
    assert.equal((await client.request('/dce5/', { headers: api })).status, 200);
    const stolen = client.cookieHeader();

    // Redis stops answering (paused, as a failover or a partition would), its data kept; the
    // in-process session cache lapses, so the sign-out must ask Redis and cannot.
    const paused = spawnSync('redis-cli', ['-p', String(redis.port), 'CLIENT', 'PAUSE', '8000', 'ALL']);
    assert.equal(String(paused.stdout).trim(), 'OK');
    const pausedAt = Date.now();
    await sleep(1100);
    const audited: { type: string; actor?: unknown; detail?: unknown }[] = [];
    s.gw.gateway.events.on('audit', (e) => audited.push(e));
    const out = await logout(client);
    assert.equal(out.status, 303, out.text);
    assert.match(String(out.headers.location), /\/_portico\/logged-out/);
    assert.equal(client.cookies.has('portico_session'), false, 'the session cookie is cleared');
    assert.ok(Date.now() - pausedAt < 8000, 'the sign-out did not wait for Redis');
    assert.deepEqual(
      audited.filter((e) => e.type === 'logout').map((e) => [e.actor, e.detail]),
      [[undefined, { sessions: 1, storeUnavailable: true }]],
      'the audit trail has the sign-out, without a name it could not read',
    );
    // The cookie presented again (a copy kept elsewhere) is refused by this replica at once.
    const replay = await send(s.gw.url, '/dce5/', { headers: { ...api, cookie: stolen } });
    assert.equal(replay.status, 401);

    // Once Redis answers again the session is ended there too: still refused, by any replica.
    await sleep(Math.max(0, 8000 - (Date.now() - pausedAt)));
    const key = await eventually(
      async () => redisKeys(redis.port, `t${s.port}:sess:*`),
      (keys) => keys.length === 0,
      { timeoutMs: 10_000, intervalMs: 200 },
    );
    assert.deepEqual(key, []);
    const other = await startGateway(t, s.yaml);
    const elsewhere = await send(other.url, '/dce5/', { headers: { ...api, cookie: stolen } });
    assert.equal(elsewhere.status, 401, 'another replica refuses it too');
  });
});

/** The keys of a Redis that match a pattern. */
function redisKeys(port: number, pattern: string): string[] {
  const r = spawnSync('redis-cli', ['-p', String(port), '--scan', '--pattern', pattern], {
    encoding: 'utf8',
  });
  return r.stdout.split('\n').filter(Boolean);
}

describe('token refresh', () => {
  it('refreshes the access token before it expires, once for concurrent requests', async (t) => {
    const { ai, customer } = await upstreams(t);
    const port = await freePort();
    const publicUrl = `http://127.0.0.1:${port}`;
    const idp = await startIdpFor(t, publicUrl, { accessTokenTtl: 20 });
    const s = await startSso(
      t,
      routes(ai.url, customer.url).replace(
        'inject: { headers: true, jwt: true }',
        'inject: { headers: true, accessToken: true }',
      ),
      { idp, port },
    );
    const { client } = await login(s, 'alice');
    const first = ai.last().headers.authorization;
    assert.match(String(first), /^Bearer /);
    // 20 s tokens are within the 30 s refresh window at once: concurrent requests share one refresh.
    const results = await Promise.all(
      Array.from({ length: 5 }, () => client.request('/dce5/', { headers: { accept: 'application/json' } })),
    );
    assert.deepEqual(
      results.map((r) => r.status),
      [200, 200, 200, 200, 200],
    );
    const r = await client.request('/dce5/', { headers: { accept: 'application/json' } });
    assert.equal(r.status, 200);
    assert.notEqual(ai.last().headers.authorization, first, 'a new access token is in use');
  });
});

describe('session timeouts', () => {
  it('keeps a session in use past an idle timeout shorter than a minute, and ends it once left idle that long', async (t) => {
    const { ai, customer } = await upstreams(t);
    const s = await startSso(t, routes(ai.url, customer.url), { session: { idleTimeout: '2s' } });
    const { client } = await login(s, 'alice');
    const started = Date.now();
    while (Date.now() - started < 4500) {
      assert.equal(
        (await client.request('/dce5/')).status,
        200,
        `in use ${Date.now() - started} ms after sign-in`,
      );
      await sleep(400);
    }
    await sleep(2600);
    assert.notEqual(
      (await client.request('/dce5/', { headers: { accept: 'application/json' } })).status,
      200,
    );
  });
});

describe('identity provider outages', () => {
  it('shows a clear login error while the IdP is down and keeps existing sessions working', async (t) => {
    const { ai, customer } = await upstreams(t);
    const s = await startSso(t, routes(ai.url, customer.url));
    const { client } = await login(s, 'alice');
    s.idp.setDown(true);
    // A reachable IdP is believed for a second (visitors cannot make Portico hammer it), then not.
    const fresh = await eventually(
      () => send(s.gw.url, '/_portico/login/corp', { headers: { accept: 'text/html' } }),
      (r) => r.status === 502,
      { timeoutMs: 3000, intervalMs: 100 },
    );
    assert.equal(fresh.status, 502);
    assert.match(fresh.text, /identity provider|身份|not reachable|暂不可用/i);
    assert.equal((await client.request('/dce5/')).status, 200);
    s.idp.setDown(false);
  });
});

void SESSION_SECRET;
