import assert from 'node:assert/strict';
import diagnostics from 'node:diagnostics_channel';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { importJWK, SignJWT } from 'jose';
import { createOidcProvider, type OidcDefinition } from '../../gateway/auth/providers/oidc.ts';
import { startGateway } from '../helpers/gateway.ts';
import { json, send } from '../helpers/http.ts';
import { API_RESOURCE, type DemoUser, type Idp, startTestIdp, WORKSPACE_USERS } from '../helpers/idp.ts';
import { userTokens } from '../helpers/oidcTokens.ts';
import { freePort, SESSION_SECRET, startIdpFor } from '../helpers/sso.ts';
import { upstreamFor } from '../helpers/upstream.ts';
import { WebSocket } from 'ws';

/** The shared Workspace users, and two Google accounts the sign-in rules must refuse. */
const USERS: DemoUser[] = [
  ...WORKSPACE_USERS,
  {
    // A consumer Google account: no hd, whatever its address says.
    id: '110248495921238986422',
    username: 'consumer',
    password: 'consumer',
    email: 'consumer@example.com',
    name: 'Consumer Account',
    groups: [],
    hd: null,
  },
  {
    // An address Google has not verified.
    id: '110248495921238986423',
    username: 'mallory',
    password: 'mallory',
    email: 'alice@example.com',
    name: 'Mallory Unverified',
    groups: [],
    emailVerified: false,
  },
];

/** A gateway whose route checks bearer tokens itself, with one provider of the given kind. */
async function setup(t: TestContext, shape: 'google' | 'gitlab' | 'generic', provider: (idp: Idp) => string) {
  const port = await freePort();
  const publicUrl = `http://127.0.0.1:${port}`;
  const redirect = `${publicUrl}/_portico/callback/p`;
  const idp = await startTestIdp(t, {
    claimsShape: shape,
    users: USERS,
    logErrors: false,
    clients: [
      { clientId: 'portico', clientSecret: 'portico-secret', redirectUris: [redirect] },
      { clientId: 'other-app', clientSecret: 'other-secret', redirectUris: ['http://127.0.0.1:9/cb'] },
    ],
  });
  const upstream = await upstreamFor(t);
  const gw = await startGateway(
    t,
    `publicUrl: ${publicUrl}
session: { secret: ${SESSION_SECRET} }
identityProviders:
  - ${provider(idp)}
routes:
  - { id: api, path: /, upstream: "${upstream.url}", auth: required, bearer: verify, inject: { headers: true } }
`,
    { port },
  );
  const tokens = (user: string, clientId = 'portico', extra: { resource?: string; scope?: string } = {}) =>
    userTokens(idp, {
      clientId,
      clientSecret: clientId === 'portico' ? 'portico-secret' : 'other-secret',
      redirectUri: clientId === 'portico' ? redirect : 'http://127.0.0.1:9/cb',
      user,
      ...extra,
    });
  const call = (token: string) =>
    send(gw.url, '/api/x', { headers: { authorization: `Bearer ${token}`, accept: 'application/json' } });
  return { gw, upstream, tokens, call };
}

describe('bearer tokens pass every check a browser sign-in of their provider passes', () => {
  it('refuses a Google user of another Workspace (hd), by access token and by ID token', async (t) => {
    const s = await setup(
      t,
      'google',
      (idp) =>
        `{ id: p, type: google, issuer: "${idp.issuer}", clientId: portico, clientSecret: portico-secret, hostedDomain: example.com }`,
    );
    const eve = await s.tokens('eve');
    for (const token of [eve.access_token, eve.id_token!]) {
      const r = await s.call(token);
      assert.equal(r.status, 401, token === eve.id_token ? 'ID token' : 'access token');
      assert.equal(json(r).error, 'PORTICO_ERR_UNAUTHENTICATED');
    }
    const alice = await s.tokens('alice');
    assert.equal((await s.call(alice.access_token)).status, 200);
    assert.equal(s.upstream.last().headers['x-forwarded-user'], 'alice@example.com');
    assert.equal(s.upstream.requests.length, 1, 'only alice reached the upstream');
  });

  it('refuses a consumer Google account (no hd) where a hosted domain is required, and an unverified address anywhere', async (t) => {
    const withDomain = await setup(
      t,
      'google',
      (idp) =>
        `{ id: p, type: google, issuer: "${idp.issuer}", clientId: portico, clientSecret: portico-secret, hostedDomain: example.com }`,
    );
    assert.equal((await withDomain.call((await withDomain.tokens('consumer')).access_token)).status, 401);
    assert.equal((await withDomain.call((await withDomain.tokens('mallory')).access_token)).status, 401);
    assert.equal(withDomain.upstream.requests.length, 0);
    // Without hostedDomain any Google account may sign in, but only with an address Google verified.
    const anyDomain = await setup(
      t,
      'google',
      (idp) =>
        `{ id: p, type: google, issuer: "${idp.issuer}", clientId: portico, clientSecret: portico-secret }`,
    );
    assert.equal((await anyDomain.call((await anyDomain.tokens('mallory')).access_token)).status, 401);
    assert.equal((await anyDomain.call((await anyDomain.tokens('consumer')).access_token)).status, 200);
    assert.equal(anyDomain.upstream.last().headers['x-forwarded-user'], 'consumer@example.com');
    assert.equal(anyDomain.upstream.requests.length, 1);
  });

  it('refuses a GitLab user outside allowedGroups', async (t) => {
    const s = await setup(
      t,
      'gitlab',
      (idp) =>
        `{ id: p, type: gitlab, baseUrl: "${idp.issuer}", clientId: portico, clientSecret: portico-secret, allowedGroups: [acme/platform] }`,
    );
    assert.equal((await s.call((await s.tokens('eve')).access_token)).status, 401);
    assert.equal((await s.call((await s.tokens('alice')).access_token)).status, 200);
    assert.equal(s.upstream.last().headers['x-forwarded-user'], 'alice');
  });

  it('never accepts an ID token, which outlives a logout and was meant for Portico’s own sign-in', async (t) => {
    const s = await setup(
      t,
      'generic',
      (idp) =>
        `{ id: p, type: oidc, issuer: "${idp.issuer}", clientId: portico, clientSecret: portico-secret }`,
    );
    const alice = await s.tokens('alice');
    assert.equal((await s.call(alice.id_token!)).status, 401);
    assert.equal((await s.call(alice.access_token)).status, 200);
  });

  it('refuses an ID token whose audience names Portico, as Keycloak’s do (aud and azp), and takes the access token', async (t) => {
    const s = await setup(
      t,
      'generic',
      (idp) =>
        `{ id: p, type: oidc, issuer: "${idp.issuer}", clientId: portico, clientSecret: portico-secret, audiences: ["${API_RESOURCE}", portico] }`,
    );
    const alice = await s.tokens('alice', 'portico', { resource: API_RESOURCE });
    assert.equal((await s.call(alice.id_token!)).status, 401, 'the ID token (aud: portico)');
    assert.equal((await s.call(alice.access_token)).status, 200, `the access token (aud: ${API_RESOURCE})`);
    assert.equal(s.upstream.requests.length, 1);
  });

  it('refuses a refresh token, which the IdP also calls active, and a token bound to a key (cnf)', async (t) => {
    let signer: Idp | undefined;
    const s = await setup(t, 'generic', (idp) => {
      signer = idp;
      return `{ id: p, type: oidc, issuer: "${idp.issuer}", clientId: portico, clientSecret: portico-secret }`;
    });
    // Issued to Portico's own client, as the refresh tokens its sessions hold: introspection answers
    // active: true (no token_type) for it, and it would be a login that outlives the session.
    const alice = await s.tokens('alice', 'portico', { scope: 'openid profile email offline_access' });
    assert.ok(alice.refresh_token);
    assert.equal((await s.call(alice.refresh_token)).status, 401, 'the refresh token');
    assert.equal((await s.call(alice.access_token)).status, 200, 'the access token');
    // A JWT bound to a key (DPoP's jkt, mutual TLS's x5t#S256): Portico checks no proof of possession.
    const key = await importJWK(signer!.signingKey, 'RS256');
    const jwt = (cnf?: object) =>
      new SignJWT({
        sub: 'alice',
        azp: 'portico',
        client_id: 'portico',
        scope: 'openid',
        ...(cnf ? { cnf } : {}),
      })
        .setProtectedHeader({ alg: 'RS256', kid: signer!.signingKey.kid, typ: 'at+jwt' })
        .setIssuer(signer!.issuer)
        .setAudience('portico')
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(key);
    assert.equal((await s.call(await jwt({ jkt: 'x'.repeat(43) }))).status, 401, 'DPoP-bound');
    assert.equal((await s.call(await jwt({ 'x5t#S256': 'x'.repeat(43) }))).status, 401, 'mTLS-bound');
    assert.equal((await s.call(await jwt())).status, 200, 'the same token unbound');
    assert.equal(s.upstream.requests.length, 2);
  });

  it('refuses a refresh token with userinfo: false too: its endpoint still tells an access token', async (t) => {
    const s = await setup(
      t,
      'generic',
      (idp) =>
        `{ id: p, type: oidc, issuer: "${idp.issuer}", clientId: portico, clientSecret: portico-secret, userinfo: false }`,
    );
    const alice = await s.tokens('alice', 'portico', { scope: 'openid profile email offline_access' });
    assert.equal((await s.call(alice.refresh_token!)).status, 401, 'the refresh token');
    assert.equal((await s.call(alice.access_token)).status, 200, 'the access token');
  });

  it('asks the IdP about a token its rules refuse (allowedGroups) once, not once per request', async (t) => {
    let issuer = '';
    const s = await setup(t, 'gitlab', (idp) => {
      issuer = idp.issuer;
      return `{ id: p, type: gitlab, baseUrl: "${idp.issuer}", clientId: portico, clientSecret: portico-secret, allowedGroups: [acme/platform] }`;
    });
    const eve = await s.tokens('eve');
    let asked = 0;
    const count = (message: unknown) => {
      const { request } = message as { request: { origin: string } };
      if (String(request.origin) === new URL(issuer).origin) asked++;
    };
    assert.equal((await s.call(eve.access_token)).status, 401);
    diagnostics.subscribe('undici:request:create', count);
    t.after(() => diagnostics.unsubscribe('undici:request:create', count));
    for (let i = 0; i < 5; i++) assert.equal((await s.call(eve.access_token)).status, 401);
    assert.equal(asked, 0, 'introspection and userinfo are not asked again');
  });

  it('refuses a user name that would reach the upstream as another user (control characters, blanks around it)', async (t) => {
    let signer: Idp | undefined;
    const s = await setup(t, 'generic', (idp) => {
      signer = idp;
      return `{ id: p, type: oidc, issuer: "${idp.issuer}", clientId: portico, clientSecret: portico-secret, userinfo: false }`;
    });
    const key = await importJWK(signer!.signingKey, 'RS256');
    const token = (name: string, groups: string[] = []) =>
      new SignJWT({ sub: `id-${name}`, preferred_username: name, groups, azp: 'portico', scope: 'openid' })
        .setProtectedHeader({ alg: 'RS256', kid: signer!.signingKey.kid, typ: 'at+jwt' })
        .setIssuer(signer!.issuer)
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(key);
    // Portico would hold these apart from alice (allow rules), the upstream would read them as alice.
    for (const name of ['alice\t', 'alice ', ' alice', 'ali\u0000ce', 'ali\u001bce'])
      assert.equal((await s.call(await token(name))).status, 403, JSON.stringify(name));
    assert.equal(s.upstream.requests.length, 0);
    // A group ` admins` would be `admins` to an upstream that trims the items of the groups header.
    assert.equal((await s.call(await token('bob', ['dev', ' admins', 'admins\u0000']))).status, 200);
    assert.equal(s.upstream.last().headers['x-forwarded-user'], 'bob');
    assert.equal(s.upstream.last().headers['x-forwarded-groups'], 'dev');
  });

  it('refuses an access token without an expiry, even one the IdP signed for Portico', async (t) => {
    let signer: Idp | undefined;
    const s = await setup(t, 'generic', (idp) => {
      signer = idp;
      return `{ id: p, type: oidc, issuer: "${idp.issuer}", clientId: portico, clientSecret: portico-secret }`;
    });
    const key = await importJWK(signer!.signingKey, 'RS256');
    const token = (exp: boolean) => {
      const jwt = new SignJWT({ sub: 'alice', azp: 'portico', client_id: 'portico', scope: 'openid' })
        .setProtectedHeader({ alg: 'RS256', kid: signer!.signingKey.kid, typ: 'at+jwt' })
        .setIssuer(signer!.issuer)
        .setAudience('portico')
        .setIssuedAt();
      return (exp ? jwt.setExpirationTime('5m') : jwt).sign(key);
    };
    assert.equal((await s.call(await token(false))).status, 401, 'no exp');
    assert.equal((await s.call(await token(true))).status, 200, 'the same token with an expiry');
  });

  it('asks the IdP about a made-up opaque token once, not once per request', async (t) => {
    const s = await setup(
      t,
      'generic',
      (idp) =>
        `{ id: p, type: oidc, issuer: "${idp.issuer}", clientId: portico, clientSecret: portico-secret }`,
    );
    let asked = 0;
    const count = (message: unknown) => {
      const { request } = message as { request: { path: string } };
      if (request.path.includes('introspect')) asked++;
    };
    diagnostics.subscribe('undici:request:create', count);
    t.after(() => diagnostics.unsubscribe('undici:request:create', count));
    for (let i = 0; i < 5; i++) assert.equal((await s.call('made-up-opaque-token-0123456789')).status, 401);
    assert.equal(asked, 1);
  });

  it('refuses an access token the IdP issued to another application', async (t) => {
    const s = await setup(
      t,
      'generic',
      (idp) =>
        `{ id: p, type: oidc, issuer: "${idp.issuer}", clientId: portico, clientSecret: portico-secret }`,
    );
    const theirs = await s.tokens('alice', 'other-app');
    assert.equal((await s.call(theirs.access_token)).status, 401);
    assert.equal(s.upstream.requests.length, 0);
  });
});

describe('bearer tokens and several identity providers', () => {
  it("hands an opaque token to the primary provider alone: a partner IdP listed first never sees the customer IdP's tokens", async (t) => {
    const port = await freePort();
    const publicUrl = `http://127.0.0.1:${port}`;
    const idp = (id: string) => startIdpFor(t, publicUrl, {}, id);
    const [corp, partner] = [await idp('corp'), await idp('partner')];
    const upstream = await upstreamFor(t);
    const gw = await startGateway(
      t,
      `publicUrl: ${publicUrl}
session: { secret: ${SESSION_SECRET} }
identity: { primaryProvider: corp }
identityProviders:
  - { id: partner, type: oidc, issuer: "${partner.issuer}", clientId: portico, clientSecret: portico-secret }
  - { id: corp, type: oidc, issuer: "${corp.issuer}", clientId: portico, clientSecret: portico-secret }
routes:
  - { id: api, path: /, upstream: "${upstream.url}", auth: required, bearer: verify, inject: { headers: true } }
`,
      { port },
    );
    const sentTo: string[] = [];
    const record = (message: unknown) => {
      const { request } = message as { request: { origin: string; path: string } };
      if (request.path.includes('introspect')) sentTo.push(String(request.origin));
    };
    diagnostics.subscribe('undici:request:create', record);
    t.after(() => diagnostics.unsubscribe('undici:request:create', record));
    const { access_token: token } = await userTokens(corp, {
      clientId: 'portico',
      clientSecret: 'portico-secret',
      redirectUri: `${publicUrl}/_portico/callback/corp`,
      user: 'alice',
    });
    assert.notEqual(token.split('.').length, 3, 'the test IdP issues opaque access tokens');
    const r = await send(gw.url, '/x', {
      headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
    });
    assert.equal(r.status, 200);
    assert.equal(upstream.last().headers['x-forwarded-user'], 'alice');
    assert.deepEqual(sentTo, [new URL(corp.issuer).origin]);
    // And a token corp refuses is not tried at the partner either.
    assert.equal(
      (await send(gw.url, '/x', { headers: { authorization: 'Bearer not-a-corp-token-0123' } })).status,
      401,
    );
    assert.deepEqual(sentTo, [new URL(corp.issuer).origin, new URL(corp.issuer).origin]);
  });
});

/**
 * A gateway whose one route takes terminals with a bearer token of provider `p` (a real IdP), the
 * routes.yaml it was started with (`yaml(provider)` for another provider list), and `open(expiresIn)`:
 * a WebSocket opened with an access token of that IdP living that long.
 */
async function bearerTerminals(t: TestContext) {
  const port = await freePort();
  const idp = await startTestIdp(t, {
    logErrors: false,
    clients: [
      { clientId: 'portico', clientSecret: 'portico-secret', redirectUris: [`http://127.0.0.1:${port}/cb`] },
    ],
  });
  const upstream = await upstreamFor(t, { websocket: true });
  const yaml = (provider: string) => `publicUrl: http://127.0.0.1:${port}
session: { secret: ${SESSION_SECRET} }
identityProviders:
  - ${provider}
routes:
  - { id: term, path: /, upstream: "${upstream.url}", auth: required, bearer: verify, websocket: true }
`;
  const gw = await startGateway(
    t,
    yaml(`{ id: p, type: oidc, issuer: "${idp.issuer}", clientId: portico, clientSecret: portico-secret }`),
    { port },
  );
  const key = await importJWK(idp.signingKey, 'RS256');
  const token = (expiresIn: string) =>
    new SignJWT({ sub: 'alice', azp: 'portico', client_id: 'portico', scope: 'openid' })
      .setProtectedHeader({ alg: 'RS256', kid: idp.signingKey.kid, typ: 'at+jwt' })
      .setIssuer(idp.issuer)
      .setAudience('portico')
      .setIssuedAt()
      .setExpirationTime(expiresIn)
      .sign(key);
  const open = async (expiresIn: string) => {
    const ws = new WebSocket(`${gw.url.replace('http', 'ws')}/tty`, {
      headers: { authorization: `Bearer ${await token(expiresIn)}` },
    });
    await once(ws, 'open');
    return ws;
  };
  return { gw, yaml, token, open };
}

describe('terminals opened with a bearer token', () => {
  it('close (1008) when the token expires, and not before', async (t) => {
    const { open } = await bearerTerminals(t);
    const lasting = await open('5m');
    const short = await open('2s');
    const opened = Date.now();
    const [code] = await once(short, 'close');
    assert.equal(code, 1008);
    assert.ok(Date.now() - opened >= 1000, 'not before the token expired');
    lasting.send('still here?');
    const [echo] = await once(lasting, 'message');
    assert.equal(String(echo), 'still here?');
    lasting.close();
  });

  it("close (1008) when a reload removes the token's provider, as HTTP then refuses the token", async (t) => {
    const { gw, yaml, token, open } = await bearerTerminals(t);
    const ws = await open('5m');
    const closed = once(ws, 'close');
    gw.write(yaml('{ id: q, type: oidc, issuer: "http://127.0.0.1:9", clientId: portico, clientSecret: x }'));
    assert.equal(gw.gateway.reload().ok, true);
    const [code] = await closed;
    assert.equal(code, 1008);
    const r = await send(gw.url, '/x', { headers: { authorization: `Bearer ${await token('5m')}` } });
    assert.equal(r.status, 401);
  });
});

describe('opaque tokens whose introspection answer has no exp (RFC 7662 makes it optional)', () => {
  it('are tokens of unknown end, not ones that end a minute after they were checked', async (t) => {
    // A stand-in IdP: oidc-provider always answers exp; Keycloak-style and custom servers may not.
    const server = createServer((req, res) => {
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      res.setHeader('content-type', 'application/json');
      if (req.url === '/.well-known/openid-configuration')
        res.end(
          JSON.stringify({
            issuer: base,
            authorization_endpoint: `${base}/auth`,
            token_endpoint: `${base}/token`,
            jwks_uri: `${base}/jwks`,
            introspection_endpoint: `${base}/introspect`,
            response_types_supported: ['code'],
            subject_types_supported: ['public'],
            id_token_signing_alg_values_supported: ['RS256'],
          }),
        );
      else if (req.url === '/introspect')
        res.end(JSON.stringify({ active: true, sub: 'robot', client_id: 'portico' }));
      else {
        res.statusCode = 404;
        res.end('{}');
      }
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    t.after(() => server.close());
    const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const provider = createOidcProvider({
      id: 'p',
      type: 'oidc',
      issuer,
      clientId: 'portico',
      clientSecret: 'portico-secret',
    } as OidcDefinition);
    const identity = await provider.verifyBearer!('an-opaque-token-0123456789');
    assert.equal(identity?.username, 'robot');
    assert.equal(
      identity?.tokenExpiresAt,
      undefined,
      'a terminal opened with it is not cut at a guessed time',
    );
  });
});
