import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { buildNav } from '../../gateway/branding/nav.ts';
import { loadConfigText } from '../../gateway/config/loadConfig.ts';
import { startGateway } from '../helpers/gateway.ts';
import { CookieJar, driveLogin, startTestIdp } from '../helpers/idp.ts';
import { type RawResponse, send } from '../helpers/http.ts';
import { freePort, SESSION_SECRET } from '../helpers/sso.ts';
import { type Upstream, upstreamFor } from '../helpers/upstream.ts';
import { upgradeStatus } from '../helpers/websocket.ts';

async function upstreams(t: TestContext, n: number): Promise<Upstream[]> {
  const list: Upstream[] = [];
  for (let i = 0; i < n; i++) {
    const u = await upstreamFor(t, { websocket: true });
    list.push(u);
  }
  return list;
}

/** Which upstream (by index) got the last request, and the path it saw. */
function reached(list: Upstream[], counts: number[]): string {
  const i = list.findIndex((u, j) => u.requests.length > counts[j]!);
  return i === -1 ? 'none' : `${i} ${list[i]!.last().url}`;
}

describe('routing by host', () => {
  it('picks the exact host, then the longest wildcard, then the routes without a host', async (t) => {
    const ups = await upstreams(t, 5);
    const gw = await startGateway(
      t,
      `routes:
  - { id: ai, host: ai.example.com, path: /, upstream: "${ups[0]!.url}" }
  - { id: ai-api, host: ai.example.com, path: /api/, upstream: "${ups[1]!.url}" }
  - { id: apps, host: "*.apps.example.com", path: /, upstream: "${ups[2]!.url}" }
  - { id: deep, host: "*.x.apps.example.com", path: /, upstream: "${ups[3]!.url}" }
  - { id: default, path: /, upstream: "${ups[4]!.url}" }
  - { id: default-dce5, path: /dce5/, upstream: "${ups[4]!.url}" }
`,
    );
    const via = async (host: string, target = '/x') => {
      const counts = ups.map((u) => u.requests.length);
      const r = await send(gw.url, target, { headers: { host } });
      return `${r.status} ${reached(ups, counts)}`;
    };
    assert.equal(await via('ai.example.com'), '200 0 /x');
    assert.equal(await via('AI.Example.COM:8443'), '200 0 /x', 'case and port do not matter');
    assert.equal(await via('ai.example.com.'), '200 0 /x', 'nor a trailing dot');
    assert.equal(await via('ai.example.com', '/api/v1'), '200 1 /v1');
    // The host's own routes only: nginx's server blocks do not fall through to the default server.
    assert.equal(await via('ai.example.com', '/dce5/x'), '200 0 /dce5/x');
    assert.equal(await via('a.apps.example.com'), '200 2 /x');
    assert.equal(await via('b.x.apps.example.com'), '200 3 /x', 'the longest wildcard wins');
    assert.equal(await via('apps.example.com'), '200 4 /x', '*.apps.example.com needs a subdomain');
    assert.equal(await via('portal.example.org'), '200 4 /x');
    assert.equal(await via('portal.example.org', '/dce5/x'), '200 4 /x');
    assert.equal(await via('ai.example.com:'), '200 0 /x', 'an empty port is no port');
    assert.equal(await via('ai.example.com@evil.example'), '400 none', 'a malformed Host is refused');
  });

  it("refuses a Host that names no host instead of serving it the default routes: a login-protected host's upstream would read it as that host", async (t) => {
    const [up] = await upstreams(t, 1);
    // One multi-host upstream (an ingress, nginx with server_name) behind a protected host and the
    // public default routes, the shape in which a malformed Host was a way around the login.
    const gw = await startGateway(
      t,
      `publicUrl: https://www.example.com
session: { secret: ${SESSION_SECRET} }
identityProviders:
  - { id: corp, type: oidc, issuer: "http://127.0.0.1:9", clientId: portico }
routes:
  - { id: admin, host: admin.example.com, path: /, upstream: "${up!.url}", auth: required }
  - { id: default, path: /, upstream: "${up!.url}" }
`,
    );
    const status = async (host: string) =>
      (await send(gw.url, '/console', { headers: { host, accept: 'application/json' } })).status;
    assert.equal(await status('admin.example.com'), 401);
    assert.equal(await status('ADMIN.EXAMPLE.COM:'), 401, 'an empty port still names the host');
    assert.equal(await status('www.example.com'), 200);
    for (const host of [
      'admin.example.com:abc',
      'x@admin.example.com',
      'admin.example.com/',
      'admin.example.com\\',
      'admin.example.com?',
      'admin%2eexample.com',
      'a;for=6.6.6.6;proto=https',
      'admin.example.com:1:2',
    ])
      assert.equal(await status(host), 400, host);
    assert.equal(up!.requests.length, 1, 'only the well-formed public host reached the upstream');
    const page = await send(gw.url, '/console', { headers: { host: 'admin.example.com:abc' } });
    assert.match(JSON.parse(page.text).message ?? page.text, /Host/);
  });

  it('answers 404 for a host no route serves when every route names one', async (t) => {
    const [up] = await upstreams(t, 1);
    const gw = await startGateway(
      t,
      `routes:\n  - { id: ai, host: ai.example.com, path: /, upstream: "${up!.url}" }\n`,
    );
    const json = await send(gw.url, '/x', {
      headers: { host: 'other.example.com', accept: 'application/json' },
    });
    assert.equal(json.status, 404);
    assert.equal(JSON.parse(json.text).error, 'PORTICO_ERR_NOT_FOUND');
    const page = await send(gw.url, '/x', { headers: { host: 'other.example.com', accept: 'text/html' } });
    assert.equal(page.status, 404);
    assert.match(page.text, /Page not found/);
    assert.equal(up!.requests.length, 0);
    // Portico's own endpoints answer on every host.
    assert.equal(
      (await send(gw.url, '/_portico/healthz', { headers: { host: 'other.example.com' } })).status,
      200,
    );
  });

  it('routes WebSocket upgrades by host and takes the Origin of that host as its own', async (t) => {
    const [ai, portal] = await upstreams(t, 2);
    const port = await freePort();
    await startGateway(
      t,
      `publicUrl: http://portal.test:${port}
routes:
  - { id: ai, host: ai.test, path: /, upstream: "${ai!.url}", websocket: true }
  - { id: portal, path: /, upstream: "${portal!.url}", websocket: true }
`,
      { port },
    );
    const open = (host: string, origin: string) =>
      upgradeStatus(`ws://127.0.0.1:${port}/tty`, { headers: { host }, origin });
    assert.equal(await open(`ai.test:${port}`, `http://ai.test:${port}`), 101);
    assert.equal(ai!.last().method, 'UPGRADE');
    assert.equal(
      await open(`ai.test:${port}`, `http://portal.test:${port}`),
      403,
      'another host is another site',
    );
    assert.equal(await open(`portal.test:${port}`, `http://portal.test:${port}`), 101);
    assert.equal(portal!.last().method, 'UPGRADE');
  });

  it("links a host's routes in the navigation on that host", () => {
    const config = loadConfigText(
      `publicUrl: https://portal.example.com:8443
routes:
  - { id: ai, host: ai.example.com, path: /, upstream: "http://127.0.0.1:1/", nav: { title: AI } }
  - { id: apps, host: "*.apps.example.com", path: /, upstream: "http://127.0.0.1:2/", nav: { title: Apps } }
  - { id: portal, path: /, upstream: "http://127.0.0.1:3/", nav: { title: Portal } }
`,
      { env: {} },
    );
    assert.deepEqual(
      buildNav(config, undefined, 'en-US').items.map((i) => i.url),
      [
        'https://ai.example.com:8443/',
        'https://portal.example.com:8443/',
        'https://portal.example.com:8443/',
      ],
    );
  });
});

describe('signing in on two hosts', () => {
  /** A browser: one cookie jar across hosts, every *.test host reached at the gateway's socket. */
  function browser(gatewayUrl: string) {
    const jar = new CookieJar();
    const request = async (url: string): Promise<RawResponse & { url: string }> => {
      const u = new URL(url);
      const cookie = jar.header(u);
      const r = await send(gatewayUrl, u.pathname + u.search, {
        headers: { host: u.host, accept: 'text/html', ...(cookie ? { cookie } : {}) },
      });
      jar.store(u, r.headers['set-cookie']);
      return { ...r, url };
    };
    /** Follows redirects on the *.test hosts; stops at the first one that leaves them (the IdP). */
    const follow = async (url: string) => {
      for (let hop = 0; hop < 10; hop++) {
        const r = await request(url);
        const location = r.headers.location;
        if (r.status < 300 || r.status >= 400 || !location) return r;
        const next = new URL(location, url);
        if (!next.hostname.endsWith('.test')) return r;
        url = next.href;
      }
      throw new Error('too many redirects');
    };
    return { jar, follow };
  }

  it('sends each host its own callback and cookies, and both sign in', async (t) => {
    const [ai, portal] = await upstreams(t, 2);
    const port = await freePort();
    const callbacks = ['portal', 'ai'].map((h) => `http://${h}.test:${port}/_portico/callback/corp`);
    const idp = await startTestIdp(t, {
      clients: [{ clientId: 'portico', clientSecret: 'portico-secret', redirectUris: callbacks }],
      logErrors: false,
    });
    const gw = await startGateway(
      t,
      `publicUrl: http://portal.test:${port}
session: { secret: ${SESSION_SECRET} }
identityProviders:
  - { id: corp, type: oidc, issuer: "${idp.issuer}", clientId: portico, clientSecret: portico-secret }
routes:
  - { id: ai, host: ai.test, path: /, upstream: "${ai!.url}", auth: required }
  - { id: portal, path: /, upstream: "${portal!.url}", auth: required }
`,
      { port },
    );
    const b = browser(gw.url);
    const idpJar = new CookieJar();

    const toIdp = await b.follow(`http://ai.test:${port}/models?tab=1`);
    const authorization = new URL(toIdp.headers.location!);
    assert.equal(authorization.origin, new URL(idp.issuer).origin);
    assert.equal(authorization.searchParams.get('redirect_uri'), callbacks[1]);
    const back = await driveLogin(idp, authorization, { username: 'alice', password: 'alice' }, idpJar);
    assert.equal(new URL(back.location).host, `ai.test:${port}`, 'the IdP sends the browser back to ai.test');
    const landed = await b.follow(back.location);
    assert.equal(landed.status, 200);
    assert.equal(landed.url, `http://ai.test:${port}/models?tab=1`);
    assert.equal(ai!.last().headers['x-forwarded-user'], 'alice');
    assert.ok(b.jar.header(`http://ai.test:${port}/`)?.includes('portico_session='));
    assert.ok(
      !b.jar.header(`http://portal.test:${port}/`)?.includes('portico_session='),
      "ai.test's session cookie is ai.test's alone",
    );

    // portal.test signs in on its own callback; the IdP remembers alice, so no form this time.
    const toIdpAgain = await b.follow(`http://portal.test:${port}/home`);
    const again = new URL(toIdpAgain.headers.location!);
    assert.equal(again.searchParams.get('redirect_uri'), callbacks[0]);
    const backAgain = await driveLogin(idp, again, { username: 'alice', password: 'alice' }, idpJar);
    assert.equal(backAgain.formShown, false);
    const home = await b.follow(backAgain.location);
    assert.equal(home.status, 200);
    assert.equal(home.url, `http://portal.test:${port}/home`);
    assert.equal(portal!.last().headers['x-forwarded-user'], 'alice');
  });
});
