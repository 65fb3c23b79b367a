import type { CheckContext } from '../context.ts';
import { headerValue } from '../identity/headerValue.ts';
import { METHOD_OVERRIDES } from '../proxy/forwardedHeaders.ts';

/**
 * The headers of a 2xx answer: what the proxy sets on the request it forwards, each under the
 * name the upstream reads, so every engine copies them by name (nginx `auth_request_set`,
 * ingress-nginx `auth-response-headers`, Traefik `authResponseHeaders`, Envoy
 * `allowed_upstream_headers`). They are the identity headers and assertion the proxy path would
 * send, plus:
 * - `Authorization`: the value the upstream gets, absent when it must get none (a Portico API
 *   key, a token Portico verified itself). With `bearer: passthrough` it is the client's own.
 * - `Cookie`: the client's cookies without Portico's, absent when none are left.
 * - `X-HTTP-Method-Override` and its kin: the client's, absent on a public path (the method is
 *   what was let through without a login).
 * - `X-Envoy-Auth-Headers-To-Remove`: every one of those names Portico did not set, for Envoy,
 *   which otherwise keeps a client's copy (nginx, ingress-nginx and Traefik replace a header with
 *   an absent value by removing it).
 * - `X-Portico-User` and `X-Portico-Route`: for the proxy's access log, never for the upstream.
 */
export function allowedHeaders(check: CheckContext): Record<string, string> {
  const upstream = check.upstreamHeaders;
  const config = check.config;
  const headers: Record<string, string> = {
    // Not chunked: nginx keeps its connection to Portico only when no body is left to read.
    'content-length': '0',
    'cache-control': 'no-store',
    'x-request-id': check.requestId,
    'x-portico-route': check.route!.id,
  };
  const absent: string[] = [];
  for (const name of [
    ...Object.values(config.identityHeaders),
    config.jwt.header,
    'authorization',
    'cookie',
    // Kept on a request let in with a login, dropped on a public path (its method is what passed).
    ...METHOD_OVERRIDES,
  ]) {
    const value = upstream[name];
    if (value === undefined) absent.push(name.toLowerCase());
    else headers[name] = String(value);
  }
  headers['x-envoy-auth-headers-to-remove'] = absent.join(', ');
  if (check.identity) headers['x-portico-user'] = headerValue(check.identity.username);
  return headers;
}
