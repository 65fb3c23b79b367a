// The demo "customer system" (云管平台 Yiyun) that Portico serves at `/` in `npm start`.
// It plays the part of the seed's customer product: a portal with its own left menu, into which
// the gateway's embeddable navigation (`<portico-nav>` + /_portico/nav.js) adds the AI platform.
// It trusts the identity headers only because the demo runs it behind Portico on loopback.
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import {
  closeServer,
  type DemoIdentity,
  type DemoServer,
  type DemoServerOptions,
  displayName,
  escapeHtml,
  headerTitle,
  IDENTITY_HEADERS,
  listen,
  methodNotAllowed,
  pathOf,
  readIdentity,
  sendAsset,
  sendHtml,
  sendJson,
  sendText,
  staticAsset,
  type StaticAsset,
} from './common.ts';

export const CUSTOMER_PRODUCT_NAME = '云管平台 Yiyun';

const LOGO_SVG = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 48 48" width="28" height="28" aria-hidden="true">
<defs><linearGradient id="yy" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="#4fa3ff"/><stop offset="1" stop-color="#0a5cd8"/></linearGradient></defs>
<rect width="48" height="48" rx="10" fill="url(#yy)"/>
<path d="M15 32h19a7 7 0 0 0 .9-13.9A10 10 0 0 0 15.6 20 6 6 0 0 0 15 32z" fill="#fff"/>
<path d="M21 27l3-6 3 6m-5.2-2h4.4" stroke="#0a5cd8" stroke-width="1.8" fill="none" stroke-linecap="round" stroke-linejoin="round"/>
</svg>`;

const MENU: { icon: string; label: string; active?: boolean }[] = [
  { icon: '▦', label: '工作台', active: true },
  { icon: '▣', label: '云主机 ECS' },
  { icon: '◫', label: '云硬盘' },
  { icon: '⬡', label: '虚拟私有云 VPC' },
  { icon: '◎', label: '对象存储' },
  { icon: '◈', label: '容器服务' },
  { icon: '◔', label: '监控告警' },
  { icon: '☰', label: '费用中心' },
];

export async function startCustomerSystem(options: DemoServerOptions = {}): Promise<DemoServer> {
  const css = staticAsset(
    await readFile(new URL('./assets/customer/yiyun.css', import.meta.url)),
    'text/css; charset=utf-8',
  );
  const favicon = staticAsset(LOGO_SVG, 'image/svg+xml');
  const server = createServer((req, res) => handle(req, res, { css, favicon }));
  server.on('clientError', (_err, socket) => socket.destroy());
  const { url, port } = await listen(server, options);
  return { url, port, close: () => closeServer(server) };
}

function handle(
  req: IncomingMessage,
  res: ServerResponse,
  assets: { css: StaticAsset; favicon: StaticAsset },
) {
  if (req.method !== 'GET' && req.method !== 'HEAD') return methodNotAllowed(req, res);
  const path = pathOf(req);
  switch (path) {
    case '/':
    case '/index.html':
      return sendHtml(req, res, 200, homePage(readIdentity(req.headers)));
    case '/api/whoami':
      return sendJson(req, res, 200, readIdentity(req.headers));
    case '/assets/yiyun.css':
      return sendAsset(req, res, assets.css);
    case '/favicon.ico':
    case '/favicon.svg':
      return sendAsset(req, res, assets.favicon);
    case '/healthz':
      return sendText(req, res, 200, 'ok\n');
    default:
      return sendHtml(req, res, 404, notFoundPage(path));
  }
}

function layout(title: string, id: DemoIdentity, main: string): string {
  const menu = MENU.map(
    (m) =>
      `<li><a class="menu-item${m.active ? ' is-active' : ''}" href="/"${m.active ? ' aria-current="page"' : ''}>` +
      `<span class="menu-icon" aria-hidden="true">${m.icon}</span>${escapeHtml(m.label)}</a></li>`,
  ).join('\n          ');
  const account = id.anonymous
    ? `<span class="user-chip is-anonymous">未登录 · anonymous</span>
        <a class="btn btn-light" href="/_portico/login?rd=%2F">登录 Log in</a>`
    : `<span class="user-chip"><span class="avatar" aria-hidden="true">${escapeHtml(initial(displayName(id)))}</span>${escapeHtml(displayName(id))}</span>
        <a class="btn btn-ghost" href="/_portico/logout">退出 Log out</a>`;
  return `<!doctype html>
<html lang="zh-CN">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>${escapeHtml(title)} · ${CUSTOMER_PRODUCT_NAME}</title>
  <link rel="icon" href="/favicon.svg" type="image/svg+xml">
  <link rel="stylesheet" href="/assets/yiyun.css">
  <script src="/_portico/nav.js" defer></script>
</head>
<body>
  <header class="topbar">
    <a class="brand" href="/">${LOGO_SVG}<span class="brand-name">${CUSTOMER_PRODUCT_NAME}</span><span class="brand-tag">demo customer system</span></a>
    <div class="topbar-search" aria-hidden="true">搜索资源、文档、控制台功能</div>
    <div class="topbar-right">
      <span class="region">华东1（杭州）</span>
      ${account}
    </div>
  </header>
  <div class="frame">
    <aside class="sidebar">
      <nav class="menu" aria-label="主导航">
        <div class="menu-group">产品与服务</div>
        <ul>
          ${menu}
        </ul>
        <div class="menu-group">智能计算</div>
        <portico-nav></portico-nav>
      </nav>
      <div class="sidebar-foot">v3.8.2 · 演示环境</div>
    </aside>
    <main class="content">
${main}
      <footer class="footer">© 2024 Yiyun 云管平台 · 演示用客户系统（scripts/demo/customerSystem.ts）· 由 Portico 统一入口代理</footer>
    </main>
  </div>
</body>
</html>
`;
}

function homePage(id: DemoIdentity): string {
  const greeting = id.anonymous ? '您好，访客' : `您好，${escapeHtml(displayName(id))}`;
  const main = `      <div class="breadcrumb">首页 / 工作台</div>
      <h1 class="page-title">${greeting}</h1>
      <p class="page-sub">欢迎使用云管平台。AI 算力中心已通过 OEM OUT 集成到本平台，单点登录，无需再次登录。</p>

      <section class="stats" aria-label="资源概览">
        <div class="stat"><div class="stat-label">云主机</div><div class="stat-value">128</div><div class="stat-note">运行中 117 · 已停止 11</div></div>
        <div class="stat"><div class="stat-label">云硬盘</div><div class="stat-value">342</div><div class="stat-note">已用 86.4 TiB</div></div>
        <div class="stat"><div class="stat-label">活动告警</div><div class="stat-value is-warn">3</div><div class="stat-note">严重 0 · 警告 3</div></div>
        <div class="stat"><div class="stat-label">本月费用</div><div class="stat-value">¥ 86,420</div><div class="stat-note">较上月 −4.2%</div></div>
      </section>

      <div class="grid">
        <section class="card card-ai">
          <div class="card-head"><h2>AI 算力中心</h2><span class="tag tag-blue">OEM OUT</span></div>
          <p>DCE 5 AI 算力中心作为子模块集成在云管平台中：统一域名、统一登录，GPU 集群、训练任务与 Web 终端一站直达。</p>
          <a class="btn btn-primary" href="/dce5/">进入 AI 算力中心 →</a>
        </section>

        <section class="card whoami" aria-labelledby="whoami-title">
          <div class="card-head"><h2 id="whoami-title">当前身份 · Who am I</h2>${
            id.anonymous
              ? '<span class="tag tag-grey">anonymous</span>'
              : '<span class="tag tag-green">已认证</span>'
          }</div>
${whoamiBody(id)}
        </section>
      </div>

      <section class="card">
        <div class="card-head"><h2>最近操作</h2><span class="muted">近 24 小时</span></div>
        <table class="table">
          <thead><tr><th>时间</th><th>资源</th><th>操作</th><th>状态</th></tr></thead>
          <tbody>
            <tr><td>09:42</td><td>ecs-prod-web-07</td><td>重启实例</td><td><span class="dot dot-green"></span>成功</td></tr>
            <tr><td>09:15</td><td>vpc-hz-core</td><td>修改安全组规则</td><td><span class="dot dot-green"></span>成功</td></tr>
            <tr><td>08:03</td><td>disk-data-0192</td><td>扩容 500 GiB → 1 TiB</td><td><span class="dot dot-blue"></span>进行中</td></tr>
            <tr><td>昨天 22:31</td><td>oss-backup-2024</td><td>生命周期策略</td><td><span class="dot dot-orange"></span>待审批</td></tr>
          </tbody>
        </table>
      </section>`;
  return layout('工作台', id, main);
}

function whoamiBody(id: DemoIdentity): string {
  if (id.anonymous) {
    return `          <p class="anonymous">anonymous — 未收到任何身份头（X-Forwarded-User 等）。</p>
          <p class="muted">通过 Portico 登录后，网关会向本系统注入用户、邮箱、用户组与显示名。</p>`;
  }
  const rows = IDENTITY_HEADERS.map((name) => {
    const v = id.headers[name];
    const value =
      v === undefined
        ? '<span class="muted">—</span>'
        : name === 'x-forwarded-groups'
          ? id.groups.map((g) => `<span class="tag tag-grey">${escapeHtml(g)}</span>`).join(' ')
          : escapeHtml(v);
    return `            <tr><th scope="row"><code>${headerTitle(name)}</code></th><td>${value}</td></tr>`;
  }).join('\n');
  return `          <table class="kv">
${rows}
          </table>`;
}

function notFoundPage(path: string): string {
  return `<!doctype html>
<html lang="zh-CN">
<head><meta charset="utf-8"><title>404 · ${CUSTOMER_PRODUCT_NAME}</title><link rel="stylesheet" href="/assets/yiyun.css"></head>
<body class="plain">
  <main class="notfound"><h1>404</h1><p>页面不存在：<code>${escapeHtml(path)}</code></p><a class="btn btn-primary" href="/">返回工作台</a></main>
</body>
</html>
`;
}

function initial(name: string): string {
  return (Array.from(name)[0] ?? '?').toUpperCase();
}
