import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import {
  createRemoteJWKSet,
  decodeJwt,
  exportJWK,
  generateKeyPair,
  importJWK,
  jwtVerify,
  SignJWT,
} from 'jose';
import { startAiPlatform } from '../../scripts/demo/aiPlatform.ts';
import { type DceSetup, registerBroker, signIn, startDce, tokenRequest, uiLogin } from '../helpers/dce.ts';
import { CookieJar, driveLogin, driveLogout, httpRequest, startTestIdp } from '../helpers/idp.ts';

const realmPath = 'auth/realms/ghippo';

async function userinfo(setup: DceSetup, accessToken: string) {
  return fetch(new URL(`${realmPath}/protocol/openid-connect/userinfo`, setup.ai.url), {
    headers: { authorization: `Bearer ${accessToken}` },
  });
}

/** A logout token as the IdP signs it (its own key), for the broker's client. */
async function logoutToken(setup: DceSetup, claims: Record<string, unknown>, key = setup.idp.signingKey) {
  return new SignJWT({ events: { 'http://schemas.openid.net/event/backchannel-logout': {} }, ...claims })
    .setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'logout+jwt' })
    .setIssuer(setup.idp.issuer)
    .setAudience('dce5-ghippo')
    .setIssuedAt()
    .setJti(randomUUID())
    .sign(await importJWK(key, 'RS256'));
}

async function backchannel(setup: DceSetup, token: string) {
  return fetch(new URL(`${realmPath}/protocol/openid-connect/logout/backchannel-logout`, setup.ai.url), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ logout_token: token }),
  });
}

describe('the AI platform realm (a Keycloak-like broker under /auth/realms/ghippo)', () => {
  it('publishes a Keycloak-shaped discovery document whose issuer is reverseProxy/auth/realms/ghippo', async (t) => {
    const setup = await startDce(t, { ai: { reverseProxy: 'http://portal.example.com/dce5' } });
    const doc = (await (
      await fetch(new URL(`${realmPath}/.well-known/openid-configuration`, setup.ai.url))
    ).json()) as Record<string, unknown>;
    const issuer = 'http://portal.example.com/dce5/auth/realms/ghippo';
    assert.equal(doc.issuer, issuer);
    for (const [key, path] of [
      ['authorization_endpoint', 'auth'],
      ['token_endpoint', 'token'],
      ['userinfo_endpoint', 'userinfo'],
      ['end_session_endpoint', 'logout'],
      ['jwks_uri', 'certs'],
    ])
      assert.equal(doc[key], `${issuer}/protocol/openid-connect/${path}`, key);
    assert.equal(doc.backchannel_logout_supported, true);
    assert.deepEqual(doc.code_challenge_methods_supported, ['S256']);
    const certs = (await (
      await fetch(new URL(`${realmPath}/protocol/openid-connect/certs`, setup.ai.url))
    ).json()) as {
      keys: { kty: string; alg: string; d?: string }[];
    };
    assert.equal(certs.keys.length, 1);
    assert.equal(certs.keys[0]!.kty, 'RSA');
    assert.equal(certs.keys[0]!.alg, 'RS256');
    assert.equal(certs.keys[0]!.d, undefined, 'no private part');
  });

  it('goes straight to the identity provider with kc_idp_hint, and shows its login page listing the provider without', async (t) => {
    const setup = await startDce(t);
    const hinted = await httpRequest(uiLogin(setup.ai, { kc_idp_hint: setup.alias }).url, {
      jar: new CookieJar(),
    });
    assert.equal(hinted.status, 302);
    const toIdp = new URL(hinted.headers.location!);
    assert.equal(toIdp.origin + toIdp.pathname, setup.idp.endpoints.authorization);
    assert.equal(toIdp.searchParams.get('client_id'), 'dce5-ghippo');
    assert.equal(toIdp.searchParams.get('redirect_uri'), setup.ai.realm.urls.brokerEndpoint(setup.alias));
    assert.ok(toIdp.searchParams.get('state') && toIdp.searchParams.get('nonce'));
    assert.equal(
      toIdp.searchParams.get('code_challenge'),
      null,
      'no PKCE unless the provider is set to use it',
    );
    assert.match(
      String(hinted.headers['set-cookie']),
      /AUTH_SESSION_ID=[^;]+; Path=\/auth\/realms\/ghippo\/; HttpOnly; SameSite=Lax/,
    );

    for (const extra of [{}, { kc_idp_hint: 'no-such-provider' }] as Record<string, string>[]) {
      const page = await httpRequest(uiLogin(setup.ai, extra).url, { jar: new CookieJar() });
      assert.equal(page.status, 200);
      assert.match(page.body, /id="kc-social-providers"/);
      assert.match(
        page.body,
        new RegExp(
          `<a id="social-${setup.alias}" class="kc-social-item" href="[^"]+/broker/${setup.alias}/login\\?[^"]*tab_id=`,
        ),
      );
      assert.match(page.body, /OIDC \(custom\)/);
    }
  });

  it('refuses unknown clients, foreign redirect URIs and requests without PKCE', async (t) => {
    const setup = await startDce(t);
    const jar = new CookieJar();
    const bad = await httpRequest(uiLogin(setup.ai, { client_id: 'evil' }).url, { jar });
    assert.equal(bad.status, 400);
    for (const redirect of ['https://evil.example/', 'http://127.0.0.1:1/', `${setup.ai.url}#fragment`]) {
      const r = await httpRequest(uiLogin(setup.ai, { redirect_uri: redirect }).url, { jar });
      assert.equal(r.status, 400, redirect);
      assert.match(r.body, /Invalid parameter: redirect_uri/);
    }
    const noPkce = new URL(uiLogin(setup.ai).url);
    noPkce.searchParams.delete('code_challenge');
    noPkce.searchParams.delete('code_challenge_method');
    const r = await httpRequest(noPkce, { jar });
    assert.equal(r.status, 302);
    assert.equal(new URL(r.headers.location!).searchParams.get('error'), 'invalid_request');
  });

  it('signs a user in through the provider and issues its own RS256 tokens that verify against the realm JWKS', async (t) => {
    const setup = await startDce(t);
    const { tokens, jar, login, formShown } = await signIn(setup);
    assert.ok(formShown, 'the IdP asked for the password');
    const jwks = createRemoteJWKSet(new URL(setup.ai.realm.urls.certs));
    const { payload: access } = await jwtVerify(tokens.access_token, jwks, {
      issuer: setup.ai.realm.urls.issuer,
      algorithms: ['RS256'],
    });
    assert.equal(access.preferred_username, 'alice');
    assert.equal(access.email, 'alice@example.com');
    assert.equal(access.typ, 'Bearer');
    assert.equal(access.azp, 'ghippo');
    assert.notEqual(access.sub, 'alice', 'the realm has its own user ids');
    const { payload: id } = await jwtVerify(tokens.id_token, jwks, {
      issuer: setup.ai.realm.urls.issuer,
      audience: 'ghippo',
    });
    assert.equal(id.nonce, login.nonce);
    assert.equal(id.sid, access.sid);
    assert.equal((await userinfo(setup, tokens.access_token)).status, 200);

    // The realm's SSO session: the next authorization needs neither the provider nor a page.
    const again = await httpRequest(uiLogin(setup.ai).url, { jar });
    assert.equal(again.status, 302);
    assert.ok(again.headers.location!.startsWith(login.redirectUri), again.headers.location);
    assert.match(again.headers.location!, /[?&]code=/);
    assert.equal(setup.idp.loginCount(), 1);

    // A new browser signs in again at the provider and is linked to the same realm user.
    const other = await signIn(setup, { hint: false });
    assert.equal(decodeJwt(other.tokens.access_token).sub, access.sub);
    assert.equal(setup.ai.realm.store.userCount(), 1);
  });

  it('links a user who comes from a second provider to the realm user of the same username', async (t) => {
    const first = await startTestIdp(t, { logErrors: false });
    const second = await startTestIdp(t, { logErrors: false });
    const ai = await startAiPlatform({
      port: 0,
      identityProviders: [
        {
          alias: 'corp',
          displayName: 'Corp SSO',
          issuer: first.issuer,
          clientId: 'dce5-ghippo',
          clientSecret: 'one',
        },
        {
          alias: 'partner',
          displayName: 'Partner SSO',
          issuer: second.issuer,
          clientId: 'dce5-ghippo',
          clientSecret: 'two',
        },
      ],
    });
    t.after(() => ai.close());
    registerBroker(first, ai, 'corp', 'one');
    registerBroker(second, ai, 'partner', 'two');
    const page = await httpRequest(uiLogin(ai).url, { jar: new CookieJar() });
    assert.match(page.body, /id="social-corp"[\s\S]*Corp SSO[\s\S]*id="social-partner"[\s\S]*Partner SSO/);
    const viaCorp = await signIn({ ai, idp: first, alias: 'corp' });
    const viaPartner = await signIn({ ai, idp: second, alias: 'partner' });
    assert.equal(decodeJwt(viaPartner.tokens.access_token).sub, decodeJwt(viaCorp.tokens.access_token).sub);
    assert.equal(ai.realm.store.userCount(), 1);
    const bob = await signIn({ ai, idp: second, alias: 'partner' }, { username: 'bob' });
    assert.notEqual(decodeJwt(bob.tokens.access_token).sub, decodeJwt(viaCorp.tokens.access_token).sub);
  });

  it('speaks client_secret_basic and PKCE to the provider when it is registered that way', async (t) => {
    const setup = await startDce(t, { pkce: true, clientAuthMethod: 'client_secret_basic' });
    const toIdp = new URL(
      (await httpRequest(uiLogin(setup.ai, { kc_idp_hint: setup.alias }).url, { jar: new CookieJar() }))
        .headers.location!,
    );
    assert.equal(toIdp.searchParams.get('code_challenge_method'), 'S256');
    const { tokens } = await signIn(setup, { username: 'bob' });
    assert.equal(decodeJwt(tokens.access_token).preferred_username, 'bob');
  });

  it('refuses a replayed provider callback (state is used once) and a code whose ID token carries another nonce', async (t) => {
    const setup = await startDce(t);
    const jar = new CookieJar();
    const start = await httpRequest(uiLogin(setup.ai, { kc_idp_hint: setup.alias }).url, { jar });
    const back = await driveLogin(
      setup.idp,
      start.headers.location!,
      { username: 'alice', password: 'alice' },
      jar,
    );
    const first = await httpRequest(back.location, { jar });
    assert.equal(first.status, 302);
    const replay = await httpRequest(back.location, { jar });
    assert.equal(replay.status, 400);
    assert.match(replay.body, /timed out|invalid state/);

    // Code injection: a code from sign-in A delivered with the state of sign-in B.
    const jar2 = new CookieJar();
    const a = await httpRequest(uiLogin(setup.ai, { kc_idp_hint: setup.alias }).url, { jar: jar2 });
    const codeA = new URL(
      (await driveLogin(setup.idp, a.headers.location!, { username: 'alice', password: 'alice' }, jar2))
        .location,
    );
    const b = await httpRequest(uiLogin(setup.ai, { kc_idp_hint: setup.alias }).url, { jar: jar2 });
    const stateB = new URL(b.headers.location!).searchParams.get('state')!;
    codeA.searchParams.set('state', stateB);
    const injected = await httpRequest(codeA, { jar: jar2 });
    assert.equal(injected.status, 400);
    assert.match(injected.body, /nonce does not match/);
    assert.equal(setup.ai.realm.store.sessionCount(), 1, 'only the honest sign-in made a session');
  });

  it('redeems a code once, for the same redirect_uri and PKCE verifier only, and rotates refresh tokens', async (t) => {
    const setup = await startDce(t);
    const { jar } = await signIn(setup);
    const login = uiLogin(setup.ai);
    const code = new URL((await httpRequest(login.url, { jar })).headers.location!).searchParams.get('code')!;
    const wrongVerifier = await tokenRequest(setup.ai, {
      grant_type: 'authorization_code',
      code,
      redirect_uri: login.redirectUri,
      code_verifier: 'x'.repeat(43),
    });
    assert.equal(wrongVerifier.status, 400);
    assert.equal(wrongVerifier.body.error, 'invalid_grant');
    const reused = await tokenRequest(setup.ai, {
      grant_type: 'authorization_code',
      code,
      redirect_uri: login.redirectUri,
      code_verifier: login.verifier,
    });
    assert.equal(reused.body.error, 'invalid_grant', 'a code is gone after its first use, even a failed one');

    const { tokens } = await signIn(setup, { jar });
    const refreshed = await tokenRequest(setup.ai, {
      grant_type: 'refresh_token',
      refresh_token: tokens.refresh_token,
    });
    assert.equal(refreshed.status, 200);
    const replayed = await tokenRequest(setup.ai, {
      grant_type: 'refresh_token',
      refresh_token: tokens.refresh_token,
    });
    assert.equal(replayed.body.error, 'invalid_grant');
  });

  it('ends its session when the provider says so over the back channel: refresh and userinfo then fail', async (t) => {
    const setup = await startDce(t);
    const { tokens, jar } = await signIn(setup);
    // The user signs out at the IdP; the IdP posts a logout token to the realm.
    await driveLogout(setup.idp, `${setup.idp.endpoints.endSession}?client_id=dce5-ghippo`, jar);
    assert.deepEqual(
      setup.idp.backchannelResults.map((r) => [r.clientId, r.ok, r.error]),
      [['dce5-ghippo', true, undefined]],
    );
    const refresh = await tokenRequest(setup.ai, {
      grant_type: 'refresh_token',
      refresh_token: tokens.refresh_token,
    });
    assert.equal(refresh.status, 400);
    assert.deepEqual(refresh.body, { error: 'invalid_grant', error_description: 'Session not active' });
    assert.equal((await userinfo(setup, tokens.access_token)).status, 401);
    const again = await httpRequest(uiLogin(setup.ai).url, { jar });
    assert.equal(again.status, 200, 'no session: the login page again');
  });

  it('accepts only logout tokens signed by the provider, for its client, once, and ends sessions by sid or sub', async (t) => {
    const setup = await startDce(t);
    const alice = await signIn(setup);
    const sid = decodeJwt(alice.tokens.access_token).sid as string;
    const idpSid = setup.ai.realm.store.activeSession(sid)!.idpSid;
    assert.ok(idpSid, 'the provider’s ID token named its session');

    const { privateKey } = await generateKeyPair('RS256', { extractable: true });
    const forgedKey = { ...(await exportJWK(privateKey)), kid: setup.idp.signingKey.kid };
    assert.equal(
      (await backchannel(setup, await logoutToken(setup, { sid: idpSid }, forgedKey))).status,
      400,
    );
    assert.equal(
      (await backchannel(setup, await logoutToken(setup, { sid: idpSid, nonce: 'n' }))).status,
      400,
    );
    assert.equal(
      (await backchannel(setup, await logoutToken(setup, { events: {}, sid: idpSid }))).status,
      400,
    );
    assert.equal((await backchannel(setup, 'not-a-jwt')).status, 400);
    assert.ok(setup.ai.realm.store.activeSession(sid), 'still signed in after the refused tokens');

    const valid = await logoutToken(setup, { sid: idpSid });
    assert.equal((await backchannel(setup, valid)).status, 200);
    assert.equal(setup.ai.realm.store.activeSession(sid), undefined);
    assert.equal((await backchannel(setup, valid)).status, 400, 'a replayed logout token is refused');

    const bob = await signIn(setup, { username: 'bob' });
    const bobSid = decodeJwt(bob.tokens.access_token).sid as string;
    assert.equal((await backchannel(setup, await logoutToken(setup, { sub: 'bob' }))).status, 200);
    assert.equal(setup.ai.realm.store.activeSession(bobSid), undefined);
  });

  it('logs out on the UI’s request (id_token_hint), at the provider too, and returns to the UI', async (t) => {
    const setup = await startDce(t);
    const { tokens, jar, login } = await signIn(setup);
    const url = new URL(setup.ai.realm.urls.logout);
    url.search = new URLSearchParams({
      id_token_hint: tokens.id_token,
      post_logout_redirect_uri: login.redirectUri,
      state: 's1',
    }).toString();
    const res = await httpRequest(url, { jar });
    assert.equal(res.status, 302);
    assert.ok(res.headers.location!.startsWith(setup.idp.endpoints.endSession), res.headers.location);
    const done = await driveLogout(setup.idp, res.headers.location!, jar);
    const back = await httpRequest(done.location, { jar });
    assert.equal(back.headers.location, `${login.redirectUri}?state=s1`);
    const refresh = await tokenRequest(setup.ai, {
      grant_type: 'refresh_token',
      refresh_token: tokens.refresh_token,
    });
    assert.equal(refresh.body.error, 'invalid_grant');
    const evil = new URL(setup.ai.realm.urls.logout);
    evil.searchParams.set('post_logout_redirect_uri', 'https://evil.example/');
    evil.searchParams.set('client_id', 'ghippo');
    assert.equal((await httpRequest(evil)).status, 400);
  });
});
