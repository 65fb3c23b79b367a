import type { EventBus } from '../../events.ts';

type SentryModule = typeof import('@sentry/node');

/**
 * One Sentry transaction per answered request, built after the response is done from what
 * the gateway's `request` event carries (its start time is the end minus its duration). The proxied path
 * itself does no Sentry work, and without `tracesSampleRate` nothing subscribes at all. Names
 * are the route's prefix, never the raw path: no ids or queries in Sentry, a bounded set of names.
 */
export function traceRequests(S: SentryModule, events: EventBus): () => void {
  return events.on('request', (e) => {
    const end = Date.now() / 1000;
    const method = e.method ?? 'OTHER';
    const target = e.ctx.route?.prefix ?? (e.own ? '/_portico/' : '(no route)');
    S.startNewTrace(() => {
      const span = S.startInactiveSpan({
        name: `${method} ${target}`,
        op: 'http.server',
        forceTransaction: true,
        startTime: end - e.durationMs / 1000,
        attributes: {
          'http.request.method': method,
          'portico.route': e.routeId ?? (e.own ? '_portico' : '_none'),
          'portico.request_id': e.ctx.requestId,
          ...(e.aborted ? { 'portico.aborted': true } : {}),
        },
      });
      S.setHttpStatus(span, e.status);
      span.end(end);
    });
  });
}
