import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { type BrandingExports, brandingFeature } from '../../gateway/branding/brandingFeature.ts';
import type { Brand } from '../../gateway/branding/loadBrand.ts';
import { type StartedGateway, startGateway } from '../helpers/gateway.ts';

/** The brand a gateway's branding feature serves now. */
export function brandOf(gw: StartedGateway): Brand {
  const brand = (gw.gateway.feature('branding')?.exports as BrandingExports | undefined)?.brand();
  if (!brand) throw new Error('this gateway serves no brand');
  return brand;
}

let lastBranded: StartedGateway | undefined;
/** The brand of the gateway brandedGateway() started last (tests in a file run one at a time). */
export function currentBrand(): Brand {
  if (!lastBranded) throw new Error('no branded gateway was started');
  return brandOf(lastBranded);
}

export const LOGO_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 8 8"><rect width="8" height="8" fill="#f60"/></svg>';

export const BRAND_YAML = `productName: { zh-CN: 测试品牌, en-US: Test Brand }
logo: logo.svg
favicon: favicon.svg
colors: { primary: "#ff6600", background: "#fafafa" }
footerHtml:
  zh-CN: '页脚 <a href="https://example.com/zh">链接</a>'
  en-US: 'Footer <a href="https://example.com/en" onclick="steal()">link</a><script>alert(1)</script><img src=x onerror=alert(1)>'
`;

/** A branding folder in a temp dir, removed after the test. */
export function brandDir(
  t: TestContext,
  files: Record<string, string> = {},
): { dir: string; write(name: string, text: string): void } {
  const dir = mkdtempSync(join(tmpdir(), 'portico-brand-'));
  const all: Record<string, string> = {
    'brand.yaml': BRAND_YAML,
    'logo.svg': LOGO_SVG,
    'favicon.svg': LOGO_SVG.replace('#f60', '#06f'),
    ...files,
  };
  for (const [name, text] of Object.entries(all)) writeFileSync(join(dir, name), text);
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return { dir, write: (name, text) => writeFileSync(join(dir, name), text) };
}

/** A gateway with the branding feature on a fresh brand folder and one branded route to `upstream`. */
export async function brandedGateway(
  t: TestContext,
  upstream: string,
  options: {
    files?: Record<string, string>;
    watch?: boolean;
    routeExtra?: string;
    configWatch?: boolean;
  } = {},
): Promise<StartedGateway & { brandDir: string; writeBrand(name: string, text: string): void }> {
  const brand = brandDir(t, options.files);
  const yaml = `routes:\n  - { id: app, path: /, upstream: "${upstream}", branding: true${options.routeExtra ?? ''} }\n`;
  const gw = await startGateway(t, yaml, {
    features: [brandingFeature({ dir: brand.dir, watch: options.watch ?? false })],
    watch: options.configWatch ?? false,
  });
  lastBranded = gw;
  return { ...gw, brandDir: brand.dir, writeBrand: brand.write };
}

export const HTML_ACCEPT = { accept: 'text/html,application/xhtml+xml;q=0.9,*/*;q=0.8' };

export { until } from '../helpers/eventually.ts';
