import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import WebSocket from 'ws';
import { startGateway } from '../helpers/gateway.ts';
import { send } from '../helpers/http.ts';
import { upstreamFor } from '../helpers/upstream.ts';

/** Header lines of an answer as `name: value`, lower-case names, in order. */
function lines(raw: string[], names: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2)
    if (names.includes(raw[i]!.toLowerCase())) out.push(`${raw[i]!.toLowerCase()}: ${raw[i + 1]}`);
  return out;
}

describe('header policy per route', () => {
  it('sets and removes request headers on the way to the upstream, upgrades included', async (t) => {
    const up = await upstreamFor(t, { websocket: true });
    const gw = await startGateway(
      t,
      `routes:
  - id: ai
    path: /dce5/
    upstream: "${up.url}"
    websocket: true
    headers:
      request:
        set: { X-Env: prod, Authorization: "Basic cG9ydGljbzpzZWNyZXQ=" }
        remove: [X-Debug, Cookie]
  - { id: customer, path: /, upstream: "${up.url}" }
`,
    );
    await send(gw.url, '/dce5/x', { headers: { 'x-env': 'dev', 'x-debug': '1', cookie: 'a=b' } });
    const seen = up.last().headers;
    assert.equal(seen['x-env'], 'prod', "the policy's value replaces the client's");
    assert.equal(seen.authorization, 'Basic cG9ydGljbzpzZWNyZXQ=');
    assert.equal(seen['x-debug'], undefined);
    assert.equal(seen.cookie, undefined);
    assert.equal(seen['x-forwarded-prefix'], '/dce5', "Portico's own forwarding headers stay");
    await send(gw.url, '/x', { headers: { 'x-debug': '1' } });
    assert.equal(up.last().headers['x-debug'], '1', 'other routes are untouched');
    // Nor in another spelling a CGI-style backend reads as the same name (review).
    await send(gw.url, '/dce5/x', { headers: ['X_Debug', '1', 'x_env', 'evil', 'X-Other_Name', 'kept'] });
    const spelled = up.last().rawHeaders.map((h) => h.toLowerCase());
    assert.ok(!spelled.includes('x_debug'), 'a removed header, spelt with _');
    assert.ok(!spelled.includes('x_env'), 'a set header, spelt with _');
    assert.equal(up.last().headers['x-env'], 'prod');
    assert.equal(up.last().headers['x-other_name'], 'kept', 'other underscore headers pass');

    await new Promise<void>((resolve, reject) => {
      const ws = new WebSocket(`${gw.url.replace('http', 'ws')}/dce5/tty`, { headers: { 'x-debug': '1' } });
      ws.once('open', () => {
        ws.close();
        resolve();
      });
      ws.once('error', reject);
    });
    const upgrade = up.requests.find((r) => r.method === 'UPGRADE')!;
    assert.equal(upgrade.headers['x-env'], 'prod');
    assert.equal(upgrade.headers['x-debug'], undefined);
  });

  it('sets and removes response headers on the way back', async (t) => {
    const up = await upstreamFor(t, {
      handler: (_req, res) => {
        res.writeHead(200, [
          ['Server', 'dce-apiserver/1.0'],
          ['X-Powered-By', 'Express'],
          ['Cache-Control', 'public, max-age=600'],
          ['Content-Type', 'text/plain'],
        ] as unknown as string[]);
        res.end('ok');
      },
    });
    const gw = await startGateway(
      t,
      `routes:
  - id: ai
    path: /
    upstream: "${up.url}"
    headers: { response: { set: { Cache-Control: no-store }, remove: [Server, x-powered-by] } }
`,
    );
    const r = await send(gw.url, '/x');
    assert.deepEqual(lines(r.rawHeaders, ['server', 'x-powered-by', 'cache-control', 'content-type']), [
      'content-type: text/plain',
      'cache-control: no-store',
    ]);
    assert.equal(r.text, 'ok');
  });

  it('adds the security headers an upstream did not send, and never overrides its own', async (t) => {
    const up = await upstreamFor(t, {
      handler: (req, res) => {
        if (req.url === '/framed') res.setHeader('X-Frame-Options', 'DENY');
        res.end('ok');
      },
    });
    const names = [
      'x-content-type-options',
      'referrer-policy',
      'x-frame-options',
      'strict-transport-security',
    ];
    const gw = await startGateway(
      t,
      `publicUrl: https://portal.example.com
routes:
  - { id: secure, path: /, upstream: "${up.url}", securityHeaders: true }
  - { id: embeddable, path: /embed/, upstream: "${up.url}", securityHeaders: true, headers: { response: { remove: [X-Frame-Options] } } }
`,
    );
    assert.deepEqual(lines((await send(gw.url, '/page')).rawHeaders, names), [
      'x-content-type-options: nosniff',
      'referrer-policy: strict-origin-when-cross-origin',
      'x-frame-options: SAMEORIGIN',
      'strict-transport-security: max-age=31536000',
    ]);
    assert.deepEqual(lines((await send(gw.url, '/framed')).rawHeaders, ['x-frame-options']), [
      'x-frame-options: DENY',
    ]);
    assert.deepEqual(lines((await send(gw.url, '/embed/x')).rawHeaders, ['x-frame-options']), []);

    const plain = await startGateway(
      t,
      `publicUrl: http://portal.example.com\nroutes:\n  - { id: a, path: /, upstream: "${up.url}", securityHeaders: true }\n`,
    );
    const r = await send(plain.url, '/page');
    assert.equal(r.headers['strict-transport-security'], undefined, 'no HSTS without https');
    assert.equal(r.headers['x-content-type-options'], 'nosniff');
  });
});
