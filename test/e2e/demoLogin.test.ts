import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { describe, it, type TestContext } from 'node:test';
import type { Page } from 'playwright-core';
import { pino } from 'pino';
import { type Demo, type DemoOptions, startDemo } from '../../scripts/demo/startDemo.ts';
import { launchBrowser } from '../helpers/browser.ts';
import { freePort } from '../helpers/sso.ts';

// Callbacks of page.evaluate/waitForFunction run in Chromium; tsconfig has no DOM lib.
declare const document: {
  querySelector(selector: string): { textContent: string | null } | null;
  documentElement: { scrollWidth: number };
};

/** The whole demo on a free port and a fresh Chromium page, both closed after the test. */
async function openDemo(
  t: TestContext,
  viewport = { width: 1280, height: 800 },
  options: Pick<DemoOptions, 'aiRefusesLogoutTokens'> = {},
) {
  const port = await freePort();
  const demo = await startDemo({
    port,
    publicUrl: `http://127.0.0.1:${port}`,
    logger: pino({ level: 'silent' }),
    ...options,
  });
  t.after(() => demo.close());
  const { context } = await launchBrowser(t, { locale: 'en-US', viewport });
  return { demo, page: await context.newPage() };
}

/**
 * alice opens the AI platform: Portico sends her to the IdP (the one password); back at /dce5/ the
 * AI platform's own realm starts its sign-in, Portico adds `kc_idp_hint=portico`, the realm goes
 * straight to Portico's OpenID Provider, which answers at once: no realm page, no click. Every
 * HTML page the browser was shown on the way is recorded.
 */
async function signInToAiPlatform(page: Page, demo: Demo, username = 'alice') {
  const pages: string[] = [];
  const onResponse = (r: import('playwright-core').Response) => {
    if (r.request().resourceType() === 'document' && r.status() === 200) pages.push(r.url());
  };
  page.on('response', onResponse);
  await page.goto(`${demo.publicUrl}/dce5/`);
  await page.waitForSelector('#login-submit');
  assert.ok(page.url().startsWith(demo.idp.issuer), page.url());
  await page.fill('#username', username);
  await page.fill('#password', username);
  await page.click('#login-submit');
  await page.waitForSelector('#current-user:not([hidden])');
  assert.equal(page.url(), `${demo.publicUrl}/dce5/`);
  page.off('response', onResponse);
  const realmPages = pages.filter((u) => new URL(u).pathname.includes('/auth/realms/'));
  assert.deepEqual(realmPages, [], 'the AI platform showed no sign-in page of its own');
  return pages;
}

describe('the demo in a real browser', () => {
  it('signs alice in once and lets her move between the customer system, the AI platform and its terminal', async (t) => {
    const { demo, page } = await openDemo(t);

    // Anonymous, the customer system's navigation offers a way in instead of an empty heading.
    await page.goto(`${demo.publicUrl}/`);
    const signInEntry = page.locator('portico-nav a'); // Playwright's CSS pierces the shadow root
    await signInEntry.first().waitFor({ timeout: 5000 });
    assert.deepEqual(await signInEntry.allTextContents(), ['→登录'], 'the page is zh-CN');
    assert.equal(await signInEntry.first().getAttribute('href'), `${demo.publicUrl}/_portico/login?rd=%2F`);

    await signInToAiPlatform(page, demo);
    // Inside the AI platform, known from its own token; the brand applied to DCE's header.
    assert.match(await page.innerText('#current-user'), /alice/);
    const headerBackground = await page.$eval('.ghippo-header', (el) => getComputedStyle(el).backgroundColor);
    assert.equal(headerBackground, 'rgb(22, 104, 220)');
    assert.equal(demo.idp.loginCount(), 1, 'one password for Portico and the AI platform');

    // The customer system at / knows her too, and its menu shows the AI platform.
    await page.goto(`${demo.publicUrl}/`);
    assert.match(await page.content(), /alice@example\.com/);
    const entry = page.locator('portico-nav a').first();
    await entry.waitFor({ timeout: 5000 });
    assert.match(await entry.innerText(), /AI/);
    assert.equal(new URL((await entry.getAttribute('href'))!).pathname, '/dce5/');

    // The web terminal: a WebSocket through Portico (its session cookie) carrying the AI
    // platform's own token (a subprotocol), no identity header.
    await page.goto(`${demo.publicUrl}/dce5/terminal`);
    await page.waitForSelector('#terminal-status.is-open');
    assert.equal(await page.isVisible('#terminal-reconnect'), false);
    await page.click('.xterm-screen');
    await page.keyboard.type('whoami');
    await page.keyboard.press('Enter');
    await page.waitForFunction(
      () =>
        /authenticated by:\s*session token/.test(document.querySelector('.xterm-rows')?.textContent ?? ''),
      null,
      { timeout: 10_000 },
    );
    const screen = (await page.textContent('.xterm-rows')) ?? '';
    assert.match(screen, /user:\s*alice/);
    assert.match(
      screen,
      new RegExp(`issuer:\\s*${demo.publicUrl.replace(/[.:/]/g, '\\$&')}\\/dce5\\/auth\\/realms\\/ghippo`),
    );
    mkdirSync('test-artifacts', { recursive: true });
    await page.screenshot({ path: 'test-artifacts/demo-terminal.png' });
    assert.equal(demo.idp.loginCount(), 1, 'one login for everything');
  });

  it('fills the AI platform dashboard from its apis/ through Portico with its own bearer token', async (t) => {
    const { demo, page } = await openDemo(t);
    await signInToAiPlatform(page, demo);
    await page.waitForSelector('#whoami-user', { timeout: 10_000 });
    assert.equal(await page.innerText('#whoami-user'), 'alice');
    assert.equal(await page.locator('.cluster').count(), 4);
  });

  it('ends her AI platform session when she signs out at Portico, and lets a CI script in with a DCE access key', async (t) => {
    const { demo, page } = await openDemo(t);
    await signInToAiPlatform(page, demo);
    mkdirSync('test-artifacts', { recursive: true });
    await page.screenshot({ path: 'test-artifacts/demo-ai-platform-signed-in.png' });
    assert.equal(demo.ai.realm.store.sessionCount(), 1, 'the realm has her session');

    // A personal access key, made for her by the platform, used as a CI job would: a bearer token
    // through Portico, with no Portico session; DCE checks it, Portico passes it on untouched.
    const key = await demo.ai.accessKeys.create(
      { sub: 'alice', username: 'alice', issuer: demo.ai.realm.urls.issuer, claims: {} },
      'ci',
    );
    const jobs = await fetch(`${demo.publicUrl}/dce5/apis/baize.io/v1alpha1/jobs`, {
      headers: { authorization: `Bearer ${key.token}`, accept: 'application/json' },
    });
    assert.equal(jobs.status, 200);
    assert.ok(Array.isArray(((await jobs.json()) as { items: unknown[] }).items));
    const forged = await fetch(`${demo.publicUrl}/dce5/apis/baize.io/v1alpha1/jobs`, {
      headers: { authorization: `Bearer ${key.token.slice(0, -4)}AAAA`, accept: 'application/json' },
    });
    assert.equal(forged.status, 401, 'the platform, not Portico, refuses a forged key');

    // Signing out at Portico ends the realm's session through the back-channel logout.
    await page.goto(`${demo.publicUrl}/_portico/logout`);
    await page.click('#portico-logout');
    await page.waitForURL(/\/_portico\/logged-out/);
    // The back-channel call runs beside the redirect: give it a bounded moment.
    for (let i = 0; i < 100 && demo.ai.realm.store.sessionCount() > 0; i++) await page.waitForTimeout(50);
    assert.equal(demo.ai.realm.store.sessionCount(), 0, 'the AI platform session ended with Portico’s');
    await page.goto(`${demo.publicUrl}/dce5/`);
    await page.waitForSelector('#login-submit');
    assert.ok(page.url().startsWith(demo.idp.issuer), 'back to the one sign-in');
    await page.screenshot({ path: 'test-artifacts/demo-after-logout.png' });
  });

  it('signs her out of Portico with no question when she logs out in the AI platform, whose realm names her with the ID token Portico issued it', async (t) => {
    const { demo, page } = await openDemo(t);
    await signInToAiPlatform(page, demo);
    const portico = async () =>
      (await page.context().cookies(demo.publicUrl)).find((c) => c.name === 'portico_session')?.value;
    const before = await portico();
    assert.ok(before, 'signed in at Portico');
    // As Keycloak does for a brokered user: the realm's logout sends the browser to Portico's
    // end_session endpoint with the ID token Portico issued it (id_token_hint), its
    // post_logout_redirect_uri (broker/portico/endpoint/logout_response) and state.
    const visited: string[] = [];
    page.on('request', (r) => {
      if (r.isNavigationRequest()) visited.push(r.url());
    });
    await page.click('#logout');
    const back = `${demo.publicUrl}/dce5/auth/realms/ghippo/broker/portico/endpoint/logout_response`;
    for (let i = 0; i < 200 && !visited.some((u) => u.startsWith(back)); i++) await page.waitForTimeout(50);
    const endSession = visited.find((u) => new URL(u).pathname.startsWith('/_portico/oidc/session/end'));
    const paths = () => visited.map((u) => new URL(u).pathname).join(' ');
    assert.ok(endSession, `the realm sent her to Portico: ${paths()}`);
    assert.ok(new URL(endSession).searchParams.get('id_token_hint'), 'with the ID token it holds');
    assert.ok(
      visited.some((u) => u.startsWith(back)),
      `Portico signed her out and sent her back to the realm without asking: ${paths()}`,
    );
    // Her Portico session is over: the customer system sees nobody with the old cookie.
    const whoami = await fetch(`${demo.publicUrl}/api/whoami`, {
      headers: { cookie: `portico_session=${before}` },
    });
    assert.equal(((await whoami.json()) as { anonymous: boolean }).anonymous, true);
  });

  it('asks before signing her out when the AI platform’s logout names an earlier Portico session (its realm outlived it)', async (t) => {
    // A DCE whose Keycloak does not take Portico's back-channel logout tokens (undocumented for a
    // real DCE 5): her realm session, and the ID token Portico issued it, outlive her Portico session.
    const { demo, page } = await openDemo(t, undefined, { aiRefusesLogoutTokens: true });
    await signInToAiPlatform(page, demo);
    await page.goto(`${demo.publicUrl}/_portico/logout`);
    await page.click('#portico-logout');
    await page.waitForURL(/\/_portico\/logged-out/);
    assert.equal(demo.ai.realm.store.sessionCount(), 1, 'the realm kept her session');
    await page.waitForTimeout(1100); // the ID token's iat has whole seconds
    await page.goto(`${demo.publicUrl}/_portico/login?rd=%2F`);
    await page.waitForSelector('#login-submit');
    await page.fill('#username', 'alice');
    await page.fill('#password', 'alice');
    await page.click('#login-submit');
    await page.waitForURL(`${demo.publicUrl}/`);
    const session = (await page.context().cookies(demo.publicUrl)).find((c) => c.name === 'portico_session');
    assert.ok(session);
    const signedIn = async () =>
      !(
        (await (
          await fetch(`${demo.publicUrl}/api/whoami`, {
            headers: { cookie: `portico_session=${session.value}` },
          })
        ).json()) as { anonymous: boolean }
      ).anonymous;
    // The platform's UI still has its realm session from before: no trip to Portico.
    await page.goto(`${demo.publicUrl}/dce5/`);
    await page.waitForSelector('#current-user:not([hidden])');
    await page.click('#logout');
    // The realm's id_token_hint was issued in her earlier Portico session: Portico asks.
    await page.waitForSelector('#portico-oidc-logout');
    assert.match(new URL(page.url()).pathname, /^\/_portico\/oidc\/session\/end/);
    await page.waitForTimeout(500);
    assert.equal(await signedIn(), true, 'still signed in at Portico until she answers');
    await page.click('#portico-oidc-logout');
    await page.waitForURL((u) => !u.pathname.startsWith('/_portico/oidc/session/end'));
    assert.equal(await signedIn(), false, 'her answer ends her Portico session');
  });

  it('refuses bob on the AI platform with a branded 403 page', async (t) => {
    const { demo, page } = await openDemo(t);
    await page.goto(`${demo.publicUrl}/dce5/`);
    await page.waitForSelector('#login-submit');
    await page.fill('#username', 'bob');
    await page.fill('#password', 'bob');
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.url() === `${demo.publicUrl}/dce5/`),
      page.click('#login-submit'),
    ]);
    assert.equal(response.status(), 403);
    assert.match(await page.content(), /Access denied/);
    assert.match((await page.textContent('#portico-signed-in')) ?? '', /bob/);
    await page.goto(`${demo.publicUrl}/`);
    assert.match(await page.content(), /bob@example\.com/);
    // "Sign out or switch user" on the 403 page ends bob's session, and the next visit signs in anew.
    await page.goto(`${demo.publicUrl}/dce5/`);
    await page.click('#portico-switch-user');
    await page.click('#portico-logout');
    await page.waitForURL(/\/_portico\/logged-out/);
    await page.goto(`${demo.publicUrl}/dce5/`);
    await page.waitForSelector('#login-submit');
  });

  it('keeps the navigation and the Log out controls whole on a 375-pixel-wide phone', async (t) => {
    const width = 375;
    const { demo, page } = await openDemo(t, { width, height: 780 });
    mkdirSync('test-artifacts', { recursive: true });
    const fullyVisible = async (selector: string) => {
      const boxes = await page.locator(selector).evaluateAll((els) =>
        els.map((el) => {
          const r = el.getBoundingClientRect();
          const style = getComputedStyle(el);
          return {
            text: (el.textContent ?? '').trim(),
            left: r.left,
            right: r.right,
            top: r.top,
            bottom: r.bottom,
            shown: r.width > 0 && r.height > 0 && style.visibility !== 'hidden',
          };
        }),
      );
      assert.ok(boxes.length > 0, `${selector}: nothing found`);
      for (const b of boxes) {
        assert.ok(b.shown, `${selector} "${b.text}" is not shown`);
        assert.ok(
          b.left >= 0 && b.right <= width,
          `${selector} "${b.text}" spans ${b.left}…${b.right} of ${width}`,
        );
        assert.ok(b.top >= 0, `${selector} "${b.text}" starts above the page`);
      }
      const pageWidth = await page.evaluate(() => document.documentElement.scrollWidth);
      assert.ok(pageWidth <= width, `the page scrolls sideways (${pageWidth} px wide)`);
      return boxes;
    };

    await signInToAiPlatform(page, demo);
    const navEntries = await fullyVisible('.ghippo-header-nav-main a');
    assert.equal(navEntries.length, 4);
    await fullyVisible('#logout');
    await fullyVisible('#current-user');
    await page.screenshot({ path: 'test-artifacts/phone-ai-platform.png', fullPage: true });

    await page.goto(`${demo.publicUrl}/`);
    await page.locator('portico-nav a').first().waitFor({ timeout: 5000 });
    const embedded = await fullyVisible('portico-nav a');
    assert.match(embedded[0]!.text, /AI/);
    await fullyVisible('a[href="/_portico/logout"]');
    await page.screenshot({ path: 'test-artifacts/phone-customer.png', fullPage: true });
  });
});
