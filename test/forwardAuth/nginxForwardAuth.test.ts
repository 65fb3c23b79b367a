// The shipped nginx config (deploy/nginx/) with Portico as its authentication server: nginx on the
// data path, Portico answering its auth_request checks. Real nginx, upstreams, OIDC provider,
// Redis and Chromium.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { IncomingHttpHeaders } from 'node:http';
import { describe, it } from 'node:test';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import WebSocket from 'ws';
import { launchBrowser } from '../helpers/browser.ts';
import { type ForwardAuthSetup, signInThroughNginx, startForwardAuth } from '../helpers/forwardAuth.ts';
import { json, send } from '../helpers/http.ts';
import { GatewayClient, logout } from '../helpers/sso.ts';
import type { RecordedRequest } from '../helpers/upstream.ts';

const IDENTITY = [
  'x-forwarded-user',
  'x-forwarded-email',
  'x-forwarded-groups',
  'x-forwarded-preferred-username',
  'x-portico-assertion',
];

/** The names a backend could read as an identity header: any case, `_` for `-`. */
const identityHeadersOf = (r: RecordedRequest) => {
  const found: Record<string, string> = {};
  for (let i = 0; i < r.rawHeaders.length; i += 2) {
    const name = r.rawHeaders[i]!.toLowerCase().replace(/_/g, '-').trim();
    if (IDENTITY.includes(name))
      found[name] = found[name] ? `${found[name]}|${r.rawHeaders[i + 1]}` : r.rawHeaders[i + 1]!;
  }
  return found;
};

const asJson = { accept: 'application/json' };

async function verifyAssertion(s: ForwardAuthSetup, token: string | undefined, audience: string) {
  assert.ok(token, 'an assertion was set');
  // The keys through nginx, as an upstream behind it would fetch them.
  const jwks = createRemoteJWKSet(new URL(`${s.url}/_portico/jwks.json`));
  return (await jwtVerify(token, jwks, { issuer: s.url, audience })).payload;
}

function websocket(s: ForwardAuthSetup, cookie?: string) {
  const ws = new WebSocket(`${s.url.replace('http:', 'ws:')}/dce5/terminal/ws?cols=80`, ['tty'], {
    headers: cookie ? { cookie } : {},
  });
  ws.on('error', () => {});
  return new Promise<{ ws: WebSocket } | { status: number }>((resolve) => {
    ws.once('open', () => resolve({ ws }));
    ws.once('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode ?? 0 });
      res.resume();
    });
  });
}

describe('nginx in front, Portico as its authentication server', () => {
  it('signs a browser in through nginx, and both upstreams receive the identity and assertion nginx set from Portico', async (t) => {
    const s = await startForwardAuth(t);
    const { context } = await launchBrowser(t, { locale: 'en-US' });
    const page = await context.newPage();
    await page.goto(`${s.url}/dce5/models?tab=mine`);
    // nginx's error_page 401 sent the browser to Portico's login, which went on to the IdP.
    await page.waitForSelector('#login-submit');
    assert.ok(page.url().startsWith(s.idp.issuer));
    await page.fill('#username', 'alice');
    await page.fill('#password', 'alice');
    await page.click('#login-submit');
    await page.waitForURL(`${s.url}/dce5/models?tab=mine`);
    const ai = JSON.parse(await page.locator('body').innerText()) as {
      url: string;
      headers: IncomingHttpHeaders;
    };
    assert.equal(ai.url, '/models?tab=mine');
    assert.equal(ai.headers['x-forwarded-user'], 'alice');
    assert.equal(ai.headers['x-forwarded-email'], 'alice@example.com');
    assert.equal(ai.headers['x-forwarded-groups'], 'ai-users,staff');
    assert.equal(ai.headers['x-forwarded-preferred-username'], 'Alice Zhang');
    const claims = await verifyAssertion(s, ai.headers['x-portico-assertion'] as string, 'ai-platform');
    assert.equal(claims.sub, 'alice');
    // The IdP's own cookies come along (cookies ignore ports, and it runs on 127.0.0.1 too); Portico's do not.
    assert.match(String(ai.headers.cookie), /idp\d+_session=/);
    assert.doesNotMatch(String(ai.headers.cookie), /portico_/);

    await page.goto(`${s.url}/`);
    const customer = JSON.parse(await page.locator('body').innerText()) as { headers: IncomingHttpHeaders };
    assert.equal(customer.headers['x-forwarded-user'], 'alice');
    const customerClaims = await verifyAssertion(
      s,
      customer.headers['x-portico-assertion'] as string,
      'customer',
    );
    assert.deepEqual(customerClaims.groups, ['ai-users', 'staff']);

    // Every request was a check at Portico, logged with its route and user, and nginx's access
    // log names the user from Portico's answer.
    assert.deepEqual(
      s.checks
        .filter((c) => c.status === 200 && c.uri !== '/favicon.ico')
        .map((c) => [c.uri, c.route, c.user]),
      [
        ['/dce5/models?tab=mine', 'ai-platform', 'alice'],
        ['/', 'customer', 'alice'],
      ],
    );
    assert.match(
      s.accessLog(),
      /- alice \[[^\]]+\] "GET \/dce5\/models\?tab=mine HTTP\/1.1" 200 .* auth=200/,
    );
    // Portico's own pages are Portico's to log: nginx never writes a sign-in callback's one-time code.
    assert.doesNotMatch(s.accessLog(), /_portico\/callback|code=/);
  });

  it('opens the cloudtty WebSocket through nginx only for a signed-in user the route admits', async (t) => {
    const s = await startForwardAuth(t);
    const anonymous = await websocket(s);
    assert.deepEqual(anonymous, { status: 401 });
    const bob = await signInThroughNginx(s, 'bob');
    assert.deepEqual(await websocket(s, bob.client.cookieHeader()), { status: 403 });
    assert.equal(s.ai.requests.length, 0, 'nothing reached the AI platform');

    const alice = await signInThroughNginx(s, 'alice');
    const opened = await websocket(s, alice.client.cookieHeader());
    assert.ok('ws' in opened, `refused: ${JSON.stringify(opened)}`);
    const { ws } = opened;
    assert.equal(ws.protocol, 'tty');
    ws.send('ls -la');
    const [echo] = await once(ws, 'message');
    assert.equal(String(echo), 'ls -la');
    const upgrade = s.ai.requests.find((r) => r.method === 'UPGRADE')!;
    assert.equal(upgrade.url, '/terminal/ws?cols=80');
    assert.equal(upgrade.headers['x-forwarded-user'], 'alice');
    await verifyAssertion(s, upgrade.headers['x-portico-assertion'] as string, 'ai-platform');
    ws.close();
    await once(ws, 'close');
  });

  it("never lets a client's identity headers reach an upstream, in any spelling", async (t) => {
    const s = await startForwardAuth(t);
    const spoofed = [
      ['X-Forwarded-User', 'mallory'],
      ['x-forwarded-user', 'mallory2'],
      ['X-FORWARDED-EMAIL', 'mallory@evil.example'],
      ['X_Forwarded_Groups', 'admins'],
      ['x_forwarded_user', 'mallory3'],
      ['X-Forwarded-Groups', 'admins'],
      ['X-Forwarded-Preferred-Username', 'Mallory'],
      ['x-portico-assertion', 'eyJhbGciOiJub25lIn0.eyJzdWIiOiJtYWxsb3J5In0.'],
      ['X-Portico-Assertion', 'forged'],
    ].flat();
    // Anonymous on the customer system (auth: optional): every identity header is removed.
    const anonymous = await send(s.url, '/', { headers: [...spoofed, 'Accept', 'application/json'] });
    assert.equal(anonymous.status, 200);
    assert.deepEqual(identityHeadersOf(s.customer.last()), {});

    // Signed in: Portico's values, once each, and nothing of the client's.
    const { client } = await signInThroughNginx(s, 'alice');
    const signedIn = await send(s.url, '/dce5/', {
      headers: [...spoofed, 'Cookie', client.cookieHeader(), 'Accept', 'application/json'],
    });
    assert.equal(signedIn.status, 200);
    const seen = identityHeadersOf(s.ai.last());
    assert.equal(seen['x-forwarded-user'], 'alice');
    assert.equal(seen['x-forwarded-email'], 'alice@example.com');
    assert.equal(seen['x-forwarded-groups'], 'ai-users,staff');
    assert.equal(seen['x-forwarded-preferred-username'], 'Alice Zhang');
    await verifyAssertion(s, seen['x-portico-assertion'], 'ai-platform');

    // An API key has no email: the client's email header is removed, not kept.
    const machine = await send(s.url, '/dce5/v1/jobs', {
      headers: [...spoofed, 'Authorization', `Bearer ${s.apiKey}`, 'Accept', 'application/json'],
    });
    assert.equal(machine.status, 200);
    const machineSeen = identityHeadersOf(s.ai.last());
    assert.equal(machineSeen['x-forwarded-user'], 'ci');
    assert.equal(machineSeen['x-forwarded-email'], undefined);
    assert.equal(machineSeen['x-forwarded-groups'], 'ai-users');
  });

  it("replaces or clears what a client says about where it connected, as Portico's own proxy path does", async (t) => {
    const s = await startForwardAuth(t);
    const claimed: Record<string, string> = {
      'X-Forwarded-Host': 'evil.example',
      'X-Forwarded-Proto': 'https',
      'X-Forwarded-Prefix': '/evil',
      Forwarded: 'for=6.6.6.6;host=evil.example',
      'X-Forwarded-For': '6.6.6.6',
      'X-Forwarded-Port': '8443',
      'X-Original-URI': '/admin',
      'X-Original-Method': 'DELETE',
      'X-Forwarded-Uri': '/admin',
      'True-Client-IP': '6.6.6.6',
      'CF-Connecting-IP': '6.6.6.6',
      'X-Portico-User': 'root',
    };
    const r = await send(s.url, '/', {
      headers: [...Object.entries(claimed).flat(), 'Accept', 'application/json'],
    });
    assert.equal(r.status, 200);
    const seen = s.customer.last().headers;
    assert.equal(seen['x-forwarded-host'], new URL(s.url).hostname, "nginx's $host, as its Host line sends");
    assert.equal(seen['x-forwarded-proto'], 'http');
    assert.equal(seen['x-forwarded-for'], '127.0.0.1');
    for (const name of Object.keys(claimed).filter((n) => !/^x-forwarded-(host|proto|for)$/i.test(n)))
      assert.equal(seen[name.toLowerCase()], undefined, name);
  });

  it('forwards a method override with a signed-in request, and none on a public path: its method is what passed without a login', async (t) => {
    const s = await startForwardAuth(t, {
      routes: ({ ai }) =>
        `  - { id: hooks, path: /dce5/hooks/, upstream: "${ai}hooks/", auth: required, public: [{ path: /dce5/hooks/in/, methods: [POST] }] }\n`,
    });
    const overrides = [
      'X-HTTP-Method-Override',
      'DELETE',
      'X-HTTP-Method',
      'DELETE',
      'X-Method-Override',
      'DELETE',
    ];
    const named = (r: RecordedRequest) =>
      ['x-http-method-override', 'x-http-method', 'x-method-override'].filter(
        (n) => r.headers[n] !== undefined,
      );
    const anonymous = await send(s.url, '/dce5/hooks/in/event', {
      method: 'POST',
      headers: [...overrides, 'Accept', 'application/json', 'Content-Type', 'application/json'],
      body: '{}',
    });
    assert.equal(anonymous.status, 200);
    assert.deepEqual(named(s.ai.last()), []);
    const { client } = await signInThroughNginx(s, 'alice');
    const signedIn = await send(s.url, '/dce5/x', {
      headers: [...overrides, 'Cookie', client.cookieHeader(), 'Accept', 'application/json'],
    });
    assert.equal(signedIn.status, 200);
    assert.deepEqual(named(s.ai.last()), ['x-http-method-override', 'x-http-method', 'x-method-override']);
  });

  it('decides on the request nginx holds: a spoofed X-Original-URI changes nothing, from a client or a peer outside trustProxy', async (t) => {
    const s = await startForwardAuth(t);
    // Through nginx: the client's headers naming another request are replaced or cleared.
    for (const header of [
      ['X-Original-URI', '/'],
      ['X-Forwarded-Uri', '/'],
      ['X-Original-URL', `${s.url}/`],
      ['X-Original-Method', 'OPTIONS'],
    ]) {
      const r = await send(s.url, '/dce5/', { headers: [...header, 'Accept', 'application/json'] });
      assert.equal(r.status, 401, `${header[0]}: ${r.text}`);
      assert.equal(json(r).login, '/_portico/login?rd=%2Fdce5%2F');
    }
    const { client: bob } = await signInThroughNginx(s, 'bob');
    const refused = await send(s.url, '/dce5/', {
      headers: ['X-Original-URI', '/', 'Cookie', bob.cookieHeader(), 'Accept', 'application/json'],
    });
    assert.equal(refused.status, 403);
    assert.equal(s.ai.requests.length, 0);
    // nginx never lets a client ask for the check itself: nobody reads an assertion out of it.
    const { client: alice } = await signInThroughNginx(s, 'alice');
    for (const target of ['/_portico/auth', '/_portico/auth/dce5/'])
      assert.equal(
        (await send(s.url, target, { headers: ['X-Original-URI', '/dce5/', 'Cookie', alice.cookieHeader()] }))
          .status,
        404,
      );

    // Straight to Portico from 127.0.0.2, which trustProxy does not list: the headers are
    // ignored and the check is judged as itself, GET /_portico/auth, which no route serves.
    const before = s.checks.length;
    for (const headers of [
      ['X-Original-URI', '/dce5/', 'X-Original-Method', 'GET'],
      ['X-Forwarded-Uri', '/', 'X-Forwarded-Method', 'GET'],
      ['X-Original-URL', 'http://portal.example.com/dce5/'],
    ]) {
      const r = await send(s.portico.url, '/_portico/auth', {
        headers: [...headers, 'Cookie', alice.cookieHeader(), 'Accept', 'application/json'],
        localAddress: '127.0.0.2',
      });
      assert.equal(r.status, 403, r.text);
      assert.equal(r.headers['x-portico-assertion'], undefined);
      assert.equal(r.headers['x-forwarded-user'], undefined);
    }
    // Each of them was a request like any other: a check at Portico, refused, with no route.
    assert.deepEqual(
      s.checks.slice(before).map((c) => [c.status, c.route]),
      [
        [403, undefined],
        [403, undefined],
        [403, undefined],
      ],
    );
  });

  it('ends access at logout through nginx', async (t) => {
    const s = await startForwardAuth(t);
    const { client, landed } = await signInThroughNginx(s, 'alice');
    assert.equal(landed.status, 200);
    const out = await logout(client, s.url);
    assert.equal(out.status, 303, out.text);
    const after = await client.request('/dce5/');
    assert.equal(after.status, 302);
    assert.equal(after.headers.location, '/_portico/login?rd=%2Fdce5%2F');
    // The old cookie is dead too, not just gone from the jar.
    assert.equal(s.checks.at(-1)!.status, 401);
  });

  it('refuses bob on the AI platform (allow) and lets him into the customer system', async (t) => {
    const s = await startForwardAuth(t);
    const { client } = await signInThroughNginx(s, 'bob');
    const customer = await client.request('/', { headers: asJson });
    assert.equal(customer.status, 200);
    assert.equal(json<{ headers: IncomingHttpHeaders }>(customer).headers['x-forwarded-user'], 'bob');
    const ai = await client.request('/dce5/', { headers: asJson });
    assert.equal(ai.status, 403);
    assert.equal(s.ai.requests.length, 0);
    assert.deepEqual(
      { ...s.checks.at(-1), at: 0 },
      { status: 403, route: 'ai-platform', user: 'bob', uri: '/dce5/', at: 0 },
    );
    assert.match(s.accessLog(), /- bob \[[^\]]+\] "GET \/dce5\/ HTTP\/1.1" 403 .* auth=403/);
  });

  it("accepts a Portico API key, which never reaches the upstream, nor do Portico's cookies", async (t) => {
    const s = await startForwardAuth(t);
    const r = await send(s.url, '/dce5/v1/jobs', {
      method: 'POST',
      headers: {
        authorization: `Bearer ${s.apiKey}`,
        cookie: 'lang=zh-CN; portico_session=s%3Aforged.sig; theme=dark; portico_login=x; portico_idp=corp',
        'content-type': 'application/json',
        accept: 'application/json',
      },
      body: '{"job":1}',
    });
    assert.equal(r.status, 200, r.text);
    const seen = s.ai.last();
    assert.equal(seen.body.toString(), '{"job":1}');
    assert.equal(seen.headers.authorization, undefined);
    assert.equal(seen.headers.cookie, 'lang=zh-CN; theme=dark');
    assert.equal(seen.headers['x-forwarded-user'], 'ci');
    assert.ok(!JSON.stringify(seen.rawHeaders).includes('ptk_'));

    // A wrong key is refused as an API client is: 401 JSON, never a redirect.
    const wrong = await send(s.url, '/dce5/v1/jobs', {
      headers: { authorization: 'Bearer ptk_ci_wrong', accept: 'text/html' },
    });
    assert.equal(wrong.status, 401);
    assert.equal(s.ai.requests.length, 1);

    // The platform's own bearer tokens are passed through untouched (bearer: passthrough).
    const { client } = await signInThroughNginx(s, 'alice');
    const own = await send(s.url, '/dce5/apis/v1/user', {
      headers: { authorization: 'Bearer dce-own-token', cookie: `${client.cookieHeader()}; app=1` },
    });
    assert.equal(own.status, 200);
    assert.equal(s.ai.last().headers.authorization, 'Bearer dce-own-token');
    assert.equal(s.ai.last().headers.cookie, 'app=1');
  });

  it('asks Portico over kept-alive connections, allowed or refused', async (t) => {
    const s = await startForwardAuth(t);
    const { client } = await signInThroughNginx(s, 'alice');
    let opened = 0;
    const count = () => opened++;
    s.portico.gateway.server.on('connection', count);
    t.after(() => s.portico.gateway.server.off('connection', count));
    const before = s.checks.length;
    for (let i = 0; i < 10; i++) {
      assert.equal((await client.request('/dce5/', { headers: asJson })).status, 200);
      assert.equal((await send(s.url, '/dce5/', { headers: asJson })).status, 401);
      assert.equal((await send(s.url, `/dce5/%2e%2e/x${i}`, { headers: asJson })).status, 403);
    }
    assert.equal(s.checks.length - before, 30);
    // An answer nginx has to read a body from (chunked) would cost a connection per check.
    assert.ok(opened <= 1, `${opened} new connections for 30 checks`);
  });

  it('answers 503 while Redis is down, keeps the optional route up anonymously, and recovers', async (t) => {
    const s = await startForwardAuth(t);
    const { client } = await signInThroughNginx(s, 'alice');
    await s.redis.stop();
    // Until the in-process session cache (1 s) lets go of the session.
    let down = await client.request('/dce5/', { headers: asJson });
    for (let i = 0; i < 100 && down.status === 200; i++) {
      await new Promise((r) => setTimeout(r, 50));
      down = await client.request('/dce5/', { headers: asJson });
    }
    assert.equal(down.status, 503, down.text);
    assert.equal(json(down).error, 'PORTICO_ERR_UNAVAILABLE');
    assert.equal(s.checks.at(-1)!.status, 503);
    const optional = await client.request('/', { headers: asJson });
    assert.equal(optional.status, 200);
    assert.equal(json<{ headers: IncomingHttpHeaders }>(optional).headers['x-forwarded-user'], undefined);

    await s.redis.start();
    let back = down;
    for (let i = 0; i < 100 && back.status === 503; i++) {
      await new Promise((r) => setTimeout(r, 50));
      back = await client.request('/dce5/', { headers: asJson });
    }
    // Redis came back empty (nothing on disk): the session is gone, the answer is a sign-in again.
    assert.equal(back.status, 401);
    const again = await signInThroughNginx(s, 'alice');
    assert.equal(again.landed.status, 200);
  });
});

describe('nginx without a session', () => {
  it('sends a browser to the login page with rd= the original URI, and gives API clients 401 JSON', async (t) => {
    const s = await startForwardAuth(t);
    const browser = new GatewayClient(s.url);
    const page = await browser.request('/dce5/a%20b?x=1&y=%2F');
    assert.equal(page.status, 302);
    assert.equal(page.headers.location, `/_portico/login?rd=${encodeURIComponent('/dce5/a%20b?x=1&y=%2F')}`);
    const api = await send(s.url, '/dce5/v1/jobs', { headers: asJson });
    assert.equal(api.status, 401);
    assert.equal(api.headers['www-authenticate'], 'Bearer realm="portico"');
    assert.equal(api.headers['content-type'], 'application/json');
    assert.deepEqual(
      { ...json<Record<string, unknown>>(api), requestId: undefined },
      {
        error: 'PORTICO_ERR_UNAUTHENTICATED',
        status: 401,
        message: 'You need to sign in to open this page.',
        requestId: undefined,
        login: '/_portico/login?rd=%2Fdce5%2Fv1%2Fjobs',
      },
    );
    // A non-GET from a browser is an API call: 401, as on the proxy path.
    const post = await send(s.url, '/dce5/form', {
      method: 'POST',
      headers: { accept: 'text/html' },
      body: 'a=1',
    });
    assert.equal(post.status, 401);
    assert.equal(s.ai.requests.length, 0);
    // A path trick nginx would resolve is refused by Portico as on the proxy path (a 403 here).
    const trick = await send(s.url, '/dce5%2F..%2F', { headers: asJson });
    assert.equal(trick.status, 403);
    assert.equal(s.customer.requests.length, 0);
  });
});
