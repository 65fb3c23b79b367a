import { foldHeaderName } from '../proxy/foldHeaderName.ts';
import { isIP } from 'node:net';
import type { PathProblem } from './semantics.ts';

type Loose = Record<string, unknown>;
const obj = (v: unknown): Loose | undefined =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as Loose) : undefined;
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** Headers that frame the message or the connection: Portico's to write, on both sides. */
const FRAMING = new Set([
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'upgrade',
  'te',
  'trailer',
  'proxy-connection',
]);

/** An IP address or a CIDR (`10.0.0.0/8`, `2001:db8::/32`). */
export function isCidr(value: string): boolean {
  const [addr, bits, extra] = value.split('/');
  const family = isIP(addr ?? '');
  if (!family || extra !== undefined) return false;
  return bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (family === 6 ? 128 : 32));
}

/** The header names Portico injects, folded as buildUpstreamHeaders folds them. */
function identityHeaderNames(raw: Loose): Set<string> {
  const identity = obj(raw.identity);
  const h = obj(identity?.headers) ?? {};
  const names = [
    str(h.user) ?? 'X-Forwarded-User',
    str(h.email) ?? 'X-Forwarded-Email',
    str(h.groups) ?? 'X-Forwarded-Groups',
    str(h.name) ?? 'X-Forwarded-Preferred-Username',
    str(obj(identity?.jwt)?.header) ?? 'X-Portico-Assertion',
  ];
  return new Set(names.map(fold));
}

const fold = foldHeaderName;

/**
 * What the schema cannot say about a route's policy keys (see routePolicySchema.ts): what a route
 * without an upstream may have, public paths under the route, addresses, redirect targets, and
 * the headers a header policy may not touch. Runs on whatever parts are well-formed.
 */
export function routePolicyProblems(r: Loose, i: number, raw: Loose): PathProblem[] {
  const out: PathProblem[] = [];
  const at = (...path: (string | number)[]) => ['routes', i, ...path];
  const answers = r.respond !== undefined || r.redirect !== undefined;
  const maintenance = r.maintenance !== undefined && r.maintenance !== false;
  const auth = str(r.auth);
  const forwards = r.upstream !== undefined || r.upstreams !== undefined;

  if (!forwards && !answers && !maintenance)
    out.push({
      path: at(),
      message: 'needs an upstream (or respond, redirect or maintenance, to answer without one)',
    });
  if (r.respond !== undefined && r.redirect !== undefined)
    out.push({ path: at('redirect'), message: 'a route either responds or redirects, not both' });
  if (answers && forwards)
    out.push({
      path: at(r.upstream !== undefined ? 'upstream' : 'upstreams'),
      message: `is never used: this route answers every request itself (${r.respond !== undefined ? 'respond' : 'redirect'}); remove one of the two`,
    });
  if (answers) {
    for (const key of ['auth', 'allow'] as const) {
      if (r[key] === undefined || (key === 'auth' && auth === 'none')) continue;
      out.push({
        path: at(key),
        message: `has no effect: respond and redirect answer before any sign-in (as nginx's return does)`,
      });
    }
  }
  if (r.websocket === true && !forwards)
    out.push({ path: at('websocket'), message: 'needs an upstream to open WebSockets to' });
  // 0 would not mean "no limit" here: every wait it bounds (an answer's silence, a paused client,
  // a queued request) would end at once.
  const idle = obj(r.timeouts)?.idle;
  if (idle === 0 || (typeof idle === 'string' && /^\s*0+(\.0+)?\s*[a-z]*\s*$/.test(idle)))
    out.push({
      path: at('timeouts', 'idle'),
      message:
        'must be more than 0: it bounds every silence on the route (use a long one, such as 1h, for long polls)',
    });

  const respond = obj(r.respond);
  const status = respond?.status;
  if ((status === 204 || status === 304) && typeof respond?.body === 'string' && respond.body !== '')
    out.push({ path: at('respond', 'body'), message: `a ${status} answer has no body` });

  const to = str(obj(r.redirect)?.to);
  if (to !== undefined && !redirectTarget(to))
    out.push({
      path: at('redirect', 'to'),
      message: `"${to}" is neither an http(s) URL nor a path on this site (starting with one "/")`,
    });

  if (to !== undefined && obj(r.redirect)?.keepPath === true && /[?#]/.test(to))
    out.push({
      path: at('redirect', 'to'),
      message: 'keepPath appends the path and query: the target must not have its own query or fragment',
    });

  const prefix = str(r.path);
  list(r.public).forEach((p, j) => {
    const path = str(obj(p)?.path);
    if (path === undefined || prefix === undefined) return;
    if (!under(prefix, path))
      out.push({
        path: at('public', j, 'path'),
        message: `"${path}" is not under the route's path "${prefix}"`,
      });
    else if (/(^|\/)\.\.?(\/|$)/.test(path) || path.includes('//'))
      out.push({ path: at('public', j, 'path'), message: 'must not contain empty, "." or ".." segments' });
  });

  for (const key of ['ipAllow', 'ipDeny'] as const)
    list(r[key]).forEach((cidr, j) => {
      if (typeof cidr === 'string' && !isCidr(cidr))
        out.push({ path: at(key, j), message: `"${cidr}" is not an IP address or CIDR` });
    });

  const rate = obj(r.rateLimit);
  const login = (auth !== undefined && auth !== 'none') || r.allow !== undefined;
  if (rate?.perUser !== undefined && !login)
    out.push({
      path: at('rateLimit', 'perUser'),
      message: 'has no effect: this route has no login (auth: none), so there is no user to count',
    });

  const identity = identityHeaderNames(raw);
  const headers = obj(r.headers);
  for (const side of ['request', 'response'] as const) {
    const ops = obj(headers?.[side]);
    const named: [(string | number)[], string][] = [
      ...Object.keys(obj(ops?.set) ?? {}).map((n): [(string | number)[], string] => [[side, 'set', n], n]),
      ...list(ops?.remove).flatMap((n, j): [(string | number)[], string][] =>
        typeof n === 'string' ? [[[side, 'remove', j], n]] : [],
      ),
    ];
    for (const [path, name] of named) {
      const message = headerRefusal(side, name, identity);
      if (message) out.push({ path: at('headers', ...path), message });
    }
  }
  return out;
}

function headerRefusal(
  side: 'request' | 'response',
  name: string,
  identity: Set<string>,
): string | undefined {
  const folded = fold(name);
  if (side === 'request' && identity.has(folded))
    return `"${name}" is an identity header: Portico sets it (or removes it) itself, a header policy may not`;
  if (FRAMING.has(folded)) return `"${name}" frames the message: Portico manages it, a header policy may not`;
  if (side === 'request' && folded === 'host')
    return '"Host" is set by preserveHost (false sends the upstream\'s own host), not by a header policy';
  return undefined;
}

/** A route prefix contains `path` as a route would match it: `/dce5/` holds `/dce5/x`, `/api` holds `/api/x`. */
function under(prefix: string, path: string): boolean {
  if (prefix.endsWith('/')) return path.startsWith(prefix);
  return path === prefix || path.startsWith(`${prefix}/`);
}

/** An absolute http(s) URL, or a path on this site (not `//host`, which browsers read as another site). */
function redirectTarget(to: string): boolean {
  if (to.startsWith('/')) return !to.startsWith('//') && !to.startsWith('/\\') && !/[\s\\]/.test(to);
  try {
    const u = new URL(to);
    return (u.protocol === 'http:' || u.protocol === 'https:') && !/\s/.test(to);
  } catch {
    return false;
  }
}
