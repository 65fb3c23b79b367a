import { foldHeaderName } from '../proxy/foldHeaderName.ts';
import { blockList } from './blockList.ts';
import { parseDuration } from './duration.ts';
import { parseRate } from './rate.ts';
import { parseSize } from './size.ts';
import type {
  AddressRule,
  FixedAnswer,
  LocalText,
  Maintenance,
  RawConfig,
  RawRoute,
  RequestHeaderPolicy,
  ResponseHeaderPolicy,
  RoutePolicy,
} from './types.ts';

/** What `securityHeaders: true` adds to an answer that does not carry the header already. */
const SECURITY_HEADERS: readonly (readonly [string, string])[] = [
  ['X-Content-Type-Options', 'nosniff'],
  ['Referrer-Policy', 'strict-origin-when-cross-origin'],
  ['X-Frame-Options', 'SAMEORIGIN'],
];
/** Only over https (publicUrl): a year, this host only (includeSubDomains is the site's call). */
const HSTS: readonly [string, string] = ['Strict-Transport-Security', 'max-age=31536000'];

/**
 * A route's policy keys → what the stages in gateway/routePolicy/ look up. Everything is worked
 * out here once (sizes, rates, address lists, bodies, header lists), so a request pays for a key
 * only when its route has it. `withoutLogin` and `loginSkipped` are added by the caller, once the route exists.
 */
export function compileRoutePolicy(
  r: RawRoute,
  raw: RawConfig,
): Omit<RoutePolicy, 'withoutLogin' | 'loginSkipped'> {
  const limit = r.maxBodySize ?? raw.limits?.maxBodySize;
  return {
    host: r.host?.toLowerCase(),
    publicPaths: r.public
      ? Object.freeze(
          r.public.map((p) =>
            Object.freeze({ path: p.path, methods: p.methods ? new Set<string>(p.methods) : undefined }),
          ),
        )
      : undefined,
    corsPreflight: r.cors?.allowPreflight === true,
    maxBodySize: limit === undefined ? 0 : parseSize(limit),
    perIpRate: r.rateLimit?.perIp ? Object.freeze(parseRate(r.rateLimit.perIp)) : undefined,
    perUserRate: r.rateLimit?.perUser ? Object.freeze(parseRate(r.rateLimit.perUser)) : undefined,
    concurrentPerIp: r.rateLimit?.concurrentPerIp,
    addresses: compileAddresses(r.ipAllow, r.ipDeny),
    maintenance: compileMaintenance(r.maintenance),
    answer: compileAnswer(r),
    requestHeaders: compileRequestHeaders(r.headers?.request),
    responseHeaders: compileResponseHeaders(
      r.headers?.response,
      r.securityHeaders === true,
      raw.publicUrl?.startsWith('https:') === true,
    ),
  };
}

export function compileMaintenance(m: RawRoute['maintenance']): Maintenance | undefined {
  if (m === undefined || m === false) return undefined;
  const o = m === true ? {} : m;
  return Object.freeze({
    retryAfterSeconds:
      o.retryAfter === undefined ? undefined : Math.max(1, Math.ceil(parseDuration(o.retryAfter) / 1000)),
    message: o.message === undefined ? undefined : localText(o.message),
  });
}

/** One text per language Portico speaks, from a text for all or a map of some languages. */
function localText(value: string | Record<string, string>): LocalText {
  if (typeof value === 'string') return Object.freeze({ 'zh-CN': value, 'en-US': value });
  const first = Object.values(value)[0]!;
  return Object.freeze({
    'zh-CN': value['zh-CN'] ?? value['en-US'] ?? first,
    'en-US': value['en-US'] ?? value['zh-CN'] ?? first,
  });
}

function compileAddresses(allow: string[] | undefined, deny: string[] | undefined): AddressRule | undefined {
  if (!allow && !deny) return undefined;
  return Object.freeze({ allow: allow && blockList(allow), deny: deny && blockList(deny) });
}

function compileAnswer(r: RawRoute): FixedAnswer | undefined {
  if (r.respond) {
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(r.respond.headers ?? {})) headers[name.toLowerCase()] = value;
    const body = Buffer.from(r.respond.body ?? '');
    if (body.length > 0 && headers['content-type'] === undefined)
      headers['content-type'] = 'text/plain; charset=utf-8';
    headers['content-length'] = String(body.length);
    return Object.freeze({
      kind: 'respond',
      status: r.respond.status,
      headers: Object.freeze(headers),
      body,
    });
  }
  if (r.redirect)
    return Object.freeze({
      kind: 'redirect',
      status: r.redirect.status ?? 302,
      to: r.redirect.to,
      keepPath: r.redirect.keepPath === true,
    });
  return undefined;
}

type HeaderOperations = { set?: Record<string, string>; remove?: string[] };

function compileRequestHeaders(ops: HeaderOperations | undefined): RequestHeaderPolicy | undefined {
  if (!ops || (!ops.set && !ops.remove)) return undefined;
  const set = Object.entries(ops.set ?? {}).map(([n, v]) => Object.freeze([n.toLowerCase(), v] as const));
  const remove = (ops.remove ?? []).map((n) => n.toLowerCase());
  return Object.freeze({
    set: Object.freeze(set),
    remove: Object.freeze(remove),
    named: new Set([...set.map(([n]) => n), ...remove].map(foldHeaderName)),
  });
}

function compileResponseHeaders(
  ops: HeaderOperations | undefined,
  security: boolean,
  https: boolean,
): ResponseHeaderPolicy | undefined {
  if (!security && (!ops || (!ops.set && !ops.remove))) return undefined;
  const set = Object.entries(ops?.set ?? {}).map(([n, v]) => Object.freeze([n, v] as const));
  const drop = new Set([...(ops?.remove ?? []), ...set.map(([n]) => n)].map((n) => n.toLowerCase()));
  const defaults = security ? [...SECURITY_HEADERS, ...(https ? [HSTS] : [])] : [];
  return Object.freeze({
    drop,
    set: Object.freeze(set),
    // What the route sets or removes itself is not the preset's to add back.
    defaults: Object.freeze(defaults.filter(([n]) => !drop.has(n.toLowerCase()))),
  });
}
