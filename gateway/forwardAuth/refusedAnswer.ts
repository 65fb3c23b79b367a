import { isNavigation, loginUrl } from '../auth/authorize.ts';
import type { CheckContext } from '../context.ts';
import type { GatewayError } from '../errors.ts';
import { headerValue } from '../identity/headerValue.ts';
import { type ErrorAnswer, errorAnswer } from '../pages/errorResponse.ts';
import type { Pages } from '../pages/pages.ts';
import type { Relay } from './originalRequest.ts';

/**
 * A refusal, in the answers an auth server has: 401 (sign in), 403 (refused), 5xx (cannot
 * decide: 503 while the session store is down). nginx `auth_request` treats any other status as
 * its own 500, so a request Portico would answer 400 or 404 on the proxy path (a path trick, no
 * route) is a 403 here; `X-Portico-Error` keeps the precise code.
 *
 * A 401 says where to sign in: `X-Portico-Login` always (the login URL with `rd=` the original
 * path and query), `X-Portico-Redirect` too when the proxy path would have redirected (a
 * browser opening a page without a session). nginx turns that into its 302 (`error_page 401`);
 * for a proxy that relays the answer to the browser (Traefik, Envoy) Portico answers the 302.
 *
 * Only a relayed answer has a body (the page or JSON of the proxy path): nginx never reads the
 * body of an auth subrequest, and closes its connection to Portico when one is left unread.
 */
export function refusedAnswer(
  err: GatewayError,
  check: Pick<CheckContext, 'req' | 'requestId' | 'identity' | 'path' | 'query'> & { method?: string },
  relay: Relay,
  pages: Pages,
): ErrorAnswer {
  const status = err.status === 401 || err.status === 403 || err.status >= 500 ? err.status : 403;
  const answer: ErrorAnswer =
    relay === 'client'
      ? { ...errorAnswer(check.req, err, check.requestId, pages, { identity: check.identity }), status }
      : {
          status,
          headers: { 'cache-control': 'no-store', 'x-request-id': check.requestId, ...err.headers },
          body: '',
        };
  answer.headers['x-portico-error'] = err.code;
  // Who was refused, for the proxy's access log (the 403 page names them to themselves anyway).
  if (check.identity) answer.headers['x-portico-user'] = headerValue(check.identity.username);
  if (status !== 401) return answer;
  const fromPolicy = typeof err.extra?.login === 'string' ? err.extra.login : undefined;
  const login = fromPolicy ?? loginUrl(check.path + check.query);
  answer.headers['x-portico-login'] = login;
  if (fromPolicy === undefined || !isNavigation(check.method, check.req)) return answer;
  if (relay === 'client')
    return {
      status: 302,
      headers: { 'cache-control': 'no-store', 'x-request-id': check.requestId, location: login },
      body: '',
    };
  answer.headers['x-portico-redirect'] = login;
  return answer;
}
