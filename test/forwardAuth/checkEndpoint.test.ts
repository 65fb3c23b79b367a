// /_portico/auth on its own, spoken to as each proxy speaks to it (nginx, ingress-nginx, Traefik,
// Envoy), and held to the proxy path: for the same request it makes the same decision and hands
// the proxy what the upstream would have received from Portico itself.
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it, type TestContext } from 'node:test';
import { decodeJwt } from 'jose';
import { pino } from 'pino';
import { newApiKey } from '../../gateway/auth/apiKeys.ts';
import { json, send } from '../helpers/http.ts';
import { clientCredentialsToken } from '../helpers/idp.ts';
import { RawConnection } from '../helpers/rawSocket.ts';
import { login, startSso } from '../helpers/sso.ts';
import { upstreamFor } from '../helpers/upstream.ts';

const IDENTITY = [
  'x-forwarded-user',
  'x-forwarded-email',
  'x-forwarded-groups',
  'x-forwarded-preferred-username',
];

async function setup(t: TestContext) {
  const ai = await upstreamFor(t);
  const customer = await upstreamFor(t);
  const key = newApiKey('ci');
  const lines: Record<string, unknown>[] = [];
  const logger = pino(
    { level: 'debug' },
    new Writable({
      write(chunk, _enc, done) {
        for (const line of String(chunk).split('\n')) if (line) lines.push(JSON.parse(line));
        done();
      },
    }),
  );
  const s = await startSso(
    t,
    `  - { id: ai-platform, path: /dce5/, upstream: "${ai.url}", auth: required, allow: { groups: [ai-users] }, inject: { headers: true, jwt: true } }
  - { id: ai-platform-apis, path: /dce5/apis/, upstream: "${ai.url}apis/", auth: none }
  - { id: machine-api, path: /api/, upstream: "${ai.url}api/", auth: required, bearer: verify, allow: { idps: [corp] }, inject: { headers: true } }
  - { id: customer, path: /, upstream: "${customer.url}", auth: optional, inject: { headers: true, jwt: true } }
`,
    {
      extra: `trustProxy: [127.0.0.1]\napiKeys:\n  - { id: ci, hash: "${key.hash}", groups: [ai-users] }\n`,
      logger,
    },
  );
  // A machine client of the IdP, whose access tokens the bearer: verify route accepts.
  s.idp.setClient({
    clientId: 'ci-bot',
    clientSecret: 'ci-bot-secret',
    redirectUris: ['http://127.0.0.1:9/unused'],
  });
  s.gw.write(
    s.yaml.replace(
      'clientSecret: portico-secret,',
      'clientSecret: portico-secret, audiences: ["urn:portico:api"],',
    ),
  );
  assert.equal(s.gw.gateway.reload().ok, true);
  const idpToken = await clientCredentialsToken(s.idp, 'ci-bot', 'ci-bot-secret');
  const alice = (await login(s, 'alice')).client.cookieHeader();
  const bob = (await login(s, 'bob')).client.cookieHeader();
  return { s, ai, customer, apiKey: key.key, idpToken, alice, bob, lines };
}

/** Asks /_portico/auth about `method target` the way nginx's shipped config does. */
function check(base: string, method: string, target: string, headers: Record<string, string> = {}) {
  return send(base, '/_portico/auth', {
    headers: { ...headers, 'x-original-uri': target, 'x-original-method': method },
  });
}

/** The assertion's claims without what differs between two signings. */
const claimsOf = (token: unknown) => {
  if (typeof token !== 'string') return token;
  const { iat: _iat, exp: _exp, jti: _jti, ...rest } = decodeJwt(token);
  return rest;
};

describe('/_portico/auth', () => {
  it('makes the decision the proxy path makes, and answers what the upstream would have received', async (t) => {
    const { s, ai, customer, apiKey, idpToken, alice, bob } = await setup(t);
    const html = { accept: 'text/html' };
    const api = { accept: 'application/json' };
    const cases: {
      name: string;
      proxy: number;
      method: string;
      target: string;
      headers: Record<string, string>;
    }[] = [
      {
        name: 'a browser without a session',
        proxy: 302,
        method: 'GET',
        target: '/dce5/models?x=1',
        headers: html,
      },
      {
        name: 'an API client without a session',
        proxy: 401,
        method: 'GET',
        target: '/dce5/v1/jobs',
        headers: api,
      },
      {
        name: 'a form post without a session',
        proxy: 401,
        method: 'POST',
        target: '/dce5/form',
        headers: html,
      },
      { name: 'alice', proxy: 200, method: 'GET', target: '/dce5/', headers: { ...api, cookie: alice } },
      {
        name: "alice with the platform's own token and cookies of its own",
        proxy: 200,
        method: 'PUT',
        target: '/dce5/v1/jobs/7',
        headers: { ...api, cookie: `lang=zh; ${alice}; theme=dark`, authorization: 'Bearer dce-token' },
      },
      {
        name: 'bob, whom allow refuses',
        proxy: 403,
        method: 'GET',
        target: '/dce5/',
        headers: { ...html, cookie: bob },
      },
      {
        name: 'bob on the customer system',
        proxy: 200,
        method: 'GET',
        target: '/a?b=c',
        headers: { ...html, cookie: bob },
      },
      {
        name: 'an API key',
        proxy: 200,
        method: 'DELETE',
        target: '/dce5/v1/jobs/7',
        headers: { authorization: `Bearer ${apiKey}` },
      },
      {
        name: 'a wrong API key',
        proxy: 401,
        method: 'GET',
        target: '/dce5/',
        headers: { ...html, authorization: 'Bearer ptk_ci_x' },
      },
      {
        name: 'an API key on a public route',
        proxy: 200,
        method: 'GET',
        target: '/dce5/apis/v1/user',
        headers: { authorization: `Bearer ${apiKey}`, cookie: 'portico_idp=corp; a=1' },
      },
      {
        name: "an IdP's access token where Portico verifies bearer tokens",
        proxy: 200,
        method: 'POST',
        target: '/api/v1/run',
        headers: { authorization: `Bearer ${idpToken}` },
      },
      {
        name: 'a forged token where Portico verifies bearer tokens',
        proxy: 401,
        method: 'GET',
        target: '/api/v1/run',
        headers: { authorization: `Bearer ${idpToken.slice(0, -4)}AAAA`, accept: 'text/html' },
      },
      {
        name: 'alice, with no token, where Portico verifies bearer tokens',
        proxy: 200,
        method: 'GET',
        target: '/api/v1/run',
        headers: { cookie: alice },
      },
      {
        name: 'anyone on the optional route',
        proxy: 200,
        method: 'GET',
        target: '/',
        headers: { ...html, cookie: 'a=1' },
      },
      { name: 'an encoded slash', proxy: 400, method: 'GET', target: '/dce5%2Fadmin', headers: api },
      { name: 'an encoded prefix', proxy: 400, method: 'GET', target: '/%64ce5/', headers: api },
      { name: 'a dot segment', proxy: 400, method: 'GET', target: '/x/..%2fdce5/', headers: api },
      { name: 'another case', proxy: 400, method: 'GET', target: '/DCE5/', headers: api },
    ];
    for (const c of cases) {
      const [aiBefore, customerBefore] = [ai.requests.length, customer.requests.length];
      const proxied = await send(s.gw.url, c.target, { method: c.method, headers: c.headers });
      const upstream =
        ai.requests.length > aiBefore
          ? ai.last()
          : customer.requests.length > customerBefore
            ? customer.last()
            : undefined;
      const forwarded = upstream !== undefined;
      const answer = await check(s.gw.url, c.method, c.target, c.headers);
      const why = `${c.name}: proxy ${proxied.status}, check ${answer.status} ${answer.text.slice(0, 200)}`;
      // Framed by a length: nginx keeps its connection to Portico only when no body is left to read.
      assert.equal(answer.headers['content-length'], String(answer.body.length), why);
      assert.equal(answer.headers['transfer-encoding'], undefined, why);
      // nginx never reads a refusal's body: none is sent (its own error pages answer the client).
      if (answer.status !== 200) assert.equal(answer.body.length, 0, why);
      assert.equal(proxied.status, c.proxy, why);
      assert.equal(forwarded, c.proxy === 200, why);
      if (forwarded) {
        assert.equal(answer.status, 200, why);
        for (const name of [...IDENTITY, 'authorization', 'cookie'])
          assert.equal(answer.headers[name], upstream!.headers[name], `${why}: ${name}`);
        assert.deepEqual(
          claimsOf(answer.headers['x-portico-assertion']),
          claimsOf(upstream!.headers['x-portico-assertion']),
          why,
        );
      } else if (proxied.status === 302) {
        // The proxy path redirects a browser; the check says 401 and where nginx should send it.
        assert.equal(answer.status, 401, why);
        assert.equal(answer.headers['x-portico-redirect'], proxied.headers.location, why);
        assert.equal(answer.headers['x-portico-login'], proxied.headers.location, why);
      } else if (proxied.status === 400) {
        // nginx's auth_request knows 2xx, 401 and 403 only: a refused path is a 403, same code.
        assert.equal(answer.status, 403, why);
        assert.equal(answer.headers['x-portico-error'], json(proxied).error, why);
      } else {
        assert.equal(answer.status, proxied.status, why);
        assert.equal(answer.headers['www-authenticate'], proxied.headers['www-authenticate'], why);
        assert.equal(answer.headers['x-portico-redirect'], undefined, why);
        // The login URL the proxy path offers (JSON, or the page's sign-in link) is the one the check names.
        const offered = proxied.headers['content-type']?.includes('json')
          ? json(proxied).login
          : /href="(\/_portico\/login[^"]*)"/.exec(proxied.text)?.[1];
        if (offered !== undefined) assert.equal(answer.headers['x-portico-login'], offered, why);
      }
    }
  });

  it('takes the request from Traefik’s X-Forwarded-* headers and gives a browser the redirect Traefik relays', async (t) => {
    const { s, alice } = await setup(t);
    const traefik = (headers: Record<string, string>) =>
      send(s.gw.url, '/_portico/auth', {
        headers: {
          'x-forwarded-method': 'GET',
          'x-forwarded-proto': 'https',
          'x-forwarded-host': 'portal.example.com',
          'x-forwarded-uri': '/dce5/x?y=1',
          'x-forwarded-for': '203.0.113.9',
          ...headers,
        },
      });
    const browser = await traefik({ accept: 'text/html' });
    assert.equal(browser.status, 302);
    assert.equal(browser.headers.location, '/_portico/login?rd=%2Fdce5%2Fx%3Fy%3D1');
    const script = await traefik({ accept: 'application/json' });
    assert.equal(script.status, 401);
    assert.equal(json(script).login, '/_portico/login?rd=%2Fdce5%2Fx%3Fy%3D1');
    const allowed = await traefik({ cookie: `${alice}; app=1` });
    assert.equal(allowed.status, 200);
    assert.equal(allowed.headers['x-forwarded-user'], 'alice');
    assert.equal(allowed.headers.cookie, 'app=1');
    assert.equal(allowed.headers['x-portico-route'], 'ai-platform');
  });

  it('takes the request from the path Envoy appends, with its method, and lists what Envoy must remove', async (t) => {
    const { s, alice } = await setup(t);
    const browser = await send(s.gw.url, '/_portico/auth/dce5/x?y=1', { headers: { accept: 'text/html' } });
    assert.equal(browser.status, 302);
    assert.equal(browser.headers.location, '/_portico/login?rd=%2Fdce5%2Fx%3Fy%3D1');
    const post = await send(s.gw.url, '/_portico/auth/dce5/x', {
      method: 'POST',
      headers: { accept: 'text/html' },
    });
    assert.equal(post.status, 401, 'a POST is never redirected');
    const allowed = await send(s.gw.url, '/_portico/auth/dce5/x', { headers: { cookie: alice } });
    assert.equal(allowed.status, 200);
    assert.equal(
      allowed.headers['x-envoy-auth-headers-to-remove'],
      'authorization, cookie, x-http-method-override, x-http-method, x-method-override',
    );
    const anonymous = await send(s.gw.url, '/_portico/auth/', { headers: { authorization: 'Bearer own' } });
    assert.equal(anonymous.status, 200);
    assert.equal(anonymous.headers.authorization, 'Bearer own');
    assert.equal(
      anonymous.headers['x-envoy-auth-headers-to-remove'],
      'x-forwarded-user, x-forwarded-email, x-forwarded-groups, x-forwarded-preferred-username, x-portico-assertion, cookie, x-http-method-override, x-http-method, x-method-override',
    );
  });

  it('builds the login URL from the X-Original-URL ingress-nginx sends', async (t) => {
    const { s } = await setup(t);
    const r = await send(s.gw.url, '/_portico/auth', {
      headers: {
        'x-original-url': 'https://portal.example.com/dce5/x?y=1',
        'x-original-method': 'GET',
        'x-auth-request-redirect': '/elsewhere',
        accept: 'text/html',
      },
    });
    assert.equal(r.status, 401);
    assert.equal(r.headers['x-portico-login'], '/_portico/login?rd=%2Fdce5%2Fx%3Fy%3D1');
    assert.equal(r.headers['x-portico-redirect'], '/_portico/login?rd=%2Fdce5%2Fx%3Fy%3D1');
    // X-Original-URL is read byte for byte: a dot segment in it is not resolved away but refused.
    const trick = await send(s.gw.url, '/_portico/auth', {
      headers: { 'x-original-url': 'https://portal.example.com/x/../dce5/', accept: 'application/json' },
    });
    assert.equal(trick.status, 403);
    assert.equal(trick.headers['x-portico-error'], 'PORTICO_ERR_BAD_PATH');
  });

  it('routes by the host the proxy names when routes have hosts, and refuses hosts that disagree', async (t) => {
    const up = await upstreamFor(t);
    const s = await startSso(
      t,
      `  - { id: www-public, host: www.example.com, path: /, upstream: "${up.url}", auth: none }
  - { id: ai-private, host: ai.example.com, path: /, upstream: "${up.url}", auth: required }
  - { id: portal, path: /, upstream: "${up.url}", auth: optional }
`,
      { extra: 'trustProxy: [127.0.0.1]\n' },
    );
    const { client } = await login(s, 'alice', '/_portico/login');
    const alice = client.cookieHeader();
    const check = async (headers: Record<string, string>) => {
      const r = await send(s.gw.url, '/_portico/auth', {
        headers: { accept: 'application/json', ...headers },
      });
      return [r.status, r.headers['x-portico-route'] ?? r.headers['x-portico-error']];
    };
    const nginx = (host: string, more: Record<string, string> = {}) =>
      check({ host, 'x-original-uri': '/secret', 'x-original-method': 'GET', ...more });
    // nginx and Envoy send the check to the original Host.
    assert.deepEqual(await nginx('ai.example.com'), [401, 'PORTICO_ERR_UNAUTHENTICATED']);
    assert.deepEqual(await nginx('www.example.com'), [200, 'www-public']);
    assert.deepEqual(await nginx('ai.example.com', { cookie: alice }), [200, 'ai-private']);
    assert.deepEqual(await nginx('AI.Example.com:443'), [401, 'PORTICO_ERR_UNAUTHENTICATED']);
    // A client's own X-Forwarded-Host, passed along by nginx, cannot pick the public host's route.
    assert.deepEqual(await nginx('ai.example.com', { 'x-forwarded-host': 'www.example.com' }), [
      403,
      'PORTICO_ERR_BAD_REQUEST',
    ]);
    // Traefik names the host in X-Forwarded-Host, ingress-nginx in X-Original-URL.
    const traefik = (host: string) =>
      check({ 'x-forwarded-host': host, 'x-forwarded-uri': '/secret', 'x-forwarded-method': 'GET' });
    assert.deepEqual(await traefik('ai.example.com'), [401, 'PORTICO_ERR_UNAUTHENTICATED']);
    assert.deepEqual(await traefik('www.example.com'), [200, 'www-public']);
    const ingress = (url: string, more: Record<string, string> = {}) =>
      check({ 'x-original-url': url, 'x-original-method': 'GET', ...more });
    assert.deepEqual(await ingress('https://ai.example.com/secret'), [401, 'PORTICO_ERR_UNAUTHENTICATED']);
    assert.deepEqual(await ingress('https://www.example.com/secret'), [200, 'www-public']);
    // ingress-nginx with auth-method also sends X-Original-URI, to Portico's own Host.
    assert.deepEqual(await ingress('https://www.example.com/secret', { 'x-original-uri': '/secret' }), [
      200,
      'www-public',
    ]);
    assert.deepEqual(
      await ingress('https://ai.example.com/secret', { 'x-forwarded-host': 'www.example.com' }),
      [403, 'PORTICO_ERR_BAD_REQUEST'],
    );
  });

  it('refuses a path that a respond: or redirect: route answers itself: the proxy would forward it to its own upstream', async (t) => {
    const ai = await upstreamFor(t);
    const s = await startSso(
      t,
      `  - { id: block-internal, path: /dce5/internal/, respond: { status: 403, body: blocked } }
  - { id: moved, path: /dce5/old/, redirect: { to: /dce5/new/ } }
  - { id: ai-platform, path: /dce5/, upstream: "${ai.url}", auth: required }
`,
      { extra: 'trustProxy: [127.0.0.1]\n' },
    );
    const alice = (await login(s, 'alice')).client.cookieHeader();
    for (const target of ['/dce5/internal/secrets', '/dce5/old/x']) {
      assert.equal((await check(s.gw.url, 'GET', target)).status, 403, `${target}, anonymous`);
      assert.equal(
        (await check(s.gw.url, 'GET', target, { cookie: alice })).status,
        403,
        `${target}, signed in`,
      );
    }
    // What Portico itself answers there, as the proxy: unchanged.
    assert.equal((await send(s.gw.url, '/dce5/internal/secrets')).status, 403);
    assert.equal((await send(s.gw.url, '/dce5/old/x')).status, 302);
    assert.equal((await check(s.gw.url, 'GET', '/dce5/x', { cookie: alice })).status, 200);
  });

  it('refuses a path that a location written like a slash-less route path would also take (`location /api` takes /apix)', async (t) => {
    const ai = await upstreamFor(t);
    const customer = await upstreamFor(t);
    const s = await startSso(
      t,
      `  - { id: api, path: /api, upstream: "${ai.url}", auth: required }
  - { id: customer, path: /, upstream: "${customer.url}", auth: none }
`,
      { extra: 'trustProxy: [127.0.0.1]\n' },
    );
    assert.equal(
      (await check(s.gw.url, 'GET', '/apix')).status,
      403,
      'nginx would forward it to the api upstream',
    );
    assert.equal((await check(s.gw.url, 'GET', '/api-admin/x')).status, 403);
    assert.equal((await check(s.gw.url, 'GET', '/api')).status, 401);
    assert.equal((await check(s.gw.url, 'GET', '/api/x')).status, 401);
    assert.equal(
      (await check(s.gw.url, 'GET', '/ap')).status,
      200,
      'not under the prefix: the customer system',
    );
    assert.equal((await check(s.gw.url, 'GET', '/other')).status, 200);
    // Portico as the proxy routes /apix to the customer system itself: nothing to refuse there.
    assert.equal((await send(s.gw.url, '/apix')).status, 200);
  });

  it('refuses a check whose headers name two different requests', async (t) => {
    const { s, alice } = await setup(t);
    const conflicts: (Record<string, string> | string[])[] = [
      { 'x-original-uri': '/dce5/', 'x-forwarded-uri': '/' },
      { 'x-original-uri': '/dce5/', 'x-original-url': 'http://h/' },
      { 'x-original-uri': '/', 'x-original-method': 'GET', 'x-forwarded-method': 'POST' },
      ['X-Original-URI', '/', 'X-Original-URI', '/dce5/'],
      { 'x-original-url': '/not-absolute' },
      { 'x-original-uri': '/', 'x-original-method': 'GET /' },
    ];
    for (const headers of conflicts) {
      const all = Array.isArray(headers)
        ? [...headers, 'Cookie', alice, 'Accept', 'application/json']
        : { ...headers, cookie: alice, accept: 'application/json' };
      const r = await send(s.gw.url, '/_portico/auth', { headers: all });
      assert.equal(r.status, 403, JSON.stringify(headers));
      assert.equal(r.headers['x-portico-error'], 'PORTICO_ERR_BAD_REQUEST');
      assert.equal(r.headers['x-forwarded-user'], undefined);
    }
  });

  it('refuses with 403, never 400, a check refused before it could be read (its own Host names no host, two Hosts)', async (t) => {
    const { s, alice } = await setup(t);
    const malformed = [
      'GET /_portico/auth HTTP/1.1\r\nHost: bad host\r\n',
      'GET /_portico/auth HTTP/1.1\r\nHost: portal.example.com:abc\r\n',
      'GET /_portico/auth HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n',
    ];
    for (const start of malformed) {
      const c = await RawConnection.open(s.gw.url);
      c.write(`${start}X-Original-URI: /dce5/\r\nCookie: ${alice}\r\nConnection: close\r\n\r\n`);
      await c.waitForClose(5000);
      const [answer] = c.responses();
      assert.equal(answer?.status, 403, start);
      assert.equal(answer?.headers['x-portico-error'], 'PORTICO_ERR_BAD_REQUEST', start);
      assert.equal(answer?.headers['x-forwarded-user'], undefined, start);
    }
  });

  it('answers without reading a body, for any method, and HEAD without one', async (t) => {
    const { s, alice } = await setup(t);
    const conn = await RawConnection.open(s.gw.url);
    t.after(() => conn.destroy());
    // A body announced and never sent: the answer cannot wait for it.
    await conn.write(
      `POST /_portico/auth HTTP/1.1\r\nHost: x\r\nX-Original-URI: /dce5/\r\nX-Original-Method: POST\r\nCookie: ${alice}\r\nContent-Length: 100000000\r\n\r\n`,
    );
    const [answer] = await conn.waitForResponses(1, 5000);
    assert.equal(answer!.status, 200);
    assert.equal(answer!.headers['x-forwarded-user'], 'alice');
    const head = await send(s.gw.url, '/_portico/auth', {
      method: 'HEAD',
      headers: { 'x-original-uri': '/dce5/', accept: 'application/json' },
    });
    assert.equal(head.status, 401);
    assert.equal(head.body.length, 0);
  });

  it('logs every check as a request, with its route and user, and warns of a peer outside trustProxy', async (t) => {
    const { s, alice, lines } = await setup(t);
    const r = await check(s.gw.url, 'GET', '/dce5/', { cookie: alice });
    assert.equal(r.status, 200);
    const access = lines.find((l) => l.msg === 'request completed' && l.reqId === r.headers['x-request-id']);
    assert.ok(access, 'an access-log line');
    assert.equal(access.url, '/_portico/auth');
    assert.equal(access.route, 'ai-platform');
    assert.equal(access.user, 'alice');
    assert.equal(access.status, 200);

    const outsider = await send(s.gw.url, '/_portico/auth', {
      headers: { 'x-original-uri': '/', 'x-forwarded-uri': '/', cookie: alice, accept: 'application/json' },
      localAddress: '127.0.0.2',
    });
    assert.equal(outsider.status, 403);
    const warning = lines.find((l) => l.reqId === outsider.headers['x-request-id'] && l.level === 40);
    assert.ok(warning, 'a warning');
    assert.match(String(warning.msg), /not in trustProxy/);
    assert.deepEqual(warning.ignored, ['x-original-uri', 'x-forwarded-uri']);
    assert.equal(warning.peer, '127.0.0.2');
  });
});
