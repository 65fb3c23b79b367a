import type { PathProblem } from './semantics.ts';

type Loose = Record<string, unknown>;
const obj = (v: unknown): Loose | undefined =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as Loose) : undefined;
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/**
 * What the schema cannot say about a route's `upstreams`: one of `upstream` and `upstreams`, URLs
 * a request can be sent to, one scheme and one base path for every server (the path the route's
 * prefix is replaced with must not depend on the server picked), servers listed once, a server
 * that is not a backup, and stickiness only where there is a sign-in to stick to.
 */
export function upstreamsProblems(r: Loose, i: number): PathProblem[] {
  const group = obj(r.upstreams);
  if (!group) return [];
  const out: PathProblem[] = [];
  const at = (...path: (string | number)[]) => ['routes', i, 'upstreams', ...path];
  if (r.upstream !== undefined)
    out.push({
      path: ['routes', i, 'upstream'],
      message: 'a route has either upstream (one server) or upstreams (several), not both',
    });
  let first: { scheme: string; path: string; j: number } | undefined;
  const seen = new Map<string, number>();
  let primaries = 0;
  list(group.servers).forEach((entry, j) => {
    const server = obj(entry);
    const text = str(entry) ?? str(server?.url);
    const path = server ? at('servers', j, 'url') : at('servers', j);
    if (server?.backup !== true) primaries++;
    if (text === undefined) return;
    let u: URL;
    try {
      u = new URL(text);
    } catch {
      out.push({ path, message: `"${text}" is not a valid URL` });
      return;
    }
    // Another scheme is the schema's to report.
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return;
    if (u.search || u.hash) out.push({ path, message: 'must not have a query or fragment' });
    if (u.username || u.password) out.push({ path, message: 'must not embed credentials' });
    const origin = `${u.protocol}//${u.host}`;
    if (seen.has(origin))
      out.push({ path, message: `${origin} is listed twice (also servers[${seen.get(origin)}])` });
    else seen.set(origin, j);
    if (!first) first = { scheme: u.protocol, path: u.pathname, j };
    else if (u.protocol !== first.scheme || u.pathname !== first.path)
      out.push({
        path,
        message: `every server needs the same scheme and path: "${u.protocol}//…${u.pathname}" differs from servers[${first.j}] ("${first.scheme}//…${first.path}")`,
      });
  });
  if (list(group.servers).length > 0 && primaries === 0)
    out.push({ path: at('servers'), message: 'needs at least one server that is not a backup' });
  if (r.tls !== undefined && first?.scheme === 'http:')
    out.push({ path: ['routes', i, 'tls'], message: 'tls settings need https:// servers' });
  const auth = str(r.auth);
  const login = (auth !== undefined && auth !== 'none') || r.allow !== undefined;
  if (group.sticky !== undefined && !login)
    out.push({
      path: at('sticky'),
      message: 'has no effect: this route has no login (auth: none), so there is no session to stick to',
    });
  return out;
}
