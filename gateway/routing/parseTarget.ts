import type { RequestContext } from '../context.ts';
import { resolveClient } from '../proxy/forwardedHeaders.ts';
import { splitTarget } from './checkPath.ts';

/** Splits and checks the request target and works out who the client is (trustProxy). */
export function parseTarget(ctx: RequestContext): void {
  const { path, query } = splitTarget(ctx.req.url ?? '/', ctx.config.limits.maxUrlLength);
  ctx.path = path;
  ctx.query = query;
  resolveClient(ctx);
}
