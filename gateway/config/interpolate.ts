import { isMap, isPair, isScalar, isSeq, type Node } from 'yaml';

export type InterpolationProblem = { path: (string | number)[]; message: string; node: Node };

type Variable = { name: string; fallback: string | undefined } | { literal: string };
export type ProtectedText = { text: string; variables: Map<string, Variable> };

const VAR_RE = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}\n]*))?\}/g;
const TOKEN_RE = /__portico_env_(\d+)__/g;

/**
 * `${NAME}` cannot stay in the text while YAML parses it: inside a flow map (`{ url: ${URL} }`,
 * as the SPEC writes it) the braces are YAML syntax. Each reference is swapped for a token that
 * is plain text in every YAML context, on the same line, so error positions stay true; the
 * tokens are resolved after parsing, scalar by scalar, in `interpolateEnv`.
 */
export function protectVariables(source: string): ProtectedText {
  const variables = new Map<string, Variable>();
  let i = 0;
  const text = source.replace(VAR_RE, (all, name: string | undefined, fallback: string | undefined) => {
    const token = `__portico_env_${i++}__`;
    variables.set(token, all === '$${' ? { literal: '${' } : { name: name!, fallback });
    return token;
  });
  return { text, variables };
}

/**
 * Resolves the tokens in every string scalar of the parsed document, in place. A plain scalar that
 * is exactly one variable is re-typed after substitution (`port: ${PORT}` becomes a number).
 * A variable that is unset (or empty) with no `:-default` is an error at that scalar.
 */
export function interpolateEnv(
  root: Node | null,
  variables: Map<string, Variable>,
  env: NodeJS.ProcessEnv,
  path: (string | number)[] = [],
  problems: InterpolationProblem[] = [],
): InterpolationProblem[] {
  if (!root || variables.size === 0) return problems;
  if (isMap(root)) {
    for (const pair of root.items) {
      if (!isPair(pair)) continue;
      const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      interpolateEnv(pair.value as Node | null, variables, env, [...path, key], problems);
    }
  } else if (isSeq(root)) {
    root.items.forEach((item, i) => {
      interpolateEnv(item as Node | null, variables, env, [...path, i], problems);
    });
  } else if (isScalar(root) && typeof root.value === 'string' && root.value.includes('__portico_env_')) {
    const source = root.value;
    const missing: string[] = [];
    const replaced = source.replace(TOKEN_RE, (token) => {
      const v = variables.get(token);
      if (!v) return token;
      if ('literal' in v) return v.literal;
      const value = env[v.name];
      if (value !== undefined && value !== '') return value;
      if (v.fallback !== undefined) return v.fallback;
      missing.push(v.name);
      return '';
    });
    if (missing.length > 0) {
      problems.push({
        path,
        node: root,
        message: `environment variable ${missing.map((n) => `\${${n}}`).join(', ')} is not set`,
      });
      return problems;
    }
    const whole = /^__portico_env_\d+__$/.test(source.trim());
    root.value = whole && root.type === 'PLAIN' ? retype(replaced) : replaced;
  }
  return problems;
}

/** Only numbers and booleans are re-typed: a secret that happens to look like YAML stays a string. */
function retype(value: string): string | number | boolean {
  if (/^-?\d+(\.\d+)?$/.test(value)) return Number(value);
  if (value === 'true' || value === 'false') return value === 'true';
  return value;
}
