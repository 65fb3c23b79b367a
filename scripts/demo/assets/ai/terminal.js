// AI 算力中心 demo web terminal: xterm.js in the page, a WebSocket (subprotocol "tty") to
// terminal/ws, resolved against this page so it works under any proxy prefix (/dce5/…).
// Keystrokes go up as text frames; whatever the server sends is written to the terminal.
// The connection is authenticated by the platform's own access token (from app.js), offered as a
// second subprotocol because a browser cannot set Authorization on a WebSocket (see
// scripts/demo/dce/terminalCredentials.ts); the server only ever answers with "tty".
(() => {
  const BEARER_PREFIX = 'base64url.bearer.authorization.k8s.io.';
  const el = document.getElementById('terminal');
  const status = document.getElementById('terminal-status');
  const reconnect = document.getElementById('terminal-reconnect');

  const setStatus = (state, text) => {
    status.className = `conn is-${state}`;
    status.textContent = text;
    reconnect.hidden = state !== 'closed';
  };

  const { Terminal, FitAddon } = globalThis;
  if (typeof Terminal !== 'function' || FitAddon === undefined || window.dce === undefined) {
    setStatus('closed', '终端组件加载失败');
    reconnect.hidden = true;
    return;
  }

  const term = new Terminal({
    cursorBlink: true,
    fontFamily: '"JetBrains Mono", "SFMono-Regular", Menlo, Consolas, "DejaVu Sans Mono", monospace',
    fontSize: 14,
    lineHeight: 1.15,
    scrollback: 2000,
    theme: {
      background: '#0e1424',
      foreground: '#d7deea',
      cursor: '#5ad1ff',
      selectionBackground: '#2a3a66',
      blue: '#6b8cff',
      brightBlue: '#8aa4ff',
      cyan: '#5ad1ff',
      green: '#4ade80',
      yellow: '#facc15',
    },
  });
  const fit = new FitAddon.FitAddon();
  term.loadAddon(fit);
  term.open(el);
  const refit = () => {
    try {
      fit.fit();
    } catch {
      // not laid out yet
    }
  };
  refit();
  new ResizeObserver(refit).observe(el);

  const b64url = (text) => btoa(text).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  let socket = null;

  const connect = async () => {
    setStatus('connecting', '连接中…');
    let token;
    try {
      await window.dce.ready;
      token = await window.dce.accessToken();
    } catch {
      setStatus('closed', '未登录');
      return;
    }
    const url = new URL('terminal/ws', location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    url.hash = '';
    url.search = '';
    const ws = new WebSocket(url, ['tty', BEARER_PREFIX + b64url(token)]);
    socket = ws;
    ws.addEventListener('open', () => {
      setStatus('open', '已连接');
      term.focus();
    });
    ws.addEventListener('message', (event) => {
      if (typeof event.data === 'string') term.write(event.data);
    });
    ws.addEventListener('close', (event) => {
      if (socket !== ws) return;
      socket = null;
      const why = event.code === 1000 ? '会话已结束' : `连接已断开（${event.code}）`;
      setStatus('closed', why);
      term.write(`\r\n\x1b[2m[${why}]\x1b[0m\r\n`);
    });
  };

  term.onData((data) => {
    if (socket !== null && socket.readyState === WebSocket.OPEN) socket.send(data);
  });
  reconnect.addEventListener('click', () => {
    term.reset();
    connect();
  });
  connect();
})();
