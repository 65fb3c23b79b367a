// AI 算力中心 demo UI. It signs in as DCE's UI does, against ghippo's realm: authorization code
// with PKCE as the public client in #dce-config, tokens kept for this tab (sessionStorage) and
// refreshed, every call to apis/… with `Authorization: Bearer <access token>`. Its session check
// is a refresh-token grant: once the realm session has ended (logout, or a back-channel logout
// from the identity provider) the realm answers invalid_grant and the user is sent to sign in.
// Every URL is resolved against this page, so it works under any proxy prefix (/dce5/…).
// Tokens live in sessionStorage (this tab only), not in memory as keycloak-js keeps them: each
// page of this UI is a full page load.
// window.dce = { ready, accessToken(), api(path, init), claims() } for the other page scripts.
(() => {
  const config = JSON.parse(document.getElementById('dce-config').textContent);
  const appRoot = new URL('./', location.href);
  const oidc = new URL(`auth/realms/${encodeURIComponent(config.realm)}/protocol/openid-connect/`, appRoot);
  const TOKENS = 'dce.tokens';
  const LOGIN = 'dce.login';
  const CALLBACK_PARAMS = ['code', 'state', 'session_state', 'iss', 'error', 'error_description'];

  const main = document.getElementById('app');
  const statusLine = document.getElementById('app-status');

  class SessionEnded extends Error {}

  const b64url = (bytes) =>
    btoa(String.fromCharCode(...new Uint8Array(bytes)))
      .replace(/\+/g, '-')
      .replace(/\//g, '_')
      .replace(/=+$/, '');
  const random = (n) => b64url(crypto.getRandomValues(new Uint8Array(n)));
  const claimsOf = (jwt) => {
    const part = jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(new TextDecoder().decode(Uint8Array.from(atob(part), (c) => c.charCodeAt(0))));
  };
  const esc = (value) =>
    String(value ?? '').replace(
      /[&<>"']/g,
      (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c],
    );

  let tokens = null;
  try {
    tokens = JSON.parse(sessionStorage.getItem(TOKENS));
  } catch {
    tokens = null;
  }
  const save = (next) => {
    tokens = next;
    if (next) sessionStorage.setItem(TOKENS, JSON.stringify(next));
    else sessionStorage.removeItem(TOKENS);
  };
  const fromResponse = (json) => ({
    accessToken: json.access_token,
    refreshToken: json.refresh_token,
    idToken: json.id_token,
    expiresAt: Date.now() + json.expires_in * 1000,
  });

  /** Off to the realm's authorization endpoint; the page is leaving, so this never resolves. */
  async function login() {
    if (!crypto.subtle) {
      fail('登录需要 HTTPS 或 localhost（浏览器只在安全上下文中提供 PKCE 所需的 crypto.subtle）。');
      return new Promise(() => {});
    }
    const verifier = random(32);
    const state = random(16);
    const nonce = random(16);
    const challenge = b64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
    const back = new URL(location.href);
    for (const p of CALLBACK_PARAMS) back.searchParams.delete(p);
    sessionStorage.setItem(LOGIN, JSON.stringify({ verifier, state, nonce, returnTo: back.href }));
    const url = new URL('auth', oidc);
    url.search = new URLSearchParams({
      client_id: config.clientId,
      redirect_uri: appRoot.href,
      response_type: 'code',
      scope: 'openid profile email',
      state,
      nonce,
      code_challenge: challenge,
      code_challenge_method: 'S256',
    }).toString();
    location.assign(url.href);
    return new Promise(() => {});
  }

  async function tokenRequest(params) {
    const res = await fetch(new URL('token', oidc), {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({ client_id: config.clientId, ...params }),
      cache: 'no-store',
    });
    const json = await res.json().catch(() => ({}));
    if (res.ok && json.access_token) return json;
    if (json.error === 'invalid_grant') throw new SessionEnded(json.error_description || 'invalid_grant');
    throw new Error(`令牌接口返回 ${res.status} ${json.error || ''}`.trim());
  }

  /** Back from the realm: the state must be ours, the ID token's nonce too; the code is redeemed once. */
  async function completeLogin(params) {
    const pending = JSON.parse(sessionStorage.getItem(LOGIN) || 'null');
    sessionStorage.removeItem(LOGIN);
    if (!pending || pending.state !== params.get('state')) throw new Error('登录状态不匹配（state）');
    if (params.has('error'))
      throw new Error(`${params.get('error')}: ${params.get('error_description') || ''}`);
    const json = await tokenRequest({
      grant_type: 'authorization_code',
      code: params.get('code'),
      redirect_uri: appRoot.href,
      code_verifier: pending.verifier,
    });
    if (claimsOf(json.id_token).nonce !== pending.nonce) throw new Error('登录状态不匹配（nonce）');
    save(fromResponse(json));
    return pending.returnTo;
  }

  let refreshing = null;
  function refresh() {
    refreshing ??= (async () => {
      if (!tokens) throw new SessionEnded('signed out');
      try {
        save(
          fromResponse(
            await tokenRequest({ grant_type: 'refresh_token', refresh_token: tokens.refreshToken }),
          ),
        );
        return tokens;
      } catch (err) {
        if (err instanceof SessionEnded) save(null);
        throw err;
      }
    })().finally(() => {
      refreshing = null;
    });
    return refreshing;
  }

  async function accessToken() {
    if (!tokens) throw new SessionEnded('signed out');
    if (tokens.expiresAt - Date.now() < 30_000) await refresh();
    return tokens.accessToken;
  }

  /** A call to the platform's own API with its bearer token; one refresh and retry on 401. */
  async function api(path, init = {}) {
    const call = (token) =>
      fetch(new URL(path, appRoot), {
        ...init,
        headers: { accept: 'application/json', ...init.headers, authorization: `Bearer ${token}` },
        cache: 'no-store',
      });
    let res = await call(await accessToken());
    if (res.status === 401) res = await call((await refresh()).accessToken);
    return res;
  }

  async function checkSession() {
    try {
      await refresh();
    } catch (err) {
      if (err instanceof SessionEnded) {
        document.documentElement.dataset.session = 'ended';
        await login();
      }
    }
  }

  const ready = (async () => {
    const params = new URLSearchParams(location.search);
    if (params.has('state') && (params.has('code') || params.has('error'))) {
      const target = new URL(await completeLogin(params));
      if (target.origin !== location.origin || !target.href.startsWith(appRoot.href)) {
        history.replaceState(null, '', appRoot.pathname);
      } else if (target.pathname !== location.pathname) {
        location.replace(target.href);
        return new Promise(() => {});
      } else history.replaceState(null, '', target.pathname + target.search + target.hash);
    }
    if (!tokens) return login();
    await accessToken();
    return tokens;
  })();

  window.dce = { ready, accessToken, api, claims: () => (tokens ? claimsOf(tokens.idToken) : null) };

  // ---- the page around it ----
  function fail(message) {
    if (!main) return;
    const box = document.createElement('div');
    box.className = 'api-error';
    box.setAttribute('role', 'alert');
    box.textContent = message;
    if (statusLine) statusLine.replaceWith(box);
    else main.prepend(box);
  }

  document.getElementById('logout').addEventListener('click', () => {
    const idToken = tokens?.idToken;
    save(null);
    const url = new URL('logout', oidc);
    url.search = new URLSearchParams({
      client_id: config.clientId,
      post_logout_redirect_uri: appRoot.href,
      ...(idToken ? { id_token_hint: idToken } : {}),
    }).toString();
    location.assign(url.href);
  });

  function showUser(claims) {
    const name = claims.preferred_username || claims.sub;
    const user = document.getElementById('current-user');
    user.innerHTML = `<span class="avatar" aria-hidden="true">${esc(Array.from(name)[0]?.toUpperCase())}</span><span class="user-name">${esc(name)}</span>`;
    user.title = claims.email || '';
    user.hidden = false;
    document.getElementById('logout').hidden = false;
    const termUser = document.getElementById('terminal-user');
    if (termUser) termUser.textContent = `${name}@dce5`;
  }

  async function json(path) {
    const res = await api(path);
    const text = await res.text();
    if (!res.ok) throw new Error(`${path} → ${res.status} ${text.trim().slice(0, 120)}`);
    return JSON.parse(text);
  }

  const stateClass = (s) =>
    s === '运行中' || s === '已完成' ? 'is-ok' : s === '排队中' ? 'is-wait' : 'is-warn';

  async function renderDashboard() {
    const [clusters, jobs, me] = await Promise.all([
      json('apis/baize.io/v1alpha1/clusters'),
      json('apis/baize.io/v1alpha1/jobs'),
      json('apis/ghippo.io/v1alpha1/current-user'),
    ]);
    const total = clusters.items.reduce((n, c) => n + c.total, 0);
    const used = clusters.items.reduce((n, c) => n + c.used, 0);
    const cards = clusters.items
      .map((c) => {
        const pct = Math.round((c.used / c.total) * 100);
        return `<article class="cluster"><div class="cluster-head"><h3>${esc(c.name)}</h3><span class="state ${c.state === '运行中' ? 'is-ok' : 'is-warn'}">${esc(c.state)}</span></div>
<div class="cluster-meta">${esc(c.region)} · ${esc(c.nodes)} 节点 · ${esc(c.gpu)}</div>
<div class="cluster-usage"><span>GPU 分配</span><span><b>${esc(c.used)}</b> / ${esc(c.total)} 卡 · ${pct}%</span></div>
<progress max="100" value="${pct}">${pct}%</progress></article>`;
      })
      .join('');
    const rows = jobs.items
      .map(
        (j) =>
          `<tr><td><b>${esc(j.name)}</b></td><td>${esc(j.kind)}</td><td>${esc(j.cluster)}</td><td>${esc(j.gpus)}</td><td><span class="state ${stateClass(j.state)}">${esc(j.state)}</span></td><td>${esc(j.age)}</td></tr>`,
      )
      .join('');
    main.innerHTML = `<div class="page-head"><div><h1>算力概览</h1><p class="sub">GPU 集群、训练任务与推理服务的整体状态（演示数据，来自 apis/baize.io）</p></div><a class="btn btn-primary" href="terminal">打开 Web 终端</a></div>
<section class="stats"><div class="stat"><span>GPU 总数</span><b>${total}</b><small>${clusters.items.length} 个集群</small></div>
<div class="stat"><span>已分配</span><b>${used}</b><small>分配率 ${Math.round((used / total) * 100)}%</small></div>
<div class="stat"><span>运行中任务</span><b>${jobs.items.filter((j) => j.state === '运行中').length}</b><small>共 ${jobs.items.length} 个</small></div>
<div class="stat"><span>平均 GPU 利用率</span><b>68%</b><small>过去 1 小时</small></div></section>
<div class="columns"><section class="panel" id="clusters"><h2>算力集群</h2><div class="clusters">${cards}</div></section>
<section class="panel whoami" aria-labelledby="whoami-title"><h2 id="whoami-title">当前身份 · Who am I</h2>
<table class="kv"><tr><th scope="row">用户</th><td id="whoami-user">${esc(me.username)}</td></tr>
<tr><th scope="row">邮箱</th><td>${esc(me.email ?? '—')}</td></tr>
<tr><th scope="row">姓名</th><td>${esc(me.name ?? '—')}</td></tr>
<tr><th scope="row">签发者</th><td><code>${esc(me.issuer)}</code></td></tr>
<tr><th scope="row">认证方式</th><td><span class="chip">${esc(me.authenticatedBy)}</span></td></tr></table>
<p class="sub">由 AI 算力中心自己的令牌（Authorization: Bearer）识别，不读取任何身份头。</p></section></div>
<section class="panel" id="jobs"><h2>训练任务与推理服务</h2><div class="table-wrap"><table class="table"><thead><tr><th>名称</th><th>类型</th><th>集群</th><th>GPU</th><th>状态</th><th>运行时长</th></tr></thead><tbody>${rows}</tbody></table></div></section>`;
    if (location.hash === '#jobs') document.getElementById('jobs').scrollIntoView();
  }

  async function renderAccessKeys(created) {
    const list = await json('apis/ghippo.io/v1alpha1/current-user/accesstokens');
    const keyBox = created
      ? `<div class="panel created-key"><h2>新的访问密钥「${esc(created.name)}」</h2><p class="sub">只显示这一次，请立即保存。</p>
<code id="access-key-token" class="secret">${esc(created.token)}</code>
<p class="sub">在脚本或 CI 中使用：</p><pre class="example">curl -H "Authorization: Bearer $DCE_ACCESS_KEY" ${esc(new URL('apis/ghippo.io/v1alpha1/current-user', appRoot).href)}</pre></div>`
      : '';
    const rows = list.items
      .map((k) => `<tr><td>${esc(k.name)}</td><td>${esc(k.createdAt)}</td><td>${esc(k.expiresAt)}</td></tr>`)
      .join('');
    main.innerHTML = `<div class="page-head"><div><h1>访问密钥</h1><p class="sub">个人访问密钥（RS256 JWT，iss: ghippo.io），以 Authorization: Bearer 调用 apis/…</p></div></div>
${keyBox}<section class="panel"><form id="access-key-form" class="inline-form"><label for="access-key-name">名称</label><input id="access-key-name" name="name" required maxlength="64" placeholder="ci-pipeline"><button class="btn btn-primary" type="submit" id="access-key-create">创建</button></form>
<div class="table-wrap"><table class="table"><thead><tr><th>名称</th><th>创建时间</th><th>过期时间</th></tr></thead><tbody id="access-key-list">${rows}</tbody></table></div></section>`;
    document.getElementById('access-key-form').addEventListener('submit', async (event) => {
      event.preventDefault();
      const name = document.getElementById('access-key-name').value;
      const res = await api('apis/ghippo.io/v1alpha1/current-user/accesstokens', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name }),
      });
      if (!res.ok) return fail(`创建失败：${res.status} ${(await res.text()).slice(0, 120)}`);
      renderAccessKeys(await res.json()).catch((err) => fail(err.message));
    });
  }

  const pages = { dashboard: renderDashboard, 'access-keys': () => renderAccessKeys() };

  ready.then(
    (t) => {
      showUser(claimsOf(t.idToken));
      setInterval(checkSession, config.sessionCheckMs);
      document.addEventListener('visibilitychange', () => {
        if (document.visibilityState === 'visible') checkSession();
      });
      document.documentElement.dataset.session = 'active';
      const render = pages[main?.dataset.page];
      if (render)
        render().catch((err) => {
          if (err instanceof SessionEnded) return login();
          fail(`API 请求失败：${err.message}`);
        });
    },
    (err) => {
      if (err instanceof SessionEnded) return login();
      fail(`登录失败：${err.message}`);
    },
  );
})();
