import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { loadConfigText } from '../../gateway/config/loadConfig.ts';
import { type ExplainInput, explainRequest } from '../../gateway/explain/explainRequest.ts';
import { formatExplanation } from '../../gateway/explain/formatExplanation.ts';
import { login, startSso } from '../helpers/sso.ts';
import { upstreamFor } from '../helpers/upstream.ts';
import { explainYaml } from '../helpers/configs.ts';

const config = loadConfigText(explainYaml({ session: 's'.repeat(40), oidc: 'x' }), { env: {} });
const explain = (target: string, input: Omit<ExplainInput, 'method' | 'target'> & { method?: string } = {}) =>
  explainRequest(config, { method: 'GET', target, ...input });

describe('explainRequest', () => {
  it('gives a partner user the qualified names the rules see, and says how to admit them', () => {
    const e = explain('/dce5/', { idp: 'partner', user: 'alice', groups: ['ai-users'] });
    assert.equal(e.outcome.status, 403);
    assert.equal(e.identity?.username, 'partner:alice');
    assert.deepEqual(e.identity?.groups, ['partner:ai-users']);
    assert.equal(e.identity?.subject, 'partner:alice');
    assert.match(e.allow?.hint ?? '', /partner:<name>.*identity\.primaryProvider/);
    assert.equal(e.upstream, undefined);
  });

  it('sends an anonymous browser to sign in and answers an API client 401', () => {
    const browser = explain('/dce5/x?a=1');
    assert.equal(browser.outcome.status, 302);
    assert.equal(browser.outcome.location, '/_portico/login?rd=%2Fdce5%2Fx%3Fa%3D1');
    assert.equal(explain('/dce5/x', { api: true }).outcome.status, 401);
    assert.equal(explain('/dce5/x', { method: 'POST' }).outcome.status, 401);
  });

  it('redirects /dce5 to /dce5/ with its query, refuses paths a backend reads as another route, keeps /_portico/ to itself', () => {
    const bare = explain('/dce5?tab=1');
    assert.equal(bare.outcome.status, 301);
    assert.equal(bare.outcome.location, '/dce5/?tab=1');
    assert.match(
      explain('/dce5%2Fx').outcome.summary,
      /Portico would match \/dce5%2Fx to customer, but a lenient backend reads it as \/dce5\/x \(ai-platform\)/,
    );
    assert.match(explain('/DCE5/x').outcome.summary, /reads it as \/dce5\/x \(ai-platform\)/);
    assert.equal(explain('/dce5/../admin').outcome.status, 400);
    assert.equal(explain('/dce5/%2e%2e/admin').outcome.status, 400);
    const own = explain('/_portico/login');
    assert.equal(own.upstream, undefined);
    assert.match(own.outcome.summary, /answered by Portico itself/);
  });

  it("forwards a foreign bearer token on a passthrough route, and drops spoofed identity headers and Portico's cookies", () => {
    const e = explain('/dce5/apis/v1/users', {
      bearer: 'foreign',
      user: 'alice',
      headers: {
        'X-Forwarded-User': 'admin',
        X_Forwarded_User: 'admin',
        'X-Original-URL': '/admin',
        Cookie: 'dce=1',
      },
    });
    assert.equal(e.outcome.status, 200);
    assert.equal(e.route?.id, 'ai-apis');
    assert.equal(e.authentication?.by, 'nobody');
    assert.equal(e.identity, undefined);
    assert.equal(e.upstream?.authorization, 'forwarded');
    assert.equal(e.upstream?.headers.authorization, 'Bearer <token-Portico-did-not-issue>');
    assert.equal(e.upstream?.headers.cookie, 'dce=1');
    assert.equal(e.upstream?.headers['x-forwarded-user'], undefined);
    for (const gone of [
      'x-forwarded-user',
      'x_forwarded_user',
      'x-original-url',
      'cookie __Host-portico_session',
    ])
      assert.ok(e.upstream?.removed.includes(gone), gone);
  });

  it('never forwards a Portico API key, on a public route or a protected one', () => {
    const open = explain('/dce5/apis/x', { bearer: 'api-key:ci' });
    assert.equal(open.upstream?.authorization, 'removed');
    assert.equal(open.upstream?.headers.authorization, undefined);
    const closed = explain('/dce5/x', { bearer: 'api-key:ci' });
    assert.equal(closed.identity?.username, 'ci');
    assert.deepEqual(closed.allow?.matchedBy, ['groups: ai-users']);
    assert.equal(closed.upstream?.authorization, 'removed');
    assert.equal(explain('/dce5/x', { bearer: 'api-key:nope' }).outcome.status, 401);
  });

  it("takes an identity provider's access token on bearer: verify, never forwards it, and refuses any other", () => {
    const idp = explain('/api/v1', { bearer: 'idp', user: 'alice' });
    assert.equal(idp.outcome.status, 200);
    assert.equal(idp.authentication?.by, 'bearer');
    assert.equal(idp.upstream?.authorization, 'removed');
    assert.equal(explain('/api/v1', { bearer: 'foreign' }).outcome.status, 401);
  });

  it("adds kc_idp_hint to the upstream Keycloak's authorization request, once", () => {
    const signedIn = { user: 'alice', groups: ['ai-users'] };
    const e = explain('/dce5/auth/realms/ghippo/protocol/openid-connect/auth?client_id=ghippo', signedIn);
    assert.equal(
      e.upstream?.url,
      'https://10.6.8.2:30343/auth/realms/ghippo/protocol/openid-connect/auth?client_id=ghippo&kc_idp_hint=portico',
    );
    const given = explain(
      '/dce5/auth/realms/ghippo/protocol/openid-connect/auth?kc_idp_hint=other',
      signedIn,
    );
    assert.match(given.upstream?.url ?? '', /\?kc_idp_hint=other$/);
  });

  it('believes X-Forwarded-For and -Proto only from a trustProxy address', () => {
    const headers = { 'X-Forwarded-For': '198.51.100.7', 'X-Forwarded-Proto': 'https' };
    const trusted = explain('/', { client: '10.1.2.3', headers });
    assert.equal(trusted.upstream?.headers['x-real-ip'], '198.51.100.7');
    assert.equal(trusted.upstream?.headers['x-forwarded-for'], '198.51.100.7, 10.1.2.3');
    assert.equal(trusted.upstream?.headers['x-forwarded-proto'], 'https');
    const stranger = explain('/', { client: '192.0.2.1', headers });
    assert.equal(stranger.upstream?.headers['x-real-ip'], '192.0.2.1');
    assert.equal(stranger.upstream?.headers['x-forwarded-for'], '192.0.2.1');
    assert.equal(stranger.upstream?.headers['x-forwarded-proto'], 'http');
  });

  it('takes WebSockets only on routes with websocket: true', () => {
    assert.equal(explain('/', { websocket: true }).outcome.status, 400);
    const terminal = explain('/dce5/terminal/ws', { websocket: true, user: 'alice', groups: ['ai-users'] });
    assert.equal(terminal.outcome.status, 200);
    assert.equal(terminal.upstream?.headers.upgrade, 'websocket');
    const hijack = explain('/dce5/terminal/ws', {
      websocket: true,
      user: 'alice',
      groups: ['ai-users'],
      headers: { Origin: 'https://evil.example' },
    });
    assert.equal(hijack.outcome.status, 403);
    const ours = explain('/dce5/terminal/ws', {
      websocket: true,
      user: 'alice',
      groups: ['ai-users'],
      headers: { Origin: 'https://portal.example.com' },
    });
    assert.equal(ours.outcome.status, 200);
  });

  describe('with route policies', () => {
    const policies = loadConfigText(
      `publicUrl: https://portal.example.com
session: { secret: "${'s'.repeat(40)}" }
identityProviders:
  - { id: corp, type: oidc, issuer: https://idp.example.com, clientId: portico, clientSecret: x }
routes:
  - id: ai-platform
    path: /dce5/
    upstream: https://10.6.8.2:30343/
    auth: required
    public: [{ path: /dce5/static/, methods: [GET] }]
    cors: { allowPreflight: true }
    ipDeny: [198.51.100.0/24]
    rateLimit: { perIp: 100/1m, perUser: 600/1m }
    maxBodySize: 10m
    headers: { request: { set: { X-Env: prod }, remove: [X-Debug] } }
  - { id: ai-host, path: /, host: ai.example.com, upstream: "https://10.6.8.3/", auth: none }
  - { id: old, path: /old/, redirect: { to: /dce5/, keepPath: true, status: 301 } }
  - { id: status, path: /status, respond: { status: 204 } }
  - { id: closed, path: /closed/, upstream: "http://10.0.0.9/", maintenance: { retryAfter: 10m } }
  - { id: customer, path: /, upstream: "https://10.6.165.50:30443/", auth: optional }
`,
      { env: {} },
    );
    const ask = (target: string, input: Omit<ExplainInput, 'method' | 'target'> & { method?: string } = {}) =>
      explainRequest(policies, { method: 'GET', target, ...input });

    it('lets a public path through without a login, but only for its methods and not by a lenient reading', () => {
      const open = ask('/dce5/static/app.js');
      assert.equal(open.outcome.status, 200);
      assert.equal(open.route?.auth, 'none');
      assert.ok(open.notes.some((n) => /public paths/.test(n)));
      assert.equal(ask('/dce5/static/app.js', { method: 'POST' }).outcome.status, 401);
      assert.equal(ask('/dce5/static/..;/admin/', { api: true }).outcome.status, 401);
    });

    it('passes a CORS preflight without a login and answers fixed routes itself', () => {
      const preflight = ask('/dce5/apis/x', {
        method: 'OPTIONS',
        headers: { origin: 'https://other.example.com', 'access-control-request-method': 'PUT' },
      });
      assert.equal(preflight.outcome.status, 200);
      assert.ok(preflight.notes.some((n) => /CORS preflight/.test(n)));
      const moved = ask('/old/a/b?x=1');
      assert.equal(moved.outcome.status, 301);
      assert.equal(moved.outcome.location, '/dce5/a/b?x=1');
      assert.equal(ask('/status').outcome.status, 204);
      assert.equal(ask('/closed/x').outcome.status, 503);
    });

    it("refuses a denied address, picks the host's own routes, and shows the header policy", () => {
      assert.equal(ask('/dce5/', { client: '198.51.100.7', user: 'alice' }).outcome.status, 403);
      const onHost = ask('/dce5/x', { headers: { host: 'ai.example.com' } });
      assert.equal(onHost.route?.id, 'ai-host');
      const signedIn = ask('/dce5/x', { user: 'alice', headers: { 'x-debug': '1' } });
      assert.equal(signedIn.upstream?.headers['x-env'], 'prod');
      assert.equal(signedIn.upstream?.headers['x-debug'], undefined);
      assert.ok(signedIn.notes.some((n) => /rateLimit\.perUser/.test(n)));
      assert.ok(signedIn.notes.some((n) => /413/.test(n)));
    });
  });

  it('predicts exactly what a real upstream receives through the gateway from a signed-in user', async (t) => {
    const upstream = await upstreamFor(t);
    const setup = await startSso(
      t,
      `  - { id: ai, path: /dce5/, upstream: "${upstream.url}/", allow: { groups: [ai-users] }, inject: { headers: true, jwt: true } }\n`,
    );
    const { client } = await login(setup, 'alice');
    const spoofed = {
      'x-forwarded-user': 'mallory',
      x_forwarded_groups: 'admins',
      'x-original-url': '/admin',
      'x-custom': 'kept',
    };
    const r = await client.request('/dce5/models?page=2', {
      headers: {
        ...spoofed,
        authorization: 'Bearer a-token-of-the-upstream',
        cookie: `${client.cookieHeader()}; app=1`,
      },
    });
    assert.equal(r.status, 200, r.text);
    const received = upstream.last();

    const e = explainRequest(setup.gw.gateway.config(), {
      method: 'GET',
      target: '/dce5/models?page=2',
      user: 'alice',
      groups: ['ai-users', 'staff'],
      email: 'alice@example.com',
      name: 'Alice Zhang',
      bearer: 'foreign',
      headers: { ...spoofed, cookie: 'app=1' },
      client: '127.0.0.1',
    });
    assert.equal(e.outcome.status, 200);
    assert.deepEqual(e.allow?.matchedBy, ['groups: ai-users']);
    const predicted = e.upstream!;
    assert.equal(new URL(predicted.url).pathname + new URL(predicted.url).search, received.url);
    // The same header names, less the connection header the upstream agent adds.
    const names = (h: object) =>
      Object.keys(h)
        .map((n) => n.toLowerCase())
        .filter((n) => n !== 'connection')
        .sort();
    assert.deepEqual(names(predicted.headers), names(received.headers));
    for (const name of [
      'x-forwarded-user',
      'x-forwarded-email',
      'x-forwarded-groups',
      'x-forwarded-preferred-username',
      'x-forwarded-prefix',
      'x-forwarded-for',
      'x-real-ip',
      'x-forwarded-proto',
      'x-forwarded-host',
      'host',
      'cookie',
      'x-custom',
    ])
      assert.equal(predicted.headers[name], received.headers[name], name);
    assert.equal(received.headers.authorization, 'Bearer a-token-of-the-upstream');
    assert.equal(predicted.authorization, 'forwarded');
    assert.ok(
      predicted.removed.includes('x-forwarded-user') || predicted.setByPortico.includes('x-forwarded-user'),
    );
    assert.ok(predicted.removed.includes('x_forwarded_groups'));
    assert.ok(predicted.removed.includes('x-original-url'));
    assert.ok(predicted.removed.includes('cookie portico_session'));
    const claims = decodeJwt(String(received.headers['x-portico-assertion']));
    for (const claim of [
      'iss',
      'aud',
      'sub',
      'groups',
      'preferred_username',
      'email',
      'idp',
      'name',
    ] as const)
      assert.deepEqual(predicted.assertion?.claims[claim], claims[claim], claim);
  });

  it('lists the servers of a route with upstreams and how one is picked', () => {
    const several = loadConfigText(
      `routes:
  - id: app
    path: /app/
    upstreams:
      servers: ["http://10.0.0.1:8080/", { url: "http://10.0.0.2:8080/", weight: 2 }, { url: "http://10.0.0.3:8080/", backup: true }]
      balance: least-conn
      maxFails: 3
      failTimeout: 30s
`,
      { env: {} },
    );
    const e = explainRequest(several, { method: 'GET', target: '/app/x' });
    assert.deepEqual(e.route?.servers, {
      list: [
        { url: 'http://10.0.0.1:8080/', weight: 1, backup: false },
        { url: 'http://10.0.0.2:8080/', weight: 2, backup: false },
        { url: 'http://10.0.0.3:8080/', weight: 1, backup: true },
      ],
      balance: 'least-conn',
      maxFails: 3,
      failTimeoutMs: 30_000,
      sticky: false,
    });
    const text = formatExplanation(e);
    assert.match(text, /route +app {2}\/app\/ → 3 servers/);
    assert.match(text, /server +http:\/\/10\.0\.0\.2:8080\/ {2}weight 2/);
    assert.match(text, /server +http:\/\/10\.0\.0\.3:8080\/ {2}backup/);
    assert.match(text, /least-conn.*left out for 30000 ms after 3 failed connections/);
  });
});

describe('explain and email rules', () => {
  it('judges an address as its provider gives it: an LDAP user passes a domains rule only with trustEmail', () => {
    const withDirectory = (trust: string) =>
      loadConfigText(
        `publicUrl: https://portal.example.com
session: { secret: "${'s'.repeat(40)}" }
identityProviders:
  - { id: dir, type: ldap, url: "ldaps://ldap.corp.example", bindDn: "cn=svc,dc=corp", bindPassword: x, userBase: "ou=people,dc=corp"${trust} }
routes:
  - { id: app, path: /app/, upstream: "http://10.0.0.1:8080/", allow: { domains: [corp.example] } }
`,
        { env: {} },
      );
    const ask = (c: ReturnType<typeof loadConfigText>) =>
      explainRequest(c, {
        method: 'GET',
        target: '/app/x',
        user: 'alice',
        idp: 'dir',
        email: 'alice@corp.example',
      }).outcome.status;
    assert.equal(ask(withDirectory('')), 403);
    assert.equal(ask(withDirectory(', trustEmail: true')), 200);
  });
});

describe('explain and bearerProviders', () => {
  it('refuses an access token of a provider the route does not list, as the gateway does', () => {
    const c = loadConfigText(
      `publicUrl: https://portal.example.com
session: { secret: "${'s'.repeat(40)}" }
identity: { primaryProvider: corp }
identityProviders:
  - { id: corp, type: oidc, issuer: "https://idp.example.com", clientId: portico }
  - { id: partner, type: oidc, issuer: "https://partner.example.com", clientId: portico }
routes:
  - { id: api, path: /api/, upstream: "http://10.0.0.1:8080/", auth: required, bearer: verify, bearerProviders: [partner] }
`,
      { env: {} },
    );
    const ask = (idp: string) =>
      explainRequest(c, {
        method: 'GET',
        target: '/api/x',
        user: 'alice',
        idp,
        bearer: 'idp',
      }).outcome;
    assert.equal(ask('corp').status, 401);
    assert.match(ask('corp').summary, /bearerProviders/);
    assert.equal(ask('partner').status, 200);
  });
});
