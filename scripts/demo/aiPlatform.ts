// The demo "AI 算力中心" (DCE 5) upstream that Portico serves under `/dce5/` in `npm start`.
// Portico strips the prefix, so this server believes it lives at its own root: every link and
// asset in its pages is RELATIVE (`terminal`, `static/app.css`), never `/…`, which keeps it
// working under any prefix. The header uses DCE 5's `ghippo-header*` class names, the hooks
// Portico's branding targets. `/terminal` is a real xterm.js web terminal over a WebSocket
// (`terminal/ws`, subprotocol `tty`) talking to a toy shell (see shell.ts): no child processes.
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';
import {
  closeServer,
  cleanHeaderValue,
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
  redirect,
  sendAsset,
  sendHtml,
  sendJson,
  sendText,
  staticAsset,
  type StaticAsset,
} from './common.ts';
import { createShell } from './shell.ts';

export const AI_PRODUCT_NAME = 'AI 算力中心';
export const TERMINAL_PATH = '/terminal/ws';
export const TERMINAL_PROTOCOL = 'tty';

const PING_INTERVAL_MS = 30_000;
const MAX_TERMINALS = 100;
const MAX_MESSAGE_BYTES = 16 * 1024;
/** Input is dropped while this much output is still queued for a slow client. */
const MAX_BUFFERED_BYTES = 256 * 1024;

export type AiPlatformOptions = DemoServerOptions & {
  /** Server ping period for terminal WebSockets (default 30 s). */
  pingIntervalMs?: number;
};

export async function startAiPlatform(options: AiPlatformOptions = {}): Promise<DemoServer> {
  const assets = await loadAssets();
  const server = createServer((req, res) => handle(req, res, assets));
  server.on('clientError', (_err, socket) => socket.destroy());

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_MESSAGE_BYTES,
    handleProtocols: (protocols) => (protocols.has(TERMINAL_PROTOCOL) ? TERMINAL_PROTOCOL : false),
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const refusal = refuseUpgrade(req, wss.clients.size);
    if (refusal !== null) {
      socket.end(
        `HTTP/1.1 ${refusal.status} ${refusal.reason}\r\nConnection: close\r\nContent-Type: text/plain\r\n` +
          `Content-Length: ${Buffer.byteLength(refusal.reason) + 1}\r\n\r\n${refusal.reason}\n`,
      );
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });
  wss.on('connection', (ws: WebSocket, req: IncomingMessage) => openTerminal(ws, req));

  const alive = new WeakSet<WebSocket>();
  wss.on('connection', (ws: WebSocket) => {
    alive.add(ws);
    ws.on('pong', () => alive.add(ws));
  });
  const pinger = setInterval(() => {
    for (const ws of wss.clients) {
      if (!alive.has(ws)) {
        ws.terminate();
        continue;
      }
      alive.delete(ws);
      ws.ping();
    }
  }, options.pingIntervalMs ?? PING_INTERVAL_MS);
  pinger.unref();

  const { url, port } = await listen(server, options);
  return {
    url,
    port,
    async close() {
      clearInterval(pinger);
      for (const ws of wss.clients) ws.terminate();
      wss.close();
      await closeServer(server);
    },
  };
}

function refuseUpgrade(req: IncomingMessage, open: number): { status: number; reason: string } | null {
  if (pathOf(req) !== TERMINAL_PATH) return { status: 404, reason: 'Not Found' };
  const offered = String(req.headers['sec-websocket-protocol'] ?? '')
    .split(',')
    .map((p) => p.trim());
  if (!offered.includes(TERMINAL_PROTOCOL)) return { status: 400, reason: 'Bad Request' };
  // Cross-site WebSocket hijacking: a browser always sends Origin; it must be this site, as the
  // browser sees it (Host is preserved by default, X-Forwarded-Host covers preserveHost: false).
  const origin = req.headers.origin;
  if (origin !== undefined) {
    let originHost: string;
    try {
      originHost = new URL(origin).host;
    } catch {
      return { status: 403, reason: 'Forbidden' };
    }
    const hosts = [
      req.headers.host,
      cleanHeaderValue(req.headers['x-forwarded-host'])?.split(',')[0]?.trim(),
    ];
    if (!hosts.includes(originHost)) return { status: 403, reason: 'Forbidden' };
  }
  if (open >= MAX_TERMINALS) return { status: 503, reason: 'Service Unavailable' };
  return null;
}

function openTerminal(ws: WebSocket, req: IncomingMessage): void {
  const shell = createShell(readIdentity(req.headers), {
    write: (data) => {
      if (ws.readyState === ws.OPEN) ws.send(data);
    },
    close: () => ws.close(1000, 'logout'),
  });
  ws.on('error', () => ws.terminate());
  ws.on('message', (data, isBinary) => {
    if (ws.bufferedAmount > MAX_BUFFERED_BYTES) return;
    const text =
      isBinary || typeof data !== 'string' ? Buffer.concat(toBuffers(data)).toString('utf8') : data;
    shell.input(text);
  });
  shell.start();
}

function toBuffers(data: Buffer | ArrayBuffer | Buffer[] | string): Buffer[] {
  if (Array.isArray(data)) return data;
  if (typeof data === 'string') return [Buffer.from(data)];
  return [Buffer.isBuffer(data) ? data : Buffer.from(data)];
}

type Assets = Record<string, StaticAsset>;

async function loadAssets(): Promise<Assets> {
  const require = createRequire(import.meta.url);
  const own = (name: string) => new URL(`./assets/ai/${name}`, import.meta.url);
  const files: [string, URL | string, string][] = [
    ['/static/app.css', own('app.css'), 'text/css; charset=utf-8'],
    ['/static/logo.svg', own('logo.svg'), 'image/svg+xml'],
    ['/static/terminal.js', own('terminal.js'), 'text/javascript; charset=utf-8'],
    ['/static/xterm/xterm.js', require.resolve('@xterm/xterm'), 'text/javascript; charset=utf-8'],
    ['/static/xterm/xterm.css', require.resolve('@xterm/xterm/css/xterm.css'), 'text/css; charset=utf-8'],
    ['/static/xterm/addon-fit.js', require.resolve('@xterm/addon-fit'), 'text/javascript; charset=utf-8'],
  ];
  const assets: Assets = {};
  await Promise.all(
    files.map(async ([path, file, type]) => {
      let body = await readFile(file);
      // The source maps are not served; drop the comment so devtools does not ask for them.
      if (type.startsWith('text/javascript')) {
        body = Buffer.from(body.toString('utf8').replace(/\n\/\/# sourceMappingURL=\S+\s*$/, '\n'));
      }
      assets[path] = staticAsset(body, type);
    }),
  );
  assets['/favicon.ico'] = assets['/static/logo.svg']!;
  return assets;
}

function handle(req: IncomingMessage, res: ServerResponse, assets: Assets) {
  if (req.method !== 'GET' && req.method !== 'HEAD') return methodNotAllowed(req, res);
  const path = pathOf(req);
  const asset = Object.hasOwn(assets, path) ? assets[path] : undefined;
  if (asset !== undefined) return sendAsset(req, res, asset);
  switch (path) {
    case '/':
    case '/index.html':
      return sendHtml(req, res, 200, dashboardPage(readIdentity(req.headers)));
    case '/terminal':
      return sendHtml(req, res, 200, terminalPage(readIdentity(req.headers)));
    case '/terminal/':
      return redirect(res, '../terminal'); // relative: correct under any prefix
    case '/api/whoami':
      return sendJson(req, res, 200, readIdentity(req.headers));
    case '/healthz':
      return sendText(req, res, 200, 'ok\n');
    default:
      return sendHtml(req, res, 404, notFoundPage(path, readIdentity(req.headers)));
  }
}

type Page = 'dashboard' | 'terminal';

/**
 * `root` is the relative way from the page to the app root: '' for top-level pages, '../' per
 * extra path segment (only 404 pages live deeper). Nothing here starts with '/'.
 */
function layout(page: Page, title: string, id: DemoIdentity, main: string, scripts = '', root = ''): string {
  const nav: [Page | 'jobs', string, string][] = [
    ['dashboard', root || './', '算力概览'],
    ['jobs', `${root || './'}#jobs`, '训练任务'],
    ['terminal', `${root}terminal`, 'Web 终端'],
  ];
  const links = nav
    .map(
      ([key, href, label]) =>
        `<a class="ghippo-header-nav-item${key === page ? ' is-active' : ''}" href="${href}"${key === page ? ' aria-current="page"' : ''}>${label}</a>`,
    )
    .join('');
  const user = id.anonymous
    ? '<span class="user is-anonymous">anonymous</span>'
    : `<span class="user"><span class="avatar" aria-hidden="true">${escapeHtml(initial(displayName(id)))}</span>${escapeHtml(displayName(id))}</span>`;
  return `<!doctype html>
<html lang="zh-CN">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>${escapeHtml(title)} · ${AI_PRODUCT_NAME}</title>
  <link rel="icon" href="${root}static/logo.svg" type="image/svg+xml">
  <link rel="stylesheet" href="${root}static/app.css">
${scripts}</head>
<body class="page-${page}">
  <header class="ghippo-header"><a class="ghippo-header-logo" href="${root || './'}"><img src="${root}static/logo.svg" alt=""><span class="ghippo-header-logo-name">${AI_PRODUCT_NAME}</span></a><nav class="ghippo-header-nav-main">${links}</nav><div class="ghippo-header-right"><a class="back" href="${root}../">← 返回云管平台</a>${user}</div></header>
${main}
</body>
</html>
`;
}

const CLUSTERS = [
  {
    name: 'gpu-bj-train-01',
    region: '北京一区',
    gpu: 'NVIDIA A800 80GB',
    nodes: 8,
    total: 64,
    used: 52,
    state: '运行中',
  },
  {
    name: 'gpu-sh-train-02',
    region: '上海二区',
    gpu: 'NVIDIA H800 80GB',
    nodes: 2,
    total: 16,
    used: 11,
    state: '运行中',
  },
  {
    name: 'gpu-gz-infer-01',
    region: '广州一区',
    gpu: 'NVIDIA L40S 48GB',
    nodes: 4,
    total: 16,
    used: 8,
    state: '运行中',
  },
  {
    name: 'npu-hz-dev-01',
    region: '杭州一区',
    gpu: '昇腾 910B 64GB',
    nodes: 1,
    total: 8,
    used: 0,
    state: '维护中',
  },
];

const JOBS = [
  {
    name: 'qwen2-7b-sft',
    kind: 'PyTorchJob',
    cluster: 'gpu-bj-train-01',
    gpus: 32,
    state: '运行中',
    age: '6h 12m',
  },
  {
    name: 'llama3-8b-serve',
    kind: '推理服务',
    cluster: 'gpu-gz-infer-01',
    gpus: 4,
    state: '运行中',
    age: '3d',
  },
  {
    name: 'bge-m3-embed',
    kind: '推理服务',
    cluster: 'gpu-gz-infer-01',
    gpus: 2,
    state: '运行中',
    age: '12d',
  },
  { name: 'resnet50-bench', kind: 'TFJob', cluster: 'gpu-sh-train-02', gpus: 8, state: '排队中', age: '4m' },
  {
    name: 'sd-xl-finetune',
    kind: 'PyTorchJob',
    cluster: 'gpu-sh-train-02',
    gpus: 8,
    state: '已完成',
    age: '1d',
  },
];

function dashboardPage(id: DemoIdentity): string {
  const total = CLUSTERS.reduce((n, c) => n + c.total, 0);
  const used = CLUSTERS.reduce((n, c) => n + c.used, 0);
  const cards = CLUSTERS.map((c) => {
    const pct = Math.round((c.used / c.total) * 100);
    return `        <article class="cluster">
          <div class="cluster-head"><h3>${c.name}</h3><span class="state ${c.state === '运行中' ? 'is-ok' : 'is-warn'}">${c.state}</span></div>
          <div class="cluster-meta">${c.region} · ${c.nodes} 节点 · ${c.gpu}</div>
          <div class="cluster-usage"><span>GPU 分配</span><span><b>${c.used}</b> / ${c.total} 卡 · ${pct}%</span></div>
          <progress max="100" value="${pct}">${pct}%</progress>
        </article>`;
  }).join('\n');
  const jobs = JOBS.map(
    (j) =>
      `            <tr><td><b>${j.name}</b></td><td>${j.kind}</td><td>${j.cluster}</td><td>${j.gpus}</td><td><span class="state ${stateClass(j.state)}">${j.state}</span></td><td>${j.age}</td></tr>`,
  ).join('\n');
  const main = `  <main class="main">
    <div class="page-head">
      <div><h1>算力概览</h1><p class="sub">GPU 集群、训练任务与推理服务的整体状态（演示数据）</p></div>
      <a class="btn btn-primary" href="terminal">打开 Web 终端</a>
    </div>
    <section class="stats">
      <div class="stat"><span>GPU 总数</span><b>${total}</b><small>4 个集群 · 15 节点</small></div>
      <div class="stat"><span>已分配</span><b>${used}</b><small>分配率 ${Math.round((used / total) * 100)}%</small></div>
      <div class="stat"><span>运行中任务</span><b>23</b><small>训练 15 · 推理 8</small></div>
      <div class="stat"><span>平均 GPU 利用率</span><b>68%</b><small>过去 1 小时</small></div>
    </section>
    <div class="columns">
      <section class="panel" id="clusters">
        <h2>算力集群</h2>
        <div class="clusters">
${cards}
        </div>
      </section>
      <section class="panel whoami" aria-labelledby="whoami-title">
        <h2 id="whoami-title">当前身份 · Who am I</h2>
${whoamiBody(id)}
      </section>
    </div>
    <section class="panel" id="jobs">
      <h2>训练任务与推理服务</h2>
      <table class="table">
        <thead><tr><th>名称</th><th>类型</th><th>集群</th><th>GPU</th><th>状态</th><th>运行时长</th></tr></thead>
        <tbody>
${jobs}
        </tbody>
      </table>
    </section>
  </main>`;
  return layout('dashboard', '算力概览', id, main);
}

function terminalPage(id: DemoIdentity): string {
  const main = `  <main class="terminal-main">
    <div class="terminal-bar">
      <h1>Web 终端 <small>${escapeHtml(id.user ?? 'guest')}@dce5</small></h1>
      <span id="terminal-status" class="conn is-connecting" role="status">连接中…</span>
      <button id="terminal-reconnect" class="btn btn-ghost" type="button" hidden>重新连接</button>
    </div>
    <div id="terminal" class="term-host" aria-label="terminal"></div>
    <noscript><p class="sub">Web 终端需要启用 JavaScript。</p></noscript>
  </main>`;
  const scripts = `  <link rel="stylesheet" href="static/xterm/xterm.css">
  <script src="static/xterm/xterm.js" defer></script>
  <script src="static/xterm/addon-fit.js" defer></script>
  <script src="static/terminal.js" defer></script>
`;
  return layout('terminal', 'Web 终端', id, main, scripts);
}

function whoamiBody(id: DemoIdentity): string {
  if (id.anonymous) {
    return `        <p class="anonymous">anonymous</p>
        <p class="sub">没有收到身份头（X-Forwarded-User 等）。经 Portico 访问时，网关会注入当前登录用户。</p>`;
  }
  const rows = IDENTITY_HEADERS.map((name) => {
    const v = id.headers[name];
    const value =
      v === undefined
        ? '<span class="sub">—</span>'
        : name === 'x-forwarded-groups'
          ? id.groups.map((g) => `<span class="chip">${escapeHtml(g)}</span>`).join(' ')
          : escapeHtml(v);
    return `          <tr><th scope="row"><code>${headerTitle(name)}</code></th><td>${value}</td></tr>`;
  }).join('\n');
  return `        <table class="kv">
${rows}
          <tr><th scope="row"><code>X-Portico-Assertion</code></th><td>${id.assertion ? '已收到（JWT，不显示）' : '<span class="sub">—</span>'}</td></tr>
        </table>`;
}

function notFoundPage(path: string, id: DemoIdentity): string {
  const root = '../'.repeat(Math.max(0, path.split('/').length - 2));
  return layout(
    'dashboard',
    '404',
    id,
    `  <main class="main"><section class="panel notfound"><h1>404</h1><p>页面不存在：<code>${escapeHtml(path)}</code></p><a class="btn btn-primary" href="${root || './'}">返回算力概览</a></section></main>`,
    '',
    root,
  );
}

function stateClass(state: string): string {
  return state === '运行中' || state === '已完成' ? 'is-ok' : state === '排队中' ? 'is-wait' : 'is-warn';
}

function initial(name: string): string {
  return (Array.from(name)[0] ?? '?').toUpperCase();
}
