import { createRequire } from 'node:module';
import type { UpstreamErrorKind } from '../../proxy/upstreamError.ts';

const require = createRequire(import.meta.url);

/**
 * Portico's metrics, on a registry of its own (never prom-client's global one, so two gateways in
 * one process, or a library that uses the global registry, do not collide). Every label value is
 * bounded: route ids from the config (or `_portico` / `_none`), fixed sets for the rest.
 */
export type Metrics = ReturnType<typeof createMetrics>;

export const METHODS = new Set([
  'GET',
  'HEAD',
  'POST',
  'PUT',
  'DELETE',
  'PATCH',
  'OPTIONS',
  'CONNECT',
  'TRACE',
]);
const KINDS = new Set<UpstreamErrorKind>(['refused', 'reset', 'timeout', 'tls', 'dns', 'other']);
const LOGIN_RESULTS: Record<string, string> = {
  success: 'success',
  ok: 'success',
  failure: 'failure',
  failed: 'failure',
  denied: 'failure',
  error: 'error',
};

/** Route label for a request: its route id, `_portico` for Portico's own endpoints, else `_none`. */
export const OWN_ROUTE = '_portico';
export const NO_ROUTE = '_none';

export function methodLabel(method: string | undefined): string {
  return method && METHODS.has(method) ? method : 'OTHER';
}

export function statusClass(status: number): string {
  return status >= 100 && status < 600 ? `${Math.floor(status / 100)}xx` : 'other';
}

export function errorKindLabel(kind: unknown): UpstreamErrorKind {
  return KINDS.has(kind as UpstreamErrorKind) ? (kind as UpstreamErrorKind) : 'other';
}

export function loginResultLabel(result: unknown): string {
  return LOGIN_RESULTS[String(result)] ?? 'other';
}

/** The metrics on prom-client, loaded here (the gateway defers this: deferredMetrics.ts). */
export function createMetrics() {
  const { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } =
    require('prom-client') as typeof import('prom-client');
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'portico_' });
  const registers = [registry];
  return {
    registry,
    requests: new Counter({
      name: 'portico_requests_total',
      help: 'HTTP requests answered, by route id, method and status class.',
      labelNames: ['route', 'method', 'status_class'] as const,
      registers,
    }),
    requestDuration: new Histogram({
      name: 'portico_request_duration_seconds',
      help: 'Time from the request arriving to the response being finished, by route id.',
      labelNames: ['route'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    }),
    upstreamErrors: new Counter({
      name: 'portico_upstream_errors_total',
      help: 'Failures reaching an upstream, by route id and kind (refused, reset, timeout, tls, dns, other).',
      labelNames: ['route', 'kind'] as const,
      registers,
    }),
    websocketsOpen: new Gauge({
      name: 'portico_websockets_open',
      help: 'WebSocket tunnels open now, by route id.',
      labelNames: ['route'] as const,
      registers,
    }),
    websocketBytes: new Counter({
      name: 'portico_websocket_bytes_total',
      help: 'Bytes relayed through closed WebSocket tunnels; direction in = client to upstream, out = upstream to client.',
      labelNames: ['route', 'direction'] as const,
      registers,
    }),
    logins: new Counter({
      name: 'portico_logins_total',
      help: 'Login attempts by identity provider id and result (success, failure, error, other).',
      labelNames: ['idp', 'result'] as const,
      registers,
    }),
    configReloads: new Counter({
      name: 'portico_config_reloads_total',
      help: 'Config reload attempts by result (ok, failed).',
      labelNames: ['result'] as const,
      registers,
    }),
    notifications: new Counter({
      name: 'portico_notifications_total',
      help: 'Alert deliveries by sink and result (ok, failed, retried, dropped, suppressed).',
      labelNames: ['sink', 'result'] as const,
      registers,
    }),
    upstreamUp: new Gauge({
      name: 'portico_upstream_up',
      help: 'Active health check state by route id: 1 up, 0 down (absent until the first verdict).',
      labelNames: ['route'] as const,
      registers,
    }),
    auditSpoolBytes: new Gauge({
      name: 'portico_audit_spool_bytes',
      help: 'Bytes the audit archive holds in its spool while the bucket has not taken them (storage.auditArchive).',
      registers,
    }),
    auditEventsDropped: new Counter({
      name: 'portico_audit_events_dropped_total',
      help: 'Audit events dropped because the spool was at storage.auditArchive.maxSpoolSize.',
      registers,
    }),
    upstreamCertificateExpiry: new Gauge({
      name: 'portico_upstream_tls_cert_expiry_timestamp_seconds',
      help: "When the TLS certificate of a route's https upstream expires (Unix time), as the last health check's handshake showed it.",
      labelNames: ['route'] as const,
      registers,
    }),
  };
}
