import { parseArgs } from 'node:util';
import { ConfigError, type ConfigProblem, formatProblems, loadConfigFile } from '../config/loadConfig.ts';
import { type ExplainInput, explainRequest } from './explainRequest.ts';
import { formatExplanation } from './formatExplanation.ts';
import { hideSecrets } from './hideSecrets.ts';
import { EXPLAIN_USAGE } from './usage.ts';

const METHODS = /^(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS|TRACE|CONNECT)$/i;
const BEARER = /^(none|foreign|idp|api-key:[a-z0-9][a-z0-9_-]*)$/;

/**
 * `portico explain GET /dce5/x --user alice --groups ai-users`, like Authelia's check-policy. The
 * file is loaded as `validate` loads it: unset variables stand in as placeholders, so it runs
 * where the secrets are not.
 */
export function explainCommand(args: string[]): number {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(args);
  } catch (err) {
    process.stderr.write(`portico explain: ${(err as Error).message}\nUsage:\n${EXPLAIN_USAGE}`);
    return 1;
  }
  const { values, positionals } = parsed;
  const [first, second] = positionals;
  const target = second ?? first;
  const method = second === undefined ? 'GET' : first!;
  if (!target?.startsWith('/') || positionals.length > 2 || !METHODS.test(method)) {
    process.stderr.write(`portico explain needs [METHOD] PATH\nUsage:\n${EXPLAIN_USAGE}`);
    return 1;
  }
  if (values.bearer !== undefined && !BEARER.test(values.bearer)) {
    process.stderr.write('portico explain: --bearer is foreign, idp or api-key:<id>\n');
    return 1;
  }
  const headers: Record<string, string> = {};
  for (const h of values.header ?? []) {
    const colon = h.indexOf(':');
    if (colon <= 0) {
      process.stderr.write(`portico explain: --header "${h}" is not "Name: value"\n`);
      return 1;
    }
    headers[h.slice(0, colon).trim()] = h.slice(colon + 1).trim();
  }
  const file = values.config ?? 'routes.yaml';
  const unsetEnv: ConfigProblem[] = [];
  let config: ReturnType<typeof loadConfigFile>;
  try {
    config = loadConfigFile(file, process.env, { unsetEnv });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(
      `${file}: invalid, ${err.problems.length} error(s)\n${formatProblems(file, err.problems)}\n`,
    );
    return 1;
  }
  const input: ExplainInput = {
    method,
    target,
    websocket: values.websocket,
    user: values.user,
    groups: values.groups
      ?.split(',')
      .map((g) => g.trim())
      .filter(Boolean),
    idp: values.idp,
    email: values.email,
    name: values.name,
    bearer: values.bearer === 'none' ? undefined : values.bearer,
    api: values.api,
    headers,
    client: values.client,
  };
  if (input.idp !== undefined && !config.identityProviders.some((p) => p.id === input.idp)) {
    process.stderr.write(
      `portico explain: --idp "${input.idp}" is not an identity provider of ${file} (${config.identityProviders.map((p) => p.id).join(', ') || 'none'})\n`,
    );
    return 1;
  }
  // Secrets the file interpolated are never printed (hideSecrets.ts).
  const explanation = hideSecrets(explainRequest(config, input), config, process.env);
  process.stdout.write(
    values.json ? `${JSON.stringify(explanation, null, 2)}\n` : formatExplanation(explanation),
  );
  return explanation.upstream ? 0 : 2;
}

function parse(args: string[]) {
  return parseArgs({
    args,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      user: { type: 'string', short: 'u' },
      groups: { type: 'string', short: 'g' },
      idp: { type: 'string' },
      email: { type: 'string' },
      name: { type: 'string' },
      bearer: { type: 'string' },
      api: { type: 'boolean' },
      websocket: { type: 'boolean' },
      client: { type: 'string' },
      header: { type: 'string', short: 'H', multiple: true },
      json: { type: 'boolean' },
    },
  });
}
