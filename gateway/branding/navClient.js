// Portico navigation for the customer system, served as /_portico/nav.js. One static script, no
// inline code and no data baked in: include it once,
//   <script src="https://portal.example.com/_portico/nav.js" defer></script>
// and put <portico-nav></portico-nav> where the entries should appear (attributes: lang,
// layout="vertical|horizontal", label). Customers who draw their own menu use the JS API:
//   Portico.nav.load({ lang }) → Promise<[{ id, title, url, icon?, order }]>
//   Portico.nav.onChange((items) => …) → unsubscribe function; called on the first load and whenever
//   the entries change (checked again when the tab becomes visible: after a login or logout).
// Styling: the element inherits font and colour; CSS variables --portico-nav-primary,
// --portico-nav-color, --portico-nav-hover-bg, --portico-nav-active-color, --portico-nav-item-height,
// --portico-nav-item-margin, --portico-nav-item-padding, --portico-nav-radius, and ::part(link).
(() => {
  if (window.Portico?.nav) return;

  const script = document.currentScript;
  const endpoint = new URL('nav.json', script?.src ? script.src : new URL('/_portico/', location.href));
  const COLOR = /^(#[0-9a-fA-F]{3,8}|[a-zA-Z]{3,30}|(rgb|rgba|hsl|hsla)\([0-9.,%\s/deg]+\))$/;
  const TEXT = {
    'zh-CN': { label: '产品导航', failed: '导航加载失败', signIn: '登录' },
    'en-US': { label: 'Products', failed: 'Navigation could not be loaded', signIn: 'Sign in' },
  };

  /** lang → Promise of { lang, items, brand } */
  const cache = new Map();
  const elements = new Set();
  const listeners = new Set();
  let lastDelivered;

  const uiLang = (lang) => (/^zh/i.test(lang || '') ? 'zh-CN' : 'en-US');
  const langAround = (el) =>
    el?.closest?.('[lang]')?.getAttribute('lang') ||
    document.documentElement.lang ||
    navigator.language ||
    '';

  function normalise(data) {
    const items = [];
    for (const raw of Array.isArray(data?.items) ? data.items : []) {
      let url;
      try {
        url = new URL(String(raw.url), endpoint);
      } catch {
        continue;
      }
      if (url.protocol !== 'https:' && url.protocol !== 'http:') continue;
      const item = {
        id: String(raw.id),
        title: String(raw.title),
        url: url.href,
        order: Number(raw.order) || 0,
      };
      if (raw.icon) item.icon = String(raw.icon);
      items.push(item);
    }
    const brand = data && typeof data.brand === 'object' && data.brand ? data.brand : {};
    let login;
    try {
      login = data?.login ? new URL(String(data.login), endpoint) : undefined;
    } catch {
      login = undefined;
    }
    if (login && login.protocol !== 'https:' && login.protocol !== 'http:') login = undefined;
    return { lang: data?.lang, items, brand, login };
  }

  function fetchNav(lang, fresh) {
    const key = lang || '';
    if (!fresh && cache.has(key)) return cache.get(key);
    const url = new URL(endpoint);
    if (lang) url.searchParams.set('lang', lang);
    const promise = fetch(url, {
      credentials: 'include',
      headers: { accept: 'application/json' },
      cache: 'no-cache',
    })
      .then((r) => {
        if (!r.ok) throw new Error(`Portico nav: ${url} answered ${r.status}`);
        return r.json();
      })
      .then(normalise);
    cache.set(key, promise);
    promise.catch(() => cache.delete(key));
    return promise;
  }

  function deliver(items) {
    const key = JSON.stringify(items);
    if (key === lastDelivered) return;
    lastDelivered = key;
    for (const cb of listeners) {
      try {
        cb(items);
      } catch (err) {
        console.error(err);
      }
    }
  }

  const api = {
    /** The entries the current user may open, in order. */
    async load(options = {}) {
      const data = await fetchNav(options.lang || langAround(document.documentElement), options.fresh);
      deliver(data.items);
      return data.items;
    },
    /** Calls `cb(items)` when the entries change; returns a function that stops it. */
    onChange(cb) {
      listeners.add(cb);
      if (listeners.size === 1 && lastDelivered === undefined) api.load().catch((err) => console.warn(err));
      else if (lastDelivered !== undefined) cb(JSON.parse(lastDelivered));
      return () => listeners.delete(cb);
    },
    /** Fetches again (after the page itself changed who is signed in). */
    refresh() {
      cache.clear();
      for (const el of elements) el.refresh();
      return listeners.size > 0 ? api.load() : Promise.resolve(undefined);
    },
  };
  window.Portico = Object.assign(window.Portico || {}, { nav: api });

  let refreshTimer;
  const refreshSoon = () => {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(() => api.refresh().catch((err) => console.warn(err)), 200);
  };
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') refreshSoon();
  });
  window.addEventListener('pageshow', (e) => {
    if (e.persisted) refreshSoon();
  });

  // ---- <portico-nav> ----
  const BASE_CSS = `
:host{display:block;font:inherit;color:inherit;--_primary:var(--portico-nav-primary,var(--portico-brand-primary,#2563eb))}
:host([hidden]){display:none}
nav,.list{margin:0;padding:0}
.list{list-style:none;display:flex;flex-direction:column}
:host([layout="horizontal"]) .list{flex-direction:row;flex-wrap:wrap;align-items:center}
.link{display:flex;align-items:center;gap:10px;min-height:var(--portico-nav-item-height,40px);margin:var(--portico-nav-item-margin,2px 8px);padding:var(--portico-nav-item-padding,0 12px);border-radius:var(--portico-nav-radius,6px);color:var(--portico-nav-color,inherit);text-decoration:none;font:inherit;line-height:1.3}
.link:hover{background:var(--portico-nav-hover-bg,color-mix(in srgb,currentColor 12%,transparent));color:var(--portico-nav-hover-color,inherit)}
.link:focus-visible{outline:2px solid var(--_primary);outline-offset:2px}
.link[aria-current="page"]{background:var(--_primary);color:var(--portico-nav-active-color,#fff)}
.icon{display:inline-grid;place-items:center;width:16px;height:16px;flex:none;opacity:.85}
.icon img{width:16px;height:16px;object-fit:contain}
.label{overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.error{margin:4px 20px;font-size:12px;opacity:.7}
@media (forced-colors:active){.link[aria-current="page"]{outline:2px solid CanvasText}}
`;
  const constructable =
    typeof CSSStyleSheet === 'function' &&
    'replaceSync' in CSSStyleSheet.prototype &&
    'adoptedStyleSheets' in Document.prototype;
  // Constructed style sheets are CSSOM, not inline <style>: a strict style-src on the customer page allows them.
  const baseSheet = constructable ? new CSSStyleSheet() : undefined;
  baseSheet?.replaceSync(BASE_CSS);

  function brandCss(brand) {
    const decls = [];
    if (COLOR.test(brand.primaryColor || '')) decls.push(`--portico-brand-primary:${brand.primaryColor}`);
    if (COLOR.test(brand.backgroundColor || ''))
      decls.push(`--portico-brand-background:${brand.backgroundColor}`);
    return decls.length ? `:host{${decls.join(';')}}` : '';
  }

  /** The entry for the page we are on: same origin, longest path prefix (a bare `/` only when exact). */
  /** One list entry: an <li> whose link holds an icon (text or an element) and a label, each a styling part. */
  function entry(id, href, linkPart, iconContent, labelText) {
    const li = document.createElement('li');
    li.setAttribute('part', 'item');
    const a = document.createElement('a');
    a.className = 'link';
    a.setAttribute('part', linkPart);
    a.href = href;
    a.dataset.id = id;
    const icon = document.createElement('span');
    icon.className = 'icon';
    icon.setAttribute('part', 'icon');
    icon.setAttribute('aria-hidden', 'true');
    icon.append(iconContent);
    const label = document.createElement('span');
    label.className = 'label';
    label.setAttribute('part', 'label');
    label.textContent = labelText;
    a.append(icon, label);
    li.append(a);
    return { li, a };
  }

  function activeUrl(items) {
    let best;
    let bestLength = -1;
    for (const item of items) {
      const u = new URL(item.url);
      if (u.origin !== location.origin) continue;
      const match = u.pathname === '/' ? location.pathname === '/' : location.pathname.startsWith(u.pathname);
      if (match && u.pathname.length > bestLength) {
        best = item.url;
        bestLength = u.pathname.length;
      }
    }
    return best;
  }

  class PorticoNav extends HTMLElement {
    static get observedAttributes() {
      return ['lang', 'layout', 'label'];
    }

    constructor() {
      super();
      this._root = this.attachShadow({ mode: 'open' });
      this._brandSheet = constructable ? new CSSStyleSheet() : undefined;
      if (constructable) this._root.adoptedStyleSheets = [baseSheet, this._brandSheet];
      else {
        this._style = document.createElement('style');
        this._style.textContent = BASE_CSS;
        this._root.append(this._style);
      }
      this._data = undefined;
      this._failed = false;
      this._seq = 0;
    }

    connectedCallback() {
      elements.add(this);
      this.refresh();
    }

    disconnectedCallback() {
      elements.delete(this);
    }

    attributeChangedCallback(name, before, after) {
      if (!this.isConnected || before === after) return;
      if (name === 'lang') this.refresh();
      else this.render();
    }

    /** The entries this element shows. */
    get items() {
      return this._data ? this._data.items.slice() : [];
    }

    async refresh() {
      const seq = ++this._seq;
      this.setAttribute('aria-busy', 'true');
      try {
        const data = await fetchNav(this.getAttribute('lang') || langAround(this.parentElement), false);
        if (seq !== this._seq) return;
        this._data = data;
        this._failed = false;
      } catch (err) {
        if (seq !== this._seq) return;
        console.warn(err);
        this._failed = true;
      }
      this.removeAttribute('aria-busy');
      this.render();
      this.dispatchEvent(
        new CustomEvent('portico-nav-load', { detail: { items: this.items }, bubbles: true }),
      );
    }

    render() {
      const lang = uiLang(this._data?.lang || this.getAttribute('lang') || langAround(this.parentElement));
      const text = TEXT[lang];
      if (this._brandSheet) this._brandSheet.replaceSync(brandCss(this._data?.brand || {}));
      const items = this._data?.items || [];
      const current = activeUrl(items);
      const list = document.createElement('ul');
      list.className = 'list';
      list.setAttribute('part', 'list');
      list.setAttribute('role', 'list');
      for (const item of items) {
        let icon = item.icon || '✦';
        if (item.icon && /^(https?:|\/)/.test(item.icon)) {
          icon = document.createElement('img');
          icon.alt = '';
          icon.src = new URL(item.icon, endpoint).href;
        }
        const active = item.url === current;
        const { li, a } = entry(item.id, item.url, active ? 'link active' : 'link', icon, item.title);
        if (active) a.setAttribute('aria-current', 'page');
        list.append(li);
      }
      // An anonymous visitor gets a way in rather than an empty list (the entries that need a
      // sign-in are not listed). Back to this page afterwards when it is on Portico's origin.
      if (this._data?.login) {
        const login = new URL(this._data.login);
        if (login.origin === location.origin)
          login.searchParams.set('rd', location.pathname + location.search);
        list.append(entry('portico-sign-in', login.href, 'link sign-in', '→', text.signIn).li);
      }
      // Inside the customer's own <nav> the list joins that landmark; alone it is its own.
      let container = list;
      if (!this.closest('nav')) {
        container = document.createElement('nav');
        container.setAttribute('aria-label', this.getAttribute('label') || text.label);
        container.append(list);
      }
      const nodes = [container];
      if (this._failed && items.length === 0) {
        const p = document.createElement('p');
        p.className = 'error';
        p.setAttribute('role', 'status');
        p.textContent = text.failed;
        nodes.push(p);
      }
      if (this._style) nodes.unshift(this._style);
      this._root.replaceChildren(...nodes);
    }
  }

  if (!customElements.get('portico-nav')) customElements.define('portico-nav', PorticoNav);
})();
