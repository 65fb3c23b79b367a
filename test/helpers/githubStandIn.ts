// A local stand-in for GitHub's OAuth web flow and the REST endpoints a login needs, following
// GitHub's documentation: https://docs.github.com/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps
// and https://docs.github.com/rest (users, emails, orgs, teams; Link pagination; error bodies).
// Mounted like github.com (web and API on one origin, API at `apiPrefix` '') or like GitHub
// Enterprise Server (web at basePath, API at basePath + '/api/v3').
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';

export type GithubEmail = { email: string; primary: boolean; verified: boolean; visibility: string | null };

export type GithubStandInUser = {
  id: number;
  login: string;
  name?: string | null;
  /** The public profile address (shown in /user `email`); not necessarily the primary one. */
  publicEmail?: string | null;
  emails?: GithubEmail[];
  /** Organization logins. Membership is private unless listed in `publicOrgs`. */
  orgs?: string[];
  publicOrgs?: string[];
  /** Teams as `org/team-slug`. */
  teams?: string[];
};

export type GithubOAuthApp = {
  clientId: string;
  clientSecret: string;
  /** The registered authorization callback URL; redirect_uri must be it or below it. */
  callbackUrl: string;
};

export type GithubStandInOptions = {
  apps: GithubOAuthApp[];
  users: GithubStandInUser[];
  /** Mount point of the web endpoints (GitHub Enterprise Server style), default ''. */
  basePath?: string;
  /** Where the REST API lives under basePath: '' (default, like api.github.com) or '/api/v3' (GHES). */
  apiPrefix?: string;
  /** Largest page size granted (GitHub: 100); lower it to force pagination. */
  maxPerPage?: number;
  /** Issue expiring user tokens with refresh tokens (GitHub Apps), lifetime in seconds. */
  expiringTokens?: number;
};

export type RecordedGithubRequest = {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body?: Record<string, string>;
};

export type GithubStandIn = {
  /** Web base URL (no trailing slash): the `baseUrl` Portico is configured with. */
  url: string;
  /** REST API root (no trailing slash). */
  apiUrl: string;
  port: number;
  requests: RecordedGithubRequest[];
  /** Which user approves the next authorizations (default: the first user). */
  approveAs(login: string): void;
  /** The user clicks "Cancel" instead: GitHub redirects back with error=access_denied. */
  denyNext(): void;
  /** Hands out the issued access tokens (for direct API assertions). */
  tokens(): string[];
  close(): Promise<void>;
};

const DOCS = 'https://docs.github.com';
const ERR_URI = `${DOCS}/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors`;
const CODE_TTL_MS = 10 * 60_000;
const JSON_TYPES =
  /^application\/(json|vnd\.github(\.[a-z0-9-]+)*(\.(raw|text|html|full))?\+json|vnd\.github\.v3(\.[a-z0-9-]+)?)$/;
const API_VERSIONS = new Set(['2022-11-28']);

type Code = {
  clientId: string;
  redirectUri: string | undefined;
  scopes: string[];
  login: string;
  challenge?: string;
  expiresAt: number;
  used: boolean;
};
type Token = { login: string; scopes: string[]; clientId: string; expiresAt?: number };

/** Starts the stand-in on 127.0.0.1:0 and closes it after the test. */
export async function startGithubStandIn(
  t: Pick<TestContext, 'after'>,
  options: GithubStandInOptions,
): Promise<GithubStandIn> {
  const basePath = (options.basePath ?? '').replace(/\/+$/, '');
  const apiPrefix = `${basePath}${(options.apiPrefix ?? '').replace(/\/+$/, '')}`;
  const maxPerPage = options.maxPerPage ?? 100;
  const users = new Map(options.users.map((u) => [u.login.toLowerCase(), u]));
  const apps = new Map(options.apps.map((a) => [a.clientId, a]));
  const codes = new Map<string, Code>();
  const accessTokens = new Map<string, Token>();
  const refreshTokens = new Map<string, Token>();
  const requests: RecordedGithubRequest[] = [];
  let approver = options.users[0]?.login ?? '';
  let deny = false;
  const orgIds = new Map<string, number>();
  const orgId = (login: string) => {
    if (!orgIds.has(login)) orgIds.set(login, 9_000_000 + orgIds.size + 1);
    return orgIds.get(login)!;
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) json(res, 500, { message: String(err) });
      else res.destroy();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', 'http://stand-in');
    const record: RecordedGithubRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.searchParams,
      headers: req.headers,
    };
    requests.push(record);
    const path = url.pathname;
    if (path === `${basePath}/login/oauth/authorize` && req.method === 'GET') return authorize(url, res);
    if (path === `${basePath}/login/oauth/access_token`) {
      if (req.method !== 'POST') return json(res, 404, { message: 'Not Found' });
      record.body = await readBody(req);
      return accessToken(req, record.body, res);
    }
    if (path.startsWith(`${apiPrefix}/`) || path === apiPrefix) {
      return api(req, res, url, path.slice(apiPrefix.length) || '/');
    }
    json(res, 404, { message: 'Not Found', documentation_url: `${DOCS}/rest` });
  }

  function authorize(url: URL, res: ServerResponse) {
    const q = url.searchParams;
    const app = apps.get(q.get('client_id') ?? '');
    if (!app) {
      // GitHub shows its own 404 page for an unknown application; nothing goes back to the client.
      res.writeHead(404, { 'content-type': 'text/html; charset=utf-8' });
      res.end('<!DOCTYPE html><title>Page not found · GitHub</title><h1>404</h1>');
      return;
    }
    const state = q.get('state');
    const back = (target: string, params: Record<string, string>) => {
      const u = new URL(target);
      for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
      if (state !== null) u.searchParams.set('state', state);
      res.writeHead(302, { location: u.href });
      res.end();
    };
    const redirectUri = q.get('redirect_uri') ?? undefined;
    if (redirectUri !== undefined && !redirectMatches(app.callbackUrl, redirectUri)) {
      return back(app.callbackUrl, {
        error: 'redirect_uri_mismatch',
        error_description: 'The redirect_uri MUST match the registered callback URL for this application.',
        error_uri: `${DOCS}/apps/managing-oauth-apps/troubleshooting-authorization-request-errors/#redirect-uri-mismatch`,
      });
    }
    const challenge = q.get('code_challenge') ?? undefined;
    if (challenge !== undefined && (q.get('code_challenge_method') ?? 'plain') !== 'S256') {
      return back(redirectUri ?? app.callbackUrl, {
        error: 'invalid_request',
        error_description: 'code_challenge_method must be S256',
      });
    }
    if (deny) {
      deny = false;
      return back(redirectUri ?? app.callbackUrl, {
        error: 'access_denied',
        error_description: 'The user has denied your application access.',
        error_uri: `${DOCS}/apps/managing-oauth-apps/troubleshooting-authorization-request-errors/#access-denied`,
      });
    }
    const code = randomBytes(10).toString('hex');
    codes.set(code, {
      clientId: app.clientId,
      redirectUri,
      scopes: (q.get('scope') ?? '').split(/[\s,]+/).filter(Boolean),
      login: approver,
      challenge,
      expiresAt: Date.now() + CODE_TTL_MS,
      used: false,
    });
    back(redirectUri ?? app.callbackUrl, { code });
  }

  function accessToken(req: IncomingMessage, body: Record<string, string>, res: ServerResponse) {
    const wantsJson = /application\/json/.test(req.headers.accept ?? '');
    // GitHub answers token errors with HTTP 200 and an `error` field.
    const reply = (value: Record<string, unknown>) => {
      if (wantsJson) return json(res, 200, value);
      res.writeHead(200, { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' });
      res.end(new URLSearchParams(value as Record<string, string>).toString());
    };
    const fail = (error: string, description: string, anchor: string) =>
      reply({ error, error_description: description, error_uri: `${ERR_URI}#${anchor}` });
    const app = apps.get(body.client_id ?? '');
    if (!app || body.client_secret !== app.clientSecret)
      return fail(
        'incorrect_client_credentials',
        'The client_id and/or client_secret passed are incorrect.',
        'incorrect-client-credentials',
      );
    if (body.grant_type === 'refresh_token') {
      const old = refreshTokens.get(body.refresh_token ?? '');
      if (!old || old.clientId !== app.clientId)
        return fail(
          'bad_refresh_token',
          'The refresh token passed is incorrect or expired.',
          'bad-refresh-token',
        );
      refreshTokens.delete(body.refresh_token!);
      return reply(issue(old.login, old.scopes, app.clientId));
    }
    const code = codes.get(body.code ?? '');
    if (!code || code.used || code.expiresAt < Date.now() || code.clientId !== app.clientId)
      return fail(
        'bad_verification_code',
        'The code passed is incorrect or expired.',
        'bad-verification-code',
      );
    code.used = true; // single use, whatever happens next
    if (code.redirectUri !== undefined && body.redirect_uri !== code.redirectUri)
      return fail(
        'redirect_uri_mismatch',
        'The redirect_uri MUST match the registered callback URL for this application.',
        'redirect-uri-mismatch',
      );
    if (code.challenge !== undefined) {
      const verifier = body.code_verifier ?? '';
      const computed = createHash('sha256').update(verifier).digest('base64url');
      if (!/^[A-Za-z0-9._~-]{43,128}$/.test(verifier) || computed !== code.challenge)
        return fail(
          'bad_verification_code',
          'The code_verifier does not match the code_challenge.',
          'bad-verification-code',
        );
    }
    reply(issue(code.login, code.scopes, app.clientId));
  }

  function issue(login: string, scopes: string[], clientId: string): Record<string, unknown> {
    const token = `gho_${randomBytes(18).toString('base64url')}`;
    const expiresAt = options.expiringTokens ? Date.now() + options.expiringTokens * 1000 : undefined;
    accessTokens.set(token, { login, scopes, clientId, expiresAt });
    const out: Record<string, unknown> = {
      access_token: token,
      token_type: 'bearer',
      scope: scopes.join(','),
    };
    if (options.expiringTokens) {
      const refresh = `ghr_${randomBytes(30).toString('base64url')}`;
      refreshTokens.set(refresh, { login, scopes, clientId });
      out.expires_in = options.expiringTokens;
      out.refresh_token = refresh;
      out.refresh_token_expires_in = 15_811_200;
    }
    return out;
  }

  function api(req: IncomingMessage, res: ServerResponse, url: URL, path: string) {
    if (!req.headers['user-agent']) {
      // GitHub refuses API requests without a User-Agent.
      res.writeHead(403, { 'content-type': 'text/plain' });
      res.end(
        'Request forbidden by administrative rules. Please make sure your request has a User-Agent header (https://docs.github.com/en/rest/overview/resources-in-the-rest-api#user-agent-required).',
      );
      return;
    }
    const accept = (req.headers.accept ?? '').split(',').map((a) => a.split(';')[0]!.trim().toLowerCase());
    if (!accept.some((a) => JSON_TYPES.test(a) || a === '*/*'))
      return json(res, 415, {
        message: `Unsupported 'Accept' header: ${JSON.stringify(accept)}. Must accept 'application/json'.`,
        documentation_url: `${DOCS}/v3/media`,
      });
    const version = req.headers['x-github-api-version'];
    if (typeof version === 'string' && !API_VERSIONS.has(version))
      return json(res, 400, {
        message: `API version ${version} is not supported.`,
        documentation_url: `${DOCS}/rest/overview/api-versions`,
      });
    const m = /^(?:Bearer|token)\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    if (!m) return json(res, 401, { message: 'Requires authentication', documentation_url: `${DOCS}/rest` });
    const token = accessTokens.get(m[1]!);
    if (!token || (token.expiresAt !== undefined && token.expiresAt < Date.now()))
      return json(res, 401, { message: 'Bad credentials', documentation_url: `${DOCS}/rest` });
    const user = users.get(token.login.toLowerCase());
    if (!user) return json(res, 401, { message: 'Bad credentials', documentation_url: `${DOCS}/rest` });
    const scopes = new Set(token.scopes);
    const headers = {
      'x-oauth-scopes': token.scopes.join(', '),
      'x-github-media-type': 'github.v3; format=json',
      'x-github-api-version-selected': '2022-11-28',
      'x-ratelimit-limit': '5000',
      'x-ratelimit-remaining': '4999',
      'x-ratelimit-used': '1',
      'x-ratelimit-resource': 'core',
    };
    const has = (...any: string[]) => any.some((s) => scopes.has(s));
    if (req.method !== 'GET')
      return json(res, 404, { message: 'Not Found', documentation_url: `${DOCS}/rest` });
    const apiBase = `http://${req.headers.host}${apiPrefix}`;
    switch (path) {
      case '/user':
        return json(res, 200, userJson(user, apiBase), { ...headers, 'x-accepted-oauth-scopes': '' });
      case '/user/emails':
        if (!has('user', 'user:email'))
          return json(
            res,
            404,
            {
              message: 'Not Found',
              documentation_url: `${DOCS}/rest/users/emails#list-email-addresses-for-the-authenticated-user`,
            },
            { ...headers, 'x-accepted-oauth-scopes': 'user, user:email' },
          );
        return paginate(res, url, apiBase + path, user.emails ?? [], headers);
      case '/user/orgs': {
        // Without read:org only public memberships are listed.
        const visible = has('read:org', 'write:org', 'admin:org', 'user')
          ? (user.orgs ?? [])
          : (user.orgs ?? []).filter((o) => user.publicOrgs?.includes(o));
        return paginate(
          res,
          url,
          apiBase + path,
          visible.map((o) => orgJson(o, apiBase)),
          { ...headers, 'x-accepted-oauth-scopes': 'admin:org, read:org, repo, user, write:org' },
        );
      }
      case '/user/teams':
        if (!has('read:org', 'write:org', 'admin:org', 'repo', 'user'))
          return json(
            res,
            403,
            {
              message: 'Resource not accessible by integration',
              documentation_url: `${DOCS}/rest/teams/teams#list-teams-for-the-authenticated-user`,
            },
            { ...headers, 'x-accepted-oauth-scopes': 'read:org, repo, user' },
          );
        return paginate(
          res,
          url,
          apiBase + path,
          (user.teams ?? []).map((t, i) => teamJson(t, i, apiBase)),
          headers,
        );
      default:
        return json(res, 404, { message: 'Not Found', documentation_url: `${DOCS}/rest` });
    }
  }

  /** `per_page` (default 30, at most maxPerPage) and `page`, with a Link header like GitHub's. */
  function paginate(
    res: ServerResponse,
    url: URL,
    self: string,
    items: unknown[],
    headers: Record<string, string>,
  ) {
    const perPage = Math.min(Math.max(Number(url.searchParams.get('per_page') ?? 30) || 30, 1), maxPerPage);
    const page = Math.max(Number(url.searchParams.get('page') ?? 1) || 1, 1);
    const last = Math.max(Math.ceil(items.length / perPage), 1);
    const link = (p: number, rel: string) => {
      const u = new URL(self);
      u.searchParams.set('per_page', String(perPage));
      u.searchParams.set('page', String(p));
      return `<${u.href}>; rel="${rel}"`;
    };
    const links: string[] = [];
    if (page > 1) links.push(link(page - 1, 'prev'));
    if (page < last) links.push(link(page + 1, 'next'), link(last, 'last'));
    if (page > 1) links.push(link(1, 'first'));
    json(res, 200, items.slice((page - 1) * perPage, page * perPage), {
      ...headers,
      ...(links.length ? { link: links.join(', ') } : {}),
    });
  }

  function userJson(u: GithubStandInUser, apiBase: string) {
    return {
      login: u.login,
      id: u.id,
      node_id: Buffer.from(`04:User${u.id}`).toString('base64'),
      avatar_url: `https://avatars.githubusercontent.com/u/${u.id}?v=4`,
      gravatar_id: '',
      url: `${apiBase}/users/${u.login}`,
      html_url: `https://github.com/${u.login}`,
      type: 'User',
      site_admin: false,
      name: u.name ?? null,
      company: null,
      blog: '',
      location: null,
      email: u.publicEmail ?? null,
      hireable: null,
      bio: null,
      twitter_username: null,
      public_repos: 3,
      public_gists: 0,
      followers: 1,
      following: 0,
      created_at: '2015-03-04T10:11:12Z',
      updated_at: '2024-05-06T07:08:09Z',
    };
  }

  function orgJson(login: string, apiBase: string) {
    const id = orgId(login);
    return {
      login,
      id,
      node_id: Buffer.from(`012:Organization${id}`).toString('base64'),
      url: `${apiBase}/orgs/${login}`,
      repos_url: `${apiBase}/orgs/${login}/repos`,
      events_url: `${apiBase}/orgs/${login}/events`,
      hooks_url: `${apiBase}/orgs/${login}/hooks`,
      issues_url: `${apiBase}/orgs/${login}/issues`,
      members_url: `${apiBase}/orgs/${login}/members{/member}`,
      public_members_url: `${apiBase}/orgs/${login}/public_members{/member}`,
      avatar_url: `https://avatars.githubusercontent.com/u/${id}?v=4`,
      description: null,
    };
  }

  function teamJson(full: string, index: number, apiBase: string) {
    const [org, slug] = full.split('/') as [string, string];
    const id = 7_000_000 + index + 1;
    return {
      id,
      node_id: Buffer.from(`04:Team${id}`).toString('base64'),
      url: `${apiBase}/teams/${id}`,
      html_url: `https://github.com/orgs/${org}/teams/${slug}`,
      name: slug.replace(/-/g, ' '),
      slug,
      description: null,
      privacy: 'closed',
      notification_setting: 'notifications_enabled',
      permission: 'pull',
      members_url: `${apiBase}/teams/${id}/members{/member}`,
      repositories_url: `${apiBase}/teams/${id}/repos`,
      parent: null,
      members_count: 3,
      repos_count: 1,
      created_at: '2019-01-02T03:04:05Z',
      updated_at: '2024-01-02T03:04:05Z',
      organization: { ...orgJson(org, apiBase), name: org, type: 'Organization' },
    };
  }

  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const origin = `http://127.0.0.1:${port}`;
  const close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  t.after(close);
  return {
    url: `${origin}${basePath}`,
    apiUrl: `${origin}${apiPrefix}`,
    port,
    requests,
    approveAs(login) {
      if (!users.has(login.toLowerCase())) throw new Error(`no stand-in user ${login}`);
      approver = login;
    },
    denyNext() {
      deny = true;
    },
    tokens: () => [...accessTokens.keys()],
    close,
  };
}

/** GitHub accepts the registered callback URL or a path below it, on the same host and port. */
function redirectMatches(registered: string, given: string): boolean {
  let a: URL;
  let b: URL;
  try {
    a = new URL(registered);
    b = new URL(given);
  } catch {
    return false;
  }
  if (a.protocol !== b.protocol || a.host !== b.host) return false;
  if (b.pathname.split('/').includes('..')) return false;
  const base = a.pathname.endsWith('/') ? a.pathname : `${a.pathname}/`;
  return b.pathname === a.pathname || b.pathname.startsWith(base);
}

async function readBody(req: IncomingMessage): Promise<Record<string, string>> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  const type = req.headers['content-type'] ?? '';
  if (type.includes('application/json')) {
    try {
      const parsed = JSON.parse(text) as Record<string, unknown>;
      return Object.fromEntries(Object.entries(parsed).map(([k, v]) => [k, String(v)]));
    } catch {
      return {};
    }
  }
  return Object.fromEntries(new URLSearchParams(text));
}

function json(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}) {
  const body = JSON.stringify(value);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    ...headers,
  });
  res.end(body);
}

/**
 * Plays the browser at GitHub: requests the authorize URL and returns the redirect back to the
 * client (not followed). GitHub approves silently once the app is authorized; here the
 * configured user always approves.
 */
export async function approveAtGithub(authorizeUrl: string): Promise<string> {
  const res = await fetch(authorizeUrl, { redirect: 'manual', headers: { accept: 'text/html' } });
  await res.body?.cancel();
  const location = res.headers.get('location');
  if (res.status !== 302 || !location)
    throw new Error(`GitHub stand-in answered ${res.status} to ${authorizeUrl}`);
  return location;
}
