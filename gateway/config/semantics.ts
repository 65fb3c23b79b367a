import { accessSync, constants, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseDuration } from './duration.ts';
import { pemOrFile } from './pemOrFile.ts';
import { isCidr, routePolicyProblems } from './routePolicyProblems.ts';
import { upstreamsProblems } from './upstreamsProblems.ts';

export type PathProblem = { path: (string | number)[]; message: string };

type Loose = Record<string, unknown>;
const obj = (v: unknown): Loose | undefined =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as Loose) : undefined;
const list = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/** Provider ids that are URI schemes seen in group and claim names. */
const URI_SCHEMES = new Set(['http', 'https', 'urn', 'mailto', 'tag', 'ldap', 'ldaps']);

const parseDurationOrNaN = (v: string | number): number => {
  try {
    return parseDuration(v);
  } catch {
    return Number.NaN;
  }
};

/** Identity provider types that can check a bearer access token themselves (`bearer: verify`). */
const VERIFYING_TYPES = new Set(['oidc', 'google', 'gitlab']);

/**
 * The checks a schema cannot express: uniqueness, URLs, what a route needs from the rest of the
 * file, files that must exist. They run on whatever parts of the file are well-formed, even when
 * the schema found problems elsewhere, so one `validate` reports every error at once.
 */
/** `baseDir` undefined: the files the config names are not checked (see LoadOptions.readFiles). */
export function semanticProblems(input: unknown, baseDir: string | undefined): PathProblem[] {
  const raw = obj(input) ?? {};
  const out: PathProblem[] = [];
  const routes = list(raw.routes);
  const ids = new Map<string, number>();
  const paths = new Map<string, number>();
  let needsLogin: number | undefined;
  let verifies: number | undefined;
  routes.forEach((value, i) => {
    const r = obj(value);
    if (!r) return;
    const id = str(r.id);
    const path = str(r.path);
    if (id !== undefined) {
      if (ids.has(id))
        out.push({
          path: ['routes', i, 'id'],
          message: `duplicate route id "${id}" (also routes[${ids.get(id)}])`,
        });
      else ids.set(id, i);
    }
    if (path !== undefined) {
      // Paths are unique per host: routes of different hosts may share one (nginx server blocks).
      const host = str(r.host)?.toLowerCase();
      const key = `${host ?? ''} ${path}`;
      if (paths.has(key))
        out.push({
          path: ['routes', i, 'path'],
          message: `duplicate path "${path}"${host ? ` for host "${host}"` : ''} (also routes[${paths.get(key)}])`,
        });
      else paths.set(key, i);
      if (/(^|\/)\.\.?(\/|$)/.test(path) || path.includes('//'))
        out.push({ path: ['routes', i, 'path'], message: 'must not contain empty, "." or ".." segments' });
    }
    const upstream = str(r.upstream);
    if (upstream !== undefined) {
      let u: URL | undefined;
      try {
        u = new URL(upstream);
      } catch {
        out.push({ path: ['routes', i, 'upstream'], message: `"${upstream}" is not a valid URL` });
      }
      if (u && (u.search || u.hash))
        out.push({ path: ['routes', i, 'upstream'], message: 'must not have a query or fragment' });
      if (u && (u.username || u.password))
        out.push({ path: ['routes', i, 'upstream'], message: 'must not embed credentials' });
      if (r.tls !== undefined && upstream.startsWith('http:'))
        out.push({ path: ['routes', i, 'tls'], message: 'tls settings need an https:// upstream' });
    }
    const tls = obj(r.tls);
    for (const key of ['ca', 'cert', 'key'] as const) {
      const file = str(tls?.[key]);
      if (file !== undefined && !readable(baseDir, file))
        out.push({ path: ['routes', i, 'tls', key], message: `cannot read "${file}"` });
    }
    const auth = str(r.auth);
    if (r.allow !== undefined && (auth === 'none' || auth === 'optional'))
      out.push({
        path: ['routes', i, 'auth'],
        message: `is "${auth}", but this route has allow rules, which need a login: use auth: required (or leave auth out: allow implies it)`,
      });
    const loginRoute = auth === 'required' || auth === 'optional' || r.allow !== undefined;
    const inject = obj(r.inject);
    if (loginRoute || inject?.jwt === true || inject?.headers === true || inject?.accessToken === true)
      needsLogin ??= i;
    out.push(...routePolicyProblems(r, i, raw));
    out.push(...upstreamsProblems(r, i));
    const named = r.bearerProviders;
    if (Array.isArray(named)) {
      if (r.bearer !== 'verify')
        out.push({
          path: ['routes', i, 'bearerProviders'],
          message: 'bearerProviders is only read with bearer: verify',
        });
      named.forEach((id, j) => {
        const p = list(raw.identityProviders).find((x) => obj(x)?.id === id);
        if (!p)
          out.push({
            path: ['routes', i, 'bearerProviders', j],
            message: `no identity provider has the id "${id}"`,
          });
        else if (!VERIFYING_TYPES.has(String(obj(p)?.type)))
          out.push({
            path: ['routes', i, 'bearerProviders', j],
            message: `"${id}" is not a provider whose access tokens Portico can check (oidc, google or gitlab)`,
          });
      });
    }
    if (r.bearer === 'verify') {
      verifies ??= i;
      if (!loginRoute)
        out.push({
          path: ['routes', i, 'bearer'],
          message:
            'bearer: verify needs auth: required or optional (on a route without a login no token is checked)',
        });
    }
  });
  const idps = list(raw.identityProviders);
  if (needsLogin !== undefined && idps.length === 0)
    out.push({
      path: ['routes', needsLogin],
      message: 'this route needs a login, but no identityProviders are configured',
    });
  if (
    verifies !== undefined &&
    idps.length > 0 &&
    !idps.some((p) => VERIFYING_TYPES.has(String(obj(p)?.type)))
  )
    out.push({
      path: ['routes', verifies, 'bearer'],
      message:
        'bearer: verify needs an identity provider whose access tokens Portico can check (oidc, google or gitlab)',
    });
  const primary = str(obj(raw.identity)?.primaryProvider);
  if (primary !== undefined && !idps.some((p) => obj(p)?.id === primary))
    out.push({
      path: ['identity', 'primaryProvider'],
      message: `"${primary}" is not the id of a configured identity provider`,
    });
  const session = obj(raw.session);
  if (idps.length > 0) {
    if (raw.publicUrl === undefined)
      out.push({
        path: ['publicUrl'],
        message: 'is required when identityProviders are configured (it is the OIDC callback origin)',
      });
    if (session?.secret === undefined)
      out.push({
        path: ['session'],
        message: 'session.secret is required when identityProviders are configured',
      });
    const seen = new Set<string>();
    idps.forEach((p, i) => {
      const id = str(obj(p)?.id);
      if (id === undefined) return;
      if (seen.has(id))
        out.push({ path: ['identityProviders', i, 'id'], message: `duplicate identity provider id "${id}"` });
      // The namespace of Portico's API keys: its users would keep bare names and trusted addresses.
      if (id === 'apikey')
        out.push({
          path: ['identityProviders', i, 'id'],
          message: '"apikey" is reserved for Portico API keys',
        });
      // `<id>:` starts the names and rules of a provider's users: with these, a claim rule such as
      // `https://app.example/roles` or `urn:oid:…` would be read as being about this provider.
      if (URI_SCHEMES.has(id))
        out.push({
          path: ['identityProviders', i, 'id'],
          message: `"${id}" reads as the start of a URI in names and claim rules (${id}:…); choose another id`,
        });
      seen.add(id);
    });
  }
  const terminalCheck = session?.terminalCheck;
  if (typeof terminalCheck === 'string' || typeof terminalCheck === 'number') {
    // A timer takes at most 2^31-1 ms and runs every millisecond past it (and at 0).
    const ms = parseDurationOrNaN(terminalCheck);
    if (ms < 100 || ms > 86_400_000)
      out.push({ path: ['session', 'terminalCheck'], message: 'must be between 100ms and 24h' });
  }
  if (session?.store === 'redis' && session.redis === undefined)
    out.push({ path: ['session', 'redis'], message: 'is required when store is redis' });
  const redis = obj(session?.redis);
  if (redis) {
    const kinds = ['url', 'host', 'sentinels', 'cluster'].filter((k) => redis[k] !== undefined);
    if (kinds.length !== 1)
      out.push({
        path: ['session', 'redis'],
        message: `needs exactly one of url, host, sentinels or cluster${kinds.length ? ` (has ${kinds.join(', ')})` : ''}`,
      });
    if (redis.sentinels !== undefined && redis.name === undefined)
      out.push({ path: ['session', 'redis'], message: 'sentinels need the master name (name: mymaster)' });
  }
  list(raw.trustProxy).forEach((cidr, i) => {
    if (typeof cidr === 'string' && !isCidr(cidr))
      out.push({ path: ['trustProxy', i], message: `"${cidr}" is not an IP address or CIDR` });
  });
  const auditFile = str(obj(raw.audit)?.file);
  if (auditFile !== undefined && baseDir !== undefined) {
    const problem = unwritable(auditFile);
    if (problem) out.push({ path: ['audit', 'file'], message: problem });
  }
  const listenTls = obj(obj(raw.listen)?.tls);
  let tlsFilesRead = true;
  for (const key of ['cert', 'key'] as const) {
    const file = str(listenTls?.[key]);
    if (file !== undefined && !readable(baseDir, file)) {
      out.push({ path: ['listen', 'tls', key], message: `cannot read "${file}"` });
      tlsFilesRead = false;
    }
  }
  const cert = str(listenTls?.cert);
  const key = str(listenTls?.key);
  const inline = (v: string) => v.includes('-----BEGIN');
  if (
    tlsFilesRead &&
    cert !== undefined &&
    key !== undefined &&
    (baseDir !== undefined || (inline(cert) && inline(key)))
  ) {
    const problem = certificateProblem(baseDir ?? '.', cert, key);
    if (problem) out.push({ path: ['listen', 'tls'], message: problem });
  }
  return out;
}

/**
 * What OpenSSL says of the listener's certificate and key, in words an operator acts on: found at
 * validate time (and at a reload) instead of as a crash when the gateway starts listening.
 */
function certificateProblem(baseDir: string, cert: string, key: string): string | undefined {
  try {
    process
      .getBuiltinModule('node:tls')
      .createSecureContext({ cert: pemOrFile(baseDir, cert), key: pemOrFile(baseDir, key) });
    return undefined;
  } catch (err) {
    const message = (err as Error).message;
    if (message.includes('key values mismatch'))
      return `the key ${named(key)} does not belong to the certificate ${named(cert)}`;
    if (message.includes('PEM') || message.includes('no start line') || message.includes('ASN1'))
      return `cert and key must be PEM (-----BEGIN CERTIFICATE----- and -----BEGIN PRIVATE KEY-----): ${message}`;
    return `cannot use the certificate and key: ${message}`;
  }
}

/** A file name as given, quoted, or a short mark for PEM text given inline. */
function named(value: string): string {
  return value.includes('-----BEGIN') ? 'given inline' : `"${value}"`;
}

/** PEM text given inline needs no file; without a folder, files are not looked at. */
function readable(baseDir: string | undefined, value: string): boolean {
  if (value.includes('-----BEGIN') || baseDir === undefined) return true;
  try {
    accessSync(resolve(baseDir, value), constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Why the audit log could never be opened at `file`, or undefined: checked up front so a deploy
 * naming a folder is refused, not applied with the trail broken. Resolved as the audit log opens it
 * (from the working folder); created with its folders when absent. Permissions are not judged:
 * `portico validate` runs in CI as another user than the gateway's (a reload that cannot open the
 * file keeps the old one, see operations.ts).
 */
function unwritable(file: string): string | undefined {
  const code = (err: unknown) => (err as NodeJS.ErrnoException).code;
  for (let path = resolve(file); ; path = dirname(path)) {
    try {
      const isFolder = statSync(path).isDirectory();
      if (path === resolve(file)) return isFolder ? `"${file}" is a folder, not a file` : undefined;
      return isFolder ? undefined : `cannot create "${file}": "${path}" is not a folder`;
    } catch (err) {
      if (code(err) === 'ENOTDIR') return `cannot create "${file}": a part of its path is not a folder`;
      // Absent: the nearest part that exists decides. Anything else (EACCES) is left to the open.
      if (code(err) !== 'ENOENT' || path === dirname(path)) return undefined;
    }
  }
}
