import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import { parseCookie } from 'cookie';
import signature from 'cookie-signature';

/** Parses a Cookie header tolerantly: a value with broken percent-encoding is kept raw, never a 500. */
export function readCookies(header: string | undefined): Record<string, string | undefined> {
  return header ? parseCookie(header) : {};
}

/** The values of every cookie called `name` in a Cookie header, percent-decoded as the cookie parser does. */
export function cookieValues(header: string | undefined, name: string): string[] {
  const out: string[] = [];
  if (!header?.includes(name)) return out;
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=');
    if (eq === -1 || pair.slice(0, eq).trim() !== name) continue;
    const value = readCookies(`${name}=${pair.slice(eq + 1).trim()}`)[name];
    if (value) out.push(value);
  }
  return out;
}

/**
 * A signed value as express-session writes it (`s:<value>.<hmac>`), checked against every
 * secret so a rotated secret keeps old cookies valid. `undefined` for anything forged or malformed.
 */
export function unsignCookie(value: string | undefined, secrets: readonly string[]): string | undefined {
  if (!value?.startsWith('s:')) return undefined;
  for (const secret of secrets) {
    const v = signature.unsign(value.slice(2), secret);
    if (v !== false) return v;
  }
  return undefined;
}

export function signCookie(value: string, secret: string): string {
  return `s:${signature.sign(value, secret)}`;
}

/**
 * A token bound to a value (a session id, a login cookie) and a purpose, for forms that need no
 * storage. Under a key of its own derived from the secret: an HMAC under the cookie-signing key
 * itself was a valid signature of the id `purpose\0value` — anyone could have a form token made
 * for a value of their choosing and present it as a signed session cookie.
 */
export function formToken(secret: string, purpose: string, value: string): string {
  const key = Buffer.from(hkdfSync('sha256', secret, 'portico', 'form tokens', 32));
  return createHmac('sha256', key).update(`${purpose}\0${value}`).digest('base64url');
}

export function tokensEqual(a: unknown, b: string): boolean {
  if (typeof a !== 'string') return false;
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
