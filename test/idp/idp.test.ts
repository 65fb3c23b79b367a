import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { createRemoteJWKSet, decodeJwt, jwtVerify } from 'jose';
import * as client from 'openid-client';
import { upstreamFor } from '../helpers/upstream.ts';
import {
  API_RESOURCE,
  CookieJar,
  clientCredentialsToken,
  DriveError,
  driveLogin,
  driveLogout,
  httpRequest,
  type Idp,
  type IdpOptions,
  startTestIdp,
} from '../helpers/idp.ts';

const CLIENT_ID = 'portico';
const CLIENT_SECRET = 'portico-secret';
const REDIRECT_URI = 'http://127.0.0.1:9/oauth2/callback';
const POST_LOGOUT_URI = 'http://127.0.0.1:9/signed-out';
const SCOPE = 'openid profile email groups';

async function startWithClient(t: TestContext, options: Partial<IdpOptions> = {}): Promise<Idp> {
  return startTestIdp(t, {
    logErrors: false,
    clients: [
      {
        clientId: CLIENT_ID,
        clientSecret: CLIENT_SECRET,
        redirectUris: [REDIRECT_URI],
        postLogoutRedirectUris: [POST_LOGOUT_URI],
      },
    ],
    ...options,
  });
}

/** openid-client v6 against the plain-http loopback issuer. */
function discover(idp: Idp, clientId = CLIENT_ID, secret = CLIENT_SECRET): Promise<client.Configuration> {
  return client.discovery(new URL(idp.issuer), clientId, secret, undefined, {
    execute: [client.allowInsecureRequests],
  });
}

type Flow = { url: URL; verifier: string; state: string; nonce: string };

async function authorizationRequest(
  config: client.Configuration,
  extra: Record<string, string> = {},
): Promise<Flow> {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: REDIRECT_URI,
    scope: SCOPE,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    ...extra,
  });
  return { url, verifier, state, nonce };
}

function exchange(config: client.Configuration, flow: Flow, location: string) {
  return client.authorizationCodeGrant(config, new URL(location), {
    pkceCodeVerifier: flow.verifier,
    expectedState: flow.state,
    expectedNonce: flow.nonce,
  });
}

async function signIn(idp: Idp, config: client.Configuration, jar = new CookieJar(), username = 'alice') {
  const flow = await authorizationRequest(config);
  const login = await driveLogin(idp, flow.url, { username, password: username }, jar);
  const tokens = await exchange(config, flow, login.location);
  return { flow, login, tokens, jar };
}

describe('the demo customer IdP', () => {
  it('publishes a discovery document with the issuer, JWKS, logout and iss-parameter support', async (t) => {
    const idp = await startWithClient(t);
    assert.match(idp.issuer, /^http:\/\/127\.0\.0\.1:\d+$/);
    const res = await fetch(idp.endpoints.discovery);
    assert.equal(res.status, 200);
    const doc = (await res.json()) as Record<string, unknown>;
    assert.equal(doc.issuer, idp.issuer);
    assert.equal(doc.jwks_uri, idp.endpoints.jwks);
    assert.equal(doc.end_session_endpoint, idp.endpoints.endSession);
    assert.equal(doc.backchannel_logout_supported, true);
    assert.equal(doc.backchannel_logout_session_supported, true);
    assert.equal(doc.authorization_response_iss_parameter_supported, true);
    assert.deepEqual(doc.code_challenge_methods_supported, ['S256']);
    for (const scope of ['openid', 'profile', 'email', 'groups', 'offline_access']) {
      assert.ok((doc.scopes_supported as string[]).includes(scope), scope);
    }
    assert.equal(doc.introspection_endpoint, idp.endpoints.introspection);
    assert.equal(doc.revocation_endpoint, idp.endpoints.revocation);
  });

  it('completes an authorization code flow with PKCE, giving an ID token with email and groups', async (t) => {
    const idp = await startWithClient(t);
    const config = await discover(idp);
    const flow = await authorizationRequest(config);
    const login = await driveLogin(idp, flow.url, { username: 'alice', password: 'alice' });
    assert.equal(login.formShown, true);
    const back = new URL(login.location);
    assert.equal(back.origin + back.pathname, REDIRECT_URI);
    assert.equal(back.searchParams.get('iss'), idp.issuer);
    assert.equal(back.searchParams.get('state'), flow.state);
    assert.ok(back.searchParams.get('code'));

    const tokens = await exchange(config, flow, login.location);
    const claims = tokens.claims()!;
    assert.equal(claims.sub, 'alice');
    assert.equal(claims.iss, idp.issuer);
    assert.equal(claims.email, 'alice@example.com');
    assert.equal(claims.email_verified, true);
    assert.equal(claims.name, 'Alice Zhang');
    assert.equal(claims.preferred_username, 'alice');
    assert.deepEqual(claims.groups, ['ai-users', 'staff']);
    assert.ok(tokens.refresh_token, 'a refresh token is issued');
    assert.equal(idp.loginCount(), 1);

    const userinfo = await client.fetchUserInfo(config, tokens.access_token, 'alice');
    assert.deepEqual(userinfo.groups, ['ai-users', 'staff']);
    assert.deepEqual(idp.serverErrors, []);
  });

  it('requires PKCE from every client', async (t) => {
    const idp = await startWithClient(t);
    const url = new URL(idp.endpoints.authorization);
    url.search = new URLSearchParams({
      client_id: CLIENT_ID,
      redirect_uri: REDIRECT_URI,
      response_type: 'code',
      scope: 'openid',
      state: 'xyz',
    }).toString();
    const res = await httpRequest(url);
    assert.equal(res.status, 303);
    const back = new URL(res.headers.location!);
    assert.equal(back.searchParams.get('error'), 'invalid_request');
    assert.match(back.searchParams.get('error_description') ?? '', /PKCE/);
  });

  it('shows the login form again with an error when the password is wrong', async (t) => {
    const idp = await startWithClient(t);
    const config = await discover(idp);
    const flow = await authorizationRequest(config);
    const page = await httpRequest(flow.url, { jar: new CookieJar() });
    assert.equal(page.status, 303);

    const err = await driveLogin(idp, flow.url, { username: 'alice', password: 'wrong' }).then(
      () => assert.fail('the login should be rejected'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof DriveError);
    assert.equal(err.status, 401);
    assert.match(err.html, /<title>Demo Customer IdP — 客户身份认证<\/title>/);
    assert.match(err.html, /id="login-error"[^>]*>用户名或密码错误/);
    assert.match(err.html, /name="username" value="alice"/);
    assert.match(err.html, /name="password"/);
    assert.match(err.html, /id="login-submit"/);
    assert.equal(idp.loginCount(), 0);
  });

  it('signs in silently the second time with the same IdP cookies', async (t) => {
    const idp = await startWithClient(t);
    const config = await discover(idp);
    const first = await signIn(idp, config);
    assert.equal(first.login.formShown, true);

    const flow = await authorizationRequest(config);
    const second = await driveLogin(idp, flow.url, { username: 'unused', password: 'unused' }, first.jar);
    assert.equal(second.formShown, false);
    const tokens = await exchange(config, flow, second.location);
    assert.equal(tokens.claims()!.sub, 'alice');
    assert.equal(idp.loginCount(), 1);

    const fresh = await authorizationRequest(config);
    const other = await driveLogin(idp, fresh.url, { username: 'bob', password: 'bob' }, new CookieJar());
    assert.equal(other.formShown, true, 'a browser without the cookies sees the form');
  });

  it('answers prompt=none with login_required when there is no IdP session', async (t) => {
    const idp = await startWithClient(t);
    const config = await discover(idp);
    const flow = await authorizationRequest(config, { prompt: 'none' });
    const result = await driveLogin(idp, flow.url, { username: 'alice', password: 'alice' });
    assert.equal(result.formShown, false);
    assert.equal(new URL(result.location).searchParams.get('error'), 'login_required');
  });

  it('shows the form again after every IdP session is revoked', async (t) => {
    const idp = await startWithClient(t);
    const config = await discover(idp);
    const first = await signIn(idp, config);
    idp.revokeAllSessions();
    const flow = await authorizationRequest(config);
    const again = await driveLogin(idp, flow.url, { username: 'alice', password: 'alice' }, first.jar);
    assert.equal(again.formShown, true);
    assert.equal(idp.loginCount(), 2);
  });

  it('renews tokens with the refresh_token grant and rotates the refresh token, refusing the old one', async (t) => {
    const idp = await startWithClient(t);
    const config = await discover(idp);
    const { tokens } = await signIn(idp, config);
    const renewed = await client.refreshTokenGrant(config, tokens.refresh_token!);
    assert.ok(renewed.access_token);
    assert.notEqual(renewed.access_token, tokens.access_token);
    assert.ok(renewed.refresh_token);
    assert.notEqual(renewed.refresh_token, tokens.refresh_token);
    assert.equal(renewed.claims()!.sub, 'alice');
    assert.deepEqual(renewed.claims()!.groups, ['ai-users', 'staff']);
    await assert.rejects(client.refreshTokenGrant(config, tokens.refresh_token!), { error: 'invalid_grant' });
  });

  it('introspects and revokes opaque access tokens', async (t) => {
    const idp = await startWithClient(t);
    const config = await discover(idp);
    const { tokens } = await signIn(idp, config);
    const active = await client.tokenIntrospection(config, tokens.access_token);
    assert.equal(active.active, true);
    assert.equal(active.sub, 'alice');
    await client.tokenRevocation(config, tokens.access_token);
    const revoked = await client.tokenIntrospection(config, tokens.access_token);
    assert.equal(revoked.active, false);
  });

  it('issues a JWT access token for urn:portico:api through client_credentials, verifiable with its JWKS', async (t) => {
    const idp = await startWithClient(t);
    const token = await clientCredentialsToken(idp, CLIENT_ID, CLIENT_SECRET, API_RESOURCE, 'api:read');
    const jwks = createRemoteJWKSet(new URL(idp.endpoints.jwks));
    const { payload, protectedHeader } = await jwtVerify(token, jwks, {
      issuer: idp.issuer,
      audience: API_RESOURCE,
      typ: 'at+jwt',
    });
    assert.equal(protectedHeader.alg, 'RS256');
    assert.equal(payload.client_id, CLIENT_ID);
    assert.equal(payload.sub, CLIENT_ID);
    assert.equal(payload.scope, 'api:read');
    assert.ok(payload.exp! - payload.iat! <= 300);

    await assert.rejects(clientCredentialsToken(idp, CLIENT_ID, 'wrong-secret'), /invalid_client/);
    await assert.rejects(
      clientCredentialsToken(idp, CLIENT_ID, CLIENT_SECRET, 'urn:unknown'),
      /invalid_target/,
    );
  });

  it('answers every request with 503 while it is down, and recovers', async (t) => {
    const idp = await startWithClient(t);
    idp.setDown(true);
    for (const url of [idp.endpoints.discovery, idp.endpoints.jwks, idp.endpoints.authorization]) {
      assert.equal((await fetch(url)).status, 503, url);
    }
    assert.equal((await fetch(idp.endpoints.token, { method: 'POST' })).status, 503);
    idp.setDown(false);
    assert.equal((await fetch(idp.endpoints.discovery)).status, 200);
  });

  it('signs out through RP-initiated logout and notifies the client over the back channel', async (t) => {
    const receiver = await upstreamFor(t);
    const idp = await startWithClient(t, {
      clients: [
        {
          clientId: CLIENT_ID,
          clientSecret: CLIENT_SECRET,
          redirectUris: [REDIRECT_URI],
          postLogoutRedirectUris: [POST_LOGOUT_URI],
          backchannelLogoutUri: new URL('backchannel-logout', receiver.url).href,
        },
      ],
    });
    const config = await discover(idp);
    const { tokens, jar } = await signIn(idp, config);
    const sid = tokens.claims()!.sid;
    assert.ok(sid, 'the ID token carries sid');

    const endSession = client.buildEndSessionUrl(config, {
      id_token_hint: tokens.id_token!,
      post_logout_redirect_uri: POST_LOGOUT_URI,
      state: 'bye',
    });
    const page = await httpRequest(endSession, { jar });
    assert.equal(page.status, 200);
    assert.match(page.body, /<form id="op\.logoutForm"[^>]*>.*name="logout" value="yes"/s);
    assert.match(page.body, /document\.getElementById\('op\.logoutForm'\)\.submit\(\)/);

    const { location } = await driveLogout(idp, endSession, jar);
    assert.equal(location, `${POST_LOGOUT_URI}?state=bye`);

    const delivery = receiver.requests.find((r) => r.url === '/backchannel-logout');
    assert.ok(delivery, 'the client received a logout token');
    const logoutToken = new URLSearchParams(delivery.body.toString()).get('logout_token')!;
    const jwks = createRemoteJWKSet(new URL(idp.endpoints.jwks));
    const { payload } = await jwtVerify(logoutToken, jwks, { issuer: idp.issuer, audience: CLIENT_ID });
    assert.equal(payload.sub, 'alice');
    assert.equal(payload.sid, sid);
    assert.ok(
      (payload.events as Record<string, unknown>)['http://schemas.openid.net/event/backchannel-logout'],
    );
    assert.deepEqual(
      idp.backchannelResults.map((r) => [r.clientId, r.ok]),
      [[CLIENT_ID, true]],
    );

    const flow = await authorizationRequest(config);
    const again = await driveLogin(idp, flow.url, { username: 'alice', password: 'alice' }, jar);
    assert.equal(again.formShown, true, 'the IdP session is gone');
  });

  it('accepts a client registered after start and works under an issuer path', async (t) => {
    const idp = await startTestIdp(t, { issuerPath: '/oidc', logErrors: false });
    assert.match(idp.issuer, /^http:\/\/127\.0\.0\.1:\d+\/oidc$/);
    idp.setClient({ clientId: 'late', clientSecret: 'late-secret', redirectUris: [REDIRECT_URI] });
    const config = await discover(idp, 'late', 'late-secret');
    assert.equal(config.serverMetadata().issuer, idp.issuer);
    const { tokens } = await signIn(idp, config, new CookieJar(), 'bob');
    assert.equal(tokens.claims()!.sub, 'bob');
    assert.deepEqual(tokens.claims()!.groups, ['staff']);
  });

  it('shapes claims like GitLab (groups_direct, nickname) and Google (hd) on request', async (t) => {
    const gitlab = await startWithClient(t, { claimsShape: 'gitlab' });
    const gl = await signIn(gitlab, await discover(gitlab));
    assert.deepEqual(gl.tokens.claims()!.groups_direct, ['ai-users', 'staff']);
    assert.equal(gl.tokens.claims()!.nickname, 'alice');

    const google = await startWithClient(t, { claimsShape: 'google' });
    const gg = await signIn(google, await discover(google));
    assert.equal(gg.tokens.claims()!.hd, 'example.com');
    assert.equal(gg.tokens.claims()!.email_verified, true);
    assert.equal(decodeJwt(gg.tokens.id_token!).aud, CLIENT_ID);
  });
});
