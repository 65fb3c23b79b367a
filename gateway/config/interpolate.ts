import { isMap, isPair, isScalar, isSeq, type Node } from 'yaml';

export type InterpolationProblem = { path: (string | number)[]; message: string; node: Node };

const VAR_RE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * Replaces `${NAME}` (and `${NAME:-default}`) in every string scalar of a parsed YAML document,
 * in place, so that node positions stay valid for error messages. A plain scalar that is exactly
 * one variable is re-typed after substitution (`port: ${PORT}` becomes a number), as a YAML
 * reader would expect. `$${` escapes a literal `${`.
 */
export function interpolateEnv(
  root: Node | null,
  env: NodeJS.ProcessEnv,
  path: (string | number)[] = [],
  problems: InterpolationProblem[] = [],
): InterpolationProblem[] {
  if (!root) return problems;
  if (isMap(root)) {
    for (const pair of root.items) {
      if (!isPair(pair)) continue;
      const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      interpolateEnv(pair.value as Node | null, env, [...path, key], problems);
    }
  } else if (isSeq(root)) {
    root.items.forEach((item, i) => {
      interpolateEnv(item as Node | null, env, [...path, i], problems);
    });
  } else if (isScalar(root) && typeof root.value === 'string' && root.value.includes('${')) {
    const source = root.value;
    const missing: string[] = [];
    const replaced = source
      .split('$${')
      .map((part) =>
        part.replace(VAR_RE, (_all, name: string, fallback: string | undefined) => {
          const v = env[name];
          if (v !== undefined && v !== '') return v;
          if (fallback !== undefined) return fallback;
          missing.push(name);
          return '';
        }),
      )
      .join('${');
    if (missing.length > 0) {
      problems.push({
        path,
        node: root,
        message: `environment variable ${missing.map((n) => `\${${n}}`).join(', ')} is not set`,
      });
      return problems;
    }
    const wholeVariable = /^\$\{[^}]+\}$/.test(source.trim());
    root.value = wholeVariable && root.type === 'PLAIN' ? retype(replaced) : replaced;
  }
  return problems;
}

/** Only numbers and booleans are re-typed: a secret that happens to look like YAML stays a string. */
function retype(value: string): string | number | boolean {
  if (/^-?\d+(\.\d+)?$/.test(value)) return Number(value);
  if (value === 'true' || value === 'false') return value === 'true';
  return value;
}
