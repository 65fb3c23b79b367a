import type { RequestHandler, Response, Router } from 'express';
import { compileMaintenance } from '../config/compileRoutePolicy.ts';
import { describeSchemaError, simplifyErrors } from '../config/schemaErrors.ts';
import { validateMaintenanceNotice } from '../config/validators.generated.cjs';
import type { RawRoute } from '../config/types.ts';
import { expressLibrary } from '../endpoints/expressLibrary.ts';
import { isStoreUnavailable } from '../errors.ts';
import type { MaintenanceNotice } from '../routePolicy/maintenanceSwitch.ts';
import type { FeatureContext } from '../server.ts';
import { AdminError } from './adminErrors.ts';

/**
 * The body is the object form of a route's `maintenance:` key, checked by the same schema
 * (maintenanceSchema.anyOf[1], compiled ahead of time by `npm run schemas`).
 */
const validateNotice = validateMaintenanceNotice;

/**
 * Maintenance without editing routes.yaml (a planned DCE upgrade), scope `routes:maintenance`:
 * `GET routes/maintenance` lists the switches, `PUT routes/:id/maintenance` (`{ retryAfter?,
 * message? }`) puts a route into maintenance on every replica, `DELETE` takes it out again. The
 * switches live in the store, beside the file: a route is in maintenance when either says so, so
 * switching off never lifts a `maintenance:` written in the file, and a reload keeps the switches.
 */
export function maintenanceEndpoints(
  ctx: FeatureContext,
  router: Router,
  need: RequestHandler,
  audit: (res: Response, detail: Record<string, unknown>) => void,
): void {
  const switches = ctx.services.maintenance;
  const inFile = (id: string) => ctx.config().routes.find((r) => r.id === id)?.maintenance !== undefined;

  router.get('/routes/maintenance', need, (_req, res) => {
    const routes = ctx.config().routes;
    res.json({
      switches: switches.list(),
      inFile: routes.filter((r) => r.maintenance !== undefined).map((r) => r.id),
    });
  });

  router.put('/routes/:id/maintenance', need, expressLibrary().json({ limit: '16kb' }), async (req, res) => {
    const id = String(req.params.id);
    if (!ctx.config().routes.some((r) => r.id === id))
      throw new AdminError(
        'PORTICO_ERR_NOT_FOUND',
        `There is no route with id "${id}" in the running config.`,
      );
    const body: unknown = req.body ?? {};
    if (!validateNotice(body))
      throw new AdminError('PORTICO_ERR_BAD_REQUEST', 'The body is not a maintenance notice.', {
        extra: {
          problems: simplifyErrors(validateNotice.errors ?? []).map((e) => ({
            path: e.instancePath + (e.params.additionalProperty ? `/${e.params.additionalProperty}` : ''),
            message: describeSchemaError(e),
          })),
        },
      });
    const compiled = compileMaintenance(body as RawRoute['maintenance'])!;
    const caller = res.locals.admin as { keyId: string };
    const notice: MaintenanceNotice = {
      ...(compiled.retryAfterSeconds === undefined ? {} : { retryAfterSeconds: compiled.retryAfterSeconds }),
      ...(compiled.message === undefined ? {} : { message: compiled.message }),
      since: new Date().toISOString(),
      by: caller.keyId,
    };
    await storeCall(() => switches.switchOn(id, notice));
    audit(res, { action: 'route.maintenance.on', route: id, retryAfter: notice.retryAfterSeconds });
    res.json({ route: id, maintenance: true, notice, inFile: inFile(id) });
  });

  router.delete('/routes/:id/maintenance', need, async (req, res) => {
    const id = String(req.params.id);
    const switched = await storeCall(() => switches.switchOff(id));
    if (switched) audit(res, { action: 'route.maintenance.off', route: id });
    // The file's maintenance is the file's: the answer says when the route stays in maintenance.
    res.json({ route: id, switchedOff: switched, maintenance: inFile(id), inFile: inFile(id) });
  });
}

async function storeCall<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (isStoreUnavailable(err))
      throw new AdminError('PORTICO_ERR_UNAVAILABLE', 'The shared store does not answer; nothing changed.', {
        cause: err,
      });
    throw err;
  }
}
