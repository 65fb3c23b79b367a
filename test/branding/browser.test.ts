import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { brandingFeature } from '../../gateway/branding/brandingFeature.ts';
import { startCustomerSystem } from '../../scripts/demo/customerSystem.ts';
import { launchBrowser } from '../helpers/browser.ts';
import { startDce } from '../helpers/dce.ts';
import { startGateway } from '../helpers/gateway.ts';
import { freePort } from '../helpers/sso.ts';
import { upstreamFor } from '../helpers/upstream.ts';
import { brandOf, brandedGateway } from './helpers.ts';

// The page.evaluate callbacks run in Chromium; tsconfig has no DOM lib, so these are the few
// browser shapes they use (module-scoped declarations, nothing global).
type Element = {
  shadowRoot: { querySelectorAll(s: string): Iterable<Element>; activeElement: Element | null } | null;
  querySelector(s: string): Element | null;
  querySelectorAll(s: string): Iterable<Element> & { length: number };
  getAttribute(name: string): string | null;
  textContent: string | null;
};
declare const document: {
  querySelector(s: string): Element | null;
  querySelectorAll(s: string): Iterable<Element> & { length: number };
};
declare const window: { Portico: { nav: { load(): Promise<{ id: string }[]> } } };
declare function getComputedStyle(
  el: Element,
  pseudo?: string,
): Record<'backgroundColor' | 'content' | 'fontSize', string>;
declare const Image: new () => { src: string; naturalWidth: number; decode(): Promise<void> };

const root = join(import.meta.dirname, '..', '..');
const ARTIFACTS = join(root, 'test-artifacts');

/** `#1668dc` → `rgb(22, 104, 220)`, as getComputedStyle reports colours. */
function rgb(hex: string): string {
  const h = hex.replace('#', '');
  const full = h.length <= 4 ? [...h].map((c) => c + c).join('') : h;
  const [r, g, b] = [0, 2, 4].map((i) => Number.parseInt(full.slice(i, i + 2), 16));
  return `rgb(${r}, ${g}, ${b})`;
}

describe('branding in a real browser', () => {
  it('shows the AI platform in the customer page’s <portico-nav>, and opens /dce5/ with the brand’s name, logo and colour', async (t) => {
    // The AI platform signs users in through its own realm, so it must know its public root.
    const port = await freePort();
    const { ai, alias } = await startDce(t, { ai: { reverseProxy: `http://127.0.0.1:${port}/dce5` } });
    const customer = await startCustomerSystem({ port: 0 });
    t.after(() => customer.close());
    const gw = await startGateway(
      t,
      `routes:
  - { id: ai-platform, path: /dce5/, upstream: "${ai.url}", websocket: true, branding: true, nav: { title: { zh-CN: AI 算力中心, en-US: AI Compute Center }, order: 10 } }
  - { id: customer, path: /, upstream: "${customer.url}" }
`,
      { port, features: [brandingFeature({ dir: join(root, 'branding'), watch: false })] },
    );
    const brand = brandOf(gw);
    const { context } = await launchBrowser(t, { locale: 'zh-CN' });
    const page = await context.newPage();
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(String(e)));

    await page.goto(`${gw.url}/`);
    const entry = page.locator('portico-nav a', { hasText: 'AI 算力中心' });
    await entry.waitFor({ timeout: 10_000 });
    const nav = await page.evaluate(() => {
      const el = document.querySelector('portico-nav')!;
      return {
        lightLinks: el.querySelectorAll('a').length,
        shadowLinks: [...el.shadowRoot!.querySelectorAll('a')].map((a) => ({
          href: a.getAttribute('href'),
          text: a.textContent,
          current: a.getAttribute('aria-current'),
        })),
      };
    });
    assert.equal(nav.lightLinks, 0, 'the entries live in the shadow DOM');
    assert.deepEqual(nav.shadowLinks, [{ href: `${gw.url}/dce5/`, text: '✦AI 算力中心', current: null }]);
    const apiItems = await page.evaluate(() => window.Portico.nav.load());
    assert.deepEqual(
      apiItems.map((i) => i.id),
      ['ai-platform'],
    );
    // Keyboard: the entry is a real link that takes focus.
    await entry.focus();
    assert.equal(
      await page.evaluate(
        () => document.querySelector('portico-nav')!.shadowRoot!.activeElement?.textContent,
      ),
      '✦AI 算力中心',
    );

    await entry.click();
    await page.click(`#social-${alias}`); // the realm's login page, then the IdP's
    await page.fill('#username', 'alice');
    await page.fill('#password', 'alice');
    await page.click('#login-submit');
    await page.waitForSelector('#current-user:not([hidden])');
    assert.equal(page.url(), `${gw.url}/dce5/`);
    const seen = await page.evaluate(async () => {
      const header = document.querySelector('.ghippo-header')!;
      const name = document.querySelector('.ghippo-header-logo-name')!;
      const img = document.querySelector('.ghippo-header-logo img')!;
      const logo = getComputedStyle(img).content;
      const logoUrl = /url\("(.*)"\)/.exec(logo)?.[1];
      const probe = new Image();
      probe.src = logoUrl ?? '';
      const logoLoads = await probe.decode().then(
        () => probe.naturalWidth > 0,
        () => false,
      );
      return {
        headerBg: getComputedStyle(header).backgroundColor,
        nameAfter: getComputedStyle(name, '::after').content,
        nameFontSize: getComputedStyle(name).fontSize,
        logo,
        logoLoads,
        footer: document.querySelector('.portico-footer[role="contentinfo"]')?.textContent ?? null,
        icons: [...document.querySelectorAll('link[rel="icon"]')].map((l) => l.getAttribute('href')),
      };
    });
    assert.equal(seen.headerBg, rgb(brand.colors.header));
    assert.equal(seen.nameAfter, `"${brand.productName['zh-CN']}"`);
    assert.equal(seen.nameFontSize, '0px', 'the upstream name is hidden');
    assert.equal(seen.logo, `url("${gw.url}${brand.logoHref}")`);
    assert.equal(seen.logoLoads, true);
    assert.match(seen.footer ?? '', /易云科技/);
    assert.equal(seen.icons.at(-1), brand.faviconHref);
    assert.deepEqual(problems, []);

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'branding-dce5.png'), fullPage: true });
  });

  it('leaves the page’s attribute values as the page wrote them, however its comments and tags are malformed', async (t) => {
    const hostile = '<a title="--></body><img src=x onerror=alert(1)>">hi</a>';
    const bodies = [
      `<!--> visible ${hostile}`,
      `<!---> visible ${hostile}`,
      `<!-- c --!> visible ${hostile}`,
      `<p ="oops>typo</p>${hostile}`,
      `<abcdefghijklmnopq="x>text</abcdefghijklmnopq="x>${hostile}`,
    ];
    const up = await upstreamFor(t, {
      handler: (req, res) => {
        const body = bodies[Number(req.url!.slice(1))]!;
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        res.end(`<!doctype html><html><head><title>t</title></head><body>${body}</body></html>`);
      },
    });
    const gw = await brandedGateway(t, up.url);
    const { context } = await launchBrowser(t);
    const page = await context.newPage();
    for (const [i, body] of bodies.entries()) {
      await page.goto(`${gw.url}/${i}`);
      const seen = await page.evaluate(() => ({
        images: document.querySelectorAll('img').length,
        title: document.querySelector('a[title]')?.getAttribute('title') ?? null,
        footers: document.querySelectorAll('body > .portico-footer').length,
      }));
      assert.deepEqual(
        seen,
        { images: 0, title: '--></body><img src=x onerror=alert(1)>', footers: 1 },
        body,
      );
    }
  });
});
