import type { AnyContext, Stage } from '../context.ts';
import type { Services } from '../services.ts';
import { addressKey } from './addressKey.ts';
import { createRateCounter } from './rateCounter.ts';

/**
 * `rateLimit.perIp` (nginx limit_req by $binary_remote_addr): requests per client address — the
 * one the pipeline resolved through trustProxy — and route, counted before any sign-in so a flood
 * never reaches the session store; 429 with Retry-After over the rate.
 */
export function limitAddressRate(s: Pick<Services, 'store' | 'log'>): Stage<AnyContext> {
  const count = createRateCounter(s.store, s.log);
  return (ctx) => {
    const route = ctx.route!;
    const rate = route.perIpRate;
    if (rate === undefined) return;
    return count(`ip:${route.id}:${addressKey(ctx.clientIp)}`, rate);
  };
}
