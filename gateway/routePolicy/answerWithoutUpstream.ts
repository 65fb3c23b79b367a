import type { FixedAnswer, Maintenance } from '../config/types.ts';
import type { AnyContext, HttpContext, Stage } from '../context.ts';
import { GatewayError } from '../errors.ts';
import { rejectUpgrade, respondError } from '../pages/errorResponse.ts';
import type { Services } from '../services.ts';

/**
 * Answers that need no upstream, before any sign-in (nginx's `return` runs before its access
 * checks): maintenance — switched on through the admin API or written in routes.yaml — is a
 * branded 503 page (JSON for API clients) with Retry-After and the admin's message; `respond` is
 * a fixed status, headers and body; `redirect` a fixed Location. WebSocket upgrades to a route in
 * maintenance get the 503 as well.
 */
export function answerWithoutUpstream(s: Pick<Services, 'maintenance' | 'pages'>): Stage<AnyContext> {
  const { maintenance, pages } = s;
  return (ctx) => {
    const route = ctx.route!;
    const notice = maintenance.get(route.id) ?? route.maintenance;
    if (notice !== undefined) return underMaintenance(ctx, notice, pages);
    const answer = route.answer;
    if (answer === undefined) return;
    // Routes with an answer take no upgrades (config/routePolicyProblems.ts): defence in depth.
    if (ctx.kind === 'ws') throw new GatewayError('PORTICO_ERR_NOT_FOUND');
    // A forward-auth check of such a route: Portico would answer it and forward nothing, but the
    // proxy that asks forwards what it is allowed to, to its own upstream. Allowing it would open
    // what a `respond: { status: 403 }` route was written to close; the proxy must answer such
    // paths itself (a location of its own), and until it does they are refused.
    if (ctx.kind === 'check')
      throw new GatewayError('PORTICO_ERR_FORBIDDEN', {
        detail: 'This path is answered by the gateway itself and is never forwarded.',
      });
    answerFixed(ctx, answer);
  };
}

/** Answered here rather than thrown: a planned 503 is not an error worth an error log line. */
function underMaintenance(ctx: AnyContext, notice: Maintenance, pages: Services['pages']): void {
  const seconds = notice.retryAfterSeconds;
  const err = new GatewayError('PORTICO_ERR_MAINTENANCE', {
    headers: seconds === undefined ? undefined : { 'retry-after': String(seconds) },
    texts: notice.message,
    extra: seconds === undefined ? undefined : { retryAfter: seconds },
  });
  // A forward-auth check answers the 503 for the proxy to relay.
  if (ctx.kind === 'check') throw err;
  ctx.done = true;
  if (ctx.kind === 'http') respondError(ctx.req, ctx.res, err, ctx.requestId, pages);
  else {
    rejectUpgrade(ctx.socket, err, ctx.requestId);
    ctx.answered?.(err.status);
  }
}

function answerFixed(ctx: HttpContext, answer: FixedAnswer): void {
  const { req, res } = ctx;
  ctx.done = true;
  if (answer.kind === 'respond') {
    res.writeHead(answer.status, answer.headers);
    res.end(req.method === 'HEAD' ? undefined : answer.body);
    return;
  }
  const location = redirectLocation(answer, ctx.route!.prefix, ctx.path, ctx.query);
  res.writeHead(answer.status, { location, 'content-length': '0' });
  res.end();
}

/** Where a `redirect:` route sends this request (`keepPath` appends what follows the prefix, and the query). */
export function redirectLocation(
  answer: { readonly to: string; readonly keepPath: boolean },
  prefix: string,
  path: string,
  query: string,
): string {
  return answer.keepPath ? joinPath(answer.to, path.slice(prefix.length)) + query : answer.to;
}

/** `https://new.example.com/` + `a/b` (what follows the route's prefix), with exactly one slash between. */
function joinPath(to: string, rest: string): string {
  if (rest === '') return to;
  const slash = rest.startsWith('/');
  if (to.endsWith('/')) return to + (slash ? rest.slice(1) : rest);
  return slash ? to + rest : `${to}/${rest}`;
}
