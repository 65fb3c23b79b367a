import type { ErrorObject } from 'ajv';
import { isSecretKey, REDACTED, redactUrlSecrets } from './secretValues.ts';

/** Shared by routes.yaml and brand.yaml, so both speak to an admin the same way. */

/** One message per place: an `anyOf` failure replaces the noise of its branches. */
export function simplifyErrors(errors: ErrorObject[]): ErrorObject[] {
  const anyOfPaths = new Set(errors.filter((e) => e.keyword === 'anyOf').map((e) => e.instancePath));
  const seen = new Set<string>();
  return errors.filter((e) => {
    if (e.keyword === 'if') return false;
    if (anyOfPaths.has(e.instancePath) && e.keyword !== 'anyOf') return false;
    const key = `${e.instancePath}|${e.keyword}|${JSON.stringify(e.params)}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** The message an admin reads for one schema error, using the schema's `x-hint` where it has one. */
export function describeSchemaError(e: ErrorObject): string {
  const hint = (e.parentSchema as Record<string, unknown> | undefined)?.['x-hint'];
  switch (e.keyword) {
    case 'additionalProperties':
      return `unknown key "${(e.params as { additionalProperty: string }).additionalProperty}"`;
    case 'required':
      return `missing required key "${(e.params as { missingProperty: string }).missingProperty}"`;
    case 'enum':
      return `must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')}`;
    case 'anyOf':
      return hint ? `must be ${hint}` : 'has an unsupported form';
    case 'pattern': {
      // The message reaches the log, the `config.rejected` notification and the audit log, and a
      // value slightly off (a leading space, a mistyped scheme) is often a secret from the env.
      const must = `must be ${hint ?? `of the form ${e.schema}`}`;
      const value = quotable(e.instancePath, String(e.data));
      return value === undefined
        ? `${must} (the value is not shown: this key holds a secret)`
        : `"${value}" ${must}`;
    }
    case 'minItems': {
      const n = (e.params as { limit: number }).limit;
      return `must list at least ${n} ${n === 1 ? 'entry' : 'entries'}`;
    }
    case 'type':
      return hint ? `must be ${hint}` : (e.message ?? 'has the wrong type');
    default:
      return e.message ?? 'is invalid';
  }
}

/**
 * A URL's user and password when its scheme is mistyped, which redactUrlSecrets (it wants
 * `scheme://`) does not see: `redis//:pw@host`, `redis:/user:pw@host`, `user:pw@host`.
 */
const LOOSE_USERINFO = /(\/\/|:\/)([^\s/@:]*:)?[^\s/]+@/g;
const BARE_USERINFO = /(^|\s)([^\s/@:]*):[^\s/]+@/g;

/** The value as a message may quote it, or undefined under a secret key (webhook, dsn, password, …). */
function quotable(instancePath: string, value: string): string | undefined {
  const keys = instancePath.split('/').slice(1);
  if (keys.some((k) => isSecretKey(k.replace(/~1/g, '/').replace(/~0/g, '~')))) return undefined;
  return redactUrlSecrets(value)
    .replace(LOOSE_USERINFO, `$1$2${REDACTED}@`)
    .replace(BARE_USERINFO, `$1$2:${REDACTED}@`);
}
