import type { Lang } from '../pages/negotiate.ts';

export type Localised = Readonly<Record<Lang, string>>;

export type BrandColors = {
  readonly primary: string;
  readonly background: string;
  readonly header: string;
  readonly headerText: string;
};

export type ThemeInput = {
  productName: Localised;
  colors: BrandColors;
  /** Absolute path or URL of the logo, when the brand has one. */
  logoHref: string | undefined;
  extraCss: string;
};

/**
 * The stylesheet injected into branded upstream pages (and linked from Portico's own pages):
 * CSS variables from the brand, then rules on DCE 5's documented hooks so the real product shows
 * the brand's logo, name and colours, Keycloak's login button, the injected footer, and last the
 * admin's extra CSS. No inline code anywhere: pages with a strict CSP only need style-src 'self'.
 * The hook rules use !important because DCE's own rules are scoped (`[data-v-…]`) and load later.
 */
export function renderTheme(t: ThemeInput): string {
  const { colors } = t;
  const out: string[] = [
    '/* Portico brand theme, generated from branding/brand.yaml. */',
    `:root{--portico-primary:${colors.primary};--portico-bg:${colors.background};--portico-header-bg:${colors.header};--portico-header-text:${colors.headerText}}`,
    '',
    '/* DCE 5 (ghippo) header */',
    '.ghippo-header{background:var(--portico-header-bg)!important;background-color:var(--portico-header-bg)!important;color:var(--portico-header-text)!important}',
    '.ghippo-header-logo{color:var(--portico-header-text)!important}',
  ];
  if (t.logoHref) {
    out.push(`.ghippo-header-logo img{content:url(${cssString(t.logoHref)})!important;object-fit:contain}`);
  }
  const en = t.productName['en-US'];
  const zh = t.productName['zh-CN'];
  out.push(
    '.ghippo-header-logo-name{font-size:0!important;letter-spacing:0!important}',
    `.ghippo-header-logo-name::after{content:${cssString(en)};font-size:16px;font-weight:600;letter-spacing:.02em;color:var(--portico-header-text);white-space:nowrap}`,
  );
  if (zh !== en) out.push(`.ghippo-header-logo-name:lang(zh)::after{content:${cssString(zh)}}`);
  out.push(
    '.ghippo-header-nav-main a,.ghippo-header-nav-main .ghippo-header-nav-item{color:color-mix(in srgb,var(--portico-header-text) 80%,transparent)!important}',
    '.ghippo-header-nav-main a:hover,.ghippo-header-nav-main a:focus-visible,.ghippo-header-nav-main [aria-current="page"],.ghippo-header-nav-main .is-active,.ghippo-header-nav-main .router-link-active{color:var(--portico-header-text)!important;border-bottom-color:var(--portico-header-text)!important}',
    '.ghippo-header-nav-main a:focus-visible{outline:2px solid var(--portico-header-text);outline-offset:-2px}',
    '',
    '/* Keycloak login page */',
    '#kc-login,#kc-form-buttons input[type="submit"]{background:var(--portico-primary)!important;background-color:var(--portico-primary)!important;border-color:var(--portico-primary)!important;color:#fff!important}',
    '#kc-login:hover,#kc-login:focus-visible{filter:brightness(.92)}',
    '',
    '/* The footer Portico inserts before </body> */',
    'div.portico-footer{clear:both;padding:12px 24px;text-align:center;font:12px/1.6 system-ui,-apple-system,"Segoe UI","PingFang SC","Microsoft YaHei",sans-serif;color:#6b7280}',
    'div.portico-footer p{margin:0}',
    '.portico-footer a{color:var(--portico-primary)}',
    '.portico-footer a:focus-visible{outline:2px solid var(--portico-primary);outline-offset:2px}',
  );
  if (t.extraCss.trim()) out.push('', '/* extraCss */', t.extraCss.trim());
  return `${out.join('\n')}\n`;
}

/** A CSS string literal that is plain ASCII and cannot end early (quotes, backslashes, newlines escaped). */
export function cssString(value: string): string {
  let out = '"';
  for (const ch of value) {
    const cp = ch.codePointAt(0)!;
    out +=
      cp < 0x20 || cp > 0x7e || ch === '"' || ch === '\\' || ch === '<' || ch === '>' || ch === '&'
        ? `\\${cp.toString(16)} `
        : ch;
  }
  return `${out}"`;
}
