import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { send } from '../helpers/http.ts';
import { startSso } from '../helpers/sso.ts';
import { upstreamFor } from '../helpers/upstream.ts';
import { upgradeStatus, wsUrl } from '../helpers/websocket.ts';

const API = { accept: 'application/json' };

describe('public paths inside a protected route', () => {
  it('lets the listed paths and methods through without a login, and nothing else', async (t) => {
    const ai = await upstreamFor(t, { websocket: true });
    const s = await startSso(
      t,
      `  - id: ai
    path: /dce5/
    upstream: "${ai.url}"
    auth: required
    websocket: true
    public:
      - { path: /dce5/auth/ }
      - { path: /dce5/static/, methods: [GET, HEAD] }
      - { path: /dce5/health }
`,
    );
    const status = async (target: string, method = 'GET') => {
      const before = ai.requests.length;
      const r = await send(s.gw.url, target, { method, headers: API });
      return `${r.status}${ai.requests.length > before ? ' forwarded' : ''}`;
    };
    assert.equal(await status('/dce5/auth/realms/ghippo/protocol/openid-connect/auth'), '200 forwarded');
    assert.equal(await status('/dce5/auth/login', 'POST'), '200 forwarded');
    assert.equal(await status('/dce5/static/app.js'), '200 forwarded');
    assert.equal(await status('/dce5/static/app.js', 'HEAD'), '200 forwarded');
    assert.equal(await status('/dce5/static/app.js', 'POST'), '401', 'only the listed methods');
    // A method override in the query (Rails, Laravel, express method-override) may be any method.
    assert.equal(await status('/dce5/static/app.js?_method=DELETE'), '401');
    assert.equal(await status('/dce5/static/app.js?v=1&_METHOD=put', 'HEAD'), '401');
    // …in every spelling a backend's query parser reads as `_method` (review).
    for (const query of [
      '%5Fmethod=DELETE',
      '%5fmethod=DELETE',
      'x=1;_method=DELETE',
      '_%6Dethod=PUT',
      '.method=PUT',
      '+method=PUT',
      '%ZZ=1',
    ])
      assert.equal(await status(`/dce5/static/app.js?${query}`), '401', query);
    assert.equal(await status('/dce5/static/app.js?v=2&methodology=x'), '200 forwarded', 'only that name');
    assert.equal(
      await status('/dce5/auth/login?_method=DELETE', 'POST'),
      '200 forwarded',
      'every method is public there',
    );
    assert.equal(await status('/dce5/health'), '200 forwarded');
    assert.equal(await status('/dce5/health/live'), '200 forwarded');
    assert.equal(await status('/dce5/healthz'), '401', 'a path without a slash matches whole segments');
    assert.equal(await status('/dce5/apis/jobs'), '401');
    assert.equal(await status('/dce5/'), '401');
    // The method is what was let through: an override a backend would honour is not passed on.
    await send(s.gw.url, '/dce5/static/app.js', {
      headers: {
        ...API,
        'x-http-method-override': 'DELETE',
        'x-http-method': 'DELETE',
        'x-method-override': 'DELETE',
        // CGI-style backends (WSGI, Rack, PHP) read these as the same headers.
        x_http_method_override: 'DELETE',
        'x-http_method': 'DELETE',
        x_method_override: 'PUT',
      },
    });
    for (const name of [
      'x-http-method-override',
      'x-http-method',
      'x-method-override',
      'x_http_method_override',
      'x-http_method',
      'x_method_override',
    ])
      assert.equal(ai.last().headers[name], undefined, name);
  });

  it('never makes a path public that a lenient backend would read as another one', async (t) => {
    const ai = await upstreamFor(t);
    const s = await startSso(
      t,
      `  - { id: ai, path: /dce5/, upstream: "${ai.url}", auth: required, public: [{ path: /dce5/auth/ }] }\n`,
    );
    for (const [target, expected] of [
      ['/dce5/auth/..%2fapis/', 400], // refused as a path trick before routing
      ['/dce5/auth/%2e%2e/apis/', 400],
      ['/dce5/auth%2f..%2fapis/', 400],
      ['/dce5/auth/%c0%ae%c0%ae/apis/', 400],
      ['/dce5/auth/..;/apis/', 401], // Tomcat reads /apis/: not public
      ['/dce5/auth/x/..;/..;/apis/', 401],
      ['/dce5/auth;jsessionid=1/x', 401],
      ['/dce5/AUTH/x', 401],
      ['/dce5/auth', 401], // the public path is /dce5/auth/, with its slash
      ['/dce5/auth/%252e%252e/apis/', 401], // `..` to a backend that decodes twice: not public
      ['/dce5/auth/..%252fapis/', 401],
      // `..` hidden in a run of escapes with invalid UTF-8 beside it, once decoded: twice decoded
      // by a reader that drops that byte, the path leaves the route (/apis/jobs): refused
      ['/dce5/auth/%252e%252e%252f%25ff%252e%252e%252fapis/jobs', 400],
      ['/dce5/auth/%252e%252e%252f%25c0%252e%252e%252fapis/jobs', 400],
    ] as const) {
      const r = await send(s.gw.url, target, { headers: API });
      assert.equal(r.status, expected, target);
    }
    assert.equal(ai.requests.length, 0, 'nothing reached the upstream');
    // A path inside that only decodes to itself stays public, a literal % too (no escape to a
    // backend that decodes once or twice).
    assert.equal((await send(s.gw.url, '/dce5/auth/a%20b', { headers: API })).status, 200);
    assert.equal((await send(s.gw.url, '/dce5/auth/50%25off.png', { headers: API })).status, 200);
    assert.equal((await send(s.gw.url, '/dce5/auth/100%25%20sure.pdf', { headers: API })).status, 200);
  });

  it('passes no identity on a public path, and still strips a forged one', async (t) => {
    const ai = await upstreamFor(t);
    const s = await startSso(
      t,
      `  - { id: ai, path: /dce5/, upstream: "${ai.url}", auth: required, public: [{ path: /dce5/auth/ }] }\n`,
    );
    const r = await send(s.gw.url, '/dce5/auth/x', {
      headers: { ...API, 'x-forwarded-user': 'admin', x_forwarded_groups: 'admins' },
    });
    assert.equal(r.status, 200);
    assert.equal(ai.last().headers['x-forwarded-user'], undefined);
    assert.equal(ai.last().headers.x_forwarded_groups, undefined);
  });

  it('opens WebSockets on a public path without a login', async (t) => {
    const ai = await upstreamFor(t, { websocket: true });
    const s = await startSso(
      t,
      `  - { id: ai, path: /dce5/, upstream: "${ai.url}", auth: required, websocket: true, public: [{ path: /dce5/pub/ }] }\n`,
    );
    const open = (path: string) => upgradeStatus(wsUrl(s.gw.url, path));
    assert.equal(await open('/dce5/pub/events'), 101);
    assert.equal(await open('/dce5/private/events'), 401);
  });
});

describe('CORS preflights on protected routes', () => {
  it('sends OPTIONS preflights to the upstream without a login when the route allows them', async (t) => {
    const ai = await upstreamFor(t, {
      handler: (req, res) => {
        res.writeHead(req.method === 'OPTIONS' ? 204 : 200, {
          'access-control-allow-origin': String(req.headers.origin ?? ''),
          'access-control-allow-methods': 'GET, PUT',
        });
        res.end();
      },
    });
    const s = await startSso(
      t,
      `  - { id: ai, path: /dce5/, upstream: "${ai.url}", auth: required, cors: { allowPreflight: true } }
  - { id: strict, path: /strict/, upstream: "${ai.url}", auth: required }
`,
    );
    const preflight = {
      origin: 'https://customer.example.com',
      'access-control-request-method': 'PUT',
      'access-control-request-headers': 'authorization',
    };
    const ok = await send(s.gw.url, '/dce5/apis/jobs', { method: 'OPTIONS', headers: preflight });
    assert.equal(ok.status, 204);
    assert.equal(ok.headers['access-control-allow-origin'], 'https://customer.example.com');
    assert.equal(ai.last().method, 'OPTIONS');
    assert.equal(ai.last().headers['x-forwarded-user'], undefined);
    const before = ai.requests.length;
    // Nor one that names another method in its query: let through for its method, it stays OPTIONS.
    assert.equal(
      (
        await send(s.gw.url, '/dce5/apis/jobs?_method=DELETE', {
          method: 'OPTIONS',
          headers: { ...preflight, ...API },
        })
      ).status,
      401,
    );
    // Not a preflight: an OPTIONS without Access-Control-Request-Method, or without Origin, or a GET.
    const { 'access-control-request-method': _, ...noMethod } = preflight;
    const { origin: __, ...noOrigin } = preflight;
    assert.equal(
      (await send(s.gw.url, '/dce5/apis/jobs', { method: 'OPTIONS', headers: { ...noMethod, ...API } }))
        .status,
      401,
    );
    assert.equal(
      (await send(s.gw.url, '/dce5/apis/jobs', { method: 'OPTIONS', headers: { ...noOrigin, ...API } }))
        .status,
      401,
    );
    assert.equal(
      (await send(s.gw.url, '/dce5/apis/jobs', { headers: { ...preflight, ...API } })).status,
      401,
    );
    // An OPTIONS with a body is no preflight, whatever its headers say.
    assert.equal(
      (
        await send(s.gw.url, '/dce5/apis/users/42', {
          method: 'OPTIONS',
          headers: { ...preflight, ...API, 'content-type': 'application/json' },
          body: '{"role":"admin"}',
        })
      ).status,
      401,
    );
    // A route without the option answers preflights as before: 401.
    assert.equal(
      (await send(s.gw.url, '/strict/x', { method: 'OPTIONS', headers: { ...preflight, ...API } })).status,
      401,
    );
    assert.equal(ai.requests.length, before);
  });
});
