import signature from 'cookie-signature';

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
  for (const secret of secrets) {
    const id = signature.unsign(value.slice(2), secret);
    if (id !== false) return id;
  }
  return undefined;
}
