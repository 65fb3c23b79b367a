import type { HttpContext } from '../context.ts';
import type { GatewayError } from '../errors.ts';
import type { Pages } from '../pages/pages.ts';
import { CHECK_PATH } from './originalRequest.ts';
import { refusedAnswer } from './refusedAnswer.ts';

/**
 * A check refused before the forward-auth stage could read it — its own Host names no host, two
 * Host headers, a coding besides chunked, a path trick in the path Envoy appends — is answered as
 * the stage answers a refusal (refusedAnswer.ts): nginx `auth_request` turns a 400 into its own
 * 500, and the docs promise a 403. True when it answered.
 */
export function refuseMalformedCheck(ctx: HttpContext, err: GatewayError, pages: Pages): boolean {
  if (err.status === 401 || err.status === 403 || err.status >= 500) return false;
  const url = ctx.req.url ?? '';
  if (!url.startsWith(CHECK_PATH)) return false;
  const rest = url.charAt(CHECK_PATH.length);
  if (rest !== '' && rest !== '/' && rest !== '?') return false;
  const a = refusedAnswer(err, { ...ctx, path: CHECK_PATH, query: '' }, 'proxy', pages);
  ctx.res.writeHead(a.status, { ...a.headers, 'content-length': '0' });
  ctx.res.end();
  return true;
}
