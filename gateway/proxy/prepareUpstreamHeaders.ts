import type { RequestContext } from '../context.ts';
import { buildUpstreamHeaders } from './forwardedHeaders.ts';

export function prepareUpstreamHeaders(ctx: RequestContext): void {
  ctx.upstreamHeaders = buildUpstreamHeaders(ctx, ctx.route!);
}
