import type { IncomingMessage, ServerResponse } from 'node:http';
import etag from 'etag';
import fresh from 'fresh';

/**
 * What helmet sets, with ownApp.ts's options, on every answer of the own app: health checks are
 * answered without express or helmet (test/endpoints/healthChecks.test.ts holds the two equal).
 */
const SECURITY_HEADERS: [string, string][] = [
  [
    'Content-Security-Policy',
    "default-src 'self';base-uri 'self';font-src 'self' https: data:;form-action 'self' https: http:;frame-ancestors 'self';img-src 'self' data: https:;object-src 'none';script-src 'self';script-src-attr 'none';style-src 'self' 'unsafe-inline'",
  ],
  ['Cross-Origin-Opener-Policy', 'same-origin'],
  ['Cross-Origin-Resource-Policy', 'same-site'],
  ['Origin-Agent-Cluster', '?1'],
  ['Referrer-Policy', 'no-referrer'],
  ['X-Content-Type-Options', 'nosniff'],
  ['X-DNS-Prefetch-Control', 'off'],
  ['X-Download-Options', 'noopen'],
  ['X-Frame-Options', 'SAMEORIGIN'],
  ['X-Permitted-Cross-Domain-Policies', 'none'],
  ['X-XSS-Protection', '0'],
];

/** The paths as express's router matches them: any case, with or without a final slash. */
const HEALTH = /^\/_portico\/(healthz|readyz)\/?$/i;

export type Readiness = () => Promise<{ status: number; body: unknown }>;

/**
 * `GET|HEAD /_portico/healthz` and `/_portico/readyz` over HTTP/1, answered as the own app answers
 * them (same headers, weak ETag, 304 on If-None-Match) but without it: probes come every few
 * seconds from the first, and would otherwise load express (~12 MB) into every pure proxy.
 * Returns false for any other request. A readiness that throws is left to `otherwise` (the own
 * app, which answers with its error page).
 */
export function answerHealthCheck(
  req: IncomingMessage,
  res: ServerResponse,
  readiness: Readiness,
  otherwise: () => void,
): boolean {
  if (req.httpVersionMajor === 2 || (req.method !== 'GET' && req.method !== 'HEAD')) return false;
  const url = req.url ?? '';
  const q = url.indexOf('?');
  const which = HEALTH.exec(q === -1 ? url : url.slice(0, q))?.[1]?.toLowerCase();
  if (!which) return false;
  if (which === 'healthz') {
    send(req, res, 200, { status: 'ok' });
    return true;
  }
  readiness().then((r) => send(req, res, r.status, r.body), otherwise);
  return true;
}

function send(req: IncomingMessage, res: ServerResponse, status: number, value: unknown): void {
  const body = Buffer.from(JSON.stringify(value));
  // express's ETag and freshness test, from the two packages express itself calls for them.
  const tag = etag(body, { weak: true });
  for (const [name, v] of SECURITY_HEADERS) res.setHeader(name, v);
  res.setHeader('cache-control', 'no-store');
  if (status >= 200 && status < 300 && fresh(req.headers, { etag: tag })) {
    res.setHeader('ETag', tag);
    res.statusCode = 304;
    res.end();
    return;
  }
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', String(body.length));
  res.setHeader('ETag', tag);
  res.end(req.method === 'HEAD' ? undefined : body);
}
