import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfigText } from '../../gateway/config/loadConfig.ts';
import { startGateway } from '../helpers/gateway.ts';
import { send } from '../helpers/http.ts';
import { upstreamFor } from '../helpers/upstream.ts';

/** Every problem of a text, as `line path: message`. */
function problems(yaml: string): string[] {
  try {
    loadConfigText(yaml, { env: {} });
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map((p) => `${p.line} ${p.path}: ${p.message}`);
    throw err;
  }
  return [];
}

describe('route policy keys in routes.yaml', () => {
  it('compiles every key into what the stages look up', () => {
    const c = loadConfigText(
      `publicUrl: https://portal.example.com
session: { secret: 0123456789abcdef0123456789abcdef }
identityProviders:
  - { id: corp, type: oidc, issuer: "https://idp.example.com", clientId: portico }
limits: { maxBodySize: 1g }
routes:
  - id: ai
    path: /dce5/
    host: AI.Example.com
    upstream: http://127.0.0.1:1/
    auth: optional
    public: [{ path: /dce5/static/, methods: [GET, HEAD] }]
    cors: { allowPreflight: true }
    maxBodySize: 512k
    rateLimit: { perIp: 100/1m, perUser: 10/s }
    ipAllow: [10.0.0.0/8]
    ipDeny: [10.0.0.1]
    headers:
      request: { set: { X-Env: prod }, remove: [X-Debug] }
      response: { set: { Cache-Control: no-store }, remove: [Server] }
    securityHeaders: true
  - { id: maint, path: /maint/, upstream: "http://127.0.0.1:2/", maintenance: { retryAfter: 10m, message: 维护中 } }
  - { id: moved, path: /old/, redirect: { to: "https://new.example.com/", status: 301, keepPath: true } }
  - { id: teapot, path: /tea, respond: { status: 418, body: "short and stout", headers: { X-Pot: tea } } }
  - { id: rest, path: /, upstream: "http://127.0.0.1:3/" }
`,
      { env: {} },
    );
    const [ai, maint, moved, teapot, rest] = ['ai', 'maint', 'moved', 'teapot', 'rest'].map(
      (id) => c.routes.find((r) => r.id === id)!,
    ) as [
      (typeof c.routes)[number],
      (typeof c.routes)[number],
      (typeof c.routes)[number],
      (typeof c.routes)[number],
      (typeof c.routes)[number],
    ];
    assert.equal(ai.host, 'ai.example.com');
    assert.equal(ai.maxBodySize, 512 * 1024);
    assert.equal(rest.maxBodySize, 1024 ** 3, 'limits.maxBodySize applies where a route sets none');
    assert.deepEqual(ai.perIpRate, { limit: 100, windowMs: 60_000 });
    assert.deepEqual(ai.perUserRate, { limit: 10, windowMs: 1000 });
    assert.equal(ai.addresses?.allow?.check('10.1.2.3'), true);
    assert.equal(ai.addresses?.deny?.check('10.0.0.1'), true);
    assert.equal(ai.withoutLogin?.auth, 'none');
    assert.equal(ai.withoutLogin?.id, 'ai');
    assert.deepEqual(ai.requestHeaders, {
      set: [['x-env', 'prod']],
      remove: ['x-debug'],
      named: new Set(['x-env', 'x-debug']),
    });
    assert.deepEqual(
      ai.responseHeaders?.defaults.map(([n]) => n),
      ['X-Content-Type-Options', 'Referrer-Policy', 'X-Frame-Options', 'Strict-Transport-Security'],
    );
    assert.deepEqual(maint.maintenance, {
      retryAfterSeconds: 600,
      message: { 'zh-CN': '维护中', 'en-US': '维护中' },
    });
    assert.equal(moved.upstream, undefined);
    assert.deepEqual(moved.answer, {
      kind: 'redirect',
      status: 301,
      to: 'https://new.example.com/',
      keepPath: true,
    });
    assert.equal(teapot.answer?.kind, 'respond');
    assert.equal(rest.withoutLogin, undefined, 'a route without public paths has no twin');
    assert.equal(rest.addresses, undefined);
    assert.equal(c.hosts?.exact.get('ai.example.com')?.[0]?.id, 'ai');
    assert.deepEqual(
      c.hosts?.any.map((r) => r.id),
      ['maint', 'moved', 'teapot', 'rest'],
    );
  });

  it('leaves a config without host keys without a host table, so Host is never read', () => {
    const c = loadConfigText('routes:\n  - { id: a, path: /, upstream: "http://127.0.0.1:1/" }\n', {
      env: {},
    });
    assert.equal(c.hosts, undefined);
    assert.equal(c.routes[0]!.maxBodySize, 0);
    assert.equal(c.limits.maxBodySize, 0);
  });

  it('reports each mistake with its line, and refuses identity headers in a header policy', () => {
    const found = problems(`routes:
  - id: ai
    path: /dce5/
    upstream: http://127.0.0.1:1/
    host: "ai.example.com:8443"
    public:
      - { path: /other/ }
      - { path: /dce5/x/, methods: [FETCH] }
    maxBodySize: 10q
    rateLimit: { perIp: lots }
    ipDeny: [10.0.0.0/33]
    headers:
      request:
        set: { X-Forwarded-User: admin, x_forwarded_groups: admins }
        remove: [X-Portico-Assertion, Transfer-Encoding]
      response:
        set: { "Content-Length": "1" }
  - { id: static, path: /s/, respond: { status: 204, body: "x" }, auth: optional, websocket: true }
  - { id: half, path: /h/ }
  - { id: off, path: /o/, redirect: { to: "//evil.example.com/" } }
  - { id: keep, path: /k/, redirect: { to: "https://x.example.com/?a=1", keepPath: true } }
  - { id: nobody, path: /n/, upstream: "http://127.0.0.1:2/", rateLimit: { perUser: 1/s } }
`);
    assert.deepEqual(found, [
      '5 routes[0].host: "ai.example.com:8443" must be a host name such as ai.example.com, or *.example.com (no port)',
      '7 routes[0].public[0].path: "/other/" is not under the route\'s path "/dce5/"',
      '8 routes[0].public[1].methods[0]: must be one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS',
      '9 routes[0].maxBodySize: must be a size such as 512k, 100m or 10g, or a number of bytes (0: no limit)',
      '10 routes[0].rateLimit.perIp: "lots" must be requests per time, such as 100/1m, 10/s or 5000/1h',
      '11 routes[0].ipDeny[0]: "10.0.0.0/33" is not an IP address or CIDR',
      '14 routes[0].headers.request.set.X-Forwarded-User: "X-Forwarded-User" is an identity header: Portico sets it (or removes it) itself, a header policy may not',
      '14 routes[0].headers.request.set.x_forwarded_groups: "x_forwarded_groups" is an identity header: Portico sets it (or removes it) itself, a header policy may not',
      '15 routes[0].headers.request.remove[0]: "X-Portico-Assertion" is an identity header: Portico sets it (or removes it) itself, a header policy may not',
      '15 routes[0].headers.request.remove[1]: "Transfer-Encoding" frames the message: Portico manages it, a header policy may not',
      '17 routes[0].headers.response.set.Content-Length: "Content-Length" frames the message: Portico manages it, a header policy may not',
      '18 routes[1]: this route needs a login, but no identityProviders are configured',
      '18 routes[1].respond.body: a 204 answer has no body',
      "18 routes[1].auth: has no effect: respond and redirect answer before any sign-in (as nginx's return does)",
      '18 routes[1].websocket: needs an upstream to open WebSockets to',
      '19 routes[2]: needs an upstream (or respond, redirect or maintenance, to answer without one)',
      '20 routes[3].redirect.to: "//evil.example.com/" is neither an http(s) URL nor a path on this site (starting with one "/")',
      '21 routes[4].redirect.to: keepPath appends the path and query: the target must not have its own query or fragment',
      '22 routes[5].rateLimit.perUser: has no effect: this route has no login (auth: none), so there is no user to count',
    ]);
  });

  it('refuses renamed identity headers by their configured names', () => {
    const found = problems(`identity:
  headers: { user: X-Remote-User }
  jwt: { header: X-Id-Token }
routes:
  - id: a
    path: /
    upstream: http://127.0.0.1:1/
    headers: { request: { set: { X-Remote-User: x, X-Forwarded-User: allowed-now }, remove: [x-id-token] } }
`);
    assert.deepEqual(
      found.map((p) => p.split(':')[0]),
      ['8 routes[0].headers.request.set.X-Remote-User', '8 routes[0].headers.request.remove[0]'],
    );
  });

  it('lets the same path serve different hosts, and refuses it twice for one host', () => {
    assert.deepEqual(
      problems(`routes:
  - { id: a, path: /, host: a.example.com, upstream: "http://127.0.0.1:1/" }
  - { id: b, path: /, host: b.example.com, upstream: "http://127.0.0.1:2/" }
  - { id: c, path: /, upstream: "http://127.0.0.1:3/" }
  - { id: d, path: /, host: A.example.com, upstream: "http://127.0.0.1:4/" }
`),
      ['5 routes[3].path: duplicate path "/" for host "a.example.com" (also routes[0])'],
    );
  });

  it('applies policy keys and limits.maxBodySize on reload, without a restart', async (t) => {
    const up = await upstreamFor(t);
    const before = `routes:\n  - { id: app, path: /, upstream: "${up.url}" }\n`;
    const gw = await startGateway(t, before);
    assert.equal((await send(gw.url, '/x', { method: 'POST', body: 'x'.repeat(2000) })).status, 200);

    gw.write(
      `logging: { level: silent }\nlimits: { maxBodySize: 1k }\nroutes:\n  - { id: app, path: /, upstream: "${up.url}", maintenance: { retryAfter: 30s } }\n`,
    );
    const reloaded = gw.gateway.reload();
    assert.equal(reloaded.ok, true);
    assert.deepEqual(reloaded.ok && reloaded.restartNeeded, []);
    const r = await send(gw.url, '/x', { headers: { accept: 'application/json' } });
    assert.equal(r.status, 503);
    assert.equal(r.headers['retry-after'], '30');

    gw.write(
      `logging: { level: silent }\nlimits: { maxBodySize: 1k }\nroutes:\n  - { id: app, path: /, upstream: "${up.url}" }\n`,
    );
    assert.equal(gw.gateway.reload().ok, true);
    assert.equal((await send(gw.url, '/x', { method: 'POST', body: 'x'.repeat(2000) })).status, 413);
    assert.equal((await send(gw.url, '/x', { method: 'POST', body: 'x'.repeat(1000) })).status, 200);
  });
});
