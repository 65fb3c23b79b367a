import { readFileSync } from 'node:fs';
import { configFileKindProblem } from './configFileKind.ts';
import { dirname, resolve } from 'node:path';
import { isCollection, isNode, LineCounter, type Node, parseDocument } from 'yaml';
import { compileConfig } from './compile.ts';
import { addDuplicateKeyErrors } from './duplicateKeys.ts';
import {
  aboutPlaceholder,
  interpolateEnv,
  protectVariables,
  type UnsetVariables,
  unsetMessage,
} from './interpolate.ts';
import { oidcProviderProblems } from './oidcProviderProblems.ts';
import { redactUrlSecrets } from './secretValues.ts';
import { describeSchemaError, simplifyErrors } from './schemaErrors.ts';
import { semanticProblems } from './semantics.ts';
import { syntaxProblems } from './syntaxProblems.ts';
import type { Config, RawConfig } from './types.ts';
import { validateConfig } from './validators.generated.cjs';
import { yamlData } from './yamlData.ts';

export type ConfigProblem = { path: string; line?: number; column?: number; message: string };

export class ConfigError extends Error {
  readonly problems: ConfigProblem[];
  readonly file: string;
  constructor(file: string, problems: ConfigProblem[]) {
    // Every message reaches the log, the `config.rejected` notification and the audit log, and a
    // check may quote the value it refused (an upstream that is no URL): URL passwords never go.
    problems = problems
      .map((p) => ({ ...p, message: redactUrlSecrets(p.message) }))
      .sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
    super(
      `${file}: ${problems.length} error${problems.length === 1 ? '' : 's'}\n${formatProblems(file, problems)}`,
    );
    this.name = 'ConfigError';
    this.file = file;
    this.problems = problems;
  }
}

export function formatProblems(file: string, problems: ConfigProblem[]): string {
  return problems
    .map(
      (p) => `  ${file}${p.line ? `:${p.line}:${p.column ?? 1}` : ''}  ${p.path || '(root)'}: ${p.message}`,
    )
    .join('\n');
}

// configSchema (schema.ts) compiled ahead of time by `npm run schemas`: compiling it at start cost ~0.5 s.
const validateSchema = validateConfig;

type LoadOptions = {
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Given (validate without the serving environment): unset variables are listed here, not errors. */
  unsetEnv?: ConfigProblem[];
  /**
   * false: files the config names (TLS certificates and keys) are not looked at, so a caller who
   * may only read the config cannot ask whether the gateway can read some file.
   */
  readFiles?: boolean;
};

export function loadConfigFile(
  file: string,
  env: NodeJS.ProcessEnv = process.env,
  options: Pick<LoadOptions, 'unsetEnv'> = {},
): Config {
  const absolute = resolve(file);
  const kind = configFileKindProblem(absolute);
  if (kind) throw new ConfigError(file, [{ path: '', message: kind }]);
  let source: string;
  try {
    source = readFileSync(absolute, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [{ path: '', message: `cannot read the file: ${(err as Error).message}` }]);
  }
  return loadConfigText(source, { file: absolute, env, ...options });
}

/**
 * Parses, interpolates, validates and compiles a routes.yaml text. Every problem is reported at
 * once, each with its YAML path and line: syntax errors, unset variables, schema errors and the
 * semantic checks of whatever parts are well-formed. Throws ConfigError; never half-applies.
 */
export function loadConfigText(source: string, options: LoadOptions = {}): Config {
  const file = options.file ?? 'routes.yaml';
  const env = options.env ?? process.env;
  const baseDir = options.file ? dirname(options.file) : process.cwd();
  const lineCounter = new LineCounter();
  const { text, variables } = protectVariables(source);
  // yaml's uniqueKeys check is quadratic in a map's size (a 50,000-key map: 18 s); duplicate keys
  // are found in one pass instead, and reported as the same syntax error.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: false });
  addDuplicateKeyErrors(doc, MAX_PROBLEMS + 1);
  const at = (node: Node | null | undefined) => {
    if (!node?.range) return {};
    const { line, col } = lineCounter.linePos(node.range[0]);
    return { line, column: col };
  };

  if (doc.errors.length > 0)
    throw new ConfigError(
      file,
      capped(syntaxProblems(doc, text, lineCounter, MAX_PROBLEMS + 1), doc.errors.length > MAX_PROBLEMS),
    );

  const unset: UnsetVariables[] | undefined = options.unsetEnv ? [] : undefined;
  const problems: ConfigProblem[] = interpolateEnv(doc.contents as Node | null, variables, env, unset).map(
    (p) => ({ path: dotted(p.path), ...at(p.node), message: p.message }),
  );
  const placeholders = (unset ?? []).map((u) => ({
    path: dotted(u.path),
    ...at(u.node),
    message: unsetMessage(u),
  }));
  options.unsetEnv?.push(...placeholders);
  // A value whose variable is unset (reported, or standing in as a placeholder) is not judged again.
  const unknown = [...placeholders, ...problems];
  const unknownPaths = new Set(unknown.map((u) => u.path));
  const judged = (path: string) => !aboutPlaceholder(path, unknownPaths);

  const data = yamlData(doc, lineCounter);
  if (!data.ok) throw new ConfigError(file, [data.problem]);
  const raw = (data.data ?? {}) as RawConfig;
  if (doc.contents === null || (isCollection(doc.contents) && doc.contents.items.length === 0)) {
    throw new ConfigError(file, [
      {
        path: '',
        message:
          'the file is empty: Portico refuses a config without routes, so a truncated save never takes every route away',
      },
    ]);
  }
  const nodeAt = (path: (string | number)[]) => {
    for (let n = path.length; n >= 0; n--) {
      const node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n), true);
      if (isNode(node)) return node;
    }
    return undefined;
  };

  if (!validateSchema(raw)) {
    for (const e of simplifyErrors(validateSchema.errors ?? [])) {
      // nodeAt walks the document for each problem: past the cap, the rest are not placed.
      if (problems.length > MAX_PROBLEMS) break;
      const path = e.instancePath.split('/').slice(1).map(unescapePointer);
      const key = (e.params as { additionalProperty?: string }).additionalProperty;
      const full = key ? [...path, key] : path;
      if (judged(dotted(full)))
        problems.push({ path: dotted(full), ...at(nodeAt(full)), message: describeSchemaError(e) });
    }
  }
  // One message per place: a value the schema already refused is not judged again.
  const refused = new Set(problems.map((p) => p.path));
  for (const p of semanticProblems(raw, options.readFiles === false ? undefined : baseDir)) {
    if (problems.length > MAX_PROBLEMS) break;
    const path = dotted(p.path);
    if (judged(path) && !refused.has(path))
      problems.push({ path, ...at(nodeAt(p.path)), message: p.message });
  }
  // The OpenID Provider's checks read a section the schema has accepted.
  if (!problems.some((p) => p.path.startsWith('oidcProvider')))
    for (const p of oidcProviderProblems(raw)) {
      if (problems.length > MAX_PROBLEMS) break;
      const path = dotted(p.path);
      if (judged(path)) problems.push({ path, ...at(nodeAt(p.path)), message: p.message });
    }
  if (problems.length > 0) throw new ConfigError(file, capped(dedupe(problems)));

  try {
    return compileConfig(raw, source, options.file, baseDir);
  } catch (err) {
    throw new ConfigError(file, [{ path: '', message: (err as Error).message }]);
  }
}

/**
 * How many problems one load reports. A hand-written file with more has a mistake repeated
 * throughout; a crafted one (50,000 unknown or repeated keys, sent to the validate endpoint) would
 * otherwise cost a walk of the document per problem and a multi-megabyte answer.
 */
export const MAX_PROBLEMS = 100;

/** At most MAX_PROBLEMS problems, the first in file order, and a note when there were more. */
function capped(problems: ConfigProblem[], more = problems.length > MAX_PROBLEMS): ConfigProblem[] {
  if (!more) return problems;
  const first = [...problems]
    .sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0))
    .slice(0, MAX_PROBLEMS);
  return [
    ...first,
    {
      path: '',
      message: `more than ${MAX_PROBLEMS} problems: only the first are listed (fix these and validate again)`,
    },
  ];
}

function dedupe(problems: ConfigProblem[]): ConfigProblem[] {
  const seen = new Set<string>();
  return problems.filter((p) => {
    const key = `${p.path}|${p.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function unescapePointer(s: string): string | number {
  const v = s.replace(/~1/g, '/').replace(/~0/g, '~');
  return /^\d+$/.test(v) ? Number(v) : v;
}

function dotted(path: (string | number)[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}
