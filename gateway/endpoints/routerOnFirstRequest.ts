import type { Router } from 'express';
import type { OwnRouter } from './ownEndpoints.ts';

/**
 * A feature's router under /_portico/, built by the first request that reaches it: only the own
 * app calls it, and that app has loaded express by then (expressLibrary.ts). `build` may import
 * the router's module first, so a gateway loads the code of endpoints nobody asks for not at all.
 */
export function routerOnFirstRequest(build: () => Router | Promise<Router>): OwnRouter {
  let router: Router | undefined;
  let building: Promise<Router> | undefined;
  return (req, res, next) => {
    if (router) {
      router(req, res, next);
      return;
    }
    building ??= Promise.resolve().then(build);
    building.then(
      (built) => {
        router = built;
        built(req, res, next);
      },
      (err: unknown) => {
        building = undefined;
        next(err);
      },
    );
  };
}
