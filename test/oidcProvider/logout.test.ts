// Logout through Portico's OpenID Provider: RP-initiated logout ends the Portico session (single
// logout), and whenever a Portico session ends — Portico logout, admin revoke, the upstream IdP's
// back-channel logout, signing in as someone else — every client it signed in to gets a logout
// token on a real HTTP receiver, and its refresh tokens stop working.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import * as oc from 'openid-client';
import { adminFeature } from '../../gateway/admin/adminFeature.ts';
import { hashApiKey } from '../../gateway/auth/apiKeys.ts';
import { json, send } from '../helpers/http.ts';
import { CookieJar, driveLogin, driveLogout, startTestIdp } from '../helpers/idp.ts';
import {
  authorizationRequest,
  followToClient,
  type OpClient,
  relyingParty,
  startLogoutReceiver,
  startOp,
} from '../helpers/openidProvider.ts';
import { freePort, GatewayClient, login, logout } from '../helpers/sso.ts';
import { deadPort } from '../helpers/ports.ts';

const ADMIN_KEY = 'ptk_support_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG';

async function setup(t: TestContext, session?: Record<string, string>) {
  const receiver = await startLogoutReceiver(t);
  const rp = `http://127.0.0.1:${await deadPort()}`; // a client nobody runs: its redirects are only read
  const ghippo: OpClient = {
    id: 'dce5-ghippo',
    secret: 'ghippo-secret-0123456789abcdefghijklmnopqrstuvwxyz',
    redirectUris: [`${rp}/dce5/auth/realms/ghippo/broker/portico/endpoint`],
    postLogoutRedirectUris: [`${rp}/dce5/`],
    backchannelLogoutUri: receiver.url,
  };
  const grafana: OpClient = {
    id: 'grafana',
    secret: 'grafana-secret-0123456789abcdefghijklmnopqrstuvwxyz',
    redirectUris: [`${rp}/login/generic_oauth`],
  };
  const s = await startOp(t, [ghippo, grafana], {
    session,
    features: [adminFeature()],
    extra: `admin:\n  apiKeys:\n    - { id: support, hash: "${hashApiKey(ADMIN_KEY)}", scopes: [sessions:revoke] }\n`,
  });
  return { s, receiver, ghippo, grafana };
}

/** Signs `browser` in to `client` (no page) and redeems the code. */
async function signInTo(issuer: string, browser: GatewayClient, client: OpClient) {
  const config = await relyingParty(issuer, client);
  const req = await authorizationRequest(config, client, { pkce: false });
  const tokens = await req.redeem((await followToClient(browser, req.url)).location);
  return { config, tokens, claims: tokens.claims()! };
}

async function signedInToPortico(browser: GatewayClient) {
  return (await browser.request('/_portico/me', { headers: { accept: 'application/json' } })).status === 200;
}

function refused(error: string) {
  return (err: oc.ResponseBodyError) => {
    assert.equal(err.error, error);
    return true;
  };
}

/** The sign-out form of a logout page: where it posts and its hidden fields. */
function logoutForm(html: string): { action: string; fields: Record<string, string> } {
  const action = /<form id="op\.logoutForm" method="post" action="([^"]+)"/.exec(html)?.[1];
  assert.ok(action, html);
  const fields = Object.fromEntries(
    [...html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"\/?>/g)].map((m) => [m[1]!, m[2]!]),
  );
  return { action, fields };
}

/** Posts a sign-out answer as the browser would. */
function answerLogout(browser: GatewayClient, action: string, fields: Record<string, string>) {
  return browser.request(action, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString(),
  });
}

describe('logout through the OpenID Provider', () => {
  it('ends the Portico session on RP-initiated logout and returns to the registered post-logout URI', async (t) => {
    const { s, receiver, ghippo, grafana } = await setup(t);
    const { client: browser } = await login(s, 'alice', '/app/');
    const g = await signInTo(s.issuer, browser, ghippo);
    const f = await signInTo(s.issuer, browser, grafana);
    const end = oc.buildEndSessionUrl(g.config, {
      id_token_hint: g.tokens.id_token!,
      post_logout_redirect_uri: ghippo.postLogoutRedirectUris![0]!,
      state: 'after-logout',
    });
    const page = await browser.request(end.href);
    assert.equal(page.status, 200);
    assert.match(page.text, /portico-card/, 'a Portico page, not a bare form');
    const action = /<form id="op\.logoutForm" method="post" action="([^"]+)"/.exec(page.text)?.[1];
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(page.text)?.[1];
    assert.ok(action && xsrf, page.text);
    assert.equal(new URL(action).origin, s.publicUrl);
    const done = await browser.request(action, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ xsrf, logout: 'yes' }).toString(),
    });
    assert.equal(done.status, 303);
    assert.equal(done.headers.location, `${ghippo.postLogoutRedirectUris![0]}?state=after-logout`);
    assert.equal(await signedInToPortico(browser), false, 'single logout: the Portico session ended');
    const token = await receiver.verify(await receiver.next(0), s.issuer, ghippo.id);
    assert.equal(token.sid, g.claims.sid);
    assert.equal(token.sub, g.claims.sub);
    await assert.rejects(oc.refreshTokenGrant(f.config, f.tokens.refresh_token!), refused('invalid_grant'));
    // Both the library (for the OP session) and Portico (for the ended session) wanted to send it.
    await s.gw.gateway.close(500);
    assert.equal(receiver.tokens.length, 1, 'one logout token, not two');
  });

  it('asks the user, and signs no one out by itself, when the logout link names nobody (anyone can link to it)', async (t) => {
    const { s, ghippo } = await setup(t);
    const { client: browser } = await login(s, 'alice', '/app/');
    await signInTo(s.issuer, browser, ghippo);
    const endUrl = `${s.issuer}/session/end`;
    const page = await browser.request(endUrl);
    assert.equal(page.status, 200);
    assert.doesNotMatch(page.text, /<script/, 'not submitted by itself');
    assert.match(page.text, /Sign out of this site and all its applications\?|要退出本站点及其所有应用吗/);
    const { action, fields } = logoutForm(page.text);
    // The answer oidc-provider would post by itself ends its own session, never Portico's.
    await answerLogout(browser, action, { xsrf: fields.xsrf!, logout: 'yes' });
    assert.equal(await signedInToPortico(browser), true);
  });

  it('asks, and signs no one out by itself, when the ID token hint comes from an earlier sign-in of the user', async (t) => {
    const { s, ghippo, grafana } = await setup(t);
    const { client: browser } = await login(s, 'alice', '/app/');
    const old = await signInTo(s.issuer, browser, ghippo);
    await logout(browser);
    assert.equal(await signedInToPortico(browser), false);
    // ID tokens carry whole seconds: the next sign-in starts in a later one.
    await new Promise((r) => setTimeout(r, 1100));
    await login(s, 'alice', '/_portico/login/corp', browser);
    await signInTo(s.issuer, browser, grafana);
    // Hints are accepted expired and alice's sub never changes: the old ID token (a log line, the
    // history of a logout URL) still names her, but not this session.
    const end = oc.buildEndSessionUrl(old.config, { id_token_hint: old.tokens.id_token! });
    const page = await browser.request(end.href);
    assert.equal(page.status, 200);
    assert.doesNotMatch(page.text, /<script/, 'not submitted by itself');
    assert.match(page.text, /Sign out of this site and all its applications\?|要退出本站点及其所有应用吗/);
    // A browser of hers with no OP session: oidc-provider posts its own answer, which signs no one out.
    const { client: other } = await login(s, 'alice', '/app/');
    const bare = await other.request(end.href);
    assert.doesNotMatch(bare.text, /<script/, 'not submitted by itself');
    const { action, fields } = logoutForm(bare.text);
    await answerLogout(other, action, { xsrf: fields.xsrf!, logout: 'yes' });
    assert.equal(await signedInToPortico(other), true);
    assert.equal(await signedInToPortico(browser), true);
  });

  it('signs the user out of Portico and every application when they answer the question', async (t) => {
    const { s, ghippo } = await setup(t);
    const { client: browser } = await login(s, 'alice', '/app/');
    await signInTo(s.issuer, browser, ghippo);
    const page = await browser.request(`${s.issuer}/session/end`);
    const { action, fields } = logoutForm(page.text);
    assert.deepEqual(Object.keys(fields).sort(), ['logout', 'portico_confirmed', 'xsrf']);
    const done = await answerLogout(browser, action, fields);
    assert.equal(done.status, 303);
    assert.equal(await signedInToPortico(browser), false);
  });

  it('asks a browser without an OP session too, instead of saying "signed out" while it is not', async (t) => {
    const { s } = await setup(t);
    const { client: browser } = await login(s, 'alice', '/app/');
    const page = await browser.request(`${s.issuer}/session/end`);
    assert.equal(page.status, 200);
    assert.doesNotMatch(page.text, /<script/, 'not submitted by itself');
    assert.match(page.text, /Sign out of this site and all its applications\?|要退出本站点及其所有应用吗/);
    const { action, fields } = logoutForm(page.text);
    // oidc-provider's own answer (what its page would have posted) signs no one out of Portico.
    const libraryAnswer = await answerLogout(browser, action, { xsrf: fields.xsrf!, logout: 'yes' });
    assert.equal(libraryAnswer.status, 303);
    assert.equal(await signedInToPortico(browser), true);
    // The user's click does.
    const answer = logoutForm((await browser.request(`${s.issuer}/session/end`)).text).fields;
    assert.deepEqual(Object.keys(answer).sort(), ['logout', 'portico_confirmed', 'xsrf']);
    const clicked = await answerLogout(browser, action, answer);
    assert.equal(clicked.status, 303);
    assert.equal(await signedInToPortico(browser), false);
  });

  it('refuses a post-logout URI that is not registered, with a Portico page, and keeps the session', async (t) => {
    const { s, ghippo } = await setup(t);
    const { client: browser } = await login(s, 'alice', '/app/');
    const g = await signInTo(s.issuer, browser, ghippo);
    const end = oc.buildEndSessionUrl(g.config, {
      id_token_hint: g.tokens.id_token!,
      post_logout_redirect_uri: `${ghippo.postLogoutRedirectUris![0]}evil`,
    });
    const r = await browser.request(end.href);
    assert.equal(r.status, 400);
    assert.equal(r.headers.location, undefined);
    assert.match(r.text, /portico-card/);
    assert.equal(await signedInToPortico(browser), true);
  });

  it('sends a logout token and ends refresh tokens when the user signs out of Portico', async (t) => {
    const { s, receiver, ghippo, grafana } = await setup(t);
    const { client: browser } = await login(s, 'alice', '/app/');
    const g = await signInTo(s.issuer, browser, ghippo);
    const f = await signInTo(s.issuer, browser, grafana);
    assert.equal((await logout(browser)).status, 303);
    const token = await receiver.verify(await receiver.next(0), s.issuer, ghippo.id);
    assert.equal(token.sid, g.claims.sid);
    assert.equal(token.sub, g.claims.sub);
    assert.deepEqual(token.events, { 'http://schemas.openid.net/event/backchannel-logout': {} });
    assert.equal(token.nonce, undefined);
    await assert.rejects(oc.refreshTokenGrant(g.config, g.tokens.refresh_token!), refused('invalid_grant'));
    await assert.rejects(oc.refreshTokenGrant(f.config, f.tokens.refresh_token!), refused('invalid_grant'));
    await assert.rejects(oc.fetchUserInfo(f.config, f.tokens.access_token, f.claims.sub));
    // The browser's OP session ended with it: whoever signs in next is asked for, not alice.
    await login(s, 'bob', '/app/', browser);
    const next = await signInTo(s.issuer, browser, grafana);
    assert.equal(next.claims.preferred_username, 'bob');
  });

  it('sends a logout token when an administrator revokes the sessions of the user', async (t) => {
    const { s, receiver, ghippo } = await setup(t);
    const { client: browser } = await login(s, 'alice', '/app/');
    const g = await signInTo(s.issuer, browser, ghippo);
    const r = await send(s.gw.url, '/_portico/admin/sessions/revoke', {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'alice' }),
    });
    assert.equal(json(r).revoked, 1);
    const token = await receiver.verify(await receiver.next(0), s.issuer, ghippo.id);
    assert.equal(token.sid, g.claims.sid);
    await assert.rejects(oc.refreshTokenGrant(g.config, g.tokens.refresh_token!), refused('invalid_grant'));
  });

  it("sends a logout token when the upstream IdP's back-channel logout ends the Portico session", async (t) => {
    const { s, receiver, ghippo } = await setup(t);
    const idpJar = new CookieJar();
    const { client: browser } = await login(s, 'alice', '/app/', undefined, idpJar);
    const g = await signInTo(s.issuer, browser, ghippo);
    // The user signs out at the customer's IdP itself: it calls Portico back, Portico calls ghippo.
    await driveLogout(s.idp, s.idp.endpoints.endSession, idpJar);
    const token = await receiver.verify(await receiver.next(0), s.issuer, ghippo.id);
    assert.equal(token.sid, g.claims.sid);
    assert.equal(await signedInToPortico(browser), false);
  });

  it('sends a logout token when Portico finds the session expired', async (t) => {
    const { s, receiver, ghippo } = await setup(t, { idleTimeout: '3s' });
    const { client: browser } = await login(s, 'alice', '/app/');
    const g = await signInTo(s.issuer, browser, ghippo);
    // Idle expiry is noticed when the session is next presented on a route, after 3 s unused.
    await new Promise((r) => setTimeout(r, 3500));
    assert.equal((await browser.request('/app/', { headers: { accept: 'application/json' } })).status, 401);
    const token = await receiver.verify(await receiver.next(0), s.issuer, ghippo.id);
    assert.equal(token.sid, g.claims.sid);
    await assert.rejects(oc.refreshTokenGrant(g.config, g.tokens.refresh_token!), refused('invalid_grant'));
  });

  it("ends a client's grant when a reload removes the user's identity provider, though no browser comes back to Portico", async (t) => {
    const port = await freePort();
    const publicUrl = `http://127.0.0.1:${port}`;
    const partner = await startTestIdp(t, {
      logErrors: false,
      clients: [
        {
          clientId: 'portico',
          clientSecret: 'portico-secret',
          redirectUris: [`${publicUrl}/_portico/callback/partner`],
        },
      ],
    });
    const partnerLine = `  - { id: partner, type: oidc, issuer: "${partner.issuer}", clientId: portico, clientSecret: portico-secret, scopes: [openid, profile, email, groups] }\n`;
    const grafana: OpClient = {
      id: 'grafana',
      secret: 'grafana-secret-0123456789abcdefghijklmnopqrstuvwxyz',
      redirectUris: [`http://127.0.0.1:${await deadPort()}/cb`],
    };
    const s = await startOp(t, [grafana], {
      port,
      extraIdps: partnerLine,
      extra: 'identity: { primaryProvider: corp }\n',
    });
    const browser = new GatewayClient(s.gw.url);
    const start = await browser.request('/_portico/login/partner');
    const back = await driveLogin(partner, start.headers.location!, { username: 'alice', password: 'alice' });
    await browser.follow(back.location);
    const g = await signInTo(s.issuer, browser, grafana);
    assert.equal(g.claims.preferred_username, 'partner:alice');
    // Still good before the change.
    const before = await oc.refreshTokenGrant(g.config, g.tokens.refresh_token!);
    s.gw.write(s.yaml.replace(partnerLine, ''));
    assert.equal(s.gw.gateway.reload().ok, true);
    await assert.rejects(oc.refreshTokenGrant(g.config, before.refresh_token!), refused('invalid_grant'));
    await assert.rejects(oc.fetchUserInfo(g.config, before.access_token, g.claims.sub));
  });

  it('ends the previous user’s client sessions when another user signs in on the same browser', async (t) => {
    const { s, receiver, ghippo } = await setup(t);
    const { client: browser } = await login(s, 'alice', '/app/');
    const alice = await signInTo(s.issuer, browser, ghippo);
    await login(s, 'bob', '/_portico/login/corp', browser);
    const token = await receiver.verify(await receiver.next(0), s.issuer, ghippo.id);
    assert.equal(token.sub, alice.claims.sub);
    const bob = await signInTo(s.issuer, browser, ghippo);
    assert.equal(bob.claims.preferred_username, 'bob');
    assert.notEqual(bob.claims.sid, alice.claims.sid);
  });
});
