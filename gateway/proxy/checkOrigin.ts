import type { Stage, UpgradeContext } from '../context.ts';
import { GatewayError } from '../errors.ts';
import { publicOriginOf } from '../routing/publicOrigin.ts';

/**
 * Cross-site WebSocket hijacking guard: a browser's upgrade must come from our own origin (the
 * configured publicUrl or the host a route names, or the Host it was sent to). Non-browser clients send no Origin and are
 * judged by their credentials alone.
 */
export function checkOrigin(): Stage<UpgradeContext> {
  return (ctx) => {
    const origin = ctx.req.headers.origin;
    if (origin === undefined) return;
    const publicOrigin = publicOriginOf(ctx.config, ctx.req.headers.host);
    if (publicOrigin !== undefined ? origin === publicOrigin : sameHost(origin, ctx.req.headers.host)) return;
    throw new GatewayError('PORTICO_ERR_BAD_ORIGIN');
  };
}

function sameHost(origin: string, host: string | undefined): boolean {
  try {
    return host !== undefined && new URL(origin).host === host.toLowerCase();
  } catch {
    return false;
  }
}
