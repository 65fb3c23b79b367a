// HTTP plumbing of the realm's endpoints: cookies scoped to the realm's path (as Keycloak sets
// them), form bodies, OAuth error answers and redirects that are never cached.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseCookie, stringifySetCookie } from 'cookie';
import type { RealmUrls } from './realmUrls.ts';
import { readBody } from '../common.ts';

/** Keycloak's names: the sign-in in progress and the SSO session. */
export const AUTH_SESSION_COOKIE = 'AUTH_SESSION_ID';
export const IDENTITY_COOKIE = 'KEYCLOAK_IDENTITY';

export function readCookies(req: IncomingMessage): Record<string, string | undefined> {
  return parseCookie(req.headers.cookie ?? '');
}

/**
 * HttpOnly, on the realm's path only, SameSite=Lax: the browser must send them on the top-level
 * redirect back from the identity provider (another site), and on nothing cross-site beyond that.
 */
export function realmCookie(urls: RealmUrls, name: string, value: string | null): string {
  return stringifySetCookie({
    name,
    value: value ?? '',
    path: urls.cookiePath,
    httpOnly: true,
    sameSite: 'lax',
    secure: urls.secure,
    ...(value === null ? { maxAge: 0 } : {}),
  });
}

export function addCookies(res: ServerResponse, ...cookies: string[]): void {
  const before = res.getHeader('set-cookie');
  const list = before === undefined ? [] : Array.isArray(before) ? before : [String(before)];
  res.setHeader('set-cookie', [...list, ...cookies]);
}

export async function readForm(req: IncomingMessage, limit = 64 * 1024): Promise<URLSearchParams> {
  const body = await readBody(req, limit);
  if (!/^application\/x-www-form-urlencoded\b/i.test(String(req.headers['content-type'] ?? '')))
    return new URLSearchParams();
  return new URLSearchParams(body.toString('utf8'));
}

export function queryOf(req: IncomingMessage): URLSearchParams {
  return new URL(req.url ?? '/', 'http://realm.invalid').searchParams;
}

/** Parameters of a GET (query) or a form POST. */
export async function paramsOf(req: IncomingMessage): Promise<URLSearchParams> {
  return req.method === 'POST' ? readForm(req) : queryOf(req);
}

const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' };

export function sendOAuthJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const buf = Buffer.from(JSON.stringify(body));
  res.writeHead(status, {
    ...NO_STORE,
    ...headers,
    'content-type': 'application/json',
    'content-length': String(buf.length),
  });
  res.end(buf);
}

export function oauthError(res: ServerResponse, status: number, error: string, description: string): void {
  sendOAuthJson(res, status, { error, error_description: description });
}

export function redirectTo(res: ServerResponse, location: string): void {
  res.writeHead(302, { ...NO_STORE, location, 'content-length': '0' });
  res.end();
}

/** `base` with query parameters added (undefined ones left out). */
export function withParams(base: string, params: Record<string, string | undefined>): string {
  const url = new URL(base);
  for (const [k, v] of Object.entries(params)) if (v !== undefined) url.searchParams.set(k, v);
  return url.href;
}

export function bearerOf(req: IncomingMessage): string | undefined {
  const h = req.headers.authorization;
  if (typeof h !== 'string') return undefined;
  const m = /^Bearer +([A-Za-z0-9\-._~+/]+=*)$/i.exec(h.trim());
  return m?.[1];
}
