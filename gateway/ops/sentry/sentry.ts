import type { Logger } from 'pino';
import type { SentryConfig } from '../../config/opsSchema.ts';
import type { EventBus } from '../../events.ts';
import type { ErrorReport, ErrorReporter } from '../../observe/errorReporter.ts';
import { scrubEvent, scrubHeaders, scrubQuery } from './scrub.ts';
import { traceRequests } from './traceRequests.ts';

type SentryModule = typeof import('@sentry/node');

export type SentryHandle = {
  /** Resolves once the SDK is initialised (false when it could not be). */
  ready: Promise<boolean>;
  close(): Promise<void>;
};

const PENDING_MAX = 20;

/**
 * Sentry for unexpected errors, and with `tracesSampleRate` a transaction per request (see
 * traceRequests.ts). The SDK is loaded on demand and started without its default integrations:
 * no OpenTelemetry, no auto-instrumentation of http (the proxy's hot path stays as it is), no
 * console breadcrumbs. Errors reported before it is ready are kept (up to 20).
 */
export function startSentry(
  settings: SentryConfig,
  log: Logger,
  errors: ErrorReporter,
  events: EventBus,
): SentryHandle {
  const setErrorReporter = errors.use;
  const pending: [unknown, ErrorReport][] = [];
  setErrorReporter((err, report) => {
    if (pending.length < PENDING_MAX) pending.push([err, report]);
  });
  let sentry: SentryModule | undefined;
  let stopTracing: (() => void) | undefined;
  const ready = import('@sentry/node').then(
    (S) => {
      S.initWithoutDefaultIntegrations({
        dsn: settings.dsn,
        environment: settings.environment,
        release: settings.release,
        sampleRate: settings.sampleRate,
        tracesSampleRate: settings.tracesSampleRate,
        // Whole transactions, as every Sentry server version accepts them (not streamed spans).
        traceLifecycle: 'static',
        // Portico attaches the request itself (scrubbed); the SDK collects nothing on its own.
        dataCollection: {
          userInfo: false,
          cookies: false,
          httpHeaders: false,
          httpBodies: [],
          urlQueryParams: false,
          stackFrameVariables: false,
        },
        maxBreadcrumbs: 0,
        enableRuntimeChannelInjection: false,
        integrations: [
          S.linkedErrorsIntegration(),
          S.dedupeIntegration(),
          S.nodeContextIntegration(),
          S.onUncaughtExceptionIntegration(),
          S.onUnhandledRejectionIntegration({ mode: 'warn' }),
        ],
        initialScope: { tags: { service: 'portico' } },
        beforeSend: (event) => scrubEvent(event),
      });
      sentry = S;
      const capture = (err: unknown, report: ErrorReport) => {
        S.withScope((scope) => {
          if (report.requestId) scope.setTag('request_id', report.requestId);
          if (report.routeId) scope.setTag('route', report.routeId);
          const req = report.req;
          if (req) {
            // Inside express, url is relative to the mount point; originalUrl is what the client asked for.
            const target = (req as { originalUrl?: string }).originalUrl ?? req.url ?? '/';
            const [path, query] = target.split('?');
            scope.addEventProcessor((event) => {
              event.request = {
                method: req.method,
                url: path,
                query_string: query ? scrubQuery(query) : undefined,
                headers: scrubHeaders(req.headers as Record<string, unknown>),
              };
              return event;
            });
          }
          S.captureException(err);
        });
      };
      setErrorReporter(capture);
      for (const [err, report] of pending.splice(0)) capture(err, report);
      const tracing = (settings.tracesSampleRate ?? 0) > 0;
      if (tracing) stopTracing = traceRequests(S, events);
      log.info(
        {
          environment: settings.environment,
          tracesSampleRate: tracing ? settings.tracesSampleRate : undefined,
        },
        tracing ? 'Sentry error reporting and tracing are on' : 'Sentry error reporting is on',
      );
      return true;
    },
    (err) => {
      setErrorReporter(undefined);
      log.error({ err }, 'Sentry could not be started');
      return false;
    },
  );
  return {
    ready,
    async close() {
      setErrorReporter(undefined);
      await ready;
      stopTracing?.();
      await sentry?.close(2000);
    },
  };
}
