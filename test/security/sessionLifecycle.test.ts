import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { WebSocket } from 'ws';
import { adminFeature } from '../../gateway/admin/adminFeature.ts';
import { hashApiKey } from '../../gateway/auth/apiKeys.ts';
import { createSessions } from '../../gateway/auth/session/sessions.ts';
import { compileConfig } from '../../gateway/config/compile.ts';
import { createEventBus } from '../../gateway/events.ts';
import { createMemoryStore } from '../../gateway/store/memoryStore.ts';
import { createRedisStore } from '../../gateway/store/redisStore.ts';
import { startGateway } from '../helpers/gateway.ts';
import { send } from '../helpers/http.ts';
import { driveLogout, startTestIdp } from '../helpers/idp.ts';
import { sharedRedisUrl, startRedis } from '../helpers/redis.ts';
import {
  freePort,
  GatewayClient,
  login,
  logout,
  porticoClient,
  type SsoSetup,
  startSso,
} from '../helpers/sso.ts';
import { upstreamFor } from '../helpers/upstream.ts';
import { eventually } from '../helpers/eventually.ts';

const ROUTES = (ai: string) =>
  `  - { id: ai-platform, path: /dce5/, upstream: "${ai}", auth: required, websocket: true }\n  - { id: home, path: /, upstream: "${ai}", auth: optional }\n`;

async function terminal(
  s: SsoSetup,
  gatewayUrl: string,
  client: GatewayClient,
  path = '/dce5/terminal/ws',
): Promise<WebSocket> {
  const ws = new WebSocket(`${gatewayUrl.replace('http', 'ws')}${path}`, ['tty'], {
    headers: { cookie: client.cookieHeader() },
    origin: s.publicUrl,
  });
  await once(ws, 'open');
  // The tunnel relays: an echo proves it is open end to end.
  ws.send('pwd');
  await once(ws, 'message');
  return ws;
}

const closeCode = async (ws: WebSocket) => ((await once(ws, 'close')) as [number])[0];

/** Alice signed in on the default routes with a terminal open; `closed`: its close code, when it comes. */
async function aliceAtTerminal(t: TestContext) {
  const ai = await aiUpstream(t);
  const s = await startSso(t, ROUTES(ai.url));
  const { client, idpJar } = await login(s, 'alice');
  const closed = closeCode(await terminal(s, s.gw.url, client));
  return { s, client, idpJar, closed };
}

/** An upstream that holds its 101 until the test calls `answer()`; `arrived`: the upgrade reached it. */
async function slowUpgradeUpstream(t: TestContext) {
  let upgradeArrived: () => void = () => {};
  const arrived = new Promise<void>((resolve) => (upgradeArrived = resolve));
  let release: () => void = () => {};
  const slow = createServer();
  slow.on('upgrade', (req, socket) => {
    socket.on('error', () => {});
    release = () => {
      const accept = createHash('sha1')
        .update(`${req.headers['sec-websocket-key']}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
        .digest('base64');
      socket.write(
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
      );
    };
    upgradeArrived();
  });
  slow.listen(0, '127.0.0.1');
  await once(slow, 'listening');
  t.after(() => slow.close());
  const port = (slow.address() as AddressInfo).port;
  return { port, url: `http://127.0.0.1:${port}`, arrived, answer: () => release() };
}

async function aiUpstream(t: TestContext) {
  const ai = await upstreamFor(t, { websocket: true });
  return ai;
}

describe('anonymous visitors store nothing that could push a signed-in user out', () => {
  it('keeps a signed-in user signed in while four hundred anonymous visitors start sign-ins (memory store, maxEntries 40)', async (t) => {
    const ai = await aiUpstream(t);
    // Four hundred sign-ins from one address: the per-address limit is not what is tried here.
    const s = await startSso(t, ROUTES(ai.url), { extra: 'limits: { signInStartsPerMinute: 0 }\n' });
    s.gw.write(s.yaml.replace('  store: memory\n', '  store: memory\n  maxEntries: 40\n'));
    // maxEntries only applies at start (it sizes the store): start a gateway on the new file.
    const gw = await startGateway(
      t,
      s.yaml.replace('  store: memory\n', '  store: memory\n  maxEntries: 40\n'),
    );
    const alice = new GatewayClient(gw.url);
    const { client } = await login({ ...s, gw }, 'alice', '/dce5/', alice);
    // Ten times maxEntries: more than the session store holds, whatever keys a session takes.
    for (let i = 0; i < 400; i++) {
      const r = await send(gw.url, '/_portico/login/corp?rd=%2Fdce5%2F');
      assert.equal(r.status, 302);
      assert.ok(
        !([] as string[]).concat(r.headers['set-cookie'] ?? []).some((c) => c.startsWith('portico_session=')),
        'no session for an anonymous visitor',
      );
    }
    const r = await client.request('/dce5/', { headers: { accept: 'application/json' } });
    assert.equal(r.status, 200, 'alice is still signed in');
  });

  it('lets one address start 120 sign-ins a minute, then answers 429 with Retry-After; another address is not held back', async (t) => {
    const ai = await aiUpstream(t);
    const s = await startSso(t, ROUTES(ai.url));
    const start = (localAddress?: string) =>
      send(s.gw.url, '/_portico/login/corp?rd=%2Fdce5%2F', localAddress ? { localAddress } : {});
    for (let i = 0; i < 120; i++) assert.equal((await start()).status, 302, `start ${i + 1}`);
    const refused = await start();
    assert.equal(refused.status, 429);
    assert.ok(Number(refused.headers['retry-after']) >= 1, 'Retry-After says when');
    assert.equal((await start('127.0.0.2')).status, 302, 'another address');
  });

  it('leaves only short-lived sign-in keys in Redis for anonymous visitors, never sessions', async (t) => {
    const redisUrl = await sharedRedisUrl();
    const ai = await aiUpstream(t);
    const prefix = `flood${Date.now()}:`;
    const s = await startSso(t, ROUTES(ai.url), { store: 'redis', redisUrl, keyPrefix: prefix });
    for (let i = 0; i < 20; i++) await send(s.gw.url, '/_portico/login/corp');
    const redis = new Redis(redisUrl);
    t.after(() => redis.quit());
    const keys = await redis.keys(`${prefix}*`);
    const sessions = keys.filter((k) => k.includes(':sess:') || k.includes(':seen:'));
    assert.deepEqual(sessions, []);
    const logins = keys.filter((k) => k.startsWith(`${prefix}login:`));
    assert.equal(logins.length, 20);
    for (const k of logins) {
      const ttl = await redis.pttl(k);
      assert.ok(ttl > 0 && ttl <= 10 * 60_000, `${k} expires within ten minutes (${ttl} ms)`);
    }
  });
});

describe('an open WebSocket ends with its session', () => {
  it('closes the terminal (1008) when its user signs out', async (t) => {
    const { s, client, closed } = await aliceAtTerminal(t);
    await logout(client, s.publicUrl);
    assert.equal(await closed, 1008);
  });

  it('closes a terminal opened on a public route (auth: none) when the browser’s user signs out, passing no identity', async (t) => {
    const ai = await aiUpstream(t);
    const s = await startSso(
      t,
      `  - { id: ai-apis, path: /dce5/apis/, upstream: "${ai.url}", auth: none, websocket: true }\n${ROUTES(ai.url)}`,
    );
    const { client } = await login(s, 'alice');
    const ws = await terminal(s, s.gw.url, client, '/dce5/apis/terminal/ws');
    const upgrade = ai.requests.filter((r) => r.method === 'UPGRADE').at(-1)!;
    assert.equal(upgrade.headers['x-forwarded-user'], undefined);
    const closed = closeCode(ws);
    await logout(client, s.publicUrl);
    assert.equal(await closed, 1008);
  });

  it('closes a terminal whose user signed out while the upstream was still answering the upgrade', async (t) => {
    const ai = await aiUpstream(t);
    const slow = await slowUpgradeUpstream(t);
    const s = await startSso(
      t,
      `  - { id: term, path: /term/, upstream: "${slow.url}", auth: required, websocket: true }\n${ROUTES(ai.url)}`,
    );
    const { client } = await login(s, 'alice');
    const ws = new WebSocket(`${s.gw.url.replace('http', 'ws')}/term/x`, {
      headers: { cookie: client.cookieHeader() },
      origin: s.publicUrl,
    });
    ws.on('error', () => {});
    const closed = closeCode(ws);
    await slow.arrived;
    await logout(client, s.publicUrl);
    slow.answer();
    assert.equal(await closed, 1008);
  });

  it('opens nothing upstream for an upgrade whose client left while its session was being read', async (t) => {
    const redis = await startRedis(t);
    // A watch endpoint on a WebSocket route: it declines the upgrade with an endless answer.
    const upgrades: string[] = [];
    const watch = createServer();
    watch.on('upgrade', (req, socket) => {
      upgrades.push(req.url ?? '');
      socket.on('error', () => {});
      socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n');
    });
    watch.listen(0, '127.0.0.1');
    await once(watch, 'listening');
    t.after(() => watch.closeAllConnections?.());
    t.after(() => watch.close());
    const ai = await aiUpstream(t);
    const s = await startSso(
      t,
      `  - { id: watch, path: /watch/, upstream: "http://127.0.0.1:${(watch.address() as AddressInfo).port}", auth: required, websocket: true }\n${ROUTES(ai.url)}`,
      { store: 'redis', redisUrl: redis.url, keyPrefix: 'left:' },
    );
    const { client } = await login(s, 'alice');
    // Past the session's in-process cache (1 s): the upgrade reads it from Redis, held for 1.5 s
    // (under the 2 s command timeout, so the read completes rather than fails): long enough that
    // the client is surely gone first, on a loaded machine too.
    await new Promise((resolve) => setTimeout(resolve, 1200));
    const admin = new Redis(redis.url);
    t.after(() => admin.quit());
    const pausedAt = Date.now();
    await admin.call('CLIENT', 'PAUSE', '1500', 'ALL');
    const url = new URL(s.gw.url);
    const sock = connect(Number(url.port), url.hostname);
    sock.on('error', () => {});
    await once(sock, 'connect');
    sock.write(
      `GET /watch/events HTTP/1.1\r\nHost: ${url.host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n` +
        `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: ${s.publicUrl}\r\n` +
        `Cookie: ${client.cookieHeader()}\r\n\r\n`,
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    sock.resetAndDestroy();
    assert.ok(Date.now() - pausedAt < 1500, 'the client left while Redis was still paused');
    // The session read completes once Redis is back; nothing may be sent upstream for a client gone.
    await new Promise((resolve) => setTimeout(resolve, 1900 - (Date.now() - pausedAt)));
    assert.deepEqual(upgrades, []);
  });

  it('closes the terminal when the IdP ends the session by back-channel logout', async (t) => {
    const { s, idpJar, closed } = await aliceAtTerminal(t);
    await driveLogout(s.idp, s.idp.endpoints.endSession, idpJar);
    assert.equal(await closed, 1008);
  });

  it('closes a terminal on another replica when the session ends on this one', async (t) => {
    const redisUrl = await sharedRedisUrl();
    const ai = await aiUpstream(t);
    const s = await startSso(t, ROUTES(ai.url), { store: 'redis', redisUrl, keyPrefix: `tun${Date.now()}:` });
    const b = await startGateway(t, s.yaml);
    const { client } = await login(s, 'alice');
    const onB = await terminal(s, b.url, client);
    const closed = closeCode(onB);
    await logout(client, s.publicUrl);
    assert.equal(await closed, 1008);
  });
});

describe('an open WebSocket ends with its session even when the announcement was missed', () => {
  it('closes a terminal whose session ended while its replica was cut off from Redis, once Redis is back', async (t) => {
    const redis = await startRedis(t);
    const ai = await aiUpstream(t);
    const s = await startSso(t, ROUTES(ai.url), { store: 'redis', redisUrl: redis.url, keyPrefix: 'cut:' });
    const { client } = await login(s, 'alice');
    const ws = await terminal(s, s.gw.url, client);
    const closed = closeCode(ws);
    // Redis comes back empty (no persistence): every session ended, and nobody could announce it.
    await redis.stop();
    await redis.start();
    assert.equal(await closed, 1008);
  });
  it('closes a terminal whose session the store lost without a word (a key deleted by hand), at the next sweep; an idle one in use stays', async (t) => {
    const redisUrl = await sharedRedisUrl();
    const ai = await aiUpstream(t);
    const prefix = `lost${Date.now()}:`;
    const s = await startSso(t, ROUTES(ai.url), { store: 'redis', redisUrl, keyPrefix: prefix });
    const yaml = s.yaml.replace('  store: redis\n', '  store: redis\n  terminalCheck: 200ms\n');
    assert.notEqual(yaml, s.yaml);
    const gw = await startGateway(t, yaml);
    const { client } = await login(s, 'alice');
    const ws = await terminal(s, gw.url, client);
    const closed = closeCode(ws);
    const redis = new Redis(redisUrl);
    t.after(() => redis.quit());
    const keys = async (kind: string) =>
      (await redis.keys(`${prefix}*`)).filter((k) => k.includes(`:${kind}:`));
    // Idle past its timeout (the last-seen key gone) while the user types: the terminal stays.
    const seen = await keys('seen');
    assert.equal(seen.length, 1);
    await redis.del(...seen);
    await new Promise((resolve) => setTimeout(resolve, 700));
    ws.send('still here');
    assert.equal(String((await once(ws, 'message'))[0]), 'still here');
    // The session itself deleted, with no sign-out announced: closed by the sweep.
    const data = await keys('sess');
    assert.equal(data.length, 1);
    await redis.del(...data);
    assert.equal(await closed, 1008);
  });
});

describe('an open WebSocket ends with its session when an administrator revokes it', () => {
  it('closes a terminal on one replica when the user is revoked through the admin API of another', async (t) => {
    const redisUrl = await sharedRedisUrl();
    const ai = await aiUpstream(t);
    const key = 'ptk_support_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG';
    const s = await startSso(t, ROUTES(ai.url), {
      store: 'redis',
      redisUrl,
      keyPrefix: `revoketun${Date.now()}:`,
      extra: `admin:\n  apiKeys:\n    - { id: support, hash: "${hashApiKey(key)}", scopes: [sessions:revoke] }\n`,
    });
    const admin = await startGateway(t, s.yaml, { port: await freePort(), features: [adminFeature()] });
    const { client } = await login(s, 'alice');
    const ws = await terminal(s, s.gw.url, client);
    const closed = closeCode(ws);
    const r = await send(admin.url, '/_portico/admin/sessions/revoke', {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'alice' }),
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(await closed, 1008);
  });
});

describe('a reload that changes what a session means ends it', () => {
  const signedIn = async (client: GatewayClient) =>
    (await client.request('/_portico/me', { headers: { accept: 'application/json' } })).status === 200;
  const partner =
    'identityProviders:\n  - { id: partner, type: oidc, issuer: "http://127.0.0.1:9/realms/partner", clientId: portico, clientSecret: x }\n';

  it('ends the sessions of an identity provider the reload removed', async (t) => {
    const ai = await aiUpstream(t);
    const s = await startSso(t, ROUTES(ai.url));
    const { client } = await login(s, 'alice');
    assert.equal(await signedIn(client), true);
    s.gw.write(s.yaml.replace(/identityProviders:\n {2}- \{ id: corp[^\n]*\n/, partner));
    assert.equal(s.gw.gateway.reload().ok, true);
    assert.equal(await signedIn(client), false);
    assert.equal((await client.request('/dce5/', { headers: { accept: 'application/json' } })).status, 401);
  });

  it('closes the open terminals of a provider the reload removed, without waiting for a request', async (t) => {
    const { s, closed } = await aliceAtTerminal(t);
    s.gw.write(s.yaml.replace(/identityProviders:\n {2}- \{ id: corp[^\n]*\n/, partner));
    assert.equal(s.gw.gateway.reload().ok, true);
    assert.equal(await closed, 1008);
  });

  it('ends the sessions named under another primary provider: their bare names would be someone else’s', async (t) => {
    const ai = await aiUpstream(t);
    const s = await startSso(t, ROUTES(ai.url));
    const { client } = await login(s, 'alice');
    // Adding a provider with corp still primary changes nothing for corp's alice.
    const both = s.yaml.replace(
      /(identityProviders:\n {2}- \{ id: corp[^\n]*\n)/,
      `identity: { primaryProvider: corp }\n$1  - { id: partner, type: oidc, issuer: "http://127.0.0.1:9/realms/partner", clientId: portico, clientSecret: x }\n`,
    );
    s.gw.write(both);
    assert.equal(s.gw.gateway.reload().ok, true);
    assert.equal(await signedIn(client), true);
    // Making partner primary: corp's "alice" would now be partner's alice.
    s.gw.write(both.replace('primaryProvider: corp', 'primaryProvider: partner'));
    assert.equal(s.gw.gateway.reload().ok, true);
    assert.equal(await signedIn(client), false);
  });

  it('ends a primary session whose user or group a provider added by the reload now names (partner:alice), and closes its terminals at once', async (t) => {
    const ai = await aiUpstream(t);
    const port = await freePort();
    // An IdP where anyone may pick a user name: one calls itself partner:alice.
    const idp = await startTestIdp(t, {
      clients: [porticoClient(`http://127.0.0.1:${port}`)],
      users: [
        {
          id: 'pa',
          username: 'partner:alice',
          password: 'partner:alice',
          email: 'pa@example.com',
          name: 'PA',
          groups: ['staff'],
        },
        {
          id: 'carol',
          username: 'carol',
          password: 'carol',
          email: 'carol@example.com',
          name: 'Carol',
          groups: ['partner:admins'],
        },
        {
          id: 'dave',
          username: 'dave',
          password: 'dave',
          email: 'dave@example.com',
          name: 'Dave',
          groups: ['staff'],
        },
      ],
      logErrors: false,
    });
    const s = await startSso(t, ROUTES(ai.url), { idp, port });
    const clients = {
      pa: (await login(s, 'partner:alice')).client,
      carol: (await login(s, 'carol')).client,
      dave: (await login(s, 'dave')).client,
    };
    for (const c of Object.values(clients)) assert.equal(await signedIn(c), true);
    const paClosed = closeCode(await terminal(s, s.gw.url, clients.pa));
    const dave = await terminal(s, s.gw.url, clients.dave);
    s.gw.write(
      s.yaml.replace(
        /(identityProviders:\n {2}- \{ id: corp[^\n]*\n)/,
        `identity: { primaryProvider: corp }\n$1  - { id: partner, type: oidc, issuer: "http://127.0.0.1:9/realms/partner", clientId: portico, clientSecret: x }\n`,
      ),
    );
    assert.equal(s.gw.gateway.reload().ok, true);
    // Terminals make no request: the reload looks their sessions up (before any request of theirs).
    assert.equal(await paClosed, 1008);
    assert.equal(await signedIn(clients.pa), false, 'a user name that is now the partner’s');
    assert.equal(await signedIn(clients.carol), false, 'a group that is now the partner’s');
    assert.equal(await signedIn(clients.dave), true, 'nothing of the partner’s: kept');
    dave.send('still here');
    assert.equal(String((await once(dave, 'message'))[0]), 'still here');
    dave.close();
  });

  it('ends the sessions of a provider the reload points at another IdP under the same id, and no others', async (t) => {
    const ai = await aiUpstream(t);
    const s = await startSso(t, ROUTES(ai.url));
    const { client } = await login(s, 'alice');
    // Other settings of the same IdP (its name, scopes) change how it is shown or asked, not who its users are.
    const scoped = s.yaml
      .replace('name: Customer SSO,', 'name: Corporate SSO,')
      .replace('offline_access]', 'offline_access, phone]');
    assert.notEqual(scoped, s.yaml);
    s.gw.write(scoped);
    assert.equal(s.gw.gateway.reload().ok, true);
    assert.equal(await signedIn(client), true);
    // Another issuer under the id corp: the old IdP's alice is not the new one's.
    const other = scoped.replace(
      `issuer: "${s.idp.issuer}"`,
      'issuer: "http://127.0.0.1:9/realms/elsewhere"',
    );
    assert.notEqual(other, scoped);
    s.gw.write(other);
    assert.equal(s.gw.gateway.reload().ok, true);
    assert.equal(await signedIn(client), false);
  });
});

describe('a reload that changes who may open a terminal closes the terminals it no longer admits', () => {
  const key = 'ptk_robot_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG';
  const other = 'ptk_robot_ZYXWVUTSRQPONMLKJIHGFEDCBAzyxwvutsrqponmlkjih';
  async function terminal(t: TestContext) {
    const app = await upstreamFor(t, { websocket: true });
    const yaml = (keyHash: string, allow: string) => `publicUrl: http://127.0.0.1:1
session: { secret: x-secret-x-secret-x-secret-x-secret-x }
identityProviders:
  - { id: corp, type: oidc, issuer: "http://127.0.0.1:9", clientId: portico, clientSecret: x }
apiKeys:
  - { id: robot, hash: "${keyHash}", groups: [ops] }
routes:
  - { id: term, path: /term/, upstream: "${app.url}", auth: required, websocket: true, allow: ${allow} }
`;
    const gw = await startGateway(t, yaml(hashApiKey(key), '{ groups: [ops] }'));
    const ws = new WebSocket(`${gw.url.replace('http', 'ws')}/term/x`, {
      headers: { authorization: `Bearer ${key}` },
    });
    await once(ws, 'open');
    const reload = (keyHash: string, allow: string) => {
      gw.write(yaml(keyHash, allow));
      assert.equal(gw.gateway.reload().ok, true);
    };
    return { ws, reload };
  }

  it('keeps it open through a reload that changes nothing it depends on (control)', async (t) => {
    const { ws, reload } = await terminal(t);
    reload(hashApiKey(key), '{ groups: [ops, admins] }');
    ws.send('still here?');
    const [echo] = await once(ws, 'message');
    assert.equal(String(echo), 'still here?');
    ws.close();
  });

  // What the reload changes, and the API key and route rules it writes.
  const closingReloads: [string, () => string, string][] = [
    ['opened with an API key the reload rotated away', () => hashApiKey(other), '{ groups: [ops] }'],
    [
      'on a route the reload puts under maintenance',
      () => hashApiKey(key),
      '{ groups: [ops] }, maintenance: true',
    ],
    ['from an address the reload denies', () => hashApiKey(key), '{ groups: [ops] }, ipDeny: [127.0.0.0/8]'],
    ['whose user the narrowed allow rules no longer admit', () => hashApiKey(key), '{ groups: [admins] }'],
  ];
  for (const [what, keyHash, rules] of closingReloads)
    it(`closes (1008) a terminal ${what}`, async (t) => {
      const { ws, reload } = await terminal(t);
      const closed = once(ws, 'close');
      reload(keyHash(), rules);
      const [code] = await closed;
      assert.equal(code, 1008);
    });
});

describe('a reload while a terminal is being opened', () => {
  it('judges the terminal by the new config once the upstream answers (1008 when the key was removed meanwhile)', async (t) => {
    const key = 'ptk_robot_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG';
    const { port, arrived, answer } = await slowUpgradeUpstream(t);
    const yaml = (keys: string) => `publicUrl: http://127.0.0.1:1
session: { secret: x-secret-x-secret-x-secret-x-secret-x }
identityProviders:
  - { id: corp, type: oidc, issuer: "http://127.0.0.1:9", clientId: portico, clientSecret: x }
${keys}routes:
  - { id: term, path: /term/, upstream: "http://127.0.0.1:${port}", auth: required, websocket: true }
`;
    const gw = await startGateway(
      t,
      yaml(`apiKeys:\n  - { id: robot, hash: "${hashApiKey(key)}", groups: [ops] }\n`),
    );
    const ws = new WebSocket(`${gw.url.replace('http', 'ws')}/term/x`, {
      headers: { authorization: `Bearer ${key}` },
    });
    ws.on('error', () => {});
    const closed = once(ws, 'close');
    await arrived;
    gw.write(yaml(''));
    assert.equal(gw.gateway.reload().ok, true);
    answer();
    const [code] = await closed;
    assert.equal(code, 1008);
  });
});

describe('a reload and the terminals opened without a login on a public path', () => {
  it('keeps them open through a reload that leaves the path public, and closes them when it no longer is', async (t) => {
    const app = await upstreamFor(t, { websocket: true });
    const yaml = (extra: string, publicPaths: string) => `publicUrl: http://127.0.0.1:1
session: { secret: x-secret-x-secret-x-secret-x-secret-x }
identityProviders:
  - { id: corp, type: oidc, issuer: "http://127.0.0.1:9", clientId: portico, clientSecret: x }
${extra}routes:
  - { id: ai, path: /dce5/, upstream: "${app.url}", auth: required, websocket: true, public: [${publicPaths}] }
`;
    const gw = await startGateway(t, yaml('', '{ path: /dce5/apis/ }'));
    const ws = new WebSocket(`${gw.url.replace('http', 'ws')}/dce5/apis/watch`);
    await once(ws, 'open');
    gw.write(yaml('# an unrelated edit\n', '{ path: /dce5/apis/ }, { path: /dce5/static/ }'));
    assert.equal(gw.gateway.reload().ok, true);
    ws.send('still here?');
    const [echo] = await once(ws, 'message');
    assert.equal(String(echo), 'still here?');
    const closed = once(ws, 'close');
    gw.write(yaml('', '{ path: /dce5/static/ }'));
    assert.equal(gw.gateway.reload().ok, true);
    const [code] = await closed;
    assert.equal(code, 1008);
  });
});

describe('a session made under a config this replica has not loaded yet', () => {
  it('is only not signed in here, never ended for every replica (a rolling change)', async (t) => {
    const redis = new Redis(await sharedRedisUrl());
    t.after(() => redis.quit());
    const store = createRedisStore(redis, { prefix: `rolling${Date.now()}:` });
    const log = pino({ level: 'silent' });
    const settings = compileConfig(
      {
        routes: [{ id: 'a', path: '/', upstream: 'http://127.0.0.1:9/' }],
        session: { secret: 'x'.repeat(32) },
      } as never,
      '',
      undefined,
      '/',
    ).session;
    const make = (judge: 'refuse' | 'end') =>
      createSessions({ settings, store, events: createEventBus(log), log, judge: () => judge });
    const lagging = make('refuse');
    const outdated = make('end');
    t.after(() => Promise.all([lagging.close(), outdated.close()]).then(() => store.close()));
    const identity = { idp: 'partner', sub: 's1', username: 'alice', groups: [] };
    const { id, setCookie } = await lagging.create({ identity, namedUnder: 'partner' }, false);
    const req = { headers: { cookie: setCookie.split(';')[0] } } as never;
    assert.equal(await lagging.load(req), undefined, 'not signed in on the lagging replica');
    assert.ok(await store.get(`sess:${id}`), 'still there for the others');
    // An OpenID Provider client refreshing through the lagging replica keeps its grant.
    assert.equal(await lagging.stands(id), true);
    assert.equal(await outdated.load(req), undefined);
    await eventually(
      () => store.get(`sess:${id}`),
      (v) => v === undefined,
    );
    assert.equal(await store.get(`sess:${id}`), undefined, 'ended by a config that outdated it');
    assert.equal(await outdated.stands(id), false);
  });
});

describe('session bookkeeping', () => {
  const settings = (maxAge = '8h', cacheTtl = '1ms') =>
    compileConfig(
      {
        routes: [{ id: a, path: '/', upstream: 'http://127.0.0.1:9/' }],
        session: { secret: 'x'.repeat(32), maxAge, cacheTtl },
      } as never,
      '',
      undefined,
      '/',
    ).session;
  const a = 'a';
  const identity = { idp: 'corp', sub: 's1', username: 'alice', groups: [] };

  it('touches the last-seen time without rewriting the session, so another replica’s refresh survives', async (t) => {
    const redis = new Redis(await sharedRedisUrl());
    t.after(() => redis.quit());
    const store = createRedisStore(redis, { prefix: `touch${Date.now()}:` });
    const log = pino({ level: 'silent' });
    // A keeps what it read for ten minutes, so it still holds its copy when its touch is due.
    const replicaA = createSessions({
      settings: settings('8h', '10m'),
      store,
      events: createEventBus(log),
      log,
    });
    const replicaB = createSessions({ settings: settings(), store, events: createEventBus(log), log });
    t.after(() => Promise.all([replicaA.close(), replicaB.close()]).then(() => store.close()));
    const { id, setCookie } = await replicaA.create(
      { identity, tokens: { accessToken: 'at1', refreshToken: 'rt1', expiresAt: Date.now() } },
      false,
    );
    const req = { headers: { cookie: setCookie.split(';')[0] } } as never;
    const seenByA = await replicaA.load(req);
    assert.ok(seenByA);
    // B refreshes: the IdP rotated the refresh token.
    const rotated = await replicaB.updateTokens(id, seenByA.data, {
      accessToken: 'at2',
      refreshToken: 'rt2',
    });
    assert.equal(rotated?.tokens?.refreshToken, 'rt2');
    // A minute later A sees the session again from its stale copy, and its touch is due.
    const later = Date.now() + 61_000;
    t.mock.timers.enable({ apis: ['Date'], now: later });
    const again = await replicaA.load(req);
    t.mock.timers.reset();
    assert.equal(again?.data.tokens?.refreshToken, 'rt1', 'A answered from its stale copy');
    assert.equal(await store.get(`seen:${id}`), String(later), 'A touched the last-seen time');
    assert.equal((await replicaA.fresh(id))?.tokens?.refreshToken, 'rt2', 'the rotated token is kept');
  });

  it('refuses to overwrite tokens another replica changed since they were read', async (t) => {
    const store = createMemoryStore();
    const log = pino({ level: 'silent' });
    const sessions = createSessions({ settings: settings(), store, events: createEventBus(log), log });
    t.after(() => sessions.close());
    const { id } = await sessions.create({ identity, tokens: { refreshToken: 'rt1' } }, false);
    const stale = (await sessions.fresh(id))!;
    await sessions.updateTokens(id, stale, { refreshToken: 'rt2' });
    const kept = await sessions.updateTokens(id, stale, { refreshToken: 'rt-from-stale-copy' });
    assert.equal(kept?.tokens?.refreshToken, 'rt2');
  });

  it('keeps only live sessions in its revocation index: ended and expired ones leave it', async (t) => {
    const store = createMemoryStore();
    const log = pino({ level: 'silent' });
    const sessions = createSessions({ settings: settings(), store, events: createEventBus(log), log });
    t.after(() => sessions.close());
    const first = await sessions.create({ identity }, false);
    await sessions.end(first.id, 'logout');
    assert.deepEqual(await store.setMembers('idx:user:alice'), [], 'a signed-out session leaves the index');
    const second = await sessions.create({ identity }, false);
    await store.delete(`sess:${second.id}`, `seen:${second.id}`); // expired unseen: nobody ended it
    const third = await sessions.create({ identity }, false);
    for (const key of ['idx:user:alice', 'idx:corp:sub:s1'])
      assert.deepEqual(await store.setMembers(key), [third.id], key);
  });

  it('keeps its revocation index in the store with the sessions’ lifetime, not in a map that only grows', async (t) => {
    const store = createMemoryStore();
    const log = pino({ level: 'silent' });
    const sessions = createSessions({ settings: settings('2s'), store, events: createEventBus(log), log });
    t.after(() => sessions.close());
    await sessions.create({ identity, idpSid: 'sid-1' }, false);
    for (const key of ['idx:corp:sub:s1', 'idx:user:alice', 'idx:corp:sid:sid-1']) {
      const ttl = await store.ttl(key);
      assert.ok(ttl !== undefined && ttl <= 2000, `${key} expires with the session`);
    }
  });
});
