import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import pino from 'pino';
import { diskAssetSource } from '../../gateway/branding/assetSource.ts';
import { loadBrandSync, parseBrandText } from '../../gateway/branding/loadBrand.ts';
import { sanitizeBrandHtml } from '../../gateway/branding/sanitize.ts';
import { brandingFeature } from '../../gateway/branding/brandingFeature.ts';
import { cssString } from '../../gateway/branding/theme.ts';
import { ConfigError } from '../../gateway/config/loadConfig.ts';
import { startGateway } from '../helpers/gateway.ts';
import { send } from '../helpers/http.ts';
import { upstreamFor } from '../helpers/upstream.ts';
import { BRAND_YAML, HTML_ACCEPT, brandDir, brandedGateway, currentBrand, until } from './helpers.ts';

function problemsOf(fn: () => unknown): [number | undefined, string, string][] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems.map((p) => [p.line, p.path, p.message]);
  }
  assert.fail('expected a ConfigError');
}

describe('brand.yaml', () => {
  it('reports every problem with its YAML path and line', () => {
    const text = [
      'productName: { fr: Nom }',
      'logo: ../etc/passwd',
      'colors:',
      '  primary: "red; background: url(//evil)"',
      '  accent: "#fff"',
      'footerHtml: 3',
      'extraCss: theme.scss',
    ].join('\n');
    const problems = problemsOf(() => parseBrandText(text));
    assert.deepEqual(
      problems.map(([line, path]) => [line, path]),
      [
        [1, 'productName'],
        [2, 'logo'],
        [4, 'colors.primary'],
        [5, 'colors.accent'],
        [6, 'footerHtml'],
        [7, 'extraCss'],
      ],
    );
    assert.match(problems[0]![2], /a string, or \{ zh-CN/);
    assert.match(problems[3]![2], /unknown key "accent"/);
  });

  it('reports a YAML syntax error with its line', () => {
    const problems = problemsOf(() => parseBrandText('productName: Test\ncolors: { primary: "#fff"\n'));
    assert.equal(problems.length > 0, true);
    assert.equal(typeof problems[0]![0], 'number');
  });

  it('reports a repeated key at its line, and reads a huge map in linear time (a brand key uploads brand.yaml)', () => {
    const problems = problemsOf(() => parseBrandText('productName: A\nlogo: a.svg\nproductName: B\n'));
    assert.deepEqual(
      problems.map(([line, , message]) => [line, message]),
      [[3, 'Map keys must be unique']],
    );
    // yaml's own uniqueKeys check took ~20 s for this; one pass takes well under a second.
    const huge = `productName: A\n${Array.from({ length: 50_000 }, (_, i) => `k${i}: 1`).join('\n')}\n`;
    const started = performance.now();
    const many = problemsOf(() => parseBrandText(huge));
    assert.ok(performance.now() - started < 5000, `${Math.round(performance.now() - started)} ms`);
    assert.ok(many.length > 0);
  });

  it('names a missing file at the line that refers to it', (t) => {
    const { dir } = brandDir(t, { 'brand.yaml': 'productName: X\n\nfavicon: missing.svg\n' });
    const problems = problemsOf(() => loadBrandSync(diskAssetSource(dir)));
    assert.deepEqual(problems, [[3, 'favicon', `there is no file "missing.svg" in ${dir}`]]);
  });

  it('keeps the gateway from starting when it is broken, like routes.yaml', async (t) => {
    const { dir } = brandDir(t, { 'brand.yaml': 'productName: X\nlogo: 42\n' });
    await assert.rejects(
      startGateway(t, 'routes:\n  - { id: app, path: /, upstream: "http://127.0.0.1:9/" }\n', {
        features: [brandingFeature({ dir, watch: false })],
      }),
      (err: unknown) => err instanceof ConfigError && err.problems[0]?.line === 2,
    );
  });

  it('sanitises the footer: no scripts, handlers, styles or javascript: links', () => {
    const out = sanitizeBrandHtml(
      '<p onclick="x()">Hi <a href="javascript:alert(1)">a</a> <a href="https://ok.example/" target="_blank">b</a>' +
        '<script>alert(1)</script><style>*{}</style><img src=x onerror=alert(1)><iframe src="//x"></iframe>' +
        '<b style="color:red">bold</b></p>',
    );
    assert.equal(
      out,
      '<p>Hi <a>a</a> <a href="https://ok.example/" target="_blank" rel="noopener noreferrer">b</a><b>bold</b></p>',
    );
  });

  it('turns names into CSS strings that cannot break out', () => {
    assert.equal(cssString('A "B" \\ </style>'), '"A \\22 B\\22  \\5c  \\3c /style\\3e "');
    assert.equal(cssString('易云'), '"\\6613 \\4e91 "');
  });
});

describe('the branding endpoints', () => {
  it('serve hashed assets for a year and unhashed ones with revalidation', async (t) => {
    const gw = await brandedGateway(t, 'http://127.0.0.1:9/');
    const brand = currentBrand();
    const hashed = await send(gw.url, brand.logoHref!);
    assert.equal(hashed.status, 200);
    assert.equal(hashed.headers['content-type'], 'image/svg+xml');
    assert.equal(hashed.headers['cache-control'], 'public, max-age=31536000, immutable');
    assert.match(String(hashed.headers.etag), /^"[0-9a-f]{16}"$/);
    assert.match(String(hashed.headers['content-security-policy']), /sandbox/);

    const plain = await send(gw.url, '/_portico/branding/logo.svg');
    assert.equal(plain.headers['cache-control'], 'no-cache');
    assert.deepEqual(plain.body, hashed.body);
    const revalidated = await send(gw.url, '/_portico/branding/logo.svg', {
      headers: { 'if-none-match': String(plain.headers.etag) },
    });
    assert.equal(revalidated.status, 304);

    const stale = await send(gw.url, '/_portico/branding/0000000000000000/logo.svg');
    assert.equal(stale.headers['cache-control'], 'no-cache');

    const theme = await send(gw.url, brand.theme.href);
    assert.equal(theme.headers['content-type'], 'text/css; charset=utf-8');
    assert.equal(theme.headers['cache-control'], 'public, max-age=31536000, immutable');
    assert.match(theme.text, /\.ghippo-header\{background:var\(--portico-header-bg\)!important/);
    assert.match(theme.text, /--portico-primary:#ff6600/);
    assert.ok(theme.text.includes(`.ghippo-header-logo img{content:url("${brand.logoHref}")!important`));
    assert.ok(theme.text.includes('.ghippo-header-logo-name::after{content:"Test Brand"'));
    assert.ok(
      theme.text.includes('.ghippo-header-logo-name:lang(zh)::after{content:"\\6d4b \\8bd5 \\54c1 \\724c "}'),
    );
    assert.match(theme.text, /#kc-login/);

    for (const path of [
      '/_portico/branding/brand.yaml',
      '/_portico/branding/nope.svg',
      '/_portico/branding/..%2fbrand.yaml',
    ]) {
      // Refused by the path checks (400) or not a brand file (404); never served.
      assert.ok([400, 404].includes((await send(gw.url, path)).status), path);
    }
  });

  it("gives Portico's own pages the brand's name, logo, colours and footer in both languages", async (t) => {
    const gw = await brandedGateway(t, 'http://127.0.0.1:9/');
    const brand = currentBrand();
    const en = await send(gw.url, '/_portico/nope', { headers: HTML_ACCEPT });
    assert.equal(en.status, 404);
    assert.match(en.text, /<title>Page not found · Test Brand<\/title>/);
    assert.ok(en.text.includes(`<img class="portico-logo" src="${brand.logoHref}"`));
    assert.ok(en.text.includes(`<link rel="stylesheet" href="${brand.theme.href}">`));
    assert.ok(en.text.includes('--portico-primary:#ff6600'));
    assert.ok(
      en.text.includes(
        '<footer class="portico-footer">Footer <a href="https://example.com/en">link</a></footer>',
      ),
    );
    const zh = await send(gw.url, '/_portico/nope?lang=zh-CN', { headers: HTML_ACCEPT });
    assert.match(zh.text, /<title>页面不存在 · 测试品牌<\/title>/);
    assert.ok(zh.text.includes('页脚 <a href="https://example.com/zh">链接</a>'));
  });
});

describe('hot reload of brand.yaml', () => {
  it("changes the injected theme and Portico's error page without a restart", async (t) => {
    const up = await upstreamFor(t, {
      handler: (_req, res) => {
        res.setHeader('content-type', 'text/html');
        res.end('<html><head></head><body></body></html>');
      },
    });
    const gw = await brandedGateway(t, up.url, { watch: true });
    const themeOf = async () => {
      const page = await send(gw.url, '/', { headers: HTML_ACCEPT });
      const href = /rel="stylesheet" href="([^"]+)"/.exec(page.text)![1]!;
      return { href, css: (await send(gw.url, href)).text };
    };
    const before = await themeOf();
    assert.match(before.css, /#ff6600/);

    gw.writeBrand(
      'brand.yaml',
      BRAND_YAML.replace('Test Brand', 'Renamed Brand').replace('#ff6600', '#00aa55'),
    );
    await until(async () =>
      (await send(gw.url, '/_portico/nope', { headers: HTML_ACCEPT })).text.includes('Renamed Brand'),
    );
    const after = await themeOf();
    assert.notEqual(after.href, before.href);
    assert.match(after.css, /--portico-primary:#00aa55/);
    assert.ok(after.css.includes('content:"Renamed Brand"'));
    // A page cached with the old link still gets the current theme, revalidated rather than immutable.
    const old = await send(gw.url, before.href);
    assert.equal(old.text, after.css);
    assert.equal(old.headers['cache-control'], 'no-cache');
  });

  it('keeps the last good brand when the new file is broken, and says where in /readyz', async (t) => {
    const gw = await brandedGateway(t, 'http://127.0.0.1:9/', { watch: true });
    gw.writeBrand('brand.yaml', `${BRAND_YAML}colors: { primary: blue }\n`);
    await until(async () => {
      const ready = JSON.parse((await send(gw.url, '/_portico/readyz')).text);
      return ready.checks.branding.lastError !== undefined;
    });
    const ready = JSON.parse((await send(gw.url, '/_portico/readyz')).text);
    assert.equal(ready.checks.branding.ok, true);
    assert.deepEqual(ready.checks.branding.lastError, {
      file: 'brand.yaml',
      problems: [{ path: '', line: 8, column: 1 }],
    });
    const page = await send(gw.url, '/_portico/nope', { headers: HTML_ACCEPT });
    assert.match(page.text, /Test Brand/);
  });

  it('names no folder and repeats no message in the public /readyz; the log has them', async (t) => {
    const lines: { msg?: string; problems?: { message: string }[] }[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    const brand = brandDir(t);
    const gw = await startGateway(t, 'routes:\n  - { id: app, path: /, upstream: "http://127.0.0.1:9/" }\n', {
      features: [brandingFeature({ dir: brand.dir, watch: true })],
      logger,
    });
    brand.write('brand.yaml', `${BRAND_YAML.replace('logo: logo.svg', 'logo: missing-logo.png')}`);
    let text = '';
    await until(async () => {
      text = (await send(gw.url, '/_portico/readyz')).text;
      return text.includes('lastError');
    });
    const ready = JSON.parse(text);
    assert.deepEqual(ready.checks.branding.lastError, {
      file: 'brand.yaml',
      problems: [{ path: 'logo', line: 2, column: 7 }],
    });
    assert.ok(!text.includes(brand.dir), text);
    assert.doesNotMatch(text, /message|no file|missing-logo/);
    const logged = lines.find((l) => l.msg?.startsWith('brand rejected'));
    assert.match(logged?.problems?.[0]?.message ?? '', /missing-logo\.png/);
    assert.ok(logged?.problems?.[0]?.message.includes(brand.dir));
  });
});
