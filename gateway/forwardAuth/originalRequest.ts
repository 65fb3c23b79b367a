import type { IncomingMessage } from 'node:http';
import { GatewayError } from '../errors.ts';
import { hostName } from '../routing/routesForHost.ts';

/** Where proxies send their checks. Envoy's ext_authz appends the original path to it. */
export const CHECK_PATH = '/_portico/auth';

/**
 * Who shows a refusal to the user. `proxy`: nginx `auth_request` and ingress-nginx act only on
 * 2xx, 401 and 403 and redirect to the login page themselves (`error_page 401`, `auth-signin`).
 * `client`: Traefik ForwardAuth and Envoy ext_authz hand the answer to the browser as it is, so a
 * browser's navigation gets the redirect to the login page from Portico.
 */
export type Relay = 'proxy' | 'client';

export type OriginalRequest = {
  method: string;
  /** The raw request target (path and query) the proxy is about to forward. */
  target: string;
  relay: Relay;
  /** The proxy's headers that named it: for the log of an untrusted peer, which are ignored. */
  named: string[];
  /**
   * The Host the request was sent to, for routes with `host:` (asked only then): nginx and Envoy
   * send it as the check's own Host, ingress-nginx inside X-Original-URL, Traefik as
   * X-Forwarded-Host. Every one of those present must name the same host, or the check is refused.
   */
  host(): string | undefined;
};

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const ABSOLUTE = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*(.*)$/s;

/**
 * The request a proxy asks about, from the proxy's own headers: nginx's `X-Original-URI` and
 * `X-Original-Method`, ingress-nginx's `X-Original-URL` (`scheme://host/uri`), Traefik's
 * `X-Forwarded-Uri` and `X-Forwarded-Method`, or the path Envoy appends to `/_portico/auth`.
 * They are believed only from a `trustProxy` peer; anyone else's request is judged as itself
 * (`GET /_portico/auth`, which no route matches: refused). A proxy that passes the client's
 * headers along (all of them do by default) would also pass a client's copy of another family's
 * header, so every source present must name the same request, or the check is refused: a client
 * can add a header, never remove the proxy's.
 */
export function originalRequest(
  req: IncomingMessage,
  own: { path: string; query: string },
  trusted: boolean,
): OriginalRequest {
  const headers = req.headersDistinct;
  const named = [
    'x-original-uri',
    'x-original-url',
    'x-original-method',
    'x-forwarded-uri',
    'x-forwarded-method',
    'x-forwarded-host',
  ].filter((n) => headers[n] !== undefined);
  const suffix =
    own.path.length > CHECK_PATH.length ? own.path.slice(CHECK_PATH.length) + own.query : undefined;
  if (!trusted)
    return {
      method: req.method ?? 'GET',
      target: own.path + own.query,
      relay: 'proxy',
      named,
      host: () => req.headers.host,
    };
  const originalUrl = single(headers, 'x-original-url');
  const originalUri = single(headers, 'x-original-uri');
  const fromNginx = [originalUri, pathOfUrl(originalUrl)];
  const fromOthers = [single(headers, 'x-forwarded-uri'), suffix];
  const target = agreed('URI', [...fromNginx, ...fromOthers]) ?? own.path + own.query;
  const method =
    agreed('method', [single(headers, 'x-original-method'), single(headers, 'x-forwarded-method')]) ??
    req.method ??
    'GET';
  if (!TOKEN.test(method))
    throw new GatewayError('PORTICO_ERR_BAD_REQUEST', { detail: 'The original method is not valid.' });
  const relay: Relay =
    fromNginx.some((v) => v !== undefined) || !fromOthers.some((v) => v !== undefined) ? 'proxy' : 'client';
  // nginx (X-Original-URI) and Envoy (the appended path) send the check to the original Host; the
  // others send it to Portico's own address and name the host in their headers. A client can add
  // X-Forwarded-Host, which nginx passes along: it must then agree with the Host nginx sent.
  // ingress-nginx sends X-Original-URI as well (with auth-method), but to Portico's own Host.
  const sentToOriginalHost = originalUrl === undefined && (originalUri !== undefined || suffix !== undefined);
  const host = () => {
    const sources = [hostOfUrl(originalUrl), single(headers, 'x-forwarded-host')];
    if (sentToOriginalHost) sources.unshift(req.headers.host);
    let found: string | undefined;
    let raw: string | undefined;
    for (const v of sources) {
      if (v === undefined) continue;
      const name = hostName(v);
      if (name === '' || (found !== undefined && name !== found))
        throw new GatewayError('PORTICO_ERR_BAD_REQUEST', {
          detail:
            name === '' ? 'The proxy named a malformed host.' : "The proxy's headers name different hosts.",
        });
      found = name;
      raw ??= v;
    }
    return raw ?? req.headers.host;
  };
  return { method: method.toUpperCase(), target, relay, named, host };
}

/** `https://host:8443/x` → `host:8443`. */
function hostOfUrl(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  return /^[A-Za-z][A-Za-z0-9+.-]*:\/\/(?:[^@/?#]*@)?([^/?#]*)/.exec(url)?.[1];
}

/** A header sent once; twice is two requests named at once. */
function single(headers: NodeJS.Dict<string[]>, name: string): string | undefined {
  const values = headers[name];
  if (values === undefined) return undefined;
  if (values.length > 1)
    throw new GatewayError('PORTICO_ERR_BAD_REQUEST', { detail: `${name} was sent more than once.` });
  return values[0];
}

/** `https://host/dce5/x?y` → `/dce5/x?y`, byte for byte (a URL parser would resolve dot segments). */
function pathOfUrl(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  const rest = ABSOLUTE.exec(url)?.[1];
  if (rest === undefined)
    throw new GatewayError('PORTICO_ERR_BAD_REQUEST', { detail: 'X-Original-URL is not an absolute URL.' });
  return rest.startsWith('/') ? rest : `/${rest}`;
}

function agreed(what: string, values: (string | undefined)[]): string | undefined {
  let found: string | undefined;
  for (const v of values) {
    if (v === undefined) continue;
    if (found !== undefined && v !== found)
      throw new GatewayError('PORTICO_ERR_BAD_REQUEST', {
        detail: `The proxy's headers name different ${what}s.`,
      });
    found = v;
  }
  return found;
}
