import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { describe, it, type TestContext } from 'node:test';
import type { Page } from 'playwright-core';
import { launchBrowser } from '../helpers/browser.ts';
import { type DceSetup, startDce } from '../helpers/dce.ts';

// Callbacks of page.evaluate run in Chromium; tsconfig has no DOM lib.
declare const document: {
  documentElement: { dataset: Record<string, string | undefined> };
  querySelector(selector: string): { textContent: string | null } | null;
};

/** From the platform's root through its realm's login page and the IdP's form, back to the UI. */
async function signInThroughRealm(page: Page, setup: DceSetup, username = 'alice') {
  await page.goto(setup.ai.url);
  await page.waitForSelector(`#social-${setup.alias}`);
  assert.match(page.url(), /\/auth\/realms\/ghippo\/protocol\/openid-connect\/auth\?/);
  assert.match(page.url(), /code_challenge_method=S256/);
  await page.click(`#social-${setup.alias}`);
  await page.waitForSelector('#login-submit');
  await page.fill('#username', username);
  await page.fill('#password', username);
  await page.click('#login-submit');
  await page.waitForSelector('#current-user:not([hidden])');
}

async function open(t: TestContext) {
  const { context } = await launchBrowser(t, { locale: 'zh-CN' });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('pageerror', (e) => problems.push(String(e)));
  return { context, page, problems };
}

describe('the AI platform’s UI in a real browser', () => {
  it('signs in through its realm with PKCE, shows the user from its own token and calls apis/ with Authorization: Bearer', async (t) => {
    const setup = await startDce(t);
    const { page, problems } = await open(t);
    const apiCalls: { url: string; authorization?: string; forwardedUser?: string }[] = [];
    page.on('request', (r) => {
      if (new URL(r.url()).pathname.startsWith('/apis/'))
        apiCalls.push({
          url: r.url(),
          authorization: r.headers().authorization,
          forwardedUser: r.headers()['x-forwarded-user'],
        });
    });

    await signInThroughRealm(page, setup);
    assert.equal(new URL(page.url()).search, '', 'the code and state are gone from the address bar');
    assert.match(await page.innerText('#current-user'), /alice/);
    await page.waitForSelector('#whoami-user');
    assert.equal(await page.innerText('#whoami-user'), 'alice');
    assert.equal(await page.locator('.cluster').count(), 4);
    assert.ok(apiCalls.length >= 3);
    for (const call of apiCalls) {
      assert.match(call.authorization ?? '', /^Bearer eyJ/, call.url);
      assert.equal(call.forwardedUser, undefined);
    }
    mkdirSync('test-artifacts', { recursive: true });
    await page.screenshot({ path: 'test-artifacts/dce-dashboard.png', fullPage: true });

    // A personal access key, made in the UI, then used by a "CI script" (plain fetch, no browser).
    await page.click('.ghippo-header-nav-main >> text=访问密钥');
    await page.waitForSelector('#access-key-form');
    await page.fill('#access-key-name', 'ci-pipeline');
    await page.click('#access-key-create');
    const key = (await page.innerText('#access-key-token')).trim();
    const me = await fetch(new URL('apis/ghippo.io/v1alpha1/current-user', setup.ai.url), {
      headers: { authorization: `Bearer ${key}` },
    });
    assert.equal(me.status, 200);
    assert.equal(((await me.json()) as { authenticatedBy: string }).authenticatedBy, 'access key');

    // The web terminal, on DCE's own token; the Reconnect button stays hidden while connected.
    await page.click('.ghippo-header-nav-main >> text=Web 终端');
    await page.waitForSelector('#terminal-status.is-open');
    await page.waitForFunction(() =>
      /alice@dce5:~\$/.test(document.querySelector('.xterm-rows')?.textContent ?? ''),
    );
    assert.equal(await page.isVisible('#terminal-reconnect'), false, 'Reconnect is hidden while connected');
    await page.click('.xterm-screen');
    await page.keyboard.type('exit');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#terminal-status.is-closed');
    assert.equal(await page.isVisible('#terminal-reconnect'), true, 'Reconnect shows once the session ended');
    assert.deepEqual(problems, []);
    assert.equal(setup.idp.loginCount(), 1);
  });

  it('sends the user back to sign in once a back-channel logout from the IdP ended the realm session', async (t) => {
    const setup = await startDce(t, { ai: { sessionCheckMs: 300 } });
    const { context, page } = await open(t);
    await signInThroughRealm(page, setup);
    assert.equal(await page.evaluate(() => document.documentElement.dataset.session), 'active');

    // The user signs out at the IdP in another tab; the IdP tells the realm over the back channel.
    const idpTab = await context.newPage();
    await idpTab.goto(`${setup.idp.endpoints.endSession}?client_id=dce5-ghippo`);
    await idpTab.waitForSelector('#logout-success');
    assert.deepEqual(
      setup.idp.backchannelResults.map((r) => [r.clientId, r.ok]),
      [['dce5-ghippo', true]],
    );

    // The UI's next session check is refused ("Session not active") and it goes to sign in.
    await page.waitForSelector('#kc-social-providers', { timeout: 10_000 });
    assert.match(page.url(), /\/auth\/realms\/ghippo\/protocol\/openid-connect\/auth\?/);
    await page.click(`#social-${setup.alias}`);
    await page.waitForSelector('#login-submit');
    assert.equal(setup.idp.loginCount(), 1, 'the IdP asks for the password again');
  });

  it('logs out from its header: the realm session ends, the IdP signs the user out, and the UI asks to sign in again', async (t) => {
    const setup = await startDce(t);
    const { page } = await open(t);
    await signInThroughRealm(page, setup);
    await page.click('#logout');
    await page.waitForSelector('#kc-social-providers');
    assert.equal(setup.ai.realm.store.sessionCount(), 0);
  });
});
