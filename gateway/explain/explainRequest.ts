import type { OutgoingHttpHeaders } from 'node:http';
import { IncomingMessage, ServerResponse } from '../nodeHttp.ts';
import { Socket } from 'node:net';
import pino from 'pino';
import { addKeycloakIdpHint } from '../auth/addKeycloakIdpHint.ts';
import { apiKeyIdentity, howToAuthenticate } from '../auth/authenticate.ts';
import { withoutLogin } from '../auth/authorize.ts';
import { type AllowContext, isAllowed } from '../auth/isAllowed.ts';
import type { AllowRules, Config, Route } from '../config/types.ts';
import { type Credential, type HttpContext, type Identity, nothingKnownYet } from '../context.ts';
import { isOwn } from '../endpoints/ownEndpoints.ts';
import { GatewayError } from '../errors.ts';
import { consumedByPortico, identityHeaders } from '../identity/injectIdentity.ts';
import { qualifiedSubject, qualifyIdentity } from '../identity/qualifyIdentity.ts';
import { buildUpstreamHeaders, clientOf, isTrusted } from '../proxy/forwardedHeaders.ts';
import { asUpgrade } from '../proxy/forwardUpgrade.ts';
import { checkOrigin } from '../proxy/checkOrigin.ts';
import { backendView, splitTarget } from '../routing/checkPath.ts';
import { matchRoute, upstreamPath } from '../routing/matchRoute.ts';
import { otherReading, unambiguousRoute } from '../routing/routeRequest.ts';
import { routesForHost } from '../routing/routesForHost.ts';
import { checkClientAddress } from '../routePolicy/checkClientAddress.ts';
import { redirectLocation } from '../routePolicy/answerWithoutUpstream.ts';
import { passCorsPreflight } from '../routePolicy/passCorsPreflight.ts';
import { setRequestHeaders } from '../routePolicy/setRequestHeaders.ts';
import { skipLoginOnPublicPaths } from '../routePolicy/skipLoginOnPublicPaths.ts';

/** What `portico explain` is asked about: a request, and who sends it. */
export type ExplainInput = {
  method: string;
  /** The request target as the client sends it: path and query. */
  target: string;
  websocket?: boolean;
  /** Signed in as this user (through `idp`); absent: an anonymous visitor. */
  user?: string;
  groups?: string[];
  idp?: string;
  email?: string;
  name?: string;
  /**
   * `foreign`: a bearer token Portico did not issue (DCE's own JWT or access key); `idp`: an access
   * token of one of Portico's identity providers, for `user`; `api-key:<id>`: a Portico API key.
   */
  bearer?: string;
  /** An API client (JSON, fetch) rather than a browser navigating. */
  api?: boolean;
  /** Headers the client sends, besides those implied above. */
  headers?: Record<string, string>;
  /** The peer address Portico sees (a load balancer's, with trustProxy). */
  client?: string;
};

export type AllowCheck = { rules: AllowRules; admitted: boolean; matchedBy: string[]; hint?: string };

export type Explanation = {
  request: {
    method: string;
    target: string;
    websocket: boolean;
    /** Who sends it, as given: a user, a key or a token, or nobody. */
    as: string;
    path?: string;
    query?: string;
  };
  /** 200 stands for "proxied": the upstream's own answer. */
  outcome: { status: number; summary: string; location?: string };
  route?: {
    id: string;
    path: string;
    upstream: string | undefined;
    /** `upstreams`: every server, and how one is picked for a request. */
    servers?: {
      list: { url: string; weight: number; backup: boolean }[];
      balance: 'round-robin' | 'least-conn';
      maxFails: number;
      failTimeoutMs: number;
      sticky: boolean;
    };
    host?: string;
    auth: Route['auth'];
    bearer: Route['bearer'];
    websocket: boolean;
    preserveHost: boolean;
    inject: Route['inject'];
    keycloakIdpHint?: string;
  };
  authentication?: { by: 'session' | 'apiKey' | 'bearer' | 'nobody' | 'anonymous'; detail: string };
  identity?: Identity & { subject: string; primaryProvider: string | undefined; qualified: boolean };
  allow?: AllowCheck;
  upstream?: {
    method: string;
    url: string;
    headers: Record<string, string>;
    /** Header names Portico set or replaced (the rest came from the client as they were). */
    setByPortico: string[];
    /** Client headers (and cookies) the upstream never sees. */
    removed: string[];
    authorization: 'absent' | 'forwarded' | 'removed' | "the user's access token";
    assertion?: { header: string; claims: Record<string, unknown> };
  };
  notes: string[];
};

const DEFAULT_CLIENT = '203.0.113.10';
const silent = pino({ level: 'silent' });

/**
 * What the gateway would do with one request, worked out by the functions its pipeline runs:
 * the target check, the route match, the authentication path, the allow rules, the Keycloak hint
 * and the header builder. Nothing is sent and no credential is checked: explain takes the given
 * identity as signed in (or its token as valid) and says so.
 */
export function explainRequest(config: Config, input: ExplainInput): Explanation {
  const method = input.method.toUpperCase();
  const websocket = input.websocket === true;
  const out: Explanation = {
    request: { method, target: input.target, websocket, as: senderOf(config, input) },
    outcome: { status: 0, summary: '' },
    notes: [],
  };
  const answer = (status: number, summary: string, location?: string) => {
    out.outcome = location ? { status, summary, location } : { status, summary };
    return out;
  };

  let path: string;
  let query: string;
  try {
    ({ path, query } = splitTarget(input.target, config.limits.maxUrlLength));
  } catch (err) {
    return answer(400, refusal(err, input.target));
  }
  out.request.path = path;
  out.request.query = query;
  if (isOwn(path))
    return answer(
      websocket ? 404 : 200,
      websocket
        ? 'refused: nothing under /_portico/ speaks WebSocket or reaches an upstream'
        : 'answered by Portico itself (its own endpoints under /_portico/); never proxied',
    );

  const hostHeader = hostOf(config, input);
  const routes = routesForHost(config, hostHeader);
  let match: ReturnType<typeof unambiguousRoute>;
  try {
    match = unambiguousRoute(routes, path);
  } catch (err) {
    if (!(err instanceof GatewayError)) throw err;
    if (backendView(path) === undefined)
      return answer(
        400,
        'refused: the path has an escape no backend reads the same way (bad percent-encoding or a control character)',
      );
    const routeOf = (p: string) => matchRoute(routes, p)?.route.id ?? 'no route';
    const other = otherReading(routes, path, matchRoute(routes, path));
    if (other?.read === undefined)
      return answer(
        400,
        `refused: ${other?.by ?? 'a backend'} may read a segment of ${path} left as dots only (such as ... or ..%20) as ..`,
      );
    return answer(
      400,
      `refused: Portico would match ${path} to ${routeOf(path)}, but ${other.by} reads it as ${other.read} (${routeOf(other.read)})`,
    );
  }
  if (!match)
    return answer(
      404,
      routes.length === 0
        ? `no route: no route serves the host ${hostHeader} (and there is no route without \`host\`)`
        : `no route: no prefix matches ${path} (routes${config.hosts ? ` of host ${hostHeader}` : ''}: ${routes.map((r) => r.prefix).join(', ')})`,
    );
  let route = match.route;
  out.route = {
    id: route.id,
    path: route.prefix,
    upstream: route.upstream?.href,
    ...(route.servers
      ? {
          servers: {
            list: route.servers.list.map((s) => ({ url: s.url.href, weight: s.weight, backup: s.backup })),
            balance: route.servers.balance,
            maxFails: route.servers.maxFails,
            failTimeoutMs: route.servers.failTimeoutMs,
            sticky: route.servers.sticky,
          },
        }
      : {}),
    ...(route.host ? { host: route.host } : {}),
    auth: route.auth,
    bearer: route.bearer,
    websocket: route.websocket,
    preserveHost: route.preserveHost,
    inject: route.inject,
    ...(route.keycloakIdpHint ? { keycloakIdpHint: route.keycloakIdpHint } : {}),
  };
  if (match.redirect) {
    if (websocket) return answer(404, `no route: ${path} only redirects to ${route.prefix}`);
    return answer(301, `redirected to ${route.prefix} (the prefix with its slash)`, route.prefix + query);
  }
  if (websocket && !route.websocket)
    return answer(400, `refused: WebSockets are not enabled on route ${route.id} (websocket: true)`);

  const ctx = contextFor(config, input, method, path, query, route);
  if (websocket) {
    try {
      checkOrigin()({
        ...ctx,
        kind: 'ws',
        socket: ctx.req.socket,
        head: Buffer.alloc(0),
        answered: undefined,
      });
    } catch (err) {
      if (!(err instanceof GatewayError)) throw err;
      return answer(
        403,
        `refused: a browser upgrade from another origin (${ctx.req.headers.origin}) never reaches the upstream`,
      );
    }
  }
  try {
    checkClientAddress()(ctx);
  } catch (err) {
    if (!(err instanceof GatewayError)) throw err;
    return answer(
      403,
      `refused: the client address ${ctx.clientIp} is not admitted by ipAllow/ipDeny of ${route.id}`,
    );
  }
  if (route.maintenance)
    return answer(
      503,
      `answered by Portico: ${route.id} is in maintenance (routes.yaml), a branded 503${route.maintenance.retryAfterSeconds === undefined ? '' : ` with Retry-After: ${route.maintenance.retryAfterSeconds}`}`,
    );
  if (route.answer?.kind === 'respond')
    return answer(route.answer.status, `answered by Portico (respond): ${route.answer.status}, no upstream`);
  if (route.answer?.kind === 'redirect') {
    const location = redirectLocation(route.answer, route.prefix, path, query);
    return answer(route.answer.status, `redirected (redirect), no upstream`, location);
  }
  if (route.perIpRate)
    out.notes.push(
      `rateLimit.perIp: over ${route.perIpRate.limit} requests per ${route.perIpRate.windowMs / 1000}s from one address, 429`,
    );
  if (route.maxBodySize > 0 && !websocket)
    out.notes.push(`a body over ${route.maxBodySize} bytes gets 413 (maxBodySize)`);
  skipLoginOnPublicPaths()(ctx);
  if (ctx.route !== route)
    out.notes.push(
      `${path} is one of ${route.id}'s public paths: no login, no allow rules, no identity passed`,
    );
  else if (!websocket) {
    passCorsPreflight()(ctx);
    if (ctx.route !== route)
      out.notes.push(
        `a CORS preflight on ${route.id} (cors.allowPreflight): no login, the upstream answers it`,
      );
  }
  if (ctx.route !== route) {
    route = ctx.route!;
    out.route.auth = route.auth;
  }
  const how = howToAuthenticate(route, ctx.req.headers.authorization);
  const idpId = input.idp ?? config.primaryIdp ?? config.identityProviders[0]?.id;
  let identity: Identity | undefined;
  let credential: Credential | undefined;
  switch (how.by) {
    case 'apiKey': {
      credential = 'apiKey';
      const keyId = input.bearer!.slice('api-key:'.length);
      if (!how.checked) {
        out.authentication = {
          by: 'nobody',
          detail: `auth: none: the Portico API key is not checked here, and is removed before the upstream`,
        };
        break;
      }
      const key = config.apiKeys.find((k) => k.id === keyId);
      if (!key) {
        out.authentication = { by: 'apiKey', detail: `no API key with id "${keyId}" in apiKeys` };
        return answer(401, `refused: the API key is not valid (apiKeys has no id "${keyId}")`);
      }
      identity = apiKeyIdentity(key);
      out.authentication = {
        by: 'apiKey',
        detail: `Portico API key "${key.id}" (taken as valid: its hash is checked at request time)`,
      };
      break;
    }
    case 'nobody':
      out.authentication = {
        by: 'nobody',
        detail: 'auth: none: no session is looked up and no identity is sent, whoever is signed in',
      };
      break;
    case 'bearer':
      if (input.bearer !== 'idp' || input.user === undefined) {
        out.authentication = {
          by: 'bearer',
          detail: 'bearer: verify: only access tokens of the identity providers are accepted',
        };
        return answer(
          401,
          input.bearer === 'idp'
            ? 'refused: an identity provider access token needs --user (whose token it is)'
            : "refused: bearer: verify takes only access tokens of Portico's identity providers, and this one is not",
        );
      }
      if (!idpId) return answer(401, 'refused: no identity provider is configured to verify the token');
      if (route.bearerProviders && !route.bearerProviders.includes(idpId))
        return answer(
          401,
          `refused: this route takes access tokens of ${route.bearerProviders.join(', ')} only (bearerProviders), not of "${idpId}"`,
        );
      credential = 'bearer';
      identity = qualifyIdentity(
        identityOf(input, idpId, config),
        config.primaryIdp,
        config.identityProviderIds,
      );
      out.authentication = {
        by: 'bearer',
        detail: `an access token of "${idpId}" (taken as valid: Portico checks its signature, issuer, that it is an access token meant for Portico, and the provider's sign-in rules)`,
      };
      break;
    case 'session':
      if (input.user !== undefined && idpId !== undefined) {
        credential = 'session';
        identity = qualifyIdentity(
          identityOf(input, idpId, config),
          config.primaryIdp,
          config.identityProviderIds,
        );
        out.authentication = {
          by: 'session',
          detail: `the Portico session cookie (signed in through "${idpId}")`,
        };
      } else {
        out.authentication = {
          by: 'anonymous',
          detail:
            input.user !== undefined
              ? 'no identity provider is configured: nobody can sign in'
              : 'no session: an anonymous visitor',
        };
      }
      if (ctx.req.headers.authorization !== undefined && how.by === 'session')
        out.notes.push(
          `bearer: ${route.bearer}: the Authorization header belongs to the upstream and is forwarded as it is`,
        );
      break;
  }
  ctx.identity = identity;
  ctx.credential = credential;
  if (identity) {
    out.identity = {
      ...identity,
      subject: qualifiedSubject(identity, config.primaryIdp),
      primaryProvider: config.primaryIdp,
      qualified: identity.idp !== config.primaryIdp && identity.idp !== 'apikey',
    };
    if (out.identity.qualified)
      out.notes.push(
        config.primaryIdp
          ? `"${identity.idp}" is not the primary identity provider ("${config.primaryIdp}"): its names are qualified, so the user is ${identity.username}`
          : `no primary identity provider (identity.primaryProvider) with several providers: every name is qualified, so the user is ${identity.username}`,
      );
  }

  if (route.auth === 'required') {
    if (!identity) {
      const login = withoutLogin(websocket ? 'ws' : 'http', ctx.req, path + query);
      return login.status === 302
        ? answer(302, 'sent to sign in (a browser navigating); comes back here afterwards', login.login)
        : answer(401, `refused: sign-in required (401 JSON with the login URL ${login.login})`);
    }
    if (route.allow) {
      out.allow = checkAllow(route.allow, identity, config);
      if (!out.allow.admitted)
        return answer(403, `refused: the allow rules of ${route.id} do not admit ${identity.username}`);
    } else out.allow = { rules: {}, admitted: true, matchedBy: ['no allow rules: anyone signed in'] };
  }
  if (route.perUserRate && identity)
    out.notes.push(
      `rateLimit.perUser: over ${route.perUserRate.limit} requests per ${route.perUserRate.windowMs / 1000}s from ${identity.username}, 429`,
    );

  if (config.trustProxy && !isTrusted(config.trustProxy, ctx.req.socket.remoteAddress ?? ''))
    out.notes.push(
      `${ctx.req.socket.remoteAddress} is not in trustProxy: its X-Forwarded-* are replaced. To see a request through the load balancer, give --client <its address> and -H "X-Forwarded-For: …" -H "X-Forwarded-Proto: https"`,
    );
  addKeycloakIdpHint()(ctx);
  if (ctx.query !== query)
    out.notes.push(
      `keycloakIdpHint: the upstream Keycloak's sign-in gets kc_idp_hint=${route.keycloakIdpHint}: no login page there`,
    );
  out.upstream = upstreamOf(config, route, ctx, identity, credential, method);
  return answer(
    200,
    websocket
      ? `proxied to ${route.id} as a WebSocket (subprotocols pass through)`
      : `proxied to ${route.id}: the upstream answers`,
  );
}

/** The sender as the input describes it, before Portico decides anything. */
function senderOf(config: Config, input: ExplainInput): string {
  if (input.bearer?.startsWith('api-key:'))
    return `Portico API key "${input.bearer.slice('api-key:'.length)}"`;
  const token =
    input.bearer === 'foreign'
      ? ' with a bearer token Portico did not issue'
      : input.bearer === 'idp'
        ? ' with an access token of its identity provider'
        : '';
  if (input.user === undefined) return `an anonymous visitor${token}`;
  const idp = input.idp ?? config.primaryIdp ?? config.identityProviders[0]?.id ?? 'no identity provider';
  const groups = input.groups?.length ? ` (groups ${input.groups.join(', ')})` : '';
  return `${input.user}${groups} of ${idp}${token}`;
}

function identityOf(input: ExplainInput, idp: string, config: Config): Identity {
  // An address as its provider gives it: OIDC, GitHub, GitLab and Google say they verified it (the
  // question is about such a user); LDAP and SAML say nothing, which counts only with trustEmail.
  const type = config.identityProviders.find((p) => p.id === idp)?.type;
  return {
    idp,
    sub: input.user!,
    username: input.user!,
    email: input.email,
    emailVerified: input.email === undefined || type === 'ldap' || type === 'saml' ? undefined : true,
    name: input.name,
    groups: input.groups ?? [],
  };
}

/** Which allow rules admit the user: each listed value is put to isAllowed on its own. */
export function checkAllow(rules: AllowRules, identity: Identity, c: AllowContext): AllowCheck {
  const primaryIdp = c.primaryIdp;
  const matchedBy: string[] = [];
  for (const key of ['groups', 'users', 'emails', 'domains', 'idps'] as const)
    for (const value of rules[key] ?? [])
      if (isAllowed({ [key]: [value] }, identity, c)) matchedBy.push(`${key}: ${value}`);
  for (const [name, wanted] of Object.entries(rules.claims ?? {}))
    if (isAllowed({ claims: { [name]: wanted } }, identity, c))
      matchedBy.push(`claims.${name}: ${JSON.stringify(wanted)}`);
  const admitted = isAllowed(rules, identity, c);
  const check: AllowCheck = { rules, admitted, matchedBy };
  if (!admitted && identity.idp !== primaryIdp && identity.idp !== 'apikey') {
    // The same rules with the provider's own names: would the unqualified user have passed?
    const prefix = `${identity.idp}:`;
    const bare = {
      ...identity,
      username: identity.username.slice(prefix.length),
      groups: identity.groups.map((g) => g.slice(prefix.length)),
    };
    if (isAllowed(rules, bare, { ...c, primaryIdp: identity.idp }))
      check.hint = `the rules name "${identity.idp}" users by bare names; write them qualified (${prefix}<name>), or make "${identity.idp}" identity.primaryProvider`;
  }
  return check;
}

function upstreamOf(
  config: Config,
  route: Route,
  ctx: HttpContext,
  identity: Identity | undefined,
  credential: Credential | undefined,
  method: string,
): NonNullable<Explanation['upstream']> {
  ctx.upstreamHeaders = buildUpstreamHeaders(ctx, route);
  setRequestHeaders()(ctx);
  const built = ctx.upstreamHeaders;
  const headers: OutgoingHttpHeaders = ctx.req.headers.upgrade ? asUpgrade(built, ctx.req) : built;
  const incoming = ctx.req.headers;
  let authorization: NonNullable<Explanation['upstream']>['authorization'] =
    incoming.authorization === undefined ? 'absent' : 'forwarded';
  // buildUpstreamHeaders already left a consumed credential out; the explanation says so.
  if (consumedByPortico(credential) && incoming.authorization !== undefined) {
    delete headers.authorization;
    authorization = 'removed';
  }
  let assertion: NonNullable<Explanation['upstream']>['assertion'];
  if (identity) {
    if (route.inject.headers) Object.assign(headers, identityHeaders(config, identity));
    if (route.inject.accessToken && credential === 'session') {
      headers.authorization = "Bearer <the user's access token from their identity provider>";
      authorization = "the user's access token";
    }
    if (route.inject.jwt) {
      assertion = {
        header: config.jwt.header,
        claims: {
          iss: config.publicUrl ? config.publicUrl.origin : 'portico',
          aud: route.id,
          sub: qualifiedSubject(identity, config.primaryIdp),
          email: identity.email,
          groups: identity.groups,
          name: identity.name ?? identity.username,
          preferred_username: identity.username,
          idp: identity.idp,
          iat: '<now>',
          exp: `<now + ${Math.max(1, Math.round(config.jwt.ttlMs / 1000))}s>`,
          jti: '<unique>',
        },
      };
      headers[config.jwt.header] = '<ES256 JWT signed by Portico; keys at /_portico/jwks.json>';
    }
  }
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers))
    if (value !== undefined)
      flat[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
  const setByPortico = Object.keys(flat).filter((name) => incoming[name] !== flat[name]);
  const removed = Object.keys(incoming).filter((name) => !(name in flat));
  if (typeof incoming.cookie === 'string' && flat.cookie !== undefined && flat.cookie !== incoming.cookie) {
    const kept = new Set(flat.cookie.split(';').map((c) => c.trim().split('=')[0]));
    for (const pair of incoming.cookie.split(';')) {
      const name = pair.trim().split('=')[0]!;
      if (!kept.has(name)) removed.push(`cookie ${name}`);
    }
  } else if (typeof incoming.cookie === 'string' && flat.cookie === undefined) {
    removed.splice(removed.indexOf('cookie'), 1);
    for (const pair of incoming.cookie.split(';')) removed.push(`cookie ${pair.trim().split('=')[0]}`);
  }
  const url = `${route.upstream!.origin}${upstreamPath(route, ctx.path)}${ctx.query}`;
  return {
    method,
    url,
    headers: flat,
    setByPortico: setByPortico.filter((n) => n !== 'cookie'),
    removed,
    authorization,
    ...(assertion ? { assertion } : {}),
  };
}

/** The request as it reaches the pipeline: a real IncomingMessage from the given client address. */
function contextFor(
  config: Config,
  input: ExplainInput,
  method: string,
  path: string,
  query: string,
  route: Route,
): HttpContext {
  const socket = new Socket();
  Object.defineProperty(socket, 'remoteAddress', { value: input.client ?? DEFAULT_CLIENT });
  // Over TLS when the listener is (the WebSocket Origin check and X-Forwarded-Proto read it).
  if (config.listen.tls) Object.defineProperty(socket, 'encrypted', { value: true });
  const req = new IncomingMessage(socket);
  req.method = method;
  req.url = input.target;
  const headers: Record<string, string> = {
    host: hostOf(config, input),
    accept: input.api || input.bearer ? 'application/json' : 'text/html,application/xhtml+xml',
  };
  if (input.websocket) Object.assign(headers, { connection: 'Upgrade', upgrade: 'websocket' });
  // Signed in by a session unless the user's credential is a token of Portico's own choosing.
  if (input.user !== undefined && (input.bearer === undefined || input.bearer === 'foreign'))
    headers.cookie = `${config.session.cookieName}=s%3A<session id>.<signature>`;
  if (input.bearer === 'foreign') headers.authorization = 'Bearer <token-Portico-did-not-issue>';
  else if (input.bearer === 'idp') headers.authorization = 'Bearer <access-token-of-an-identity-provider>';
  else if (input.bearer?.startsWith('api-key:'))
    headers.authorization = `Bearer ptk_${input.bearer.slice('api-key:'.length)}_<secret>`;
  for (const [name, value] of Object.entries(input.headers ?? {})) {
    const lower = name.toLowerCase();
    headers[lower] = lower === 'cookie' && headers.cookie ? `${headers.cookie}; ${value}` : value;
  }
  req.headers = headers;
  req.rawHeaders = Object.entries(headers).flat();
  const client = clientOf(req, config.trustProxy);
  return {
    kind: 'http',
    req,
    res: new ServerResponse(req),
    transform: undefined,
    requestBody: undefined,
    config,
    log: silent,
    requestId: '<kept or created>',
    path,
    query,
    route,
    clientIp: client.clientIp,
    proto: client.proto,
    ...nothingKnownYet(),
    startedAt: 0,
  };
}

/** The Host the request names: the one given with -H, else publicUrl's. */
function hostOf(config: Config, input: ExplainInput): string {
  for (const [name, value] of Object.entries(input.headers ?? {}))
    if (name.toLowerCase() === 'host') return value;
  return config.publicUrl?.host ?? `localhost:${config.listen.port}`;
}

function refusal(err: unknown, target: string): string {
  if (!(err instanceof GatewayError)) throw err;
  if (!target.startsWith('/')) return 'refused: the request target must start with "/"';
  if (err.detail === 'URL too long') return 'refused: the URL is longer than limits.maxUrlLength';
  return 'refused: the path has a dot segment or a backslash (raw or encoded) that a backend could resolve to another route';
}
