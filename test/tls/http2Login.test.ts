import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { http2Request } from '../helpers/http2.ts';
import { driveLogin } from '../helpers/idp.ts';
import { startTlsSso } from '../helpers/tlsGateway.ts';
import { startUpstream } from '../helpers/upstream.ts';

/** `name=value` of the Set-Cookie line for `name`, and its attributes, lower-cased. */
function cookie(setCookie: string | string[] | undefined, name: string) {
  const line = ([] as string[]).concat(setCookie ?? []).find((l) => l.startsWith(`${name}=`));
  if (!line) return undefined;
  const [pair, ...attributes] = line.split(';').map((p) => p.trim());
  return { pair: pair!, attributes: attributes.map((a) => a.toLowerCase()) };
}

describe('signing in over HTTP/2', () => {
  it('redirects to the IdP, sets Secure cookies and passes the identity, every hop over h2', async (t) => {
    const app = await startUpstream();
    t.after(() => app.close());
    const { gw, idp, publicUrl } = await startTlsSso(
      t,
      `routes:\n  - { id: app, path: /app/, upstream: "${app.url}", auth: required, inject: { headers: true } }\n`,
    );
    assert.equal(gw.url, publicUrl);
    const html = { accept: 'text/html' };

    // Each hop on the gateway over h2 (the proxied route, then /_portico/login), to the IdP.
    const asked = await http2Request(gw.url, '/app/jobs?tab=gpu', { ca: gw.ca, headers: html });
    assert.equal(asked.alpn, 'h2');
    assert.equal(asked.status, 302);
    let first = asked;
    let login: ReturnType<typeof cookie>;
    for (let hop = 0; hop < 5 && String(first.headers.location).startsWith('/'); hop++) {
      first = await http2Request(gw.url, String(first.headers.location), {
        ca: gw.ca,
        headers: { ...html, ...(login ? { cookie: login.pair } : {}) },
      });
      assert.equal(first.status, 302);
      login = cookie(first.headers['set-cookie'], '__Host-portico_login') ?? login;
    }
    assert.ok(String(first.headers.location).startsWith(idp.issuer), String(first.headers.location));
    assert.ok(login, 'the sign-in is bound to this client');
    assert.ok(login.attributes.includes('secure'));
    assert.ok(login.attributes.includes('httponly'));

    const back = await driveLogin(idp, String(first.headers.location), {
      username: 'alice',
      password: 'alice',
    });
    const callback = new URL(back.location);
    assert.equal(callback.origin, publicUrl);
    const landed = await http2Request(gw.url, callback.pathname + callback.search, {
      ca: gw.ca,
      headers: { ...html, cookie: login.pair },
    });
    assert.equal(landed.status, 302);
    assert.equal(landed.headers.location, '/app/jobs?tab=gpu');
    const session = cookie(landed.headers['set-cookie'], '__Host-portico_session');
    assert.ok(session, 'a session cookie after the callback');
    assert.ok(session.attributes.includes('secure'));
    assert.ok(session.attributes.includes('httponly'));

    const page = await http2Request(gw.url, '/app/jobs?tab=gpu', {
      ca: gw.ca,
      headers: { ...html, cookie: session.pair },
    });
    assert.equal(page.status, 200);
    const seen = app.last();
    assert.equal(seen.url, '/jobs?tab=gpu');
    assert.equal(seen.headers['x-forwarded-user'], 'alice');
    assert.equal(seen.headers['x-forwarded-proto'], 'https');
    assert.equal(seen.headers.cookie, undefined, "Portico's cookies never reach the upstream");
  });
});
