import type { Config } from '../../config/types.ts';
import type { EventBus } from '../../events.ts';
import type { MetricUpdates } from './deferredMetrics.ts';
import {
  errorKindLabel,
  loginResultLabel,
  methodLabel,
  NO_ROUTE,
  OWN_ROUTE,
  statusClass,
} from './metrics.ts';

/**
 * Feeds the metrics from the gateway's events. Returns the function that stops it.
 * A route label is only ever a route id of the live config, `_portico` or `_none`.
 */
export function subscribeMetrics(metrics: MetricUpdates, config: () => Config, events: EventBus): () => void {
  // The archive reports a running total of dropped events; the counter gets what is new.
  let droppedSeen = 0;
  const known = (routeId: unknown): string =>
    typeof routeId === 'string' && config().routes.some((r) => r.id === routeId) ? routeId : NO_ROUTE;
  const stops = [
    events.on('request', (e) => {
      const route = e.routeId ?? (e.own ? OWN_ROUTE : NO_ROUTE);
      metrics.requests.inc({ route, method: methodLabel(e.method), status_class: statusClass(e.status) });
      metrics.requestDuration.observe({ route }, e.durationMs / 1000);
    }),
    events.on('upstreamError', (e) => {
      metrics.upstreamErrors.inc({ route: known(e.routeId), kind: errorKindLabel(e.kind) });
    }),
    events.on('websocket', (e) => {
      // The route of an open tunnel may have left the config since: keep its id so inc/dec pair up.
      const route = e.routeId;
      if (e.open) {
        metrics.websocketsOpen.inc({ route });
        return;
      }
      metrics.websocketsOpen.dec({ route });
      if (e.bytesIn) metrics.websocketBytes.inc({ route, direction: 'in' }, e.bytesIn);
      if (e.bytesOut) metrics.websocketBytes.inc({ route, direction: 'out' }, e.bytesOut);
    }),
    events.on('login', (e) => {
      const idps = config().identityProviders.map((p) => p.id);
      const idp = idps.includes(e.idp) || e.idp === 'apikey' ? e.idp : '_unknown';
      metrics.logins.inc({ idp, result: loginResultLabel(e.result) });
    }),
    events.on('configReload', (e) => {
      metrics.configReloads.inc({ result: e.ok ? 'ok' : 'failed' });
    }),
    events.on('auditSpool', (e) => {
      metrics.auditSpoolBytes.set(e.spoolBytes);
      if (e.dropped > droppedSeen) metrics.auditEventsDropped.inc(e.dropped - droppedSeen);
      droppedSeen = e.dropped;
    }),
  ];
  return () => {
    for (const stop of stops) stop();
  };
}
