// Portico as an OpenID Provider, driven by openid-client as the relying party and signed in through
// a real upstream OIDC IdP (the demo IdP): discovery, code + PKCE, confidential clients without PKCE,
// both secret methods, refresh rotation, userinfo, exact redirect URIs, single-use codes, `allow`.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it, type TestContext } from 'node:test';
import * as oc from 'openid-client';
import { json, send } from '../helpers/http.ts';
import { CookieJar, driveLogin } from '../helpers/idp.ts';
import {
  authorizationRequest,
  followToClient,
  type OpClient,
  type OpSetup,
  relyingParty,
  startOp,
} from '../helpers/openidProvider.ts';
import { GatewayClient, login } from '../helpers/sso.ts';
import { deadPort } from '../helpers/ports.ts';

const secret = (c: string) => `${c}-secret-0123456789abcdefghijklmnopqrstuvwxyz`;

async function setup(t: TestContext) {
  const rp = `http://127.0.0.1:${await deadPort()}`; // a client nobody runs: its redirects are only read
  const clients = {
    spa: { id: 'spa', secret: secret('spa'), redirectUris: [`${rp}/cb`], pkce: 'required' },
    broker: {
      id: 'broker',
      secret: secret('broker'),
      redirectUris: [`${rp}/broker/endpoint`],
      tokenEndpointAuthMethod: 'client_secret_post',
    },
    grafana: { id: 'grafana', secret: secret('grafana'), redirectUris: [`${rp}/login/generic_oauth`] },
    gpu: {
      id: 'gpu',
      secret: secret('gpu'),
      redirectUris: [`${rp}/gpu/cb`],
      allow: '{ groups: [ai-users] }',
    },
    // An application that needs only who the user is: never their groups or address.
    wiki: { id: 'wiki', secret: secret('wiki'), redirectUris: [`${rp}/wiki/cb`], scopes: ['profile'] },
  } satisfies Record<string, OpClient>;
  const s = await startOp(t, Object.values(clients));
  return { s, clients };
}

async function signedIn(s: OpSetup, user: string) {
  return (await login(s, user, '/app/')).client;
}

/** alice signed in to Portico, and Grafana's relying party with its authorization request. */
async function aliceAtGrafana(t: TestContext) {
  const { s, clients } = await setup(t);
  const browser = await signedIn(s, 'alice');
  const config = await relyingParty(s.issuer, clients.grafana);
  const req = await authorizationRequest(config, clients.grafana);
  return { s, browser, config, req };
}

const expectedSub = (user: string) => createHash('sha256').update(`corp\0${user}`).digest('base64url');

describe('Portico as an OpenID Provider: the protocol', () => {
  it('publishes discovery with every URL on the publicUrl origin, whatever Host the request names', async (t) => {
    const { s } = await setup(t);
    const r = await send(s.gw.url, '/_portico/oidc/.well-known/openid-configuration', {
      headers: {
        host: 'evil.example:8443',
        'x-forwarded-host': 'attacker.example',
        'x-forwarded-proto': 'https',
      },
    });
    assert.equal(r.status, 200);
    const d = json(r);
    assert.equal(d.issuer, s.issuer);
    const urls = Object.entries(d).filter(([, v]) => typeof v === 'string' && /^https?:/.test(v));
    assert.ok(urls.length >= 6, JSON.stringify(urls));
    for (const [key, value] of urls)
      assert.equal(new URL(value as string).origin, s.publicUrl, `${key} is on the publicUrl origin`);
    for (const key of [
      'authorization_endpoint',
      'token_endpoint',
      'userinfo_endpoint',
      'jwks_uri',
      'end_session_endpoint',
    ])
      assert.ok(String(d[key]).startsWith(`${s.issuer}/`), key);
    assert.deepEqual(d.code_challenge_methods_supported, ['S256']);
    assert.ok((d.token_endpoint_auth_methods_supported as string[]).includes('client_secret_basic'));
    assert.ok((d.token_endpoint_auth_methods_supported as string[]).includes('client_secret_post'));
    assert.equal(d.backchannel_logout_supported, true);
    assert.deepEqual(d.scopes_supported, ['openid', 'offline_access', 'profile', 'email', 'groups']);
    const jwks = json<{ keys: { kty: string; alg: string; d?: string }[] }>(
      await send(s.gw.url, '/_portico/oidc/jwks'),
    );
    assert.equal(jwks.keys.length, 1);
    assert.equal(jwks.keys[0]!.alg, 'RS256');
    assert.equal(jwks.keys[0]!.d, undefined, 'no private part is published');
  });

  it('signs a signed-in user in to a client with code + PKCE, no page shown, and the claims of the granted scopes', async (t) => {
    const { s, clients } = await setup(t);
    const browser = await signedIn(s, 'alice');
    const config = await relyingParty(s.issuer, clients.spa);
    const req = await authorizationRequest(config, clients.spa);
    const { location, hops } = await followToClient(browser, req.url);
    assert.ok(location.href.startsWith(`${clients.spa.redirectUris[0]}?`), location.href);
    assert.ok(location.searchParams.get('code'));
    assert.equal(location.searchParams.get('iss'), s.issuer);
    assert.ok(
      hops.every((h) => h.status === 303 || h.status === 302),
      JSON.stringify(hops),
    );
    const tokens = await req.redeem(location);
    const id = tokens.claims()!;
    assert.equal(id.sub, expectedSub('alice'));
    assert.equal(id.preferred_username, 'alice');
    assert.equal(id.email, 'alice@example.com');
    assert.equal(id.email_verified, true);
    assert.equal(id.name, 'Alice Zhang');
    assert.deepEqual(id.groups, ['ai-users', 'staff']);
    const info = await oc.fetchUserInfo(config, tokens.access_token, id.sub);
    assert.deepEqual(
      { ...info },
      {
        sub: expectedSub('alice'),
        preferred_username: 'alice',
        name: 'Alice Zhang',
        email: 'alice@example.com',
        email_verified: true,
        groups: ['ai-users', 'staff'],
      },
    );
    // Once the client has a grant, the authorization request itself answers with the code.
    const again = await authorizationRequest(config, clients.spa);
    const second = await followToClient(browser, again.url);
    assert.deepEqual(
      second.hops.map((h) => h.path),
      ['/_portico/oidc/auth'],
    );
    assert.equal((await again.redeem(second.location)).claims()!.sub, id.sub);
  });

  it('releases only the claims of the requested scopes', async (t) => {
    const { s, clients } = await setup(t);
    const browser = await signedIn(s, 'alice');
    const config = await relyingParty(s.issuer, clients.spa);
    const req = await authorizationRequest(config, clients.spa, { scope: 'openid email' });
    const tokens = await req.redeem((await followToClient(browser, req.url)).location);
    const info = await oc.fetchUserInfo(config, tokens.access_token, expectedSub('alice'));
    assert.deepEqual(Object.keys(info).sort(), ['email', 'email_verified', 'sub']);
    assert.equal(tokens.claims()!.groups, undefined);
  });

  it('refuses a scope outside the client’s scopes list with invalid_scope, and grants those in it', async (t) => {
    const { s, clients } = await setup(t);
    const browser = await signedIn(s, 'alice');
    const config = await relyingParty(s.issuer, clients.wiki);
    const greedy = await authorizationRequest(config, clients.wiki, { scope: 'openid profile groups' });
    const refused = (await followToClient(browser, greedy.url)).location;
    assert.equal(refused.searchParams.get('error'), 'invalid_scope');
    assert.equal(refused.searchParams.get('code'), null);
    const req = await authorizationRequest(config, clients.wiki, { scope: 'openid profile' });
    const tokens = await req.redeem((await followToClient(browser, req.url)).location);
    assert.equal(tokens.claims()!.preferred_username, 'alice');
    assert.equal(tokens.claims()!.groups, undefined);
  });

  it('refuses a request without PKCE from a client that requires it', async (t) => {
    const { s, clients } = await setup(t);
    const browser = await signedIn(s, 'alice');
    const config = await relyingParty(s.issuer, clients.spa);
    const req = await authorizationRequest(config, clients.spa, { pkce: false });
    const { location } = await followToClient(browser, req.url);
    assert.equal(location.searchParams.get('error'), 'invalid_request');
    assert.equal(location.searchParams.get('code'), null);
  });

  for (const [name, method] of [
    ['client_secret_basic', 'basic'],
    ['client_secret_post', 'post'],
  ] as const) {
    it(`serves a confidential client without PKCE that authenticates with ${name}`, async (t) => {
      const { s, clients } = await setup(t);
      const browser = await signedIn(s, 'alice');
      // Keycloak brokers may be set up for either method; both are accepted for every client.
      const config = await relyingParty(s.issuer, clients.broker, method);
      const req = await authorizationRequest(config, clients.broker, { pkce: false });
      const tokens = await req.redeem((await followToClient(browser, req.url)).location);
      assert.equal(tokens.claims()!.preferred_username, 'alice');
      const wrong = await relyingParty(s.issuer, { ...clients.broker, secret: secret('wrong') }, method);
      const req2 = await authorizationRequest(wrong, clients.broker, { pkce: false });
      // 401 invalid_client, as a JSON body (post) or a WWW-Authenticate challenge (basic).
      await assert.rejects(req2.redeem((await followToClient(browser, req2.url)).location), (err: Error) => {
        assert.equal((err as { status?: number }).status, 401);
        assert.match(JSON.stringify([(err as oc.ResponseBodyError).error, err.cause]), /invalid_client/);
        return true;
      });
    });
  }

  it('rotates refresh tokens and refuses one that was used already', async (t) => {
    const { browser, config, req } = await aliceAtGrafana(t);
    const first = await req.redeem((await followToClient(browser, req.url)).location);
    assert.ok(first.refresh_token);
    const second = await oc.refreshTokenGrant(config, first.refresh_token!);
    assert.ok(second.refresh_token && second.refresh_token !== first.refresh_token);
    assert.equal(second.claims()!.sub, expectedSub('alice'));
    assert.deepEqual(second.claims()!.groups, ['ai-users', 'staff']);
    await assert.rejects(oc.refreshTokenGrant(config, first.refresh_token!), (err: oc.ResponseBodyError) => {
      assert.equal(err.error, 'invalid_grant');
      return true;
    });
  });

  it('accepts a code once: a second redemption is refused and revokes what the first one got', async (t) => {
    const { browser, config, req } = await aliceAtGrafana(t);
    const { location } = await followToClient(browser, req.url);
    const tokens = await req.redeem(location);
    await assert.rejects(req.redeem(location), (err: oc.ResponseBodyError) => {
      assert.equal(err.error, 'invalid_grant');
      return true;
    });
    await assert.rejects(oc.fetchUserInfo(config, tokens.access_token, expectedSub('alice')));
  });

  it('matches redirect URIs exactly: a prefix, suffix, case or query variant gets an error page, never a redirect', async (t) => {
    const { s, clients } = await setup(t);
    const browser = await signedIn(s, 'alice');
    const config = await relyingParty(s.issuer, clients.spa);
    const registered = clients.spa.redirectUris[0]!;
    const variants = [
      registered.slice(0, -1),
      `${registered}/`,
      `${registered}x`,
      `${registered}/../evil`,
      `${registered}?next=/`,
      registered.replace('/cb', '/CB'),
      registered.replace('http://127.0.0.1', 'http://127.0.0.1.evil.io'),
      registered.replace('127.0.0.1', 'localhost'),
    ];
    for (const redirectUri of variants) {
      const req = await authorizationRequest(config, clients.spa, { redirectUri });
      const r = await browser.request(req.url.href);
      assert.equal(r.status, 400, redirectUri);
      assert.equal(r.headers.location, undefined, redirectUri);
      assert.match(r.text, /invalid_redirect_uri/);
      assert.match(r.text, /portico-card/, 'the error is a Portico page');
    }
  });

  it("refuses a user the client's allow rules do not admit: access_denied back to the client, and an audit event", async (t) => {
    const { s, clients } = await setup(t);
    const audit: Record<string, unknown>[] = [];
    s.gw.gateway.events.on('audit', (m) => audit.push(m));
    const config = await relyingParty(s.issuer, clients.gpu);
    const bob = await signedIn(s, 'bob');
    const refused = await authorizationRequest(config, clients.gpu);
    const { location } = await followToClient(bob, refused.url);
    assert.ok(location.href.startsWith(`${clients.gpu.redirectUris[0]}?`));
    assert.equal(location.searchParams.get('error'), 'access_denied');
    assert.equal(location.searchParams.get('code'), null);
    assert.ok(
      audit.some((e) => e.type === 'access.denied' && e.actor === 'bob'),
      JSON.stringify(audit),
    );
    // bob may still use a client without rules; alice may use this one.
    const open = await relyingParty(s.issuer, clients.grafana);
    const openReq = await authorizationRequest(open, clients.grafana);
    assert.ok((await followToClient(bob, openReq.url)).location.searchParams.get('code'));
    const alice = await signedIn(s, 'alice');
    const allowed = await authorizationRequest(config, clients.gpu);
    assert.ok((await followToClient(alice, allowed.url)).location.searchParams.get('code'));
  });

  it("sends a user who is not signed in through Portico's login, then back to finish the authorization", async (t) => {
    const { s, clients } = await setup(t);
    const browser = new GatewayClient(s.gw.url);
    const config = await relyingParty(s.issuer, clients.spa);
    const req = await authorizationRequest(config, clients.spa);
    const toIdp = await followToClient(browser, req.url);
    assert.ok(toIdp.location.href.startsWith(s.idp.issuer), 'the upstream IdP asks for the password');
    const login = toIdp.hops.find((h) => h.path === '/_portico/login');
    assert.ok(login, JSON.stringify(toIdp.hops));
    const back = await driveLogin(
      s.idp,
      toIdp.location,
      { username: 'alice', password: 'alice' },
      new CookieJar(),
    );
    const { location, hops } = await followToClient(browser, back.location);
    assert.ok(
      hops.some((h) => h.path.startsWith('/_portico/oidc/interaction/')),
      JSON.stringify(hops),
    );
    const tokens = await req.redeem(location);
    assert.equal(tokens.claims()!.preferred_username, 'alice');
  });

  it('answers prompt=none for a browser without a Portico session with login_required', async (t) => {
    const { s, clients } = await setup(t);
    const config = await relyingParty(s.issuer, clients.grafana);
    const url = oc.buildAuthorizationUrl(config, {
      redirect_uri: clients.grafana.redirectUris[0]!,
      scope: 'openid',
      prompt: 'none',
      state: 'st',
    });
    const { location } = await followToClient(new GatewayClient(s.gw.url), url);
    assert.equal(location.searchParams.get('error'), 'login_required');
    assert.equal(location.searchParams.get('state'), 'st');
  });
});
