import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { startGateway } from '../helpers/gateway.ts';
import { json, send } from '../helpers/http.ts';
import { type Idp, startTestIdp, WORKSPACE_USERS } from '../helpers/idp.ts';
import { userTokens } from '../helpers/oidcTokens.ts';
import { freePort, SESSION_SECRET } from '../helpers/sso.ts';
import { upstreamFor } from '../helpers/upstream.ts';

/** A gateway whose route checks bearer tokens itself, with one provider of the given kind. */
async function setup(t: TestContext, shape: 'google' | 'gitlab' | 'generic', provider: (idp: Idp) => string) {
  const port = await freePort();
  const publicUrl = `http://127.0.0.1:${port}`;
  const redirect = `${publicUrl}/_portico/callback/p`;
  const idp = await startTestIdp(t, {
    claimsShape: shape,
    users: WORKSPACE_USERS,
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
  const tokens = (user: string, clientId = 'portico', extra: { resource?: string } = {}) =>
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
