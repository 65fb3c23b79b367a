import type { ErrorObject } from 'ajv';

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
    case 'pattern':
      return `"${String(e.data)}" must be ${hint ?? `of the form ${e.schema}`}`;
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
