import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import type { Request, Response, Router } from 'express';
import { expressLibrary } from '../endpoints/expressLibrary.ts';
import { isAllowed } from '../auth/isAllowed.ts';
import type { Config, Route } from '../config/types.ts';
import type { Identity } from '../context.ts';
import { type Lang, pickLang } from '../pages/negotiate.ts';
import type { Brand } from './loadBrand.ts';

export type NavItem = { id: string; title: string; url: string; icon?: string; order: number };

/**
 * The menu entries of routes with `nav`, ordered by `order` (default 0) then id, titles in `lang`,
 * URLs absolute from `publicUrl`, on the route's own host when it names one (site-relative when
 * publicUrl is unset). A route with `auth: required` is listed only for a user its `allow` rules
 * let in; `none`/`optional` routes are listed for all.
 */
export function buildNav(config: Config, identity: Identity | undefined, lang: Lang): { items: NavItem[] } {
  const items: NavItem[] = [];
  for (const route of config.routes) {
    const nav = route.nav;
    if (!nav) continue;
    if (route.auth === 'required' && !isAllowed(route.allow, identity, config)) continue;
    const path = navPath(route);
    const item: NavItem = {
      id: route.id,
      title: localTitle(nav.title, lang) ?? route.id,
      url: config.publicUrl ? new URL(path, siteOf(config.publicUrl, route)).href : path,
      order: nav.order ?? 0,
    };
    if (nav.icon) item.icon = nav.icon;
    items.push(item);
  }
  items.sort((a, b) => a.order - b.order || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { items };
}

/** publicUrl, or the host the route serves (`host: ai.example.com`) with publicUrl's scheme and port. */
function siteOf(publicUrl: URL, route: Route): URL {
  if (route.host === undefined || route.host.startsWith('*.')) return publicUrl;
  const site = new URL(publicUrl);
  site.hostname = route.host;
  return site;
}

/** `nav.path` as written when it starts with `/`, else relative to the route's prefix. */
function navPath(route: Route): string {
  const p = route.nav?.path;
  if (!p) return route.prefix;
  if (p.startsWith('/')) return p;
  return route.prefix.endsWith('/') ? route.prefix + p : `${route.prefix}/${p}`;
}

function localTitle(title: string | Record<string, string>, lang: Lang): string | undefined {
  if (typeof title === 'string') return title;
  return title[lang] ?? title['en-US'] ?? title['zh-CN'] ?? Object.values(title)[0];
}

const NAV_JS = readFileSync(new URL('./navClient.js', import.meta.url));
const NAV_JS_ETAG = `"${createHash('sha256').update(NAV_JS).digest('hex').slice(0, 16)}"`;

export type GetIdentity = (req: IncomingMessage) => Promise<Identity | undefined>;

/**
 * `/_portico/nav.json` (the current user's menu, with the brand's colours) and `/_portico/nav.js`
 * (the `<portico-nav>` element and `window.Portico.nav`). Mount under /_portico/.
 */
export function navRouter(
  getIdentity: GetIdentity,
  config: () => Config,
  currentBrand: () => Brand | undefined,
): Router {
  const router = expressLibrary().Router();

  router.options('/nav.json', (req, res) => {
    allowOrigin(req, res, config());
    res.set({
      'access-control-allow-methods': 'GET, HEAD, OPTIONS',
      'access-control-allow-headers': 'accept, accept-language, content-type',
      'access-control-max-age': '600',
      vary: 'Origin',
    });
    res.status(204).end();
  });

  router.get('/nav.json', async (req, res, next) => {
    try {
      const c = config();
      const lang = pickLang(req);
      const identity = await getIdentity(req);
      const brand = currentBrand();
      allowOrigin(req, res, c);
      res.set({
        'cache-control': 'private, no-cache',
        vary: 'Cookie, Accept-Language, Origin',
        'content-type': 'application/json; charset=utf-8',
      });
      // Where an anonymous visitor can sign in (and so see the entries that need it).
      const login =
        identity === undefined && (c.raw.identityProviders?.length ?? 0) > 0
          ? c.publicUrl
            ? new URL('/_portico/login', c.publicUrl).href
            : '/_portico/login'
          : undefined;
      res.send(
        JSON.stringify({
          lang,
          signedIn: identity !== undefined,
          login,
          items: buildNav(c, identity, lang).items,
          brand: brand
            ? {
                productName: brand.productName[lang],
                primaryColor: brand.colors.primary,
                backgroundColor: brand.colors.background,
                headerColor: brand.colors.header,
                headerTextColor: brand.colors.headerText,
                logo: brand.logoHref
                  ? c.publicUrl
                    ? new URL(brand.logoHref, c.publicUrl).href
                    : brand.logoHref
                  : undefined,
              }
            : undefined,
        }),
      );
    } catch (err) {
      next(err);
    }
  });

  router.get('/nav.js', (req, res) => {
    res.set({
      'content-type': 'text/javascript; charset=utf-8',
      'cache-control': 'no-cache',
      etag: NAV_JS_ETAG,
      // A customer system on another site includes it with a plain <script src>.
      'cross-origin-resource-policy': 'cross-origin',
      'x-content-type-options': 'nosniff',
    });
    if (etagMatches(req.headers['if-none-match'], NAV_JS_ETAG)) {
      res.status(304).end();
      return;
    }
    res.status(200).send(NAV_JS);
  });

  return router;
}

/**
 * CORS for nav.json, for the customer origins listed in routes.yaml (`nav.allowedOrigins`): the
 * request's own origin is echoed with credentials allowed, never `*`.
 */
function allowOrigin(req: Request, res: Response, config: Config): void {
  const origin = req.headers.origin;
  if (typeof origin !== 'string') return;
  const allowed = (config.raw.nav as { allowedOrigins?: unknown } | undefined)?.allowedOrigins;
  if (!Array.isArray(allowed)) return;
  const ok = allowed.some((entry) => {
    try {
      return typeof entry === 'string' && new URL(entry).origin === origin;
    } catch {
      return false;
    }
  });
  if (!ok) return;
  res.set('access-control-allow-origin', origin);
  res.set('access-control-allow-credentials', 'true');
}

/** If-None-Match against one ETag (weak comparison, as for GET revalidation). */
export function etagMatches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === '*') return true;
  const bare = etag.replace(/^W\//, '');
  return (header.match(/(W\/)?"[^"]*"/g) ?? []).some((t) => t.replace(/^W\//, '') === bare);
}
