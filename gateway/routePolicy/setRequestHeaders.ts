import type { AnyContext, Stage } from '../context.ts';

/**
 * `headers.request` (nginx proxy_set_header): removes and sets headers on the request the upstream
 * receives, after Portico's own forwarding headers and before the identity it injects — the
 * identity headers, Host and the framing headers are refused at load time, so no policy can
 * forge or drop them.
 */
export function setRequestHeaders(): Stage<AnyContext> {
  return (ctx) => {
    const policy = ctx.route!.requestHeaders;
    if (policy === undefined) return;
    const headers = ctx.upstreamHeaders;
    for (const name of policy.remove) delete headers[name];
    for (const [name, value] of policy.set) headers[name] = value;
  };
}
