// What an adversarial review found on the gateway's own boundaries: Portico's cookies, names from
// several identity providers, `allow` on routes without a login, empty configs, upgrades to
// Portico's own paths, forwarding headers a backend trusts, and Location rewrites.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { once } from 'node:events';
import { describe, it, type TestContext } from 'node:test';
import { WebSocket } from 'ws';
import { ConfigError, loadConfigText } from '../../gateway/config/loadConfig.ts';
import { startGateway } from '../helpers/gateway.ts';
import { send } from '../helpers/http.ts';
import { driveLogin } from '../helpers/idp.ts';
import { userTokens } from '../helpers/oidcTokens.ts';
import { exchange, requestBytes } from '../helpers/rawSocket.ts';
import { freePort, GatewayClient, login, SESSION_SECRET, startIdpFor, startSso } from '../helpers/sso.ts';
import { upgradeStatus } from '../helpers/upgradeStatus.ts';
import { startUpstream, upstreamFor } from '../helpers/upstream.ts';

const problems = (yaml: string) => {
  try {
    loadConfigText(yaml, { env: {} });
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.problems;
  }
  return [];
};

describe("Portico's own cookies never reach an upstream", () => {
  it('strips them from requests on routes with and without a login, and keeps the upstream’s own cookies as sent', async (t) => {
    const app = await startUpstream({ websocket: true });
    const open = await startUpstream({ websocket: true });
    t.after(() => Promise.all([app.close(), open.close()]));
    const s = await startSso(
      t,
      `  - { id: ai, path: /dce5/, upstream: "${app.url}", auth: required, websocket: true }\n  - { id: open, path: /, upstream: "${open.url}", websocket: true }\n`,
    );
    const { client } = await login(s, 'alice');
    assert.ok(client.cookies.get('portico_session'));
    const cookie = `theme=dark; ${client.cookieHeader()}; portico_login=x; portico_op_session.sig=y; dce_token=a%20b`;
    for (const [path, upstream] of [
      ['/dce5/x', app],
      ['/y', open],
    ] as const) {
      const r = await send(s.gw.url, path, { headers: { cookie, accept: 'application/json' } });
      assert.equal(r.status, 200, path);
      assert.equal(upstream.last().headers.cookie, 'theme=dark; dce_token=a%20b', path);
    }
    // And on WebSocket upgrades.
    for (const [path, upstream] of [
      ['/dce5/ws', app],
      ['/ws', open],
    ] as const) {
      const ws = new WebSocket(`${s.gw.url.replace('http', 'ws')}${path}`, { headers: { cookie } });
      await once(ws, 'open');
      ws.close();
      const upgrade = upstream.requests.filter((r) => r.method === 'UPGRADE').at(-1)!;
      assert.equal(upgrade.headers.cookie, 'theme=dark; dce_token=a%20b', path);
    }
  });

  it('sends no Cookie header at all when only Portico’s cookies were sent', async (t) => {
    const open = await upstreamFor(t);
    const gw = await startGateway(t, `routes:\n  - { id: open, path: /, upstream: "${open.url}" }\n`);
    await send(gw.url, '/', { headers: { cookie: 'portico_session=s%3Aabc.def' } });
    assert.equal(open.last().headers.cookie, undefined);
  });
});

describe("an upstream cannot set Portico's own cookies", () => {
  const planted = [
    'portico_session=s%3Aattacker.sig; Path=/',
    'portico_login=known-nonce; Path=/',
    'portico_op_session.sig=x; Path=/_portico/oidc',
    ' portico_idp=partner',
    // Nameless: a browser sends its value alone back, `portico_session=…`.
    '=portico_session=s%3Aattacker.sig; Path=/dce5/',
    '==portico_login=known-nonce',
    'app=1; Path=/; HttpOnly',
  ];

  it('drops their Set-Cookie from answers and from a WebSocket’s 101, and keeps the upstream’s own', async (t) => {
    const up = createServer((_req, res) => {
      res.setHeader('set-cookie', planted);
      res.end('ok');
    });
    up.on('upgrade', (req, socket) => {
      const accept = createHash('sha1')
        .update(`${req.headers['sec-websocket-key']}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
        .digest('base64');
      socket.write(
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n${planted.map((c) => `Set-Cookie: ${c}\r\n`).join('')}\r\n`,
      );
    });
    up.listen(0, '127.0.0.1');
    await once(up, 'listening');
    t.after(() => {
      up.closeAllConnections();
      up.close();
    });
    const url = `http://127.0.0.1:${(up.address() as AddressInfo).port}/`;
    const gw = await startGateway(
      t,
      `routes:\n  - { id: app, path: /, upstream: "${url}", websocket: true }\n`,
    );
    const r = await send(gw.url, '/');
    assert.equal(r.status, 200);
    assert.deepEqual(r.headers['set-cookie'], ['app=1; Path=/; HttpOnly']);
    const ws = new WebSocket(`${gw.url.replace('http', 'ws')}/ws`);
    const [answer] = (await once(ws, 'upgrade')) as [IncomingMessage];
    ws.terminate();
    assert.deepEqual(answer.headers['set-cookie'], ['app=1; Path=/; HttpOnly']);
  });
});

describe('what a request may name in events', () => {
  it('names only a configured identity provider in login events: an id taken from the URL is "unknown"', async (t) => {
    const app = await upstreamFor(t);
    const s = await startSso(t, `  - { id: app, path: /, upstream: "${app.url}", auth: required }\n`);
    const named: string[] = [];
    s.gw.gateway.events.on('login', (e) => {
      named.push(e.idp);
    });
    await send(s.gw.url, '/_portico/callback/%5Bre-verify%5D(https%3A%2F%2Fevil.example)?state=x', {
      headers: { accept: 'application/json' },
    });
    await send(s.gw.url, '/_portico/callback/corp?state=x', { headers: { accept: 'application/json' } });
    assert.deepEqual(named, ['unknown', 'corp']);
  });

  it('names no user for a failed OpenID Connect sign-in, whatever user name the request carries', async (t) => {
    const app = await upstreamFor(t);
    const s = await startSso(t, `  - { id: app, path: /, upstream: "${app.url}", auth: required }\n`);
    const users: (string | undefined)[] = [];
    s.gw.gateway.events.on('login', (e) => {
      if (e.result === 'failure') users.push(e.user);
    });
    await send(s.gw.url, '/_portico/callback/corp?state=x&username=alice&error=access_denied', {
      headers: { accept: 'application/json' },
    });
    // A form post to a provider that has no form: the name is nobody's.
    await send(s.gw.url, '/_portico/login/corp', {
      method: 'POST',
      headers: { accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' },
      body: 'username=alice&password=x',
    });
    assert.deepEqual(users, [undefined, undefined]);
  });
});

describe('names from several identity providers never collide', () => {
  async function twoIdps(t: TestContext) {
    const port = await freePort();
    const publicUrl = `http://127.0.0.1:${port}`;
    const idp = (id: string) => startIdpFor(t, publicUrl, {}, id);
    const [corp, partner] = await Promise.all([idp('corp'), idp('partner')]);
    const app = await upstreamFor(t);
    const gw = await startGateway(
      t,
      `publicUrl: ${publicUrl}
session: { secret: ${SESSION_SECRET} }
identity: { primaryProvider: corp }
identityProviders:
  - { id: corp, type: oidc, issuer: "${corp.issuer}", clientId: portico, clientSecret: portico-secret, scopes: [openid, profile, email, groups] }
  - { id: partner, type: oidc, issuer: "${partner.issuer}", clientId: portico, clientSecret: portico-secret, scopes: [openid, profile, email, groups] }
routes:
  - { id: admin, path: /ops/, upstream: "${app.url}", allow: { users: [alice] } }
  - { id: ai, path: /dce5/, upstream: "${app.url}", allow: { groups: [ai-users] } }
  - { id: api-ops, path: /api/ops/, upstream: "${app.url}", bearer: verify, bearerProviders: [corp, partner], allow: { users: [alice] } }
  - { id: api, path: /api/, upstream: "${app.url}", auth: required, bearer: verify, bearerProviders: [corp, partner] }
  - { id: api-corp, path: /corp-api/, upstream: "${app.url}", auth: required, bearer: verify }
  - { id: home, path: /, upstream: "${app.url}", auth: optional }
`,
      { port },
    );
    const signIn = async (idpId: string, issuer: typeof corp) => {
      const client = new GatewayClient(gw.url);
      const start = await client.request(`/_portico/login/${idpId}`);
      const back = await driveLogin(issuer, start.headers.location!, {
        username: 'alice',
        password: 'alice',
      });
      await client.follow(back.location);
      return client;
    };
    // What alice's own script would present: an access token from her IdP, for Portico's client.
    const accessToken = async (idpId: string, issuer: typeof corp) =>
      (
        await userTokens(issuer, {
          clientId: 'portico',
          clientSecret: 'portico-secret',
          redirectUri: `${publicUrl}/_portico/callback/${idpId}`,
          user: 'alice',
        })
      ).access_token;
    return {
      gw,
      app,
      corpAlice: await signIn('corp', corp),
      partnerAlice: await signIn('partner', partner),
      corpToken: () => accessToken('corp', corp),
      partnerToken: () => accessToken('partner', partner),
    };
  }

  it('does not let a partner IdP’s "alice" pass users: [alice] or groups: [ai-users], and names her partner:alice', async (t) => {
    const { app, corpAlice, partnerAlice } = await twoIdps(t);
    const json = { accept: 'application/json' };
    assert.equal((await corpAlice.request('/ops/', { headers: json })).status, 200);
    assert.equal(app.last().headers['x-forwarded-user'], 'alice');
    assert.equal((await partnerAlice.request('/ops/', { headers: json })).status, 403);
    assert.equal((await partnerAlice.request('/dce5/', { headers: json })).status, 403);
    assert.equal((await partnerAlice.request('/', { headers: json })).status, 200);
    assert.equal(app.last().headers['x-forwarded-user'], 'partner:alice');
    assert.match(String(app.last().headers['x-forwarded-groups']), /^partner:/);
  });

  it('qualifies a bearer token’s user the same way: the partner’s "alice" token is partner:alice', async (t) => {
    const { gw, app, corpToken, partnerToken } = await twoIdps(t);
    const call = async (path: string, token: string) =>
      (
        await send(gw.url, path, {
          headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
        })
      ).status;
    const [corp, partner] = [await corpToken(), await partnerToken()];
    assert.equal(await call('/api/ops/x', corp), 200);
    assert.equal(app.last().headers['x-forwarded-user'], 'alice');
    assert.equal(await call('/api/ops/x', partner), 403);
    assert.equal(await call('/api/x', partner), 200);
    assert.equal(app.last().headers['x-forwarded-user'], 'partner:alice');
    // Without bearerProviders an opaque token goes to the primary provider alone.
    assert.equal(await call('/corp-api/x', corp), 200);
    assert.equal(await call('/corp-api/x', partner), 401);
  });
});

describe('allow rules always need a login', () => {
  it('refuses allow with auth: none or optional, at its line', () => {
    for (const auth of ['none', 'optional']) {
      const found = problems(`identityProviders:
  - { id: corp, type: oidc, issuer: https://idp.example.com, clientId: portico }
publicUrl: https://portal.example.com
session: { secret: ${SESSION_SECRET} }
routes:
  - { id: ops, path: /ops/, upstream: http://127.0.0.1:1/, auth: ${auth}, allow: { groups: [admins] } }
`);
      assert.equal(found.length, 1, JSON.stringify(found));
      assert.equal(found[0]!.path, 'routes[0].auth');
      assert.equal(found[0]!.line, 6);
      assert.match(found[0]!.message, /allow rules, which need a login/);
    }
  });

  it('treats allow without auth as auth: required: an anonymous caller never gets in', async (t) => {
    const app = await upstreamFor(t);
    const s = await startSso(
      t,
      `  - { id: ops, path: /ops/, upstream: "${app.url}", allow: { groups: [admins] } }\n`,
    );
    const anonymous = await send(s.gw.url, '/ops/', { headers: { accept: 'application/json' } });
    assert.equal(anonymous.status, 401);
    const { client } = await login(s, 'alice', '/ops/');
    assert.equal((await client.request('/ops/', { headers: { accept: 'application/json' } })).status, 403);
    assert.equal(app.requests.length, 0);
  });
});

describe('a config without routes is never served', () => {
  it('refuses an empty or comment-only file, and one with an empty route list, with a clear message', () => {
    for (const text of ['', '# just a comment\n', '\n\n', 'routes: []\n']) {
      const found = problems(text);
      assert.equal(found.length, 1, JSON.stringify(text));
      assert.match(found[0]!.message, /empty|at least 1 entry|routes/, JSON.stringify(text));
    }
  });

  it('never hot-swaps to a truncated file: the last good config keeps serving and the gateway stays ready', async (t) => {
    const app = await upstreamFor(t, { handler: (_q, r) => r.end('still here') });
    const gw = await startGateway(t, `routes:\n  - { id: app, path: /, upstream: "${app.url}" }\n`);
    for (const text of ['', '# routes went missing\n']) {
      gw.write(text);
      const r = gw.gateway.reload();
      assert.equal(r.ok, false);
      assert.equal((await send(gw.url, '/')).text, 'still here');
      assert.equal((await send(gw.url, '/_portico/readyz')).status, 200);
    }
  });
});

describe('nothing under /_portico/ is ever proxied, upgrades included', () => {
  it('answers an upgrade to /_portico/… with 404, logs it, counts it, and sends nothing to the catch-all route', async (t) => {
    const catchAll = await upstreamFor(t, { websocket: true });
    const gw = await startGateway(
      t,
      `routes:\n  - { id: all, path: /, upstream: "${catchAll.url}", websocket: true }\n`,
    );
    const seen: { status: number; kind: string; own: boolean }[] = [];
    gw.gateway.events.on('request', (e) => seen.push({ status: e.status, kind: e.kind, own: e.own }));
    for (const path of ['/_portico/admin/config', '/_portico/oidc/x', '/_portico']) {
      const ws = new WebSocket(`${gw.url.replace('http', 'ws')}${path}`);
      assert.equal(await upgradeStatus(ws), 404, path);
    }
    assert.equal(catchAll.requests.length, 0);
    assert.deepEqual(
      seen.map((e) => [e.status, e.kind, e.own]),
      [
        [404, 'ws', true],
        [404, 'ws', true],
        [404, 'ws', true],
      ],
    );
  });

  it('logs an upgrade that opened a tunnel as well (status 101)', async (t) => {
    const up = await upstreamFor(t, { websocket: true });
    const gw = await startGateway(
      t,
      `routes:\n  - { id: all, path: /, upstream: "${up.url}", websocket: true }\n`,
    );
    const statuses: number[] = [];
    gw.gateway.events.on('request', (e) => statuses.push(e.status));
    const ws = new WebSocket(`${gw.url.replace('http', 'ws')}/term`);
    await once(ws, 'open');
    ws.close();
    assert.deepEqual(statuses, [101]);
  });
});

describe('forwarding headers a backend may trust', () => {
  it('replaces a client’s Forwarded header, drops X-Original-URL and X-Rewrite-URL, and underscore spellings of framing and forwarding headers', async (t) => {
    const app = await upstreamFor(t);
    const gw = await startGateway(t, `routes:\n  - { id: app, path: /dce5/, upstream: "${app.url}" }\n`);
    const r = await exchange(
      gw.url,
      requestBytes('GET', '/dce5/x', [
        ['Host', 'portal.example.com'],
        ['Forwarded', 'for=10.0.0.1;host=admin.internal;proto=https'],
        ['X-Original-URL', '/admin'],
        ['X-Rewrite-URL', '/admin'],
        ['X_Forwarded_For', '10.6.6.6'],
        ['X_Real_IP', '10.6.6.6'],
        ['Content_Length', '5'],
        ['Transfer_Encoding', 'chunked'],
        ['X_Custom_App', 'kept'],
      ]),
    );
    assert.match(r.raw, /^HTTP\/1\.1 200/);
    const h = app.last().headers;
    assert.equal(h.forwarded, 'for=127.0.0.1;host=portal.example.com;proto=http');
    assert.equal(h['x-original-url'], undefined);
    assert.equal(h['x-rewrite-url'], undefined);
    for (const name of ['x_forwarded_for', 'x_real_ip', 'content_length', 'transfer_encoding'])
      assert.equal(h[name], undefined, name);
    assert.equal(h.x_custom_app, 'kept', 'other underscore headers pass (nginx would drop them)');
  });

  it('appends to the Forwarded header of a trusted proxy', async (t) => {
    const app = await upstreamFor(t);
    const gw = await startGateway(
      t,
      `trustProxy: [127.0.0.1]\nroutes:\n  - { id: app, path: /, upstream: "${app.url}" }\n`,
    );
    await send(gw.url, '/', {
      headers: { forwarded: 'for=203.0.113.9;proto=https', host: 'portal.example.com' },
    });
    assert.equal(
      app.last().headers.forwarded,
      'for=203.0.113.9;proto=https, for=127.0.0.1;host=portal.example.com;proto=http',
    );
  });

  it('drops the other spellings of the client’s address, port, scheme and host from a client, and passes a trusted proxy’s', async (t) => {
    const spoofed: [string, string][] = [
      ['X-Forwarded-Port', '443'],
      ['X-Forwarded-Server', 'admin.internal'],
      ['X-Forwarded-Scheme', 'https'],
      ['X-Forwarded-Ssl', 'on'],
      ['Front-End-Https', 'on'],
      ['X-Original-Host', 'admin.internal'],
      ['X-Host', 'admin.internal'],
      ['X-Forwarded-Uri', '/admin'],
      ['X-Forwarded-Path', '/admin'],
      ['X-Client-IP', '10.6.6.6'],
      ['True-Client-IP', '10.6.6.6'],
      ['CF-Connecting-IP', '10.6.6.6'],
      ['X-Cluster-Client-IP', '10.6.6.6'],
    ];
    for (const trustProxy of ['', 'trustProxy: [127.0.0.1]\n']) {
      const app = await upstreamFor(t);
      const gw = await startGateway(
        t,
        `${trustProxy}routes:\n  - { id: app, path: /, upstream: "${app.url}" }\n`,
      );
      const r = await exchange(
        gw.url,
        requestBytes('GET', '/x', [['Host', 'portal.example.com'], ...spoofed]),
      );
      assert.match(r.raw, /^HTTP\/1\.1 200/);
      const h = app.last().headers;
      for (const [name, value] of spoofed)
        assert.equal(
          h[name.toLowerCase()],
          trustProxy ? value : undefined,
          `${name} ${trustProxy ? 'trusted' : 'untrusted'}`,
        );
    }
  });
});

describe('Location rewrites', () => {
  it('never turn an upstream redirect into a protocol-relative URL on the root route', async (t) => {
    const app = await startUpstream({
      handler: (req, res) => {
        // /go/<n>: the n-th spelling of "the upstream's own origin, then //evil.example".
        const tricks = ['//evil.example/x', '/\t/evil.example/x', '/\t\\evil.example/x'];
        res.writeHead(302, {
          location: `http://${req.headers.host}${tricks[Number(req.url!.split('/')[2])]}`,
        });
        res.end();
      },
    });
    t.after(() => app.close());
    const gw = await startGateway(
      t,
      `routes:\n  - { id: app, path: /, upstream: "${app.url}", preserveHost: false }\n`,
    );
    for (const n of [0, 1, 2]) {
      const r = await send(gw.url, `/go/${n}`, { headers: { accept: 'application/json' } });
      assert.equal(r.status, 302);
      assert.equal(r.headers.location, '/evil.example/x', `spelling ${n}`);
      // What a browser makes of it: still this site.
      assert.equal(
        new URL(String(r.headers.location), 'https://portal.example.com/').host,
        'portal.example.com',
      );
    }
  });
});
