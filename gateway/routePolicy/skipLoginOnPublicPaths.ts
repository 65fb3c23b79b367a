import type { PublicPath } from '../config/types.ts';
import { type AnyContext, methodOf, type Stage } from '../context.ts';
import { backendView, windowsReadings } from '../routing/checkPath.ts';

/**
 * `public:` (oauth2-proxy skip_auth_routes, Authelia bypass): a request for one of these paths of
 * a route with a login goes on as the same route without it — no sign-in, no allow rules, no
 * identity passed (identity headers are still stripped). A path is public only when both the
 * path as sent and the path as a lenient backend reads it (decoded, `;params` dropped, dot
 * segments resolved: routing/checkPath.ts) are under the public one, so `/dce5/auth/..;/apis/`
 * is not public; likewise as a backend that decodes twice and as a Windows backend reads it.
 */
export function skipLoginOnPublicPaths(): Stage<AnyContext> {
  return (ctx) => {
    const route = ctx.route!;
    const paths = route.publicPaths;
    if (paths === undefined || route.withoutLogin === undefined) return;
    // `?_method=DELETE`: Rails, Laravel, Symfony and express method-override take the method from
    // it, so such a request may be any method to the backend: public only where every method is.
    // (A `_method` in a POST body is out of sight: docs/configuration.md, `public`.)
    const method = ctx.query.length > 0 && namesMethodOverride(ctx.query) ? ANY_METHOD : methodOf(ctx);
    if (isPublic(paths, ctx.path, method)) ctx.route = route.withoutLogin;
  };
}

/** A method no `methods:` list names. */
const ANY_METHOD = '*';

/**
 * Whether a query (`?…`) has a `_method` parameter as any backend's parser reads one: pairs split
 * on `&` or `;` (Rack before 3), names percent-decoded (`%5Fmethod`), `+` as a space, and PHP's
 * renaming of ` `, `.` and `[` in names to `_` (`?.method=`), without case. A name that cannot be
 * decoded counts as one.
 */
export function namesMethodOverride(query: string): boolean {
  // Most queries name no method at all and hide nothing behind an escape: no parsing for them.
  if (!query.includes('%') && !/method/i.test(query)) return false;
  for (const pair of query.slice(query.charCodeAt(0) === 63 ? 1 : 0).split(/[&;]/)) {
    const eq = pair.indexOf('=');
    const raw = (eq === -1 ? pair : pair.slice(0, eq)).replace(/\+/g, ' ');
    let name: string;
    try {
      name = decodeURIComponent(raw);
    } catch {
      return true;
    }
    if (name.replace(/[ .[]/g, '_').toLowerCase() === '_method') return true;
  }
  return false;
}

/** Whether `path` (as sent) is under one of `paths` for `method`, also as a lenient backend reads it. */
export function isPublic(paths: readonly PublicPath[], path: string, method: string): boolean {
  const view = backendView(path);
  if (view === undefined) return false;
  // And as a backend that decodes twice reads it (`%252e%252e` is `..` to it): no way out either.
  // Leniently: a literal `%` once decoded (`50%25off.png`) is no escape to such a backend.
  const twice = view === path ? view : backendView(view, true);
  if (twice === undefined) return false;
  // And as a Windows backend reads them (trailing dots and spaces, NTFS stream names dropped): a
  // segment left as dots only (`/dce5/auth/..%20/apis/`, `…/..::$DATA/…`) may be `..` to it.
  const windows = windowsReadings(view);
  const windowsTwice = twice === view ? windows : windowsReadings(twice);
  for (const p of paths) {
    if (p.methods !== undefined && !p.methods.has(method)) continue;
    if (
      within(p.path, path) &&
      within(p.path, view) &&
      within(p.path, twice) &&
      windows.every((w) => within(p.path, w)) &&
      windowsTwice.every((w) => within(p.path, w))
    )
      return true;
  }
  return false;
}

/** Matched as route prefixes are: `/a/` holds `/a/x`; `/a` holds `/a` and `/a/x`, never `/ab`. */
function within(prefix: string, path: string): boolean {
  if (prefix.endsWith('/')) return path.startsWith(prefix);
  return path === prefix || (path.startsWith(prefix) && path.charCodeAt(prefix.length) === 47);
}
