import { GatewayError } from '../errors.ts';

export type UpstreamErrorKind = 'refused' | 'reset' | 'timeout' | 'tls' | 'dns' | 'other';

/**
 * Failures of the connection to a server rather than of the request: they count against one of a
 * route's `upstreams` and may send the request to another (nginx `proxy_next_upstream error timeout`).
 */
export const CONNECTION_FAILURES: ReadonlySet<UpstreamErrorKind> = new Set([
  'refused',
  'reset',
  'timeout',
  'tls',
  'dns',
]);

export class UpstreamTimeout extends Error {
  readonly code = 'PORTICO_UPSTREAM_TIMEOUT';
  readonly phase: 'connect' | 'idle';
  constructor(phase: 'connect' | 'idle') {
    super(`upstream ${phase} timeout`);
    this.phase = phase;
  }
}

export function classifyUpstreamError(err: unknown): UpstreamErrorKind {
  if (err instanceof UpstreamTimeout) return 'timeout';
  const code = String((err as { code?: string })?.code ?? '');
  if (code === 'ECONNREFUSED') return 'refused';
  if (code === 'ECONNRESET' || code === 'EPIPE' || code === 'ECONNABORTED' || code === 'UND_ERR_SOCKET')
    return 'reset';
  if (
    code === 'ETIMEDOUT' ||
    code === 'UND_ERR_CONNECT_TIMEOUT' ||
    code === 'UND_ERR_HEADERS_TIMEOUT' ||
    code === 'UND_ERR_BODY_TIMEOUT'
  )
    return 'timeout';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'dns';
  if (/CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO|HOSTNAME|ERR_TLS/.test(code)) return 'tls';
  if (/socket hang up/i.test(String((err as Error)?.message))) return 'reset';
  return 'other';
}

export function upstreamGatewayError(err: unknown): GatewayError {
  const kind = classifyUpstreamError(err);
  return new GatewayError(kind === 'timeout' ? 'PORTICO_ERR_UPSTREAM_TIMEOUT' : 'PORTICO_ERR_UPSTREAM', {
    cause: err,
    extra: { reason: kind },
  });
}
