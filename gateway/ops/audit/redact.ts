/** Keys whose values never leave the process (audit details, Sentry events). */
export const SECRET_KEY =
  /pass(word|wd)?|secret|token|authorization|cookie|api[-_]?key|credential|private[-_]?key|signature|^sign$|session|^code$|assertion/i;
/** Bearer tokens, JWTs and `key=value` secrets inside free text. */
const SECRET_TEXT = [
  /\b(Bearer|Basic)\s+[A-Za-z0-9._~+/=-]+/gi,
  /\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*/g,
  /\b((?:access_|refresh_|id_)?token|password|passwd|secret|api[-_]?key|client_secret|code|sign|session)=([^&\s"']+)/gi,
];
export const REDACTED = '[redacted]';

export function redactText(s: string): string {
  return s
    .replace(SECRET_TEXT[0]!, (_m, scheme: string) => `${scheme} ${REDACTED}`)
    .replace(SECRET_TEXT[1]!, REDACTED)
    .replace(SECRET_TEXT[2]!, (_m, k: string) => `${k}=${REDACTED}`);
}

/** A copy with secret-looking keys replaced and secrets in strings masked; depth and size bounded. */
export function redactSecrets(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return redactText(value.length > 2000 ? `${value.slice(0, 2000)}…` : value);
  if (value === null || typeof value !== 'object') return value;
  if (depth > 6) return '[…]';
  if (Array.isArray(value)) return value.slice(0, 50).map((v) => redactSecrets(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>).slice(0, 50)) {
    out[k] =
      SECRET_KEY.test(k) && v !== undefined && v !== null && v !== ''
        ? REDACTED
        : redactSecrets(v, depth + 1);
  }
  return out;
}
