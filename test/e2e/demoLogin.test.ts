import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { describe, it, type TestContext } from 'node:test';
import { pino } from 'pino';
import { startDemo } from '../../scripts/demo/startDemo.ts';
import { launchBrowser } from '../helpers/browser.ts';
import { freePort } from '../helpers/sso.ts';

/** The whole demo on a free port and a fresh Chromium page, both closed after the test. */
async function openDemo(t: TestContext) {
  const port = await freePort();
  const demo = await startDemo({
    port,
    publicUrl: `http://127.0.0.1:${port}`,
    logger: pino({ level: 'silent' }),
  });
  t.after(() => demo.close());
  const { context } = await launchBrowser(t, { locale: 'en-US' });
  return { demo, page: await context.newPage() };
}

describe('the demo in a real browser', () => {
  it('signs alice in once and lets her move between the customer system, the AI platform and its terminal', async (t) => {
    const { demo, page } = await openDemo(t);

    // Opening the AI platform sends the browser to the customer's IdP.
    await page.goto(`${demo.publicUrl}/dce5/`);
    await page.waitForSelector('#login-submit');
    assert.ok(page.url().startsWith(demo.idp.issuer), page.url());
    await page.fill('#username', 'alice');
    await page.fill('#password', 'alice');
    await page.click('#login-submit');

    // Back on the AI platform, signed in, with the brand applied to DCE's header.
    await page.waitForURL(`${demo.publicUrl}/dce5/`);
    await page.waitForSelector('.ghippo-header');
    assert.match(await page.content(), /alice/);
    const headerBackground = await page.$eval('.ghippo-header', (el) => getComputedStyle(el).backgroundColor);
    assert.equal(headerBackground, 'rgb(22, 104, 220)');

    // The customer system at / knows her too, and its menu shows the AI platform.
    await page.goto(`${demo.publicUrl}/`);
    assert.match(await page.content(), /alice@example\.com/);
    const entry = page.locator('portico-nav a').first(); // Playwright's CSS pierces the shadow root
    await entry.waitFor({ timeout: 5000 });
    assert.match(await entry.innerText(), /AI/);
    assert.equal(new URL((await entry.getAttribute('href'))!).pathname, '/dce5/');

    // The web terminal: a WebSocket through Portico, authenticated by the same session.
    await page.goto(`${demo.publicUrl}/dce5/terminal`);
    await page.waitForSelector('.xterm-screen');
    await page.waitForFunction(
      () => document.querySelector('.xterm-rows')?.textContent?.includes('$'),
      null,
      { timeout: 10_000 },
    );
    await page.click('.xterm-screen');
    await page.keyboard.type('whoami');
    await page.keyboard.press('Enter');
    await page.waitForFunction(
      () =>
        /X-Forwarded-User:?\s*alice|user\s*alice|alice@example\.com/i.test(
          document.querySelector('.xterm-rows')?.textContent ?? '',
        ),
      null,
      {
        timeout: 10_000,
      },
    );
    mkdirSync('test-artifacts', { recursive: true });
    await page.screenshot({ path: 'test-artifacts/demo-terminal.png' });
    assert.equal(demo.idp.loginCount(), 1, 'one login for everything');
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
    await page.goto(`${demo.publicUrl}/`);
    assert.match(await page.content(), /bob@example\.com/);
  });
});
