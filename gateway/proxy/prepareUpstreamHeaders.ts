import type { RequestContext, Stage } from '../context.ts';
import { buildUpstreamHeaders } from './forwardedHeaders.ts';

export function prepareUpstreamHeaders(): Stage<RequestContext> {
  return (ctx) => {
    ctx.upstreamHeaders = buildUpstreamHeaders(ctx, ctx.route!);
  };
}
