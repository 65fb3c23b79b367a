import type { PageBrand } from './brandSource.ts';
import { escapeHtml } from './escapeHtml.ts';
import type { Lang } from './negotiate.ts';

export type PageOptions = {
  lang: Lang;
  title: string;
  heading: string;
  /** Trusted HTML for the page body (callers escape what they interpolate). */
  bodyHtml: string;
  status?: number;
};

/**
 * The frame of every page Portico renders itself (login chooser, logged out, errors). It carries no
 * script at all, so Portico's own CSP can forbid scripts on these pages outright.
 */
export function renderPage(o: PageOptions, brand: PageBrand): string {
  const product = escapeHtml(brand.productName(o.lang));
  const logo = brand.logoHref
    ? `<img class="portico-logo" src="${escapeHtml(brand.logoHref)}" alt="" height="32">`
    : '';
  return `<!doctype html>
<html lang="${o.lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${escapeHtml(o.title)} · ${product}</title>
${brand.faviconHref ? `<link rel="icon" href="${escapeHtml(brand.faviconHref)}">` : ''}
<style>
:root{--portico-primary:${cssColor(brand.primaryColor)};--portico-bg:${cssColor(brand.backgroundColor)}}
*{box-sizing:border-box}
body{margin:0;min-height:100vh;display:flex;flex-direction:column;font:16px/1.5 system-ui,-apple-system,"Segoe UI","PingFang SC","Microsoft YaHei",sans-serif;background:var(--portico-bg);color:#1f2937}
header.portico-bar{display:flex;align-items:center;gap:.75rem;padding:.75rem 1.5rem;background:#fff;border-bottom:3px solid var(--portico-primary)}
header.portico-bar .portico-name{font-weight:600;font-size:1.1rem}
main{flex:1;display:flex;align-items:center;justify-content:center;padding:2rem 1rem}
.portico-card{background:#fff;border-radius:12px;box-shadow:0 4px 24px rgba(15,23,42,.08);padding:2rem 2.25rem;max-width:30rem;width:100%}
h1{font-size:1.5rem;margin:0 0 .75rem}
.portico-status{color:var(--portico-primary);font-weight:700;font-size:.9rem;letter-spacing:.05em}
.portico-muted{color:#6b7280;font-size:.875rem}
a.portico-button,button.portico-button{display:block;width:100%;text-align:center;margin:.5rem 0;padding:.7rem 1rem;border-radius:8px;border:0;background:var(--portico-primary);color:#fff;font:inherit;font-weight:600;text-decoration:none;cursor:pointer}
a.portico-button.secondary,button.portico-button.secondary{background:#fff;color:#1f2937;border:1px solid #d1d5db}
a.portico-button:focus-visible,button.portico-button:focus-visible,input:focus-visible{outline:3px solid var(--portico-primary);outline-offset:2px}
label{display:block;font-weight:600;margin-top:.75rem}
input{width:100%;padding:.6rem .75rem;border:1px solid #d1d5db;border-radius:8px;font:inherit}
.portico-error{color:#b91c1c}
footer.portico-footer{padding:1rem;text-align:center;color:#6b7280;font-size:.85rem}
</style>
${brand.stylesheetHref ? `<link rel="stylesheet" href="${escapeHtml(brand.stylesheetHref)}">` : ''}
</head>
<body class="portico-page">
<header class="portico-bar">${logo}<span class="portico-name">${product}</span></header>
<main id="main"><div class="portico-card" role="${o.status && o.status >= 400 ? 'alert' : 'region'}" aria-labelledby="portico-heading">
${o.status ? `<div class="portico-status">${o.status}</div>` : ''}
<h1 id="portico-heading">${escapeHtml(o.heading)}</h1>
${o.bodyHtml}
</div></main>
<footer class="portico-footer">${brand.footerHtml(o.lang)}</footer>
</body>
</html>
`;
}

function cssColor(value: string): string {
  return /^(#[0-9a-fA-F]{3,8}|[a-zA-Z]+|rgba?\([\d\s.,%]+\))$/.test(value) ? value : '#2563eb';
}
