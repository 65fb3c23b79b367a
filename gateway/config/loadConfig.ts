import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { BlockList, isIP } from 'node:net';
import { dirname, resolve } from 'node:path';
import { Ajv } from 'ajv';
import { isNode, LineCounter, type Node, parseDocument } from 'yaml';
import { agentFor, tlsOptionsFor } from '../proxy/agents.ts';
import { parseDuration } from './duration.ts';
import { interpolateEnv, protectVariables } from './interpolate.ts';
import { oidcProviderProblems } from './oidcProviderProblems.ts';
import { configSchema } from './schema.ts';
import { describeSchemaError, simplifyErrors } from './schemaErrors.ts';
import type { Config, RawConfig, RawRoute, Route } from './types.ts';

export type ConfigProblem = { path: string; line?: number; column?: number; message: string };

export class ConfigError extends Error {
  readonly problems: ConfigProblem[];
  readonly file: string;
  constructor(file: string, problems: ConfigProblem[]) {
    problems = [...problems].sort(
      (a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0),
    );
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

const ajv = new Ajv({
  allErrors: true,
  verbose: true,
  strict: true,
  strictRequired: false,
  allowUnionTypes: true,
});
ajv.addKeyword('x-hint');
const validateSchema = ajv.compile(configSchema);

type LoadOptions = { file?: string; env?: NodeJS.ProcessEnv };

export function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): Config {
  const absolute = resolve(file);
  let source: string;
  try {
    source = readFileSync(absolute, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [{ path: '', message: `cannot read the file: ${(err as Error).message}` }]);
  }
  return loadConfigText(source, { file: absolute, env });
}

/** Parses, interpolates, validates and compiles a routes.yaml text; throws ConfigError with every problem. */
export function loadConfigText(source: string, options: LoadOptions = {}): Config {
  const file = options.file ?? 'routes.yaml';
  const env = options.env ?? process.env;
  const lineCounter = new LineCounter();
  const { text, variables } = protectVariables(source);
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const at = (node: Node | null | undefined) => {
    if (!node?.range) return {};
    const { line, col } = lineCounter.linePos(node.range[0]);
    return { line, column: col };
  };

  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => ({
        path: '',
        ...positionOf(lineCounter, e.pos[0]),
        message: e.message.split('\n')[0]!,
      })),
    );
  }

  const problems: ConfigProblem[] = interpolateEnv(doc.contents as Node | null, variables, env).map((p) => ({
    path: dotted(p.path),
    ...at(p.node),
    message: p.message,
  }));
  if (problems.length > 0) throw new ConfigError(file, problems);

  const raw = (doc.toJS() ?? {}) as RawConfig;
  const nodeAt = (path: (string | number)[]) => {
    for (let n = path.length; n >= 0; n--) {
      const node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n), true);
      if (isNode(node)) return node;
    }
    return undefined;
  };

  if (!validateSchema(raw)) {
    for (const e of simplifyErrors(validateSchema.errors ?? [])) {
      const path = e.instancePath.split('/').slice(1).map(unescapePointer);
      const key = (e.params as { additionalProperty?: string }).additionalProperty;
      const full = key ? [...path, key] : path;
      problems.push({ path: dotted(full), ...at(nodeAt(full)), message: describeSchemaError(e) });
    }
    throw new ConfigError(file, problems);
  }

  for (const p of semanticProblems(raw))
    problems.push({ path: dotted(p.path), ...at(nodeAt(p.path)), message: p.message });
  if (problems.length > 0) throw new ConfigError(file, problems);

  try {
    return compile(raw, source, options.file, options.file ? dirname(options.file) : process.cwd());
  } catch (err) {
    throw new ConfigError(file, [{ path: '', message: (err as Error).message }]);
  }
}

function positionOf(lineCounter: LineCounter, offset: number) {
  const { line, col } = lineCounter.linePos(offset);
  return { line, column: col };
}

function unescapePointer(s: string): string | number {
  const v = s.replace(/~1/g, '/').replace(/~0/g, '~');
  return /^\d+$/.test(v) ? Number(v) : v;
}

function dotted(path: (string | number)[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

type PathProblem = { path: (string | number)[]; message: string };

function semanticProblems(raw: RawConfig): PathProblem[] {
  const out: PathProblem[] = [];
  const routes = raw.routes ?? [];
  const ids = new Map<string, number>();
  const paths = new Map<string, number>();
  routes.forEach((r, i) => {
    if (ids.has(r.id))
      out.push({
        path: ['routes', i, 'id'],
        message: `duplicate route id "${r.id}" (also routes[${ids.get(r.id)}])`,
      });
    ids.set(r.id, i);
    if (paths.has(r.path))
      out.push({
        path: ['routes', i, 'path'],
        message: `duplicate path "${r.path}" (also routes[${paths.get(r.path)}])`,
      });
    paths.set(r.path, i);
    if (/(^|\/)\.\.?(\/|$)/.test(r.path) || r.path.includes('//'))
      out.push({ path: ['routes', i, 'path'], message: 'must not contain empty, "." or ".." segments' });
    try {
      const u = new URL(r.upstream);
      if (u.search || u.hash)
        out.push({ path: ['routes', i, 'upstream'], message: 'must not have a query or fragment' });
      if (u.username || u.password)
        out.push({ path: ['routes', i, 'upstream'], message: 'must not embed credentials' });
    } catch {
      out.push({ path: ['routes', i, 'upstream'], message: `"${r.upstream}" is not a valid URL` });
    }
    if (r.tls && r.upstream.startsWith('http:'))
      out.push({ path: ['routes', i, 'tls'], message: 'tls settings need an https:// upstream' });
  });
  const needsLogin = routes.some(
    (r) =>
      r.auth === 'required' ||
      r.auth === 'optional' ||
      r.allow ||
      r.inject?.jwt ||
      r.inject?.headers ||
      r.inject?.accessToken,
  );
  const idps = raw.identityProviders ?? [];
  if (needsLogin && idps.length === 0) {
    const i = routes.findIndex((r) => r.auth === 'required' || r.auth === 'optional' || r.allow || r.inject);
    out.push({
      path: ['routes', i],
      message: 'this route needs a login, but no identityProviders are configured',
    });
  }
  if (idps.length > 0) {
    if (!raw.publicUrl)
      out.push({
        path: ['publicUrl'],
        message: 'is required when identityProviders are configured (it is the OIDC callback origin)',
      });
    if (!raw.session?.secret)
      out.push({
        path: ['session'],
        message: 'session.secret is required when identityProviders are configured',
      });
    const seen = new Set<string>();
    idps.forEach((p, i) => {
      if (seen.has(p.id))
        out.push({
          path: ['identityProviders', i, 'id'],
          message: `duplicate identity provider id "${p.id}"`,
        });
      seen.add(p.id);
    });
  }
  out.push(...oidcProviderProblems(raw));
  if (raw.session?.store === 'redis' && !raw.session.redis)
    out.push({ path: ['session', 'redis'], message: 'is required when store is redis' });
  if (Array.isArray(raw.trustProxy)) {
    raw.trustProxy.forEach((cidr, i) => {
      const [addr, bits] = cidr.split('/');
      const family = isIP(addr ?? '');
      const max = family === 6 ? 128 : 32;
      if (!family || (bits !== undefined && !(/^\d+$/.test(bits) && Number(bits) <= max))) {
        out.push({ path: ['trustProxy', i], message: `"${cidr}" is not an IP address or CIDR` });
      }
    });
  }
  return out;
}

function compile(raw: RawConfig, source: string, file: string | undefined, baseDir: string): Config {
  const routes = (raw.routes ?? []).map((r) => compileRoute(r, baseDir));
  // Longest prefix first: the hot path takes the first match.
  routes.sort((a, b) => b.prefix.length - a.prefix.length);
  let trustProxy: BlockList | undefined;
  if (raw.trustProxy === true) {
    trustProxy = new BlockList();
    trustProxy.addSubnet('0.0.0.0', 0, 'ipv4');
    trustProxy.addSubnet('::', 0, 'ipv6');
  } else if (Array.isArray(raw.trustProxy)) {
    trustProxy = new BlockList();
    for (const cidr of raw.trustProxy) {
      const [addr, bits] = cidr.split('/') as [string, string | undefined];
      const type = isIP(addr) === 6 ? 'ipv6' : 'ipv4';
      if (bits === undefined) trustProxy.addAddress(addr, type);
      else trustProxy.addSubnet(addr, Number(bits), type);
    }
  }
  const h = raw.identity?.headers ?? {};
  const identityHeaders = Object.freeze({
    user: h.user ?? 'X-Forwarded-User',
    email: h.email ?? 'X-Forwarded-Email',
    groups: h.groups ?? 'X-Forwarded-Groups',
    name: h.name ?? 'X-Forwarded-Preferred-Username',
  });
  const jwtHeader = raw.identity?.jwt?.header ?? 'X-Portico-Assertion';
  const config: Config = {
    source,
    sourceHash: createHash('sha256').update(source).digest('hex'),
    file,
    loadedAt: new Date(),
    raw: deepFreeze(structuredClone(raw)),
    listen: { host: raw.listen?.host ?? '0.0.0.0', port: raw.listen?.port ?? 8080, tls: raw.listen?.tls },
    publicUrl: raw.publicUrl ? new URL(raw.publicUrl) : undefined,
    trustProxy,
    routes: Object.freeze(routes),
    identityHeaders,
    identityHeaderNames: new Set(
      [...Object.values(identityHeaders), jwtHeader].map((n) => n.toLowerCase().replace(/_/g, '-')),
    ),
    apiKeys: deepFreeze(structuredClone(raw.apiKeys ?? [])),
    jwt: Object.freeze({
      header: jwtHeader,
      ttlMs: parseDuration(raw.identity?.jwt?.ttl ?? '60s'),
    }),
    logging: Object.freeze({
      level: raw.logging?.level ?? 'info',
      accessLog: raw.logging?.accessLog ?? true,
    }),
    limits: Object.freeze({
      headersTimeoutMs: parseDuration(raw.limits?.headersTimeout ?? '20s'),
      requestTimeoutMs: parseDuration(raw.limits?.requestTimeout ?? '0s'),
      maxHeaderSize: raw.limits?.maxHeaderSize ?? 16384,
      maxUrlLength: raw.limits?.maxUrlLength ?? 8192,
    }),
  };
  return Object.freeze(config);
}

function compileRoute(r: RawRoute, baseDir: string): Route {
  const upstream = new URL(r.upstream);
  const secure = upstream.protocol === 'https:';
  const tlsOptions = secure ? tlsOptionsFor(upstream, r.tls, baseDir) : {};
  const defaultPort = secure ? '443' : '80';
  const port = upstream.port || defaultPort;
  const origins = [`${upstream.protocol}//${upstream.hostname}:${port}`];
  if (port === defaultPort) origins.push(`${upstream.protocol}//${upstream.hostname}`);
  if (upstream.hostname.startsWith('[')) origins.push(`${upstream.protocol}//${upstream.host}`);
  const prefix = r.path;
  return Object.freeze({
    id: r.id,
    prefix,
    prefixBare: prefix.length > 1 && prefix.endsWith('/') ? prefix.slice(0, -1) : prefix,
    upstream,
    upstreamBasePath: upstream.pathname,
    upstreamHost: upstream.host,
    upstreamOrigins: Object.freeze([...new Set(origins)]),
    secure,
    agent: agentFor(upstream, r.tls, tlsOptions),
    tlsOptions: Object.freeze(tlsOptions),
    websocket: r.websocket ?? false,
    preserveHost: r.preserveHost ?? true,
    connectTimeoutMs: parseDuration(r.timeouts?.connect ?? '5s'),
    idleTimeoutMs: parseDuration(r.timeouts?.idle ?? '60s'),
    auth: r.auth ?? 'none',
    allow: r.allow ? deepFreeze(structuredClone(r.allow)) : undefined,
    inject: Object.freeze({
      headers: r.inject?.headers ?? (r.auth !== undefined && r.auth !== 'none'),
      jwt: r.inject?.jwt ?? false,
      accessToken: r.inject?.accessToken ?? false,
    }),
    rewriteLocation: r.rewrite?.location ?? true,
    rewriteCookiePath: r.rewrite?.cookiePath ?? false,
    branding: r.branding ?? false,
    nav: r.nav ? deepFreeze(structuredClone(r.nav)) : undefined,
  });
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
