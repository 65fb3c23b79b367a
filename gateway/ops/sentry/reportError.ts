import type { IncomingMessage } from 'node:http';

/** What the core knows about an unexpected error. */
export type ErrorReport = {
  requestId?: string;
  routeId?: string;
  /** The request being answered: method, URL and headers go to the report, scrubbed. */
  req?: IncomingMessage;
};

type Reporter = (err: unknown, report: ErrorReport) => void;
let reporter: Reporter | undefined;

/**
 * Reports an unexpected error (a 500 PORTICO_ERR_INTERNAL, not an upstream failure) to Sentry when
 * it is configured; otherwise does nothing. Has no dependency: the core may call it freely, and
 * @sentry/node is only loaded when a DSN is configured.
 */
export function reportError(err: unknown, report: ErrorReport = {}): void {
  if (!reporter) return;
  try {
    reporter(err, report);
  } catch {
    // Error reporting must never become an error of its own.
  }
}

/** Set by the Sentry part of the operations feature (undefined to stop reporting). */
export function setErrorReporter(r: Reporter | undefined): void {
  reporter = r;
}
