import type { TestContext } from 'node:test';
import { type Browser, type BrowserContext, chromium } from 'playwright-core';

/** Debian's Chromium; playwright-core never downloads a browser. */
export const CHROMIUM_PATH = process.env.PORTICO_CHROMIUM ?? '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export type LaunchedBrowser = {
  browser: Browser;
  /** A first context (its own cookies and storage), ready for pages. */
  context: BrowserContext;
  /** Another isolated context, e.g. for a second user; closed with the browser. */
  newContext(options?: Parameters<Browser['newContext']>[0]): Promise<BrowserContext>;
};

/**
 * Real Chromium for browser tests, closed after the test. `chromium.launch` gives every launch a
 * fresh temporary profile (its own --user-data-dir, deleted on close) and every context is
 * isolated, so no state leaks between tests or from the machine's own profile.
 */
export async function launchBrowser(
  t: TestContext,
  options: Parameters<Browser['newContext']>[0] = {},
): Promise<LaunchedBrowser> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 30_000,
  });
  t.after(() => browser.close());
  const defaults = { viewport: { width: 1280, height: 800 }, ...options };
  const context = await browser.newContext(defaults);
  return { browser, context, newContext: (o) => browser.newContext({ ...defaults, ...o }) };
}
