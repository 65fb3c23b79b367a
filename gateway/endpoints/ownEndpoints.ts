import type { HttpContext } from '../context.ts';

export const OWN_PREFIX = '/_portico/';

/** Portico's own endpoints (/_portico/…) go to the express app; the proxied path never touches express. */
export function ownEndpoints(ctx: HttpContext): void {
  if (!ctx.path.startsWith(OWN_PREFIX) && ctx.path !== '/_portico') return;
  ctx.done = true;
  (ctx.req as typeof ctx.req & { portico?: HttpContext }).portico = ctx;
  ctx.runtime.ownEndpoints(ctx.req, ctx.res);
}
