// How the web terminal's WebSocket carries DCE's own credential. A browser cannot set
// Authorization on a WebSocket. A token in the query string would be written to every access log
// on the way (the front door's, nginx's) and to browser history; a cookie set by the app would be
// sent by the browser on any cross-site upgrade too, and DCE does not document one. So the UI
// offers its access token as a second WebSocket subprotocol, the convention kube-apiserver accepts
// from browsers (`base64url.bearer.authorization.k8s.io.<token>`); the server answers with `tty`
// only, so the token is never echoed back.

export const BEARER_SUBPROTOCOL_PREFIX = 'base64url.bearer.authorization.k8s.io.';

/** The bearer token offered in Sec-WebSocket-Protocol, if any. */
export function bearerFromSubprotocols(header: string | string[] | undefined): string | undefined {
  const offered = (Array.isArray(header) ? header.join(',') : (header ?? '')).split(',').map((p) => p.trim());
  const entry = offered.find((p) => p.startsWith(BEARER_SUBPROTOCOL_PREFIX));
  if (entry === undefined) return undefined;
  const encoded = entry.slice(BEARER_SUBPROTOCOL_PREFIX.length);
  if (!/^[A-Za-z0-9_-]+$/.test(encoded)) return undefined;
  const token = Buffer.from(encoded, 'base64url').toString('utf8');
  return /^[A-Za-z0-9\-_.]+$/.test(token) ? token : undefined;
}
