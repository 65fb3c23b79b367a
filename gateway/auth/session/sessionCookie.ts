import signature from 'cookie-signature';
import { LRUCache } from 'lru-cache';

// Verified cookie values → session id, so a busy session pays the HMAC once, not per request.
// Keyed by the whole signed value (and the secrets in force), so a forged value is never a hit.
const verified = new LRUCache<string, string>({ max: 20_000, ttl: 60_000 });

/**
 * Reads the session id from the Cookie header in express-session's format (`s:<id>.<hmac>`,
 * URL-encoded), trying each secret so a rotated secret keeps old sessions valid. Done by hand
 * on the proxied path so it does not pay for express-session's middleware on every request.
 */
export function readSessionId(
  cookieHeader: string | undefined,
  name: string,
  secrets: readonly string[],
): string | undefined {
  if (!cookieHeader) return undefined;
  const prefix = `${name}=`;
  let start = cookieHeader.indexOf(prefix);
  while (start > 0 && cookieHeader[start - 1] !== ' ' && cookieHeader[start - 1] !== ';') {
    start = cookieHeader.indexOf(prefix, start + 1);
  }
  if (start === -1) return undefined;
  const end = cookieHeader.indexOf(';', start);
  let value = cookieHeader.slice(start + prefix.length, end === -1 ? undefined : end).trim();
  if (value.startsWith('"')) value = value.slice(1, -1);
  try {
    value = decodeURIComponent(value);
  } catch {
    return undefined;
  }
  if (!value.startsWith('s:')) return undefined;
  const key = `${secrets[0]}\n${value}`;
  const hit = verified.get(key);
  if (hit !== undefined) return hit;
  for (const secret of secrets) {
    const id = signature.unsign(value.slice(2), secret);
    if (id !== false) {
      verified.set(key, id);
      return id;
    }
  }
  return undefined;
}
