// The optional authorization cache of the shipped nginx config (snippets/portico-auth-cache.conf):
// nginx keeps Portico's "allowed" answers for 5 s. Measured here: how many checks reach Portico,
// and how long a session stays usable after its logout — the documented trade-off.
import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { describe, it } from 'node:test';
import { signInThroughNginx, startForwardAuth } from '../helpers/forwardAuth.ts';
import { json, send } from '../helpers/http.ts';
import { logout } from '../helpers/sso.ts';

const TTL_MS = 5000;

describe("nginx's authorization cache", () => {
  it('answers repeated requests from the cache, and honours a logout only once the cached answer expires', async (t) => {
    const s = await startForwardAuth(t, { cache: true });
    const { client, landed } = await signInThroughNginx(s, 'alice');
    assert.equal(landed.status, 200);
    const allowed = (uri: string) => s.checks.filter((c) => c.status === 200 && c.uri === uri);
    assert.equal(allowed('/dce5/').length, 1);
    const cachedAt = allowed('/dce5/')[0]!.at;

    for (let i = 0; i < 5; i++) {
      const r = await client.request('/dce5/', { headers: { accept: 'application/json' } });
      assert.equal(r.status, 200);
      // The identity and assertion come out of the cached answer.
      const seen = json<{ headers: IncomingHttpHeaders }>(r).headers;
      assert.equal(seen['x-forwarded-user'], 'alice');
      assert.ok(seen['x-portico-assertion']);
    }
    assert.equal(allowed('/dce5/').length, 1, "answered by nginx's cache, Portico was not asked");
    // Another URI is another key: Portico decides on it.
    assert.equal(
      (await client.request('/dce5/other', { headers: { accept: 'application/json' } })).status,
      200,
    );
    assert.equal(allowed('/dce5/other').length, 1);
    // Refusals are never cached: signing in takes effect at once (another cookie is another key anyway).
    const anonymous = () => send(s.url, '/dce5/', { headers: { accept: 'application/json' } });
    const refusals = () => s.checks.filter((c) => c.status === 401 && c.uri === '/dce5/').length;
    const refusedBefore = refusals();
    assert.equal((await anonymous()).status, 401);
    assert.equal((await anonymous()).status, 401);
    assert.equal(refusals(), refusedBefore + 2);

    // The user signs out; the old cookie (another tab, a copy) is tried until it stops working.
    const cookie = client.cookieHeader();
    const out = await logout(client, s.url);
    assert.equal(out.status, 303);
    const loggedOutAt = performance.now();
    const withOldCookie = () => send(s.url, '/dce5/', { headers: { cookie, accept: 'application/json' } });
    const first = await withOldCookie();
    assert.equal(first.status, 200, 'still allowed from the cache right after the logout');
    let r = first;
    while (r.status === 200 && performance.now() - cachedAt < TTL_MS + 3000) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      r = await withOldCookie();
    }
    const endedAt = performance.now();
    assert.equal(r.status, 401);
    const revocationDelay = endedAt - loggedOutAt;
    const cacheAge = endedAt - cachedAt;
    t.diagnostic(
      `access ended ${Math.round(revocationDelay)} ms after the logout, ${Math.round(cacheAge)} ms after the answer was cached`,
    );
    // nginx counts validity in whole seconds: a 5 s entry expires 5 to 6 s after it was stored.
    assert.ok(cacheAge >= TTL_MS - 100 && cacheAge <= TTL_MS + 1000 + 300, `cache age ${cacheAge}`);
    assert.equal(allowed('/dce5/').length, 1, 'Portico was not asked while the entry lived');
    assert.equal(s.checks.at(-1)!.status, 401, 'the expired entry sent nginx back to Portico');
  });

  it('never lets one caller’s cached "allowed" serve another method or another address', async (t) => {
    const s = await startForwardAuth(t, {
      cache: true,
      routes: ({ ai, customer }) =>
        `  - { id: status, path: /dce5/status, upstream: "${ai}", auth: required, public: [{ path: /dce5/status, methods: [GET] }] }
  - { id: internal, path: /internal/, upstream: "${customer}", auth: none, ipAllow: [127.0.0.1/32] }
`,
    });
    const anonymous = (method: string, localAddress = '127.0.0.1') =>
      send(s.url, '/dce5/status', { method, localAddress, headers: { accept: 'application/json' } });
    assert.equal((await anonymous('GET')).status, 200, 'a public GET');
    assert.equal((await anonymous('DELETE')).status, 401, 'a DELETE after the cached GET');
    const from = (localAddress: string) =>
      send(s.url, '/internal/secret', { localAddress, headers: { accept: 'application/json' } });
    assert.equal((await from('127.0.0.1')).status, 200, 'an allowed address');
    assert.equal((await from('127.0.0.2')).status, 403, 'a denied address after the cached allowed one');
  });

  it("never replays one request's method override onto the next from the cache", async (t) => {
    const s = await startForwardAuth(t, { cache: true });
    const { client } = await signInThroughNginx(s, 'alice');
    const get = (headers: Record<string, string>) =>
      client.request('/dce5/cached', { headers: { accept: 'application/json', ...headers } });
    assert.equal((await get({ 'x-http-method-override': 'DELETE' })).status, 200);
    assert.equal(s.ai.last().headers['x-http-method-override'], 'DELETE');
    assert.equal((await get({})).status, 200);
    assert.equal(s.ai.last().headers['x-http-method-override'], undefined, 'not the cached one');
  });

  it('cannot be given the key of an allowed request by moving text between its fields', async (t) => {
    // With `|` between the fields, `/?x|/dce5/…` (allowed: the customer system's route) and
    // `/dce5/…` with `X-Method-Override: |/?x` made the same key: the second was served the first's
    // cached 200 — past the login for anyone, past `allow` for a signed-in user.
    const s = await startForwardAuth(t, { cache: true });
    const api = { accept: 'application/json' };
    assert.equal((await send(s.url, '/dce5/secret', { headers: api })).status, 401);
    assert.equal((await send(s.url, '/?x|/dce5/secret', { headers: api })).status, 200);
    const shifted = await send(s.url, '/dce5/secret', { headers: { ...api, 'x-method-override': '|/?x' } });
    assert.equal(shifted.status, 401, 'an anonymous client is sent to sign in');

    const { client } = await signInThroughNginx(s, 'bob');
    const bob = { ...api, cookie: client.cookieHeader() };
    assert.equal((await send(s.url, '/dce5/admin', { headers: bob })).status, 403);
    assert.equal((await send(s.url, '/?y|/dce5/admin', { headers: bob })).status, 200);
    for (const [name, value] of [
      ['x-method-override', '|/?y'],
      ['x-http-method', '||/?y'],
    ] as const) {
      const r = await send(s.url, '/dce5/admin', { headers: { ...bob, [name]: value } });
      assert.equal(r.status, 403, `bob is not let past allow (${name})`);
    }
    assert.ok(
      !s.ai.requests.some((r) => r.url.includes('admin') || r.url.includes('secret')),
      'the AI platform got none of them',
    );
  });
});
