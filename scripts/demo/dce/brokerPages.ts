// The realm's pages, with Keycloak's element ids and classes (`.login-pf`, `#kc-header`,
// `#kc-social-providers`, `#social-<alias>`, `#kc-error-message`) and DCE's footer classes, so the
// login-page CSS of ghippo's Appearance settings has realistic hooks. There is no
// username/password form (`#kc-login`): this realm has no local users, everyone comes through an
// identity provider. Styles are inline: the pages live at several depths under the realm.
import type { ServerResponse } from 'node:http';
import { escapeHtml } from '../common.ts';

const STYLE = `
*{box-sizing:border-box}
body{margin:0;min-height:100vh;display:flex;flex-direction:column;align-items:center;justify-content:center;
  font-family:"PingFang SC","Microsoft YaHei",system-ui,-apple-system,"Segoe UI",sans-serif;
  background:linear-gradient(160deg,#121a2f 0%,#233a7a 100%);color:#1d2433}
.login-pf-page{width:min(420px,92vw)}
#kc-header{color:#fff;text-align:center;font-size:20px;font-weight:600;margin-bottom:18px;letter-spacing:.02em}
.card-pf{background:#fff;border-radius:10px;padding:28px 28px 22px;box-shadow:0 18px 50px rgba(0,0,0,.3)}
#kc-page-title{font-size:18px;margin:0 0 18px}
.kc-social-links{list-style:none;margin:0;padding:0;display:grid;gap:10px}
.kc-social-item{display:flex;align-items:center;justify-content:center;gap:8px;padding:11px 14px;border:1px solid #c9d2e3;
  border-radius:6px;color:#1d2433;text-decoration:none;font-weight:600}
.kc-social-item:hover{border-color:#3b5bff;color:#3b5bff}
.kc-social-section h2{font-size:13px;font-weight:500;color:#7b8598;margin:0 0 10px}
.alert-error{background:#fdecec;color:#a61b1b;border:1px solid #f5c2c2;border-radius:6px;padding:9px 12px;font-size:13px;margin-bottom:14px}
.instruction{margin:0 0 10px}
.detail{color:#7b8598;font-size:12px;overflow-wrap:anywhere}
.footer-content{margin-top:18px;color:#c9d2e3;font-size:12px;text-align:center}
.footer-item{margin:0 6px}
`;

function page(title: string, body: string): string {
  return `<!DOCTYPE html>
<html lang="zh-CN" class="login-pf">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body class="login-pf">
<div class="login-pf-page">
  <div id="kc-header" class="login-pf-page-header"><div id="kc-header-wrapper">AI 算力中心 · DCE 5</div></div>
  <div class="card-pf">
${body}
  </div>
  <footer class="footer-content"><span class="footer-item">DaoCloud DCE 5 demo</span><span class="footer-item">realm ghippo</span></footer>
</div>
</body>
</html>
`;
}

export type LoginChoice = { alias: string; displayName: string; href: string };

export function loginPage(choices: LoginChoice[]): string {
  const list =
    choices.length === 0
      ? '<p class="alert-error" role="alert">尚未配置身份提供商。No identity provider is registered in this realm (Access Control → Identity Provider).</p>'
      : `<div id="kc-social-providers" class="kc-social-section">
      <h2>使用以下方式登录 · Sign in with</h2>
      <ul class="kc-social-links">
${choices
  .map(
    (c) =>
      `        <li><a id="social-${escapeHtml(c.alias)}" class="kc-social-item" href="${escapeHtml(c.href)}"><span>${escapeHtml(c.displayName)}</span></a></li>`,
  )
  .join('\n')}
      </ul>
    </div>`;
  return page(
    '登录 · AI 算力中心',
    `    <header class="login-pf-header"><h1 id="kc-page-title">登录到您的账户 · Sign in to your account</h1></header>
    <div id="kc-content"><div id="kc-content-wrapper">
    ${list}
    </div></div>`,
  );
}

/** Keycloak's error/info page: a title, a sentence, and optionally what went wrong and a form. */
export function messagePage(title: string, message: string, detail?: string, form?: string): string {
  return page(
    `${title} · AI 算力中心`,
    `    <header class="login-pf-header"><h1 id="kc-page-title">${escapeHtml(title)}</h1></header>
    <div id="kc-content"><div id="kc-content-wrapper"><div id="kc-error-message">
      <p class="instruction">${escapeHtml(message)}</p>
${detail ? `      <p class="detail">${escapeHtml(detail)}</p>\n` : ''}${form ?? ''}
    </div></div></div>`,
  );
}

export function sendPage(res: ServerResponse, status: number, html: string): void {
  const buf = Buffer.from(html);
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'SAMEORIGIN',
    'referrer-policy': 'no-referrer',
    'content-length': String(buf.length),
  });
  res.end(buf);
}
