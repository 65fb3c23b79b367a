import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { ConfigError, loadConfigText } from '../../gateway/config/loadConfig.ts';
import { startGateway } from '../helpers/gateway.ts';
import { send } from '../helpers/http.ts';
import { upgradeStatus } from '../helpers/upgradeStatus.ts';
import { redirectingUpstream, upstreamFor } from '../helpers/upstream.ts';

// Guarantees docs/security.md states, each sent from outside as an attacker would.
describe('what a client cannot make an upstream believe', () => {
  it("replaces a client's Forwarded header, and appends to it only behind a trusted proxy", async (t) => {
    const up = await upstreamFor(t);
    const stranger = await startGateway(t, `routes:\n  - { id: a, path: /, upstream: "${up.url}" }\n`);
    await send(stranger.url, '/', {
      headers: { host: 'portal.example.com', forwarded: 'for=6.6.6.6;proto=https' },
    });
    assert.equal(up.last().headers.forwarded, 'for=127.0.0.1;host=portal.example.com;proto=http');
    const behindProxy = await startGateway(
      t,
      `trustProxy: [127.0.0.1/32]\nroutes:\n  - { id: a, path: /, upstream: "${up.url}" }\n`,
    );
    await send(behindProxy.url, '/', {
      headers: { host: 'portal.example.com', forwarded: 'for=203.0.113.9' },
    });
    assert.equal(
      up.last().headers.forwarded,
      'for=203.0.113.9, for=127.0.0.1;host=portal.example.com;proto=http',
    );
  });

  it('never forwards X-Original-URL or X-Rewrite-URL, which some backends take as the path', async (t) => {
    const up = await upstreamFor(t);
    const gw = await startGateway(t, `routes:\n  - { id: a, path: /, upstream: "${up.url}" }\n`);
    await send(gw.url, '/public', { headers: { 'x-original-url': '/admin', 'X-Rewrite-URL': '/admin' } });
    assert.equal(up.last().headers['x-original-url'], undefined);
    assert.equal(up.last().headers['x-rewrite-url'], undefined);
  });

  it('drops underscore and dotted spellings of framing, forwarding and rewriting headers, and keeps other underscore headers', async (t) => {
    const up = await upstreamFor(t);
    const gw = await startGateway(t, `routes:\n  - { id: a, path: /, upstream: "${up.url}" }\n`);
    // PHP and lighttpd read `X.Original.URL` as HTTP_X_ORIGINAL_URL, as they read the `_` spelling.
    const dotted = ['x.forwarded.for', 'x.original.url', 'x.real.ip', 'x.client.ip', 'x.forwarded.port'];
    await send(gw.url, '/', {
      headers: dotted.flatMap((name) => [name, name.includes('url') ? '/admin' : '6.6.6.6']),
    });
    for (const name of dotted) assert.equal(up.last().headers[name], undefined, name);
    const sneaky = ['transfer_encoding', 'content_length', 'x_forwarded_for', 'x_real_ip', 'x_original_url'];
    await send(gw.url, '/', {
      headers: [
        'transfer_encoding',
        'chunked',
        'content_length',
        '5',
        'x_forwarded_for',
        '6.6.6.6',
        'x_real_ip',
        '6.6.6.6',
        'x_original_url',
        '/admin',
        'app_tenant',
        'acme',
      ],
    });
    const seen = up.last().headers;
    for (const name of sneaky) assert.equal(seen[name], undefined, name);
    assert.equal(seen.app_tenant, 'acme', 'an application header with an underscore still passes');
  });

  it('never turns an upstream Location into a protocol-relative one on the root route', async (t) => {
    const up = await redirectingUpstream(t);
    const gw = await startGateway(t, `routes:\n  - { id: a, path: /, upstream: "${up.url}/" }\n`);
    for (const given of [
      `${up.url}//evil.example/x`,
      `${up.url}/\\evil.example/x`,
      `${up.url}///evil.example`,
    ]) {
      up.redirectTo(given);
      const r = await send(gw.url, '/');
      const sent = String(r.headers.location);
      assert.ok(!sent.startsWith('//') && !sent.startsWith('/\\'), `${given} became ${sent}`);
      assert.ok(sent.startsWith('/'), sent);
    }
  });

  it('never proxies a WebSocket upgrade under /_portico/, even with a catch-all route that takes WebSockets', async (t) => {
    const up = await upstreamFor(t, { websocket: true });
    const gw = await startGateway(
      t,
      `routes:\n  - { id: a, path: /, upstream: "${up.url}", websocket: true }\n`,
    );
    const ws = new WebSocket(`${gw.url.replace(/^http/, 'ws')}/_portico/anything`);
    assert.equal(await upgradeStatus(ws), 404);
    assert.equal(up.requests.length, 0);
  });
});

describe("Portico's cookies", () => {
  it('never reach an upstream, on a public route, over HTTP and WebSocket; other cookies pass byte for byte', async (t) => {
    const up = await upstreamFor(t, { websocket: true });
    const gw = await startGateway(
      t,
      `routes:\n  - { id: a, path: /, upstream: "${up.url}", websocket: true }\n`,
    );
    const cookie = 'portico_session=s%3Aabc.sig; dce=a%20b; portico_login=n1; lang=zh; portico_idp=corp';
    await send(gw.url, '/', { headers: { cookie } });
    assert.equal(up.last().headers.cookie, 'dce=a%20b; lang=zh');
    await send(gw.url, '/', { headers: { cookie: 'portico_session=only' } });
    assert.equal(up.last().headers.cookie, undefined);
    const ws = new WebSocket(`${gw.url.replace(/^http/, 'ws')}/ws`, { headers: { cookie } });
    await once(ws, 'open');
    ws.close();
    const upgrade = up.requests.find((r) => r.method === 'UPGRADE')!;
    assert.equal(upgrade.headers.cookie, 'dce=a%20b; lang=zh');
  });
});

describe('allow rules', () => {
  const idp = `publicUrl: https://portal.example.com
session: { secret: "${'s'.repeat(40)}" }
identityProviders: [{ id: corp, type: oidc, issuer: "https://idp.example.com", clientId: portico }]
`;
  it('need a login: with auth none or optional they are refused with the line, and alone they imply auth: required', () => {
    for (const auth of ['none', 'optional']) {
      const text = `${idp}routes:\n  - { id: a, path: /, upstream: "http://127.0.0.1:1/", auth: ${auth}, allow: { groups: [x] } }\n`;
      assert.throws(
        () => loadConfigText(text, { env: {} }),
        (err: unknown) =>
          err instanceof ConfigError &&
          err.problems.some(
            (p) =>
              p.path === 'routes[0].auth' &&
              p.line === 5 &&
              /allow rules, which need a login/.test(p.message),
          ),
      );
    }
    const implied = loadConfigText(
      `${idp}routes:\n  - { id: a, path: /, upstream: "http://127.0.0.1:1/", allow: { groups: [x] } }\n`,
      { env: {} },
    );
    assert.equal(implied.routes[0]!.auth, 'required');
  });
});

describe('a config without routes', () => {
  for (const [what, text] of [
    ['an empty file', ''],
    ['a comment-only file', '# truncated save\n'],
    ['an empty route list', 'routes: []\n'],
  ] as const)
    it(`is never swapped in: ${what} leaves the last good routes serving`, async (t) => {
      const up = await upstreamFor(t, { handler: (_q, s) => s.end('still here') });
      const gw = await startGateway(t, `routes:\n  - { id: a, path: /, upstream: "${up.url}" }\n`);
      gw.write(text);
      const result = gw.gateway.reload();
      assert.equal(result.ok, false);
      assert.equal((await send(gw.url, '/')).text, 'still here');
    });
});
