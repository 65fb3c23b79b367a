import type { HttpContext, Stage, UpgradeContext } from '../context.ts';
import { GatewayError } from '../errors.ts';
import { addressKey } from './addressKey.ts';

/**
 * `rateLimit.concurrentPerIp` (nginx limit_conn, Traefik inFlightReq): how many requests and open
 * WebSockets one client address — as trustProxy resolves it, IPv6 by /64 — may have on a route at
 * once; the next one gets 429 before any sign-in or upstream work. A rate limit alone lets one
 * address hold every connection of the route's upstream pool with slow requests that each stay
 * inside the timeouts; this bounds what one address holds, whatever its pace.
 *
 * Counted in this process (a request in flight lives here, not in the store): with `--workers N`
 * or replicas, each counts its own. A count ends when the answer is closed (finished or cut) or
 * the WebSocket closes; a key at zero is dropped, so the map holds only addresses in flight.
 * Runs before any stage that waits, so the request's close cannot have passed unseen.
 */
export function limitAddressConcurrency(): Stage<HttpContext | UpgradeContext> {
  const inFlight = new Map<string, number>();
  const release = (key: string) => {
    const n = inFlight.get(key)! - 1;
    if (n > 0) inFlight.set(key, n);
    else inFlight.delete(key);
  };
  return (ctx) => {
    const limit = ctx.route!.concurrentPerIp;
    if (limit === undefined) return;
    const key = `${ctx.route!.id}\n${addressKey(ctx.clientIp)}`;
    const n = inFlight.get(key) ?? 0;
    if (n >= limit)
      throw new GatewayError('PORTICO_ERR_TOO_MANY', {
        headers: { 'retry-after': '1' },
        extra: { retryAfter: 1 },
      });
    // HTTP/2's compatibility response has no `closed`: its stream says it.
    const gone =
      ctx.kind === 'http'
        ? (ctx.res.closed ?? (ctx.res as unknown as { stream?: { closed: boolean } }).stream?.closed ?? false)
        : ctx.socket.destroyed;
    if (gone) return;
    inFlight.set(key, n + 1);
    if (ctx.kind === 'http') ctx.res.once('close', () => release(key));
    else ctx.socket.once('close', () => release(key));
  };
}
