import type { Stage, UpgradeContext } from '../context.ts';
import { GatewayError } from '../errors.ts';
import { publicOriginOf } from '../routing/publicOrigin.ts';

/**
 * Cross-site WebSocket hijacking guard: a browser's upgrade must come from our own origin (the
 * configured publicUrl or the host a route names, or the Host it was sent to). Non-browser clients send no Origin and are
 * judged by their credentials alone.
 *
 * Without a publicUrl the scheme is judged one way only: a plain-http page may not open a socket
 * on a connection that arrived over TLS (whoever can answer for http://host — a network attacker,
 * another service on port 80 — is not the site), while an https page is let through on a
 * connection Portico sees as http, which is what a TLS proxy missing from `trustProxy` looks like.
 */
export function checkOrigin(): Stage<UpgradeContext> {
  return (ctx) => {
    const origin = ctx.req.headers.origin;
    if (origin === undefined) return;
    const publicOrigin = publicOriginOf(ctx.config, ctx.req.headers.host);
    if (
      publicOrigin !== undefined ? origin === publicOrigin : sameSite(origin, ctx.proto, ctx.req.headers.host)
    )
      return;
    throw new GatewayError('PORTICO_ERR_BAD_ORIGIN');
  };
}

function sameSite(origin: string, proto: 'http' | 'https', host: string | undefined): boolean {
  if (host === undefined) return false;
  try {
    const from = new URL(origin);
    if (from.protocol !== 'https:' && (from.protocol !== 'http:' || proto === 'https')) return false;
    // Both through URL, so a default port written out (host:443) compares equal to none.
    return from.host === new URL(`${from.protocol}//${host}`).host;
  } catch {
    return false;
  }
}
