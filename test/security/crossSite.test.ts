// What another site can make a signed-in browser do: open a WebSocket with the user's session
// (cross-site WebSocket hijacking), sign the user out (logout CSRF); and the session cookie's flags
// that keep it out of scripts and cross-site requests.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { startGateway } from '../helpers/gateway.ts';
import { send } from '../helpers/http.ts';
import { driveLogin } from '../helpers/idp.ts';
import { exchange, requestBytes, WEBSOCKET_UPGRADE } from '../helpers/rawSocket.ts';
import {
  freePort,
  GatewayClient,
  login,
  logout,
  SESSION_SECRET,
  type SsoSetup,
  startSso,
  startIdpFor,
} from '../helpers/sso.ts';
import { upstreamFor } from '../helpers/upstream.ts';
import { suiteContext } from '../helpers/suite.ts';
import { startProtectedAndPublic, twoRoutesSuite, upgradeRecorded } from '../helpers/twoRoutes.ts';

/** Origins a page on another site (or a sandboxed one) can make a browser send. */
function foreignOrigins(own: URL): Record<string, string> {
  const otherPort = String(Number(own.port) + 1);
  return {
    'a foreign Origin': 'https://evil.example',
    'Origin: null (sandboxed frame, data: URL, no-referrer page)': 'null',
    'an Origin with the right host but the https scheme': `https://${own.host}`,
    'an Origin with the right host but another port': `${own.protocol}//${own.hostname}:${otherPort}`,
    'a look-alike Origin that starts with our own': `${own.origin}.evil.io`,
    'an Origin naming our host as user info': `http://${own.host}@evil.example`,
    'an Origin on a sibling host name': `${own.protocol}//portal.${own.hostname}.nip.io:${own.port}`,
  };
}

describe('cross-site WebSocket hijacking', () => {
  const s = twoRoutesSuite(
    {
      ai: 'auth: required, websocket: true, inject: { headers: true }',
      public: 'auth: none, websocket: true',
    },
    { websocket: true },
  );
  const own = () => new URL(s.publicUrl);

  async function upgrade(path: string, origin: string | undefined) {
    const before = { ai: s.prot.requests.length, pub: s.pub.requests.length };
    const r = await exchange(
      s.gw.url,
      requestBytes('GET', path, [
        ['Host', new URL(s.gw.url).host],
        ...WEBSOCKET_UPGRADE,
        ['Cookie', s.cookie],
        ...(origin === undefined ? [] : [['Origin', origin] as const]),
      ]),
      { timeoutMs: 2000, settleMs: 0 },
    );
    const status = r.responses[0]?.status;
    if (status === 101) await upgradeRecorded(s, { prot: before.ai, pub: before.pub });
    return {
      status,
      reached: s.prot.requests.length - before.ai + s.pub.requests.length - before.pub,
    };
  }

  it('opens the WebSocket for our own origin, and for a client that sends no Origin (control)', async () => {
    assert.deepEqual(await upgrade('/dce5/ws', own().origin), { status: 101, reached: 1 });
    assert.deepEqual(await upgrade('/dce5/ws', undefined), { status: 101, reached: 1 });
  });

  describe('with a valid session cookie on the protected route', () => {
    // The names are known before the gateway starts; the values are built from its origin.
    for (const name of Object.keys(foreignOrigins(new URL('http://127.0.0.1:1')))) {
      it(`refuses ${name} with 403 and nothing reaches the upstream`, async () => {
        const origin = foreignOrigins(own())[name]!;
        assert.deepEqual(await upgrade('/dce5/terminal/ws', origin), { status: 403, reached: 0 }, origin);
      });
    }
  });

  it('refuses a foreign Origin on a public route too (the upstream may use cookies of its own)', async () => {
    assert.deepEqual(await upgrade('/chat/ws', 'https://evil.example'), { status: 403, reached: 0 });
  });

  it('refuses two Origin headers, one of them ours', async () => {
    const before = s.prot.requests.length;
    const r = await exchange(
      s.gw.url,
      requestBytes('GET', '/dce5/ws', [
        ['Host', new URL(s.gw.url).host],
        ...WEBSOCKET_UPGRADE,
        ['Cookie', s.cookie],
        ['Origin', 'https://evil.example'],
        ['Origin', own().origin],
      ]),
      { timeoutMs: 2000, settleMs: 0 },
    );
    assert.notEqual(r.responses[0]?.status, 101);
    assert.equal(s.prot.requests.length, before);
  });
});

describe('logout CSRF', () => {
  const t = suiteContext();
  let sso: SsoSetup;

  before(async () => {
    sso = await startProtectedAndPublic(t, { ai: 'auth: required', public: 'auth: optional' });
  });

  async function signedIn() {
    const { client } = await login(sso, 'alice');
    return client;
  }

  async function stillSignedIn(client: GatewayClient): Promise<boolean> {
    const r = await client.request('/dce5/', { headers: { accept: 'application/json' } });
    return r.status === 200;
  }

  /** The token of the confirmation form: only the user's own page has it. */
  async function formToken(client: GatewayClient): Promise<string> {
    const page = await client.request('/_portico/logout');
    return /name="csrf" value="([^"]*)"/.exec(page.text)?.[1] ?? '';
  }

  function post(
    client: GatewayClient,
    origin: string | undefined,
    contentType = 'application/x-www-form-urlencoded',
    csrf = '',
  ) {
    return client.request('/_portico/logout', {
      method: 'POST',
      headers: { 'content-type': contentType, ...(origin === undefined ? {} : { origin }) },
      body: `rd=%2F&csrf=${encodeURIComponent(csrf)}`,
    });
  }

  for (const name of Object.keys(foreignOrigins(new URL('http://127.0.0.1:1')))) {
    it(`refuses a logout POST from ${name} and the session stays`, async () => {
      const client = await signedIn();
      const r = await post(client, foreignOrigins(new URL(sso.publicUrl))[name]!);
      assert.equal(r.status, 403);
      assert.ok(await stillSignedIn(client), 'the session survived');
    });
  }

  it('refuses a cross-site text/plain logout POST (a "simple" request needing no preflight)', async () => {
    const client = await signedIn();
    const r = await post(client, 'https://evil.example', 'text/plain');
    assert.equal(r.status, 403);
    assert.ok(await stillSignedIn(client));
  });

  it('never signs out on GET /_portico/logout: it only shows the confirmation form', async () => {
    const client = await signedIn();
    for (const target of [
      '/_portico/logout',
      '/_portico/logout?rd=%2Fdce5%2F',
      '/_portico/logout?confirm=1&yes=true',
    ]) {
      const r = await client.request(target);
      assert.equal(r.status, 200, target);
      assert.match(r.text, /<form method="post" action="\/_portico\/logout">/);
      // The page may refresh the session cookie (it stores the form token); it never clears it.
      for (const c of ([] as string[]).concat(r.headers['set-cookie'] ?? [])) {
        assert.doesNotMatch(
          c,
          /Expires=Thu, 01 Jan 1970|Max-Age=0|portico_session=;/i,
          'no cookie is cleared',
        );
      }
    }
    const head = await client.request('/_portico/logout', { method: 'HEAD' });
    assert.ok(head.status === 200 || head.status === 404 || head.status === 405);
    const out = await client.request('/_portico/logged-out');
    assert.equal(out.status, 200);
    assert.ok(await stillSignedIn(client), 'the session survived every GET');
  });

  it('clears no cookie for a cross-site POST that presents no session (Origin null after a redirect, the Lax cookie not sent)', async () => {
    // What Chromium sends when another site's form is answered with a 307 to our logout: no cookie.
    const r = await send(sso.gw.url, '/_portico/logout', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'null' },
      body: 'rd=%2F',
    });
    assert.equal(r.status, 303);
    assert.equal(r.headers['set-cookie'], undefined, 'the browser keeps the cookie it did not send');
    // From our own page, a browser whose session is already gone gets its stale cookie cleared.
    const own = await send(sso.gw.url, '/_portico/logout', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: sso.publicUrl },
      body: 'rd=%2F',
    });
    assert.match(String(own.headers['set-cookie']), /portico_session=;/);
  });

  it('signs out on a POST from our own origin (control)', async () => {
    const client = await signedIn();
    const r = await post(client, sso.publicUrl, undefined, await formToken(client));
    assert.equal(r.status, 303);
    assert.equal(await stillSignedIn(client), false);
  });
});

describe('a planted second session cookie', () => {
  it('believes neither of two session cookies: a cookie planted for a narrower path, sent first, does not make the browser act as its owner', async (t) => {
    const sso = await startProtectedAndPublic(t, { ai: 'auth: required', public: 'auth: optional' });
    const { client: alice } = await login(sso, 'alice');
    const { client: mallory } = await login(sso, 'bob');
    const own = (c: GatewayClient) => /portico_session=[^;]+/.exec(c.cookieHeader())![0];
    // What a browser sends when mallory's cookie was set with Path=/dce5/: the more specific first.
    const r = await send(sso.gw.url, '/dce5/x', {
      headers: { cookie: `${own(mallory)}; ${own(alice)}`, accept: 'application/json' },
    });
    assert.equal(r.status, 401);
    // A value that is not ours (junk planted for a narrower path) is ignored, first or second.
    for (const cookie of [`portico_session=junk; ${own(alice)}`, `${own(alice)}; portico_session=s%3Ax.y`]) {
      const r = await send(sso.gw.url, '/dce5/x', { headers: { cookie, accept: 'application/json' } });
      assert.equal(r.status, 200, cookie);
    }
    // The same cookie twice is one session (a browser can repeat it): still signed in.
    const same = await send(sso.gw.url, '/dce5/x', {
      headers: { cookie: `${own(alice)}; theme=dark; ${own(alice)}`, accept: 'application/json' },
    });
    assert.equal(same.status, 200);
  });

  it('checks the signature of at most eight distinct session cookies of our shape: a header of hundreds costs no more, and junk of another shape is skipped unchecked', async (t) => {
    const sso = await startProtectedAndPublic(t, { ai: 'auth: required', public: 'auth: optional' });
    const { client: alice } = await login(sso, 'alice');
    const mine = /portico_session=[^;]+/.exec(alice.cookieHeader())![0];
    const status = async (cookie: string) =>
      (await send(sso.gw.url, '/dce5/x', { headers: { cookie, accept: 'application/json' } })).status;
    // 500 values not of our shape (700 were measured at 2 ms of HMACs a request): skipped, and
    // alice's own cookie after them is still found.
    const junk = Array.from({ length: 500 }, () => 'portico_session=s%3Ax.y').join('; ');
    assert.equal(await status(`${junk}; ${mine}`), 200);
    // Of our shape, forged: only the first eight are checked, so her cookie as the ninth is not
    // reached (a browser sends one session cookie, two with a planted one).
    const forged = (i: number) =>
      `portico_session=${encodeURIComponent(`s:${String(i).padStart(32, 'A')}.${'B'.repeat(43)}`)}`;
    const eight = Array.from({ length: 8 }, (_, i) => forged(i)).join('; ');
    assert.equal(await status(`${eight}; ${mine}`), 401);
    const seven = Array.from({ length: 7 }, (_, i) => forged(i)).join('; ');
    assert.equal(await status(`${seven}; ${mine}`), 200);
    // The same forged value repeated is checked once: alice is still reached.
    assert.equal(await status(`${Array.from({ length: 20 }, () => forged(1)).join('; ')}; ${mine}`), 200);
  });

  const own = (c: GatewayClient) => /portico_session=[^;]+/.exec(c.cookieHeader())![0];
  const whoami = async (sso: SsoSetup, cookie: string) => {
    const r = await send(sso.gw.url, '/_portico/me', { headers: { cookie, accept: 'application/json' } });
    return r.status === 200 ? (JSON.parse(r.text) as { username: string }).username : r.status;
  };

  it("ignores a planted cookie whose session has ended: signing out and keeping the cookie's signed value does not lock another browser out", async (t) => {
    const sso = await startProtectedAndPublic(t, { ai: 'auth: required', public: 'auth: optional' });
    const { client: alice } = await login(sso, 'alice');
    const { client: mallory } = await login(sso, 'bob');
    const planted = own(mallory);
    assert.equal((await logout(mallory, sso.publicUrl)).status, 303);
    assert.equal(await whoami(sso, planted), 401, "mallory's session has ended");
    for (const cookie of [`${planted}; ${own(alice)}`, `${own(alice)}; ${planted}`]) {
      assert.equal(await whoami(sso, cookie), 'alice', cookie);
      const r = await send(sso.gw.url, '/dce5/x', { headers: { cookie, accept: 'application/json' } });
      assert.equal(r.status, 200, cookie);
    }
  });

  it('signs out of every session a browser with two live session cookies presents, with the form and its token only', async (t) => {
    const sso = await startProtectedAndPublic(t, { ai: 'auth: required', public: 'auth: optional' });
    const { client: alice } = await login(sso, 'alice');
    const { client: mallory } = await login(sso, 'bob');
    const both = `${own(mallory)}; ${own(alice)}`;
    assert.equal(await whoami(sso, both), 401, 'two live sessions: neither is believed');
    const post = (csrf: string) =>
      send(sso.gw.url, '/_portico/logout', {
        method: 'POST',
        headers: {
          cookie: both,
          origin: sso.publicUrl,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: `rd=%2F&csrf=${encodeURIComponent(csrf)}`,
      });
    // Without the confirmation form's token nothing ends (another page cannot sign anyone out).
    assert.equal((await post('')).status, 403);
    assert.equal(await whoami(sso, own(alice)), 'alice');
    const page = await send(sso.gw.url, '/_portico/logout', { headers: { cookie: both } });
    const csrf = /name="csrf" value="([^"]*)"/.exec(page.text)?.[1] ?? '';
    assert.notEqual(csrf, '', 'the form carries a token bound to the sessions presented');
    const r = await post(csrf);
    assert.equal(r.status, 303);
    assert.match(String(r.headers['set-cookie']), /portico_session=;/);
    assert.equal(await whoami(sso, own(alice)), 401, "alice's session ended");
    assert.equal(await whoami(sso, own(mallory)), 401, 'the planted session ended too: it locks nobody out');
  });

  it('ends a planted live session when the browser signs in again, so the new session is not ambiguous', async (t) => {
    const sso = await startProtectedAndPublic(t, { ai: 'auth: required', public: 'auth: optional' });
    const { client: alice } = await login(sso, 'alice');
    const { client: mallory } = await login(sso, 'bob');
    const planted = own(mallory);
    // A browser holding mallory's cookie (Domain= a parent, or a narrower Path) beside its own.
    const jar = alice.cookieHeader.bind(alice);
    alice.cookieHeader = () => `${planted}; ${jar()}`;
    const locked = await alice.request('/dce5/x', { headers: { accept: 'application/json' } });
    assert.equal(locked.status, 401);
    const again = await login(sso, 'alice', '/dce5/', alice);
    assert.equal(again.landed.status, 200, 'signed in again, with the planted cookie still sent');
    assert.equal(await whoami(sso, alice.cookieHeader()), 'alice');
    assert.equal(await whoami(sso, planted), 401, 'the planted session was ended');
  });
});

describe('session cookie flags', () => {
  function sessionCookie(setCookie: string | string[] | undefined, name = 'portico_session'): string {
    const c = ([] as string[]).concat(setCookie ?? []).find((x) => x.startsWith(`${name}=`));
    assert.ok(c, `a ${name} cookie is set`);
    return c;
  }

  function assertFlags(cookie: string, secure: boolean, path = '/') {
    const attrs = cookie
      .split(';')
      .slice(1)
      .map((a) => a.trim().toLowerCase());
    assert.ok(attrs.includes('httponly'), `HttpOnly: ${cookie}`);
    assert.ok(attrs.includes('samesite=lax'), `SameSite=Lax: ${cookie}`);
    assert.ok(attrs.includes(`path=${path}`), `Path=${path}: ${cookie}`);
    assert.ok(!attrs.some((a) => a.startsWith('domain=')), `host-only (no Domain): ${cookie}`);
    assert.equal(attrs.includes('secure'), secure, `Secure=${secure}: ${cookie}`);
  }

  it('sets the login and session cookies HttpOnly and SameSite=Lax (http publicUrl), and no session before login', async (t) => {
    const ai = await upstreamFor(t);
    const sso = await startSso(t, `  - { id: ai, path: /dce5/, upstream: "${ai.url}", auth: required }\n`);
    const client = new GatewayClient(sso.gw.url);
    const start = await client.request('/_portico/login/corp?rd=%2Fdce5%2F');
    assert.ok(
      !([] as string[])
        .concat(start.headers['set-cookie'] ?? [])
        .some((c) => c.startsWith('portico_session=')),
      'starting a sign-in stores no session',
    );
    assertFlags(sessionCookie(start.headers['set-cookie'], 'portico_login'), false, '/_portico/');
    const back = await driveLogin(sso.idp, start.headers.location!, { username: 'alice', password: 'alice' });
    const done = await client.request(back.location);
    assert.equal(done.status, 302);
    assertFlags(sessionCookie(done.headers['set-cookie']), false);
  });

  it('adds Secure when publicUrl is https, even though the gateway itself is reached over plain http', async (t) => {
    const port = await freePort();
    const publicUrl = `https://127.0.0.1:${port}`;
    const idp = await startIdpFor(t, publicUrl);
    const ai = await upstreamFor(t);
    const gw = await startGateway(
      t,
      `publicUrl: ${publicUrl}
session: { secret: ${SESSION_SECRET}, store: memory }
identityProviders:
  - { id: corp, type: oidc, issuer: "${idp.issuer}", clientId: portico, clientSecret: portico-secret }
routes:
  - { id: ai, path: /dce5/, upstream: "${ai.url}", auth: required }
`,
      { port },
    );
    assert.ok(gw.url.startsWith('http://'), 'the test reaches the gateway over plain http');
    const client = new GatewayClient(gw.url);
    const start = await client.request('/_portico/login/corp?rd=%2Fdce5%2F');
    assert.equal(start.status, 302);
    // __Host-: browsers refuse one planted by a sibling subdomain or for a narrower path (login CSRF).
    assertFlags(sessionCookie(start.headers['set-cookie'], '__Host-portico_login'), true, '/');
    const back = await driveLogin(idp, start.headers.location!, { username: 'alice', password: 'alice' });
    assert.ok(back.location.startsWith(`${publicUrl}/_portico/callback/corp`));
    const done = await client.request(back.location);
    assert.equal(done.status, 302, done.text);
    // __Host- for the session too: a cookie of that name planted by a sibling subdomain (Domain=)
    // or for a narrower path is refused by the browser, so it can neither sign the browser in as
    // someone else nor lock it out.
    assertFlags(sessionCookie(done.headers['set-cookie'], '__Host-portico_session'), true);
    assert.ok(
      !([] as string[])
        .concat(done.headers['set-cookie'] ?? [])
        .some((c) => c.startsWith('portico_session=')),
    );
    assertFlags(sessionCookie(done.headers['set-cookie'], 'portico_idp'), true, '/_portico/');
    const page = await client.request('/dce5/', { headers: { accept: 'application/json' } });
    assert.equal(page.status, 200, 'the Secure session works behind a TLS-terminating load balancer');
    // Neither name reaches the upstream (a browser keeps the old one's cookie after an upgrade).
    const withOld = await client.request('/dce5/', {
      headers: {
        accept: 'application/json',
        cookie: `portico_session=old; theme=dark; ${client.cookieHeader()}`,
      },
    });
    assert.equal(withOld.status, 200);
    assert.equal(ai.last().headers.cookie, 'theme=dark');
  });
});
