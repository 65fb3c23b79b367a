import { isMap, isPair, isScalar, isSeq, type Node } from 'yaml';

export type InterpolationProblem = { path: (string | number)[]; message: string; node: Node };

type Variable = { name: string; fallback: string | undefined } | { literal: string };
export type ProtectedText = { text: string; variables: Map<string, Variable> };

const TOKEN_RE = /__portico_env_(\d+)__/g;

/**
 * `${NAME}` cannot stay in the text while YAML parses it: inside a flow map (`{ url: ${URL} }`,
 * as the SPEC writes it) the braces are YAML syntax. Each reference is swapped for a token that
 * is plain text in every YAML context, on the same line, so error positions stay true; the
 * tokens are resolved after parsing, scalar by scalar, in `interpolateEnv`.
 */
export function protectVariables(source: string): ProtectedText {
  // `$${` (a literal `${`) or the start of a reference, `${NAME`: what follows is read by hand.
  const START_RE = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)/g;
  // Where a `:-default` stops: its closing brace, or the end of the line (then it is no reference).
  const STOP_RE = /[}\n]/g;
  const variables = new Map<string, Variable>();
  const parts: string[] = [];
  let copied = 0;
  // A reference is `${NAME}` or `${NAME:-default}`, the default running to the first `}` on its
  // line; a `${NAME:-` with no `}` before the end of the line is left as text. Read with a regex
  // (`(?::-([^}\n]*))?\}`), each unclosed `${A:-` scanned on to the end of the line, so a line of
  // them cost the square of its length (200 KB: 15 s). Here the stop found for one `:-` is kept
  // and serves every later `:-` before it: each character is looked at a bounded number of times.
  let stop = -1;
  const stopAfter = (from: number) => {
    if (stop < from) {
      STOP_RE.lastIndex = from;
      stop = STOP_RE.exec(source)?.index ?? source.length;
    }
    return stop;
  };
  for (let m = START_RE.exec(source); m; m = START_RE.exec(source)) {
    const name = m[1];
    let end = START_RE.lastIndex;
    let variable: Variable | undefined;
    if (name === undefined) variable = { literal: '${' };
    else if (source[end] === '}') {
      variable = { name, fallback: undefined };
      end += 1;
    } else if (source.startsWith(':-', end)) {
      const close = stopAfter(end + 2);
      if (source[close] === '}') {
        variable = { name, fallback: source.slice(end + 2, close) };
        end = close + 1;
      }
    }
    if (!variable) {
      // Not a reference: look again from the next character, as the regex did.
      START_RE.lastIndex = m.index + 1;
      continue;
    }
    const token = `__portico_env_${variables.size}__`;
    variables.set(token, variable);
    parts.push(source.slice(copied, m.index), token);
    copied = end;
    START_RE.lastIndex = end;
  }
  parts.push(source.slice(copied));
  return { text: parts.join(''), variables };
}

/** A scalar that named unset variables and was checked with a placeholder in their place. */
export type UnsetVariables = { path: (string | number)[]; names: string[]; node: Node };

/**
 * What stands in for an unset variable when the file is checked without the serving environment
 * (`portico validate` in CI): long enough for every length check, and a URL, so a variable that
 * holds a URL passes too. Problems found at such a scalar are not reported (its value is unknown).
 */
export function placeholderFor(name: string): string {
  return `https://unset.invalid/${name}/placeholder-value`;
}

/**
 * Resolves the tokens in every string scalar of the parsed document, in place. A plain scalar that
 * is exactly one variable is re-typed after substitution (`port: ${PORT}` becomes a number).
 * A variable that is unset (or empty) with no `:-default` is an error at that scalar — unless
 * `unset` is given: then it is listed there and replaced by its placeholder.
 */
export function interpolateEnv(
  root: Node | null,
  variables: Map<string, Variable>,
  env: NodeJS.ProcessEnv,
  unset?: UnsetVariables[],
): InterpolationProblem[] {
  const problems: InterpolationProblem[] = [];
  if (variables.size > 0) walk(root, [], { variables, env, unset, problems });
  return problems;
}

type Walk = {
  variables: Map<string, Variable>;
  env: NodeJS.ProcessEnv;
  unset: UnsetVariables[] | undefined;
  problems: InterpolationProblem[];
};

function walk(root: Node | null, path: (string | number)[], w: Walk): void {
  if (!root) return;
  if (isMap(root)) {
    for (const pair of root.items) {
      if (!isPair(pair)) continue;
      const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      walk(pair.value as Node | null, [...path, key], w);
    }
  } else if (isSeq(root)) {
    root.items.forEach((item, i) => {
      walk(item as Node | null, [...path, i], w);
    });
  } else if (isScalar(root) && typeof root.value === 'string' && root.value.includes('__portico_env_')) {
    const source = root.value;
    const missing: string[] = [];
    const nested: string[] = [];
    const replaced = source.replace(TOKEN_RE, (token) => {
      const v = w.variables.get(token);
      if (!v) return token;
      if ('literal' in v) return v.literal;
      // `${A:-${B}}` (a nested default, as bash and compose read it) is not supported: taken as
      // written, the default would be the literal text `${B`, a public "secret" that passes every
      // length check. Refused instead.
      if (v.fallback?.includes('${')) nested.push(v.name);
      const value = w.env[v.name];
      if (value !== undefined && value !== '') return value;
      if (v.fallback !== undefined) return v.fallback;
      missing.push(v.name);
      return placeholderFor(v.name);
    });
    if (nested.length > 0) {
      w.problems.push({
        path,
        node: root,
        message: `the default of ${nested.map((n) => `\${${n}:-…}`).join(', ')} names another variable; a default must be the value itself (set the variable, or write the default out)`,
      });
      return;
    }
    if (missing.length > 0 && !w.unset) {
      w.problems.push({
        path,
        node: root,
        message: `environment variable ${missing.map((n) => `\${${n}}`).join(', ')} is not set`,
      });
      return;
    }
    if (missing.length > 0) w.unset!.push({ path, names: missing, node: root });
    const whole = /^__portico_env_\d+__$/.test(source.trim());
    root.value = whole && root.type === 'PLAIN' ? retype(replaced) : replaced;
  }
}

/** What `validate` says of a scalar it checked with a placeholder. */
export function unsetMessage(u: Pick<UnsetVariables, 'names'>): string {
  return `${u.names.join(', ')} ${u.names.length === 1 ? 'is' : 'are'} not set here; it must be set at serve time`;
}

/**
 * A problem at (or inside) a scalar that holds a placeholder says nothing about the real value.
 * `unsetPaths` is a Set, and only the problem's own prefixes are looked up: comparing each problem
 * with every unset path cost problems × scalars.
 */
export function aboutPlaceholder(problemPath: string, unsetPaths: ReadonlySet<string>): boolean {
  if (unsetPaths.size === 0) return false;
  if (unsetPaths.has(problemPath)) return true;
  for (let i = 0; i < problemPath.length; i++) {
    const c = problemPath[i];
    if ((c === '.' || c === '[') && unsetPaths.has(problemPath.slice(0, i))) return true;
  }
  return false;
}

/** Only numbers and booleans are re-typed: a secret that happens to look like YAML stays a string. */
function retype(value: string): string | number | boolean {
  if (/^-?\d+(\.\d+)?$/.test(value)) return Number(value);
  if (value === 'true' || value === 'false') return value === 'true';
  return value;
}
