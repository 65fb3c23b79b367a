import type { IncomingMessage } from 'node:http';

/** What the core knows about an unexpected error. */
export type ErrorReport = {
  requestId?: string;
  routeId?: string;
  /** The request being answered: method, URL and headers go to the report, scrubbed. */
  req?: IncomingMessage;
};

export type Reporter = (err: unknown, report: ErrorReport) => void;

export type ErrorReporter = {
  /** Reports an unexpected error (a 500, not an upstream failure) where one is configured. */
  report(err: unknown, report?: ErrorReport): void;
  /** Set by the Sentry part of the operations feature (undefined to stop reporting). */
  use(reporter: Reporter | undefined): void;
};

/** The gateway's error reporting: nothing until a feature plugs a reporter in. */
export function createErrorReporter(): ErrorReporter {
  let reporter: Reporter | undefined;
  return {
    report(err, report = {}) {
      if (!reporter) return;
      try {
        reporter(err, report);
      } catch {
        // Error reporting must never become an error of its own.
      }
    },
    use(r) {
      reporter = r;
    },
  };
}
