// The AI platform's HTML: one shell for every page of its single-page UI, with DCE 5's class
// names (`.ghippo-header`, `.ghippo-header-logo`, `.ghippo-header-nav-main`, `.dao-nav`, `#app`,
// `.footer-content`), the hooks of ghippo's Appearance CSS and of Portico's branding. The shell
// holds no identity: static/app.js signs in against the realm and fills `#app` from `/apis/…`.
// Every link and asset is RELATIVE, never `/…`, so the pages work under any proxy prefix.
import { escapeHtml } from '../common.ts';

export const AI_PRODUCT_NAME = 'AI 算力中心';

export type SpaPage = 'dashboard' | 'terminal' | 'access-keys';

export type UiConfig = {
  /** The realm's public client the UI signs in as. */
  clientId: string;
  realm: string;
  /** How often the UI asks the realm whether its session is still alive. */
  sessionCheckMs: number;
};

const NAV: [SpaPage | 'jobs', string, string][] = [
  ['dashboard', './', '算力概览'],
  ['jobs', './#jobs', '训练任务'],
  ['terminal', 'terminal', 'Web 终端'],
  ['access-keys', 'access-keys', '访问密钥'],
];

const TITLES: Record<SpaPage, string> = {
  dashboard: '算力概览',
  terminal: 'Web 终端',
  'access-keys': '访问密钥',
};

/** `root`: the relative way to the app root ('' for top-level pages, '../' per extra segment). */
function layout(o: {
  page: SpaPage | 'notfound';
  title: string;
  main: string;
  head?: string;
  root?: string;
}): string {
  const root = o.root ?? '';
  const href = (h: string) => (h.startsWith('./') ? (root || './') + h.slice(2) : root + h);
  const links = (cls: string) =>
    NAV.map(
      ([key, h, label]) =>
        `<a class="${cls}${key === o.page ? ' is-active' : ''}" href="${href(h)}"${key === o.page ? ' aria-current="page"' : ''}>${label}</a>`,
    ).join('');
  return `<!doctype html>
<html lang="zh-CN">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>${escapeHtml(o.title)} · ${AI_PRODUCT_NAME}</title>
  <link rel="icon" href="${root}static/logo.svg" type="image/svg+xml">
  <link rel="stylesheet" href="${root}static/app.css">
${o.head ?? ''}</head>
<body class="page-${o.page}">
  <header class="ghippo-header"><a class="ghippo-header-logo" href="${root || './'}"><img src="${root}static/logo.svg" alt=""><span class="ghippo-header-logo-name">${AI_PRODUCT_NAME}</span></a><nav class="ghippo-header-nav-main">${links('ghippo-header-nav-item')}</nav><div class="ghippo-header-right"><a class="back" href="${root}../">← 返回云管平台</a><span class="user" id="current-user" hidden></span><button class="btn btn-ghost logout" id="logout" type="button" hidden>退出 Log out</button></div></header>
  <div class="ghippo-body">
    <aside class="dao-nav" aria-label="AI Lab"><div class="dao-nav__head"><i class="dao-icon dao-iconfont icon-service-global dao-nav__head-icon" aria-hidden="true"></i><span>AI Lab</span></div>${links('dao-nav__item')}</aside>
${o.main}
  </div>
  <footer class="footer-content"><span class="footer-item">© 2024 DaoCloud 道客</span><span class="footer-item">DCE 5.0 · ${AI_PRODUCT_NAME}（演示）</span></footer>
</body>
</html>
`;
}

export function spaPage(page: SpaPage, config: UiConfig): string {
  // JSON inside <script>: `<` is escaped so no value can close the element.
  const json = JSON.stringify(config).replace(/</g, '\\u003c');
  const head = [
    `  <script type="application/json" id="dce-config">${json}</script>`,
    '  <script src="static/app.js" defer></script>',
    ...(page === 'terminal'
      ? [
          '  <link rel="stylesheet" href="static/xterm/xterm.css">',
          '  <script src="static/xterm/xterm.js" defer></script>',
          '  <script src="static/xterm/addon-fit.js" defer></script>',
          '  <script src="static/terminal.js" defer></script>',
        ]
      : []),
  ].join('\n');
  const main =
    page === 'terminal'
      ? `    <main id="app" class="terminal-main">
      <div class="terminal-bar">
        <h1>Web 终端 <small id="terminal-user">@dce5</small></h1>
        <span id="terminal-status" class="conn is-connecting" role="status">连接中…</span>
        <button id="terminal-reconnect" class="btn btn-ghost" type="button" hidden>重新连接</button>
      </div>
      <div id="terminal" class="term-host" aria-label="terminal"></div>
      <noscript><p class="sub">Web 终端需要启用 JavaScript。</p></noscript>
    </main>`
      : `    <main id="app" class="main" data-page="${page}" aria-live="polite">
      <p class="sub" id="app-status" role="status">正在登录… Signing in…</p>
      <noscript><p class="sub">AI 算力中心需要启用 JavaScript。</p></noscript>
    </main>`;
  return layout({ page, title: TITLES[page], main, head: `${head}\n` });
}

export function notFoundPage(path: string): string {
  const root = '../'.repeat(Math.max(0, path.split('/').length - 2));
  return layout({
    page: 'notfound',
    title: '404',
    root,
    main: `    <main id="app" class="main"><section class="panel notfound"><h1>404</h1><p>页面不存在：<code>${escapeHtml(path)}</code></p><a class="btn btn-primary" href="${root || './'}">返回算力概览</a></section></main>`,
  });
}
