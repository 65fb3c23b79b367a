import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { brandingFeature } from '../../gateway/branding/brandingFeature.ts';
import { launchBrowser } from '../helpers/browser.ts';
import { startGateway } from '../helpers/gateway.ts';
import { GROUPS, PEOPLE, SERVICE_DN, SERVICE_PASSWORD, startSlapd } from '../helpers/slapd.ts';
import { freePort, SESSION_SECRET, startIdpFor } from '../helpers/sso.ts';
import { upstreamFor } from '../helpers/upstream.ts';

describe('the login chooser in a real browser', () => {
  it('offers every provider, signs in through the chosen one, names users by provider, and remembers the choice', async (t) => {
    const slapd = await startSlapd(t);
    const ai = await upstreamFor(t, {
      handler: (req, res) => {
        res.setHeader('content-type', 'text/html; charset=utf-8');
        res.end(
          `<!doctype html><html><head><title>AI</title></head><body><h1 id="who">${String(req.headers['x-forwarded-user'] ?? 'anonymous')}</h1></body></html>`,
        );
      },
    });
    const port = await freePort();
    const publicUrl = `http://127.0.0.1:${port}`;
    const idp = await startIdpFor(t, publicUrl);
    await startGateway(
      t,
      `publicUrl: ${publicUrl}
session: { secret: ${SESSION_SECRET} }
identity: { primaryProvider: corp }
identityProviders:
  - { id: corp, type: oidc, name: Customer SSO, issuer: "${idp.issuer}", clientId: portico, clientSecret: portico-secret }
  - id: directory
    type: ldap
    name: { en-US: Company directory, zh-CN: 企业目录 }
    url: "${slapd.url}"
    bindDn: "${SERVICE_DN}"
    bindPassword: ${SERVICE_PASSWORD}
    userBase: "${PEOPLE}"
    groupBase: "${GROUPS}"
routes:
  - { id: ai, path: /dce5/, upstream: "${ai.url}", auth: required, inject: { headers: true } }
`,
      { port },
    );
    const { context } = await launchBrowser(t, { locale: 'en-US' });
    const page = await context.newPage();

    await page.goto(`${publicUrl}/dce5/`);
    await page.waitForSelector('#portico-login-directory');
    assert.equal(new URL(page.url()).pathname, '/_portico/login');
    assert.equal(await page.locator('nav a.portico-button').count(), 2);
    assert.match(await page.locator('#portico-login-corp').innerText(), /Customer SSO/);
    mkdirSync('test-artifacts', { recursive: true });
    await page.screenshot({ path: 'test-artifacts/login-chooser.png' });

    // The directory: Portico's own form, then back to the page asked for.
    await page.click('#portico-login-directory');
    await page.waitForSelector('#portico-username');
    await page.fill('#portico-username', 'alice');
    await page.fill('#portico-password', 'alice-pw');
    await page.click('#portico-login-submit');
    await page.waitForURL(`${publicUrl}/dce5/`);
    // Not the primary provider: its users are qualified, so they can never pass for a corp user.
    assert.equal(await page.locator('#who').innerText(), 'directory:alice');

    // Sign out with the confirmation form.
    await page.goto(`${publicUrl}/_portico/logout`);
    await page.click('#portico-logout');
    await page.waitForURL(/\/_portico\/logged-out/);

    // Next time the chooser is skipped: the remembered provider opens directly.
    await page.goto(`${publicUrl}/dce5/`);
    await page.waitForSelector('#portico-username');
    assert.equal(new URL(page.url()).pathname, '/_portico/login/directory');

    // ?idp= goes straight to another one.
    await page.goto(`${publicUrl}/_portico/login?idp=corp&rd=%2Fdce5%2F`);
    await page.waitForSelector('#login-submit');
    assert.ok(page.url().startsWith(idp.issuer));
    await page.fill('#username', 'bob');
    await page.fill('#password', 'bob');
    await page.click('#login-submit');
    await page.waitForURL(`${publicUrl}/dce5/`);
    assert.equal(await page.locator('#who').innerText(), 'bob', 'the primary provider keeps bare names');
  });

  it("shows brand.yaml's login.help, in the reader's language, on the chooser and on the directory form", async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'portico-brand-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(
      join(dir, 'brand.yaml'),
      `productName: Acme
login:
  help:
    en-US: 'Trouble signing in? Ask the <a href="mailto:it@acme.example">IT desk</a>.<script>window.pwned = 1</script>'
    zh-CN: '无法登录？请联系 <a href="mailto:it@acme.example" onclick="window.pwned = 1">IT 服务台</a>。'
`,
    );
    const port = await freePort();
    const publicUrl = `http://127.0.0.1:${port}`;
    await startGateway(
      t,
      `publicUrl: ${publicUrl}
session: { secret: ${SESSION_SECRET} }
identityProviders:
  - { id: github, type: github, name: GitHub, clientId: abc, clientSecret: def }
  - { id: directory, type: ldap, name: Company directory, url: "ldap://127.0.0.1:9", bindDn: "cn=x", bindPassword: y, userBase: "dc=x" }
routes:
  - { id: app, path: /, upstream: "http://127.0.0.1:9/", auth: required }
`,
      { port, features: [brandingFeature({ dir, watch: false })] },
    );
    const { context, newContext } = await launchBrowser(t, { locale: 'en-US' });
    const page = await context.newPage();
    await page.goto(`${publicUrl}/_portico/login`);
    const help = page.locator('#portico-login-help');
    assert.equal(await help.innerText(), 'Trouble signing in? Ask the IT desk.');
    assert.equal(await help.locator('a').getAttribute('href'), 'mailto:it@acme.example');
    await page.click('#portico-login-directory');
    await page.waitForSelector('#portico-username');
    assert.equal(
      await page.locator('#portico-login-help').innerText(),
      'Trouble signing in? Ask the IT desk.',
    );
    mkdirSync('test-artifacts', { recursive: true });
    await page.screenshot({ path: 'test-artifacts/login-help.png' });

    const zh = await (await newContext({ locale: 'zh-CN' })).newPage();
    await zh.goto(`${publicUrl}/_portico/login/directory`);
    const zhHelp = zh.locator('#portico-login-help');
    assert.equal(await zhHelp.innerText(), '无法登录？请联系 IT 服务台。');
    assert.equal(await zhHelp.locator('a').getAttribute('onclick'), null);
    await zhHelp
      .locator('a')
      .click({ noWaitAfter: true })
      .catch(() => {});
    for (const p of [page, zh])
      assert.equal(await p.evaluate(() => (window as { pwned?: number }).pwned), undefined);
  });
});
