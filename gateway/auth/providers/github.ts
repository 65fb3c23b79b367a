import type { IncomingMessage } from 'node:http';
import type { ProviderDefinition } from '../../config/types.ts';
import { openidClient } from '../../libraries.ts';
import { GatewayError } from '../../errors.ts';
import type { Lang } from '../../pages/negotiate.ts';
import type { Tokens } from '../session/sessionData.ts';
import { claimsToIdentity } from './claimsToIdentity.ts';
import { localised } from './oidc.ts';
import type { CompleteInput, LoginProvider, LoginResult } from './types.ts';

/** `identityProviders[]` with `type: github`, as config/schema.ts defines it. */
export type GithubDefinition = ProviderDefinition<'github'>;

const API_VERSION = '2022-11-28';
const USER_AGENT = 'Portico-Gateway';
const TIMEOUT_MS = 10_000;
/** Pages of 100 followed per listing (orgs, teams): 1000 entries at most. */
const MAX_PAGES = 10;
const ORG_SCOPES = ['read:org', 'write:org', 'admin:org'];

type GithubUser = { id: number; login: string; name?: string | null; avatar_url?: string; html_url?: string };
type GithubEmail = { email: string; primary: boolean; verified: boolean; visibility?: string | null };
type GithubOrg = { login: string; id?: number };
type GithubTeam = { slug: string; organization?: { login?: string } };
type TokenResponse = {
  access_token?: string;
  token_type?: string;
  scope?: string;
  expires_in?: number;
  refresh_token?: string;
  error?: string;
  error_description?: string;
};

/** The REST API root for a GitHub web origin: api.github.com, api.<tenant>.ghe.com or /api/v3 (GHES). */
export function githubApiUrl(baseUrl: string): string {
  const base = new URL(baseUrl);
  const host = base.hostname.toLowerCase();
  if (host === 'github.com' || host === 'www.github.com') return 'https://api.github.com';
  if (host.endsWith('.ghe.com')) return `${base.protocol}//api.${base.host}`;
  return `${trimSlash(base.href)}/api/v3`;
}

/**
 * GitHub's OAuth web flow (GitHub has no OpenID Connect for users): authorize with state and
 * PKCE (S256), the code exchanged at /login/oauth/access_token (errors come back as HTTP 200
 * with an `error` field), then the REST API: /user, the primary verified address from
 * /user/emails, and orgs/teams as groups when membership is required or asked for.
 */
export function createGithubProvider(def: GithubDefinition): LoginProvider {
  const base = trimSlash(def.baseUrl ?? 'https://github.com');
  const api = trimSlash(def.apiUrl ?? githubApiUrl(base));
  const apiOrigin = new URL(api).origin;
  const allowedOrgs = (def.allowedOrganizations ?? []).map((o) => o.toLowerCase());
  const allowedTeams = (def.allowedTeams ?? []).map((t) => t.toLowerCase());
  const restricted = allowedOrgs.length > 0 || allowedTeams.length > 0;
  const wantGroups = restricted || def.fetchGroups === true;
  const scopes = [...(def.scopes ?? ['read:user', 'user:email'])];
  if (wantGroups && !scopes.some((s) => ORG_SCOPES.includes(s))) scopes.push('read:org');

  const idpError = (err: unknown, detail?: string) =>
    err instanceof GatewayError ? err : new GatewayError('PORTICO_ERR_IDP', { cause: err, detail });

  async function exchange(params: Record<string, string>): Promise<TokenResponse> {
    let res: Response;
    try {
      res = await fetch(`${base}/login/oauth/access_token`, {
        method: 'POST',
        headers: {
          accept: 'application/json',
          'content-type': 'application/x-www-form-urlencoded',
          'user-agent': USER_AGENT,
        },
        body: new URLSearchParams({ client_id: def.clientId, client_secret: def.clientSecret, ...params }),
        signal: AbortSignal.timeout(TIMEOUT_MS),
        redirect: 'error',
      });
    } catch (err) {
      throw idpError(err, 'GitHub could not be reached');
    }
    if (res.status >= 500) {
      await res.body?.cancel();
      throw new GatewayError('PORTICO_ERR_IDP', { detail: `GitHub token endpoint: HTTP ${res.status}` });
    }
    const body = (await res.json().catch(() => undefined)) as TokenResponse | undefined;
    if (!body || typeof body !== 'object')
      throw new GatewayError('PORTICO_ERR_LOGIN', {
        detail: 'GitHub answered the code exchange without JSON.',
      });
    // GitHub reports a bad code, secret or redirect URI with HTTP 200 and an `error` field.
    if (body.error || !res.ok || typeof body.access_token !== 'string' || body.access_token === '') {
      throw new GatewayError('PORTICO_ERR_LOGIN', {
        detail: `GitHub refused the sign-in: ${String(body.error_description ?? body.error ?? `HTTP ${res.status}`).slice(0, 200)}`,
      });
    }
    if (body.token_type && body.token_type.toLowerCase() !== 'bearer')
      throw new GatewayError('PORTICO_ERR_LOGIN', { detail: `unexpected token type ${body.token_type}` });
    return body;
  }

  /** One REST call; `undefined` for the statuses listed in `missingOk` (a scope not granted). */
  async function get<T>(
    url: string,
    token: string,
    missingOk: number[] = [],
  ): Promise<{ data: T; next?: string } | undefined> {
    let res: Response;
    try {
      res = await fetch(url, {
        headers: {
          accept: 'application/vnd.github+json',
          authorization: `Bearer ${token}`,
          'x-github-api-version': API_VERSION,
          'user-agent': USER_AGENT,
        },
        signal: AbortSignal.timeout(TIMEOUT_MS),
        redirect: 'error',
      });
    } catch (err) {
      throw idpError(err, 'the GitHub API could not be reached');
    }
    if (missingOk.includes(res.status)) {
      await res.body?.cancel();
      return undefined;
    }
    if (!res.ok) {
      const message = await res
        .json()
        .then((b) => String((b as { message?: unknown }).message ?? ''))
        .catch(() => '');
      const detail = `GitHub API ${new URL(url).pathname}: HTTP ${res.status}${message ? ` ${message.slice(0, 120)}` : ''}`;
      throw new GatewayError(res.status >= 500 ? 'PORTICO_ERR_IDP' : 'PORTICO_ERR_LOGIN', { detail });
    }
    const data = (await res.json().catch(() => undefined)) as T | undefined;
    if (data === undefined)
      throw new GatewayError('PORTICO_ERR_IDP', { detail: `GitHub API ${new URL(url).pathname}: not JSON` });
    return { data, next: nextLink(res.headers.get('link')) };
  }

  /** A paginated listing, following `Link: rel="next"` on the API's own origin only. */
  async function list<T>(path: string, token: string): Promise<T[]> {
    const out: T[] = [];
    let url: string | undefined = `${api}${path}?per_page=100`;
    for (let page = 0; url && page < MAX_PAGES; page++) {
      const r: { data: T[]; next?: string } | undefined = await get<T[]>(url, token);
      if (!r || !Array.isArray(r.data))
        throw new GatewayError('PORTICO_ERR_IDP', { detail: `GitHub API ${path}: not a list` });
      out.push(...r.data);
      url = r.next && new URL(r.next).origin === apiOrigin ? r.next : undefined;
    }
    return out;
  }

  return {
    id: def.id,
    type: 'github',
    kind: 'redirect',
    displayName: (lang: Lang) => localised(def.name, lang) ?? 'GitHub',
    async ready() {
      // Nothing to discover: GitHub's endpoints are fixed. Calling the API here would spend the
      // unauthenticated rate limit on every readiness check.
    },
    async begin(txn, state, callbackUrl) {
      const client = await openidClient();
      const verifier = client.randomPKCECodeVerifier();
      txn.verifier = verifier;
      const url = new URL(`${base}/login/oauth/authorize`);
      url.search = new URLSearchParams({
        client_id: def.clientId,
        redirect_uri: callbackUrl,
        scope: scopes.join(' '),
        state,
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
      }).toString();
      return url;
    },
    async complete(_req: IncomingMessage, input: CompleteInput): Promise<LoginResult> {
      const { txn, state, callbackUrl } = input;
      if (!txn || !state || !txn.verifier)
        throw new GatewayError('PORTICO_ERR_LOGIN', {
          detail: 'The sign-in link expired or was already used.',
        });
      const q = callbackUrl.searchParams;
      if (q.get('error'))
        throw new GatewayError('PORTICO_ERR_LOGIN', {
          detail: String(q.get('error_description') ?? q.get('error')).slice(0, 200),
        });
      if (q.get('state') !== state)
        throw new GatewayError('PORTICO_ERR_LOGIN', { detail: 'The sign-in answer does not match.' });
      const code = q.get('code');
      if (!code)
        throw new GatewayError('PORTICO_ERR_LOGIN', { detail: 'GitHub sent no authorization code.' });
      const redirectUri = new URL(callbackUrl);
      redirectUri.search = '';
      redirectUri.hash = '';

      const token = await exchange({ code, redirect_uri: redirectUri.href, code_verifier: txn.verifier });
      const accessToken = token.access_token!;
      if (wantGroups && typeof token.scope === 'string') {
        const granted = token.scope.split(/[,\s]+/);
        if (!granted.some((s) => ORG_SCOPES.includes(s)))
          throw new GatewayError('PORTICO_ERR_LOGIN', {
            detail: 'GitHub did not grant read:org, which is needed to check organization membership.',
          });
      }

      const user = (await get<GithubUser>(`${api}/user`, accessToken))!.data;
      if (!user || typeof user.id !== 'number' || typeof user.login !== 'string')
        throw new GatewayError('PORTICO_ERR_IDP', { detail: 'GitHub API /user: unexpected answer' });
      // Without user:email the listing is 404 (or 403 for some tokens): no address then.
      const emails = (await get<GithubEmail[]>(`${api}/user/emails`, accessToken, [403, 404]))?.data;
      const primary = Array.isArray(emails) ? emails.find((e) => e.primary && e.verified) : undefined;

      const groups: string[] = [];
      if (wantGroups) {
        const [orgs, teams] = await Promise.all([
          list<GithubOrg>('/user/orgs', accessToken),
          list<GithubTeam>('/user/teams', accessToken),
        ]);
        const seen = new Set<string>();
        const add = (g: string) => {
          if (!seen.has(g.toLowerCase())) {
            seen.add(g.toLowerCase());
            groups.push(g);
          }
        };
        for (const o of orgs) if (typeof o?.login === 'string') add(o.login);
        for (const t of teams) {
          const org = t?.organization?.login;
          if (typeof org !== 'string' || typeof t.slug !== 'string') continue;
          add(org); // a team member is a member of its organization
          add(`${org}/${t.slug}`);
        }
      }
      if (restricted) {
        const member = groups.some((g) => {
          const lower = g.toLowerCase();
          return lower.includes('/') ? allowedTeams.includes(lower) : allowedOrgs.includes(lower);
        });
        if (!member)
          throw new GatewayError('PORTICO_ERR_FORBIDDEN', {
            detail: `The GitHub account ${user.login} is not a member of an organization or team allowed to sign in here.`,
          });
      }

      const claims: Record<string, unknown> = {
        sub: String(user.id),
        login: user.login,
        preferred_username: user.login,
        name: user.name ?? undefined,
        email: primary?.email,
        email_verified: primary ? true : undefined,
        groups,
        avatar_url: user.avatar_url,
        html_url: user.html_url,
      };
      for (const k of Object.keys(claims)) if (claims[k] === undefined) delete claims[k];
      const tokens: Tokens = {
        accessToken,
        refreshToken: token.refresh_token,
        expiresAt: typeof token.expires_in === 'number' ? Date.now() + token.expires_in * 1000 : undefined,
      };
      return {
        identity: claimsToIdentity(def.id, claims, { username: 'login', ...def.claims }),
        tokens,
      };
    },
    async refresh(tokens) {
      // Only GitHub Apps with expiring user tokens hand out refresh tokens.
      if (!tokens.refreshToken) throw new Error('no refresh token');
      const r = await exchange({ grant_type: 'refresh_token', refresh_token: tokens.refreshToken });
      return {
        ...tokens,
        accessToken: r.access_token,
        refreshToken: r.refresh_token ?? tokens.refreshToken,
        expiresAt: typeof r.expires_in === 'number' ? Date.now() + r.expires_in * 1000 : undefined,
      };
    },
  };
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

/** The `rel="next"` target of a Link header (RFC 8288), as GitHub sends it. */
export function nextLink(header: string | null): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(',')) {
    const m = /<([^>]*)>\s*;(.*)$/.exec(part.trim());
    if (m && /\brel\s*=\s*"?(?:[^"]*\s)?next(?:\s[^"]*)?"?/i.test(m[2]!)) return m[1];
  }
  return undefined;
}
