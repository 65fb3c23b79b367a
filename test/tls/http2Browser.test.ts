import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { launchBrowser } from '../helpers/browser.ts';
import { startTlsGateway, startTlsSso } from '../helpers/tlsGateway.ts';
import { startUpstream } from '../helpers/upstream.ts';

const PAGE = '<!doctype html><html><head><title>Over h2</title></head><body><h1>Proxied</h1></body></html>';

describe('Chromium and the TLS listener', () => {
  it('loads a proxied page over h2 and opens a wss WebSocket on the same port', async (t) => {
    const app = await startUpstream({
      websocket: true,
      handler: (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', connection: 'keep-alive' });
        res.end(PAGE);
      },
    });
    t.after(() => app.close());
    const gw = await startTlsGateway(
      t,
      `routes:\n  - { id: app, path: /app/, upstream: "${app.url}", websocket: true }\n`,
    );
    // The test CA is not in Chromium's store: certificate errors are ignored, the protocol is not.
    const { context } = await launchBrowser(t, { ignoreHTTPSErrors: true });
    const page = await context.newPage();
    const response = await page.goto(`${gw.url}/app/`);
    assert.equal(response?.status(), 200);
    assert.equal(await page.textContent('h1'), 'Proxied');
    const protocol = await page.evaluate(
      () => (performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming).nextHopProtocol,
    );
    assert.equal(protocol, 'h2');
    const echoed = await page.evaluate(
      (url) =>
        new Promise<string>((resolve, reject) => {
          const ws = new WebSocket(url);
          ws.onopen = () => ws.send('hello over wss');
          ws.onmessage = (e) => {
            ws.close();
            resolve(String(e.data));
          };
          ws.onerror = () => reject(new Error('the WebSocket failed'));
        }),
      `${gw.url.replace('https:', 'wss:')}/app/ws`,
    );
    assert.equal(echoed, 'hello over wss');
    const upgrade = app.requests.find((r) => r.method === 'UPGRADE');
    assert.equal(upgrade?.url, '/ws');
    assert.equal(upgrade?.headers['x-forwarded-proto'], 'https');
  });

  it('signs in through the IdP and back over h2, with Secure cookies, keeps the app its own cookies, and signs out', async (t) => {
    const app = await startUpstream();
    t.after(() => app.close());
    const { publicUrl, idp } = await startTlsSso(
      t,
      `routes:\n  - { id: app, path: /app/, upstream: "${app.url}", auth: required, inject: { headers: true } }\n`,
    );
    const { context } = await launchBrowser(t, { ignoreHTTPSErrors: true });
    const page = await context.newPage();
    await page.goto(`${publicUrl}/app/`);
    await page.waitForSelector('#login-submit');
    assert.ok(page.url().startsWith(idp.issuer));
    await page.fill('#username', 'alice');
    await page.fill('#password', 'alice');
    await page.click('#login-submit');
    await page.waitForURL(`${publicUrl}/app/`);
    const protocol = await page.evaluate(
      () => (performance.getEntriesByType('navigation')[0] as PerformanceNavigationTiming).nextHopProtocol,
    );
    assert.equal(protocol, 'h2');
    const session = (await context.cookies(publicUrl)).find((c) => c.name === '__Host-portico_session');
    assert.ok(session, 'signed in');
    assert.equal(session.secure, true);
    assert.equal(session.httpOnly, true);
    assert.equal(app.last().headers['x-forwarded-user'], 'alice');

    await context.addCookies([{ name: 'app_theme', value: 'dark', url: publicUrl }]);
    await page.reload();
    const seen = app.last();
    assert.equal(seen.headers['x-forwarded-user'], 'alice');
    // The IdP's cookies ride along too (cookies are not per port); Portico's never do.
    const names = String(seen.headers.cookie)
      .split(';')
      .map((pair) => pair.trim().split('=')[0]);
    assert.ok(names.includes('app_theme'), String(seen.headers.cookie));
    assert.deepEqual(
      names.filter((n) => n?.startsWith('portico_')),
      [],
    );

    // Signing out is a form POST to Portico's own endpoint, over h2 too.
    await page.goto(`${publicUrl}/_portico/logout`);
    await page.click('#portico-logout');
    await page.waitForURL(/\/_portico\/logged-out/);
    const after = (await context.cookies(publicUrl)).find((c) => c.name === '__Host-portico_session');
    assert.equal(after, undefined, 'signed out');
  });
});
