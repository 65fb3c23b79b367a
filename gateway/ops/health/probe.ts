import type { TLSSocket } from 'node:tls';
import type { Route } from '../../config/types.ts';
import { classifyUpstreamError, UpstreamTimeout, type UpstreamErrorKind } from '../../proxy/upstreamError.ts';
import { request as httpRequest } from '../../nodeHttp.ts';

export type ProbeResult = (
  | { ok: true; status: number; latencyMs: number }
  | { ok: false; status?: number; reason: UpstreamErrorKind | 'status'; message: string; latencyMs: number }
) & {
  /** TLS upstreams: when the certificate the handshake presented expires (epoch ms). */
  certificateExpiresAt?: number;
};

/**
 * One active check: a GET of the upstream's base URL (or `path`) on a fresh connection, with the
 * route's TLS settings. Any status below 500 is healthy (a login redirect or a 404 still proves the
 * service answers); 5xx, a refused/reset connection, a TLS failure or the timeout is unhealthy.
 */
export function probe(
  route: Route,
  tlsOptions: Readonly<Record<string, unknown>>,
  path: string | undefined,
  timeoutMs: number,
  /** One of the route's `upstreams`; by default its one upstream. */
  server: URL = route.upstream!,
): Promise<ProbeResult> {
  const url = path ? new URL(path, server) : server;
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  return new Promise((resolve) => {
    let settled = false;
    const done = (r: ProbeResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      resolve(r);
    };
    const request = route.secure ? process.getBuiltinModule('node:https').request : httpRequest;
    const req = request(url, {
      method: 'GET',
      agent: false,
      ...tlsOptions,
      headers: {
        host: server.host,
        'user-agent': 'Portico-HealthCheck/1',
        accept: '*/*',
        connection: 'close',
      },
    });
    const timer = setTimeout(() => {
      const err = new UpstreamTimeout('connect');
      done({
        ok: false,
        reason: 'timeout',
        message: `no answer within ${timeoutMs} ms`,
        latencyMs: elapsed(),
      });
      req.destroy(err);
    }, timeoutMs);
    // The check opens its own TLS connection: its handshake shows the certificate the route's
    // requests get, and when it expires.
    let certificateExpiresAt: number | undefined;
    if (route.secure)
      req.on('socket', (socket) => {
        socket.once('secureConnect', () => {
          const notAfter = Date.parse((socket as TLSSocket).getPeerCertificate().valid_to ?? '');
          if (Number.isFinite(notAfter)) certificateExpiresAt = notAfter;
        });
      });
    const cert = () => (certificateExpiresAt === undefined ? {} : { certificateExpiresAt });
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      res.resume();
      if (status < 500) done({ ok: true, status, latencyMs: elapsed(), ...cert() });
      else
        done({
          ok: false,
          status,
          reason: 'status',
          message: `answered ${status}`,
          latencyMs: elapsed(),
          ...cert(),
        });
    });
    req.on('error', (err) => {
      done({
        ok: false,
        reason: classifyUpstreamError(err),
        message: (err as NodeJS.ErrnoException).code ?? err.message,
        latencyMs: elapsed(),
        ...cert(),
      });
    });
    req.end();
  });
}
