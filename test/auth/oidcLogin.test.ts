import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { startGateway } from '../helpers/gateway.ts';
import { json, send } from '../helpers/http.ts';
import { CookieJar, driveLogin } from '../helpers/idp.ts';
import { GatewayClient, login, logout, SESSION_SECRET, startSso } from '../helpers/sso.ts';
import { startUpstream } from '../helpers/upstream.ts';

async function setup(t: import('node:test').TestContext, extraRoute = '') {
  const ai = await startUpstream();
  const customer = await startUpstream();
  t.after(() => Promise.all([ai.close(), customer.close()]));
  const sso = await startSso(
    t,
    `  - { id: ai-platform, path: /dce5/, upstream: "${ai.url}", auth: required, allow: { groups: [ai-users] }, inject: { headers: true, jwt: true } }
  - { id: customer, path: /, upstream: "${customer.url}", auth: optional, inject: { headers: true } }
${extraRoute}`,
  );
  return { ...sso, ai, customer };
}

describe('single sign-on with OpenID Connect', () => {
  it('logs a user in once and passes the identity to both products', async (t) => {
    const s = await setup(t);
    const { client, landed } = await login(s, 'alice');
    assert.equal(landed.status, 200);
    assert.equal(new URL(landed.url).pathname, '/dce5/');
    const h = s.ai.last().headers;
    assert.equal(h['x-forwarded-user'], 'alice');
    assert.equal(h['x-forwarded-email'], 'alice@example.com');
    assert.equal(h['x-forwarded-groups'], 'ai-users,staff');
    assert.equal(h['x-forwarded-preferred-username'], 'Alice Zhang');
    // The customer system at / gets the same identity without another login.
    const home = await client.request('/');
    assert.equal(home.status, 200);
    assert.equal(s.customer.last().headers['x-forwarded-user'], 'alice');
  });

  it('returns the user to the page they asked for, query included', async (t) => {
    const s = await setup(t);
    const { landed } = await login(s, 'alice', '/dce5/jobs?tab=gpu&x=%20');
    assert.equal(new URL(landed.url).pathname + new URL(landed.url).search, '/dce5/jobs?tab=gpu&x=%20');
    assert.equal(s.ai.last().url, '/jobs?tab=gpu&x=%20');
  });

  it('signs an ES256 assertion that upstreams verify against the JWKS', async (t) => {
    const s = await setup(t);
    await login(s, 'alice');
    const token = s.ai.last().headers['x-portico-assertion'] as string;
    const jwks = json<{ keys: object[] }>(await send(s.gw.url, '/_portico/jwks.json'));
    const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(jwks as never), {
      issuer: s.publicUrl,
      audience: 'ai-platform',
    });
    assert.equal(protectedHeader.alg, 'ES256');
    assert.ok(protectedHeader.kid);
    assert.equal(payload.sub, 'alice');
    assert.equal(payload.email, 'alice@example.com');
    assert.deepEqual(payload.groups, ['ai-users', 'staff']);
    assert.equal(payload.idp, 'corp');
    assert.ok(payload.jti && payload.iat && payload.exp && payload.exp - payload.iat === 60);
  });

  it('stores no session before sign-in, and gives each sign-in a new session id (no fixation)', async (t) => {
    const s = await setup(t);
    const client = new GatewayClient(s.gw.url);
    const first = await client.follow('/dce5/');
    assert.equal(client.cookies.get('portico_session'), undefined, 'an anonymous visitor has no session');
    assert.ok(client.cookies.get('portico_login'), 'the sign-in is bound to this browser');
    // An attacker's own valid session planted in the victim's browser is never adopted.
    const attacker = await login(s, 'bob');
    const planted = attacker.client.cookies.get('portico_session')!;
    client.cookies.set('portico_session', planted);
    const back = await driveLogin(s.idp, first.headers.location!, { username: 'alice', password: 'alice' });
    await client.follow(back.location);
    const after = client.cookies.get('portico_session');
    assert.ok(after);
    assert.notEqual(after, planted);
    const replaced = await send(s.gw.url, '/_portico/me', {
      headers: { cookie: `portico_session=${planted}` },
    });
    assert.equal(replaced.status, 401, 'the session the browser held before signing in is ended');
    const me = await client.request('/_portico/me');
    assert.equal(JSON.parse(me.text).username, 'alice');
  });

  it('sets the session cookie HttpOnly and SameSite=Lax once signed in', async (t) => {
    const s = await setup(t);
    const client = new GatewayClient(s.gw.url);
    const start = await client.request('/_portico/login/corp?rd=%2Fdce5%2F');
    const back = await driveLogin(s.idp, start.headers.location!, { username: 'alice', password: 'alice' });
    const r = await client.request(back.location);
    const cookie = ([] as string[])
      .concat(r.headers['set-cookie'] ?? [])
      .find((c) => c.startsWith('portico_session='))!;
    assert.match(cookie, /HttpOnly/i);
    assert.match(cookie, /SameSite=Lax/i);
    assert.match(cookie, /Path=\//);
  });

  it('refuses a callback whose state was tampered with or replayed', async (t) => {
    const s = await setup(t);
    const client = new GatewayClient(s.gw.url);
    const first = await client.follow('/dce5/');
    const back = await driveLogin(s.idp, first.headers.location!, { username: 'alice', password: 'alice' });
    const tampered = back.location.replace(/state=([^&]+)/, 'state=forged');
    const bad = await client.request(tampered);
    assert.equal(bad.status, 400);
    assert.match(bad.text, /expired or was already used|无法完成|Sign-in/);
    const good = await client.request(back.location);
    assert.equal(good.status, 302);
    const replay = await client.request(back.location);
    assert.equal(replay.status, 400, 'the same state and code cannot be used twice');
  });

  it("refuses a callback completed in another browser (state bound to this browser's session)", async (t) => {
    const s = await setup(t);
    const victim = new GatewayClient(s.gw.url);
    const first = await victim.follow('/dce5/');
    const back = await driveLogin(s.idp, first.headers.location!, { username: 'alice', password: 'alice' });
    const attacker = new GatewayClient(s.gw.url);
    const r = await attacker.request(back.location);
    assert.equal(r.status, 400);
  });

  it("refuses the attacker's callback in a browser given the attacker's login cookie besides its own (planted for a narrower path: login CSRF)", async (t) => {
    const s = await setup(t);
    const attacker = new GatewayClient(s.gw.url);
    const started = await attacker.follow('/dce5/');
    const back = await driveLogin(s.idp, started.headers.location!, { username: 'bob', password: 'bob' });
    const victim = new GatewayClient(s.gw.url);
    await victim.follow('/dce5/');
    const own = victim.cookies.get('portico_login')!;
    const planted = attacker.cookies.get('portico_login')!;
    assert.notEqual(own, planted);
    // As a browser sends them: the cookie with the longer Path first.
    for (const cookie of [
      `portico_login=${planted}; portico_login=${own}`,
      `portico_login=${own}; portico_login=${planted}`,
    ]) {
      const r = await victim.request(back.location, { headers: { cookie } });
      assert.equal(r.status, 400, cookie);
      assert.ok(![r.headers['set-cookie']].flat().some((c) => c?.startsWith('portico_session=')));
    }
  });

  it('refuses a callback with the wrong issuer', async (t) => {
    const s = await setup(t);
    const client = new GatewayClient(s.gw.url);
    const first = await client.follow('/dce5/');
    const back = await driveLogin(s.idp, first.headers.location!, { username: 'alice', password: 'alice' });
    const wrongIss = back.location.replace(/iss=([^&]+)/, `iss=${encodeURIComponent('http://evil.example')}`);
    assert.notEqual(wrongIss, back.location);
    const r = await client.request(wrongIss);
    assert.equal(r.status, 400);
  });

  it('lets a user the allow rules do not admit see a 403 and never reach the upstream', async (t) => {
    const s = await setup(t);
    const before = s.ai.requests.length;
    const { landed } = await login(s, 'bob');
    assert.equal(landed.status, 403);
    assert.match(landed.text, /Access denied|无权访问/);
    // The page says who is signed in and offers to sign out or switch user, not only "home".
    assert.match(landed.text, /id="portico-signed-in"[^>]*>[^<]*<strong>bob<\/strong>/);
    assert.match(landed.text, /id="portico-switch-user" href="\/_portico\/logout"/);
    assert.equal(s.ai.requests.length, before);
  });

  it('answers API clients with 401 JSON and a login URL instead of a redirect', async (t) => {
    const s = await setup(t);
    for (const headers of [
      { accept: 'application/json' },
      { accept: 'text/html', 'x-requested-with': 'XMLHttpRequest' },
    ]) {
      const r = await send(s.gw.url, '/dce5/api/jobs?x=1', { headers });
      assert.equal(r.status, 401);
      assert.equal(json(r).login, '/_portico/login?rd=%2Fdce5%2Fapi%2Fjobs%3Fx%3D1');
    }
    const post = await send(s.gw.url, '/dce5/api/jobs', {
      method: 'POST',
      headers: { accept: 'text/html' },
      body: '{}',
    });
    assert.equal(post.status, 401);
  });

  it('serves the optional route anonymously, without any identity header', async (t) => {
    const s = await setup(t);
    const r = await send(s.gw.url, '/', { headers: { 'x-forwarded-user': 'admin' } });
    assert.equal(r.status, 200);
    assert.equal(s.customer.last().headers['x-forwarded-user'], undefined);
  });

  it('shows the current identity at /_portico/me', async (t) => {
    const s = await setup(t);
    const anonymous = await send(s.gw.url, '/_portico/me');
    assert.equal(anonymous.status, 401);
    const { client } = await login(s, 'alice');
    const me = await client.request('/_portico/me', { headers: { accept: 'application/json' } });
    const body = json(me);
    assert.equal(body.username, 'alice');
    assert.equal(body.idp, 'corp');
    assert.equal(JSON.stringify(body).includes('Token'), false, 'tokens stay server-side');
  });

  it('re-enters silently while the IdP session is alive', async (t) => {
    const s = await setup(t);
    const idpJar = new CookieJar();
    await login(s, 'alice', '/dce5/', undefined, idpJar);
    const second = await login(s, 'alice', '/dce5/', new GatewayClient(s.gw.url), idpJar);
    assert.equal(second.formShown, false);
    assert.equal(second.landed.status, 200);
  });

  it('logs out: the session ends and the browser goes to the IdP end-session endpoint', async (t) => {
    const s = await setup(t);
    const { client } = await login(s, 'alice');
    const confirm = await client.request('/_portico/logout');
    assert.equal(confirm.status, 200);
    assert.match(confirm.text, /<form method="post" action="\/_portico\/logout">/);
    const r = await logout(client, s.publicUrl);
    assert.equal(r.status, 303);
    const end = new URL(r.headers.location!);
    assert.equal(end.origin, new URL(s.idp.issuer).origin);
    // The ID token never travels through the browser: the client id names Portico instead.
    assert.equal(end.searchParams.get('id_token_hint'), null);
    assert.equal(end.searchParams.get('client_id'), 'portico');
    assert.equal(end.searchParams.get('post_logout_redirect_uri'), `${s.publicUrl}/_portico/logged-out`);
    const after = await client.request('/dce5/', { headers: { accept: 'application/json' } });
    assert.equal(after.status, 401);
  });

  it('refuses a cross-site logout post', async (t) => {
    const s = await setup(t);
    const { client } = await login(s, 'alice');
    const r = await client.request('/_portico/logout', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://evil.example' },
      body: '',
    });
    assert.equal(r.status, 403);
    assert.equal((await client.request('/dce5/')).status, 200);
  });
});

describe('return paths after login', () => {
  for (const rd of [
    '//evil.example',
    '/\\evil.example',
    '/\t/evil.example',
    '/%09/evil.example',
    'https://evil.example',
    'javascript:alert(1)',
    '/%2f%2fevil.example',
    '/%5cevil.example',
    ' //evil.example',
  ]) {
    it(`never sends the browser off-site for rd=${JSON.stringify(rd)}`, async (t) => {
      const s = await setup(t);
      const client = new GatewayClient(s.gw.url);
      const start = await client.request(`/_portico/login/corp?rd=${encodeURIComponent(rd)}`);
      const back = await driveLogin(s.idp, start.headers.location!, { username: 'alice', password: 'alice' });
      const landed = await client.request(back.location);
      assert.equal(landed.status, 302);
      const location = landed.headers.location!;
      assert.ok(
        location.startsWith('/') && !location.startsWith('//') && !location.startsWith('/\\'),
        location,
      );
      assert.equal(new URL(location, 'http://portal.example').host, 'portal.example');
    });
  }
});

describe('OpenID Connect readiness', () => {
  it('asks an IdP whose discovery failed again only after 5 s, however often /readyz is called', async (t) => {
    let asked = 0;
    const idp = createServer((req, res) => {
      if (req.url?.endsWith('/.well-known/openid-configuration')) asked++;
      res.writeHead(503).end();
    });
    idp.listen(0, '127.0.0.1');
    await once(idp, 'listening');
    t.after(() => new Promise((resolve) => idp.close(resolve)));
    const issuer = `http://127.0.0.1:${(idp.address() as AddressInfo).port}`;
    const gw = await startGateway(
      t,
      `publicUrl: http://127.0.0.1:8080
session: { secret: ${SESSION_SECRET} }
identityProviders:
  - { id: corp, type: oidc, issuer: "${issuer}", clientId: portico, clientSecret: s3cret }
routes:
  - { id: app, path: /, upstream: "http://127.0.0.1:9/", auth: required }
`,
    );
    const probe = async (n: number) => {
      const rs = await Promise.all(Array.from({ length: n }, () => send(gw.url, '/_portico/readyz')));
      for (const r of rs) assert.equal(r.status, 503);
    };
    await probe(20);
    const first = asked;
    assert.equal(first, 1, 'concurrent probes share one discovery');
    for (let i = 0; i < 5; i++) await probe(1);
    assert.equal(asked, first, 'a failed discovery holds for the probes after it');
    await new Promise((resolve) => setTimeout(resolve, 5200));
    await probe(1);
    assert.equal(asked, first + 1, 'asked again after 5 s');
  });
});
