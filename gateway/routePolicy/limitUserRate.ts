import type { AnyContext, Stage } from '../context.ts';
import type { Services } from '../services.ts';
import { createRateCounter } from './rateCounter.ts';

/**
 * `rateLimit.perUser`: requests per signed-in user (idp and subject, whichever replica or address
 * they come from) and route, counted once the login is known; 429 with Retry-After over the rate.
 * Anonymous requests (an optional route, a public path) are counted by address only.
 */
export function limitUserRate(s: Pick<Services, 'store' | 'log'>): Stage<AnyContext> {
  const count = createRateCounter(s.store, s.log);
  return (ctx) => {
    const route = ctx.route!;
    const rate = route.perUserRate;
    const identity = ctx.identity;
    if (rate === undefined || identity === undefined) return;
    return count(`user:${route.id}:${identity.idp}:${identity.sub}`, rate);
  };
}
