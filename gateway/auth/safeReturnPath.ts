const BASE = 'http://portico.invalid';
/** The one own page a login may return to: the OpenID Provider's pending authorization. */
const OP_INTERACTION = /^\/_portico\/oidc\/interaction\/[A-Za-z0-9_-]{1,64}$/;

/**
 * The `rd=` return path after login or logout: only a path on this site. Anything that a browser
 * could read as another origin (`//evil`, `/\evil`, tab or newline between the slashes, which
 * URL parsers drop, `https:`, `javascript:`) falls back to `/`. Portico's own pages are refused,
 * except the OpenID Provider's pending authorization (`/_portico/oidc/interaction/<uid>`, exactly).
 */
export function safeReturnPath(rd: unknown, fallback = '/'): string {
  if (typeof rd !== 'string' || rd === '' || rd.length > 2048) return fallback;
  if (!rd.startsWith('/') || rd.startsWith('//') || rd.startsWith('/\\')) return fallback;
  if (/[\x00-\x1f\x7f\\]/.test(rd)) return fallback;
  let decoded = rd;
  try {
    decoded = decodeURIComponent(rd);
  } catch {
    return fallback;
  }
  // `/%2f%2fevil` or `/%5cevil` become protocol-relative once a later hop decodes them.
  if (decoded.startsWith('//') || decoded.startsWith('/\\') || /^\/[\x00-\x1f\x7f]/.test(decoded))
    return fallback;
  let url: URL;
  try {
    url = new URL(rd, BASE);
  } catch {
    return fallback;
  }
  if (url.origin !== BASE) return fallback;
  const path = url.pathname + url.search + url.hash;
  // Dot segments resolve away (`/.//evil` becomes `//evil`): the result is checked again, as a
  // browser would read it.
  let decodedPath: string;
  try {
    decodedPath = decodeURIComponent(url.pathname);
  } catch {
    return fallback;
  }
  if (
    path.startsWith('//') ||
    path.startsWith('/\\') ||
    decodedPath.startsWith('//') ||
    decodedPath.startsWith('/\\')
  )
    return fallback;
  if (path.startsWith('/_portico/')) return OP_INTERACTION.test(path) ? path : fallback;
  return path;
}
