import type { Config } from '../../config/types.ts';
import { channels } from '../channels.ts';
import type { RequestContext } from '../../context.ts';
import {
  errorKindLabel,
  loginResultLabel,
  type Metrics,
  methodLabel,
  NO_ROUTE,
  OWN_ROUTE,
  statusClass,
} from './metrics.ts';

/** What accessLog.ts publishes on `portico:request` when a response finishes. */
type RequestEvent = {
  routeId: string | undefined;
  method: string | undefined;
  status: number;
  durationMs: number;
  ctx?: Pick<RequestContext, 'path'>;
};

const isOwn = (path: string | undefined) => path === '/_portico' || (path?.startsWith('/_portico/') ?? false);

type Subscription = {
  channel: { unsubscribe(fn: (message: unknown) => void): unknown };
  fn: (m: unknown) => void;
};

/**
 * Feeds the metrics from the core's diagnostics channels. Returns the unsubscribe function.
 * A route label is only ever a route id of the live config, `_portico` or `_none`.
 */
export function subscribeMetrics(metrics: Metrics, config: () => Config): () => void {
  const subs: Subscription[] = [];
  const on = (channel: (typeof channels)[keyof typeof channels], fn: (m: unknown) => void) => {
    channel.subscribe(fn);
    subs.push({ channel, fn });
  };
  const known = (routeId: unknown): string =>
    typeof routeId === 'string' && config().routes.some((r) => r.id === routeId) ? routeId : NO_ROUTE;

  on(channels.request, (m) => {
    const e = m as RequestEvent;
    const route = e.routeId ?? (isOwn(e.ctx?.path) ? OWN_ROUTE : NO_ROUTE);
    metrics.requests.inc({ route, method: methodLabel(e.method), status_class: statusClass(e.status) });
    metrics.requestDuration.observe({ route }, e.durationMs / 1000);
  });
  on(channels.upstreamError, (m) => {
    const e = m as { routeId?: string; kind?: string };
    metrics.upstreamErrors.inc({ route: known(e.routeId), kind: errorKindLabel(e.kind) });
  });
  on(channels.websocket, (m) => {
    const e = m as { routeId?: string; open: boolean; bytesIn?: number; bytesOut?: number };
    // The route of an open tunnel may have left the config since: keep its id so inc/dec pair up.
    const route = typeof e.routeId === 'string' ? e.routeId : NO_ROUTE;
    if (e.open) {
      metrics.websocketsOpen.inc({ route });
      return;
    }
    metrics.websocketsOpen.dec({ route });
    if (e.bytesIn) metrics.websocketBytes.inc({ route, direction: 'in' }, e.bytesIn);
    if (e.bytesOut) metrics.websocketBytes.inc({ route, direction: 'out' }, e.bytesOut);
  });
  on(channels.login, (m) => {
    const e = m as { idp?: string; result?: string };
    const idps = (config().raw.identityProviders ?? []).map((p) => p.id);
    const idp =
      typeof e.idp === 'string' && (idps.includes(e.idp) || e.idp === 'apikey') ? e.idp : '_unknown';
    metrics.logins.inc({ idp, result: loginResultLabel(e.result) });
  });
  on(channels.configReload, (m) => {
    metrics.configReloads.inc({ result: (m as { ok: boolean }).ok ? 'ok' : 'failed' });
  });
  return () => {
    for (const s of subs) s.channel.unsubscribe(s.fn);
  };
}
