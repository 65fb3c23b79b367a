import type { ResponsePass } from '../context.ts';

/**
 * `headers.response` and `securityHeaders` (nginx add_header / proxy_hide_header): removes and
 * sets headers on the upstream's answer; the securityHeaders preset adds each of its headers only
 * when the upstream did not send it, so an application's own policy always wins.
 */
export function setResponseHeaders(): ResponsePass {
  return (ctx, _upstreamRes, headers) => {
    const policy = ctx.route!.responseHeaders;
    if (policy === undefined) return;
    if (policy.drop.size > 0) {
      let kept = 0;
      for (let i = 0; i < headers.length; i += 2) {
        if (policy.drop.has(headers[i]!.toLowerCase())) continue;
        headers[kept++] = headers[i]!;
        headers[kept++] = headers[i + 1]!;
      }
      headers.length = kept;
    }
    for (const [name, value] of policy.set) headers.push(name, value);
    for (const [name, value] of policy.defaults) if (!has(headers, name)) headers.push(name, value);
  };
}

function has(headers: readonly string[], name: string): boolean {
  const lower = name.toLowerCase();
  for (let i = 0; i < headers.length; i += 2) if (headers[i]!.toLowerCase() === lower) return true;
  return false;
}
