import { protectVariables } from '../config/interpolate.ts';
import { isSecretKey, REDACTED, redactUrlSecrets } from '../config/secretValues.ts';
import type { Config } from '../config/types.ts';
import type { Explanation } from './explainRequest.ts';

/** Shorter values are not looked for: "1" or "on" would be found inside everything. */
const MIN_VALUE = 4;
/** explain's own stand-ins (`<ES256 JWT …>`, `Bearer <the user's access token …>`): no secret. */
const STAND_IN = /^(?:[A-Za-z]+ )?<[^<>]*>$/;

/**
 * The explanation with no secret the config holds: explain runs where the serving environment may
 * be loaded, and a header a route sets (`Authorization: Bearer ${TOKEN}`) would print the token.
 * In the headers Portico sets, every value of a `${VAR}` the file names is shown as `${VAR}`, and a
 * header whose name says it carries a secret (secretValues.ts) and shows no variable is
 * `[redacted]` whole; URLs lose their passwords and secret query parameters.
 */
export function hideSecrets(
  e: Explanation,
  config: Pick<Config, 'source'>,
  env: NodeJS.ProcessEnv,
): Explanation {
  const u = e.upstream;
  if (!u) return e;
  const names = new Set<string>();
  for (const v of protectVariables(config.source).variables.values()) if ('name' in v) names.add(v.name);
  const values = [...names]
    .map((name) => ({ name, value: env[name] }))
    .filter((v): v is { name: string; value: string } => (v.value?.length ?? 0) >= MIN_VALUE)
    .sort((a, b) => b.value.length - a.value.length);
  const byName = (text: string) =>
    values.reduce((t, { name, value }) => t.split(value).join(`\${${name}}`), text);
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(u.headers)) {
    if (!u.setByPortico.includes(name) || STAND_IN.test(value)) {
      headers[name] = value;
      continue;
    }
    const shown = byName(value);
    headers[name] = isSecretKey(name) && shown === value ? REDACTED : shown;
  }
  return { ...e, upstream: { ...u, url: redactUrlSecrets(byName(u.url)), headers } };
}
