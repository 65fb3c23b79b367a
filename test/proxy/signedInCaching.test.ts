// Answers to signed-in requests are that user's, and a shared cache in front of Portico (a CDN,
// nginx proxy_cache) sees only the session cookie: RFC 9111 keeps shared caches from storing
// answers to requests with Authorization unless told, not with a Cookie, and a cache cannot vary on
// the identity headers Portico sent the upstream (no browser sends X-Forwarded-User, so
// `Vary: X-Forwarded-User` matches everyone). Such answers go out `private` unless the upstream
// shares them on purpose without varying on the user.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { send } from '../helpers/http.ts';
import { login, startSso } from '../helpers/sso.ts';
import { upstreamFor } from '../helpers/upstream.ts';

/** The answer's headers per path: `/p/<case>` picks one. */
const CASES: Record<string, [string, string][]> = {
  none: [],
  maxAge: [['Cache-Control', 'max-age=60']],
  twoHeaders: [
    ['Cache-Control', 'max-age=60'],
    ['Cache-Control', 'must-revalidate'],
  ],
  public: [['Cache-Control', 'public, max-age=60']],
  sMaxAge: [['Cache-Control', 's-maxage=60']],
  publicVaryUser: [
    ['Cache-Control', 'public, max-age=60, s-maxage=30'],
    ['Vary', 'Accept-Encoding, X-Forwarded-User'],
  ],
  varyAssertion: [
    ['Cache-Control', 'public, max-age=60'],
    ['Vary', 'x_portico_assertion'],
  ],
  private: [['Cache-Control', 'private, max-age=60']],
  noStore: [['Cache-Control', 'no-store']],
  // Qualified: only the named fields are kept from shared caches, the page itself is shareable.
  privateField: [['Cache-Control', 'private="Set-Cookie, X-Token", max-age=60']],
  noCacheField: [['Cache-Control', 'no-cache="Set-Cookie, X-Token", max-age=60']],
};

describe('caching of answers to signed-in requests', () => {
  it('makes them private unless the upstream shares them on purpose without varying on the user', async (t) => {
    const app = await upstreamFor(t, {
      handler: (req, res) => {
        const headers = CASES[req.url!.split('/').pop()!] ?? [];
        res.writeHead(200, [['Content-Type', 'text/plain'], ...headers].flat());
        res.end(`for ${req.headers['x-forwarded-user'] ?? 'anyone'}`);
      },
    });
    const s = await startSso(
      t,
      `  - { id: ai, path: /dce5/, upstream: "${app.url}", auth: required, inject: { headers: true, jwt: true } }
  - { id: open, path: /open/, upstream: "${app.url}", auth: none }
`,
    );
    const { client } = await login(s, 'alice');
    const cacheControl = async (target: string) => {
      const r = await client.request(target, { headers: { accept: 'text/plain' } });
      assert.equal(r.status, 200, target);
      assert.equal(r.text, 'for alice', target);
      return r.rawHeaders.flatMap((h, i) =>
        i % 2 === 0 && h.toLowerCase() === 'cache-control' ? [r.rawHeaders[i + 1]] : [],
      );
    };
    assert.deepEqual(await cacheControl('/dce5/p/none'), ['private']);
    assert.deepEqual(await cacheControl('/dce5/p/maxAge'), ['max-age=60, private']);
    assert.deepEqual(await cacheControl('/dce5/p/twoHeaders'), ['max-age=60, must-revalidate, private']);
    assert.deepEqual(await cacheControl('/dce5/p/publicVaryUser'), ['max-age=60, private']);
    assert.deepEqual(await cacheControl('/dce5/p/varyAssertion'), ['max-age=60, private']);
    assert.deepEqual(await cacheControl('/dce5/p/privateField'), ['max-age=60, private']);
    assert.deepEqual(await cacheControl('/dce5/p/noCacheField'), [
      'no-cache="Set-Cookie, X-Token", max-age=60, private',
    ]);
    // The upstream's own choices: shared on purpose, or already kept from shared caches.
    assert.deepEqual(await cacheControl('/dce5/p/public'), ['public, max-age=60']);
    assert.deepEqual(await cacheControl('/dce5/p/sMaxAge'), ['s-maxage=60']);
    assert.deepEqual(await cacheControl('/dce5/p/private'), ['private, max-age=60']);
    assert.deepEqual(await cacheControl('/dce5/p/noStore'), ['no-store']);
    // Nobody signed in (a route without a login): the upstream's headers as they were.
    const open = await send(s.gw.url, '/open/p/none');
    assert.equal(open.headers['cache-control'], undefined);
    const openMaxAge = await send(s.gw.url, '/open/p/maxAge');
    assert.equal(openMaxAge.headers['cache-control'], 'max-age=60');
  });
});
