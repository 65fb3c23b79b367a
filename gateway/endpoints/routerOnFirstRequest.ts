import type { Router } from 'express';
import type { OwnRouter } from './ownEndpoints.ts';

/**
 * A feature's router under /_portico/, built by the first request that reaches it: only the own
 * app calls it, and that app has loaded express by then (expressLibrary.ts).
 */
export function routerOnFirstRequest(build: () => Router): OwnRouter {
  let router: Router | undefined;
  return (req, res, next) => {
    router ??= build();
    router(req, res, next);
  };
}
