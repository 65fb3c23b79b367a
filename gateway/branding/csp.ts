/**
 * Would a page's Content-Security-Policy let the browser load what the injector adds? Enough of
 * CSP Level 3 source matching for a stylesheet link and an icon: `'none'`, `'self'`, `*`, scheme
 * sources and host sources (wildcard hosts, ports, paths). Nonces and hashes never apply to a link
 * Portico adds, so a policy that relies on them blocks it, as the browser would.
 */

export type CspPolicy = ReadonlyMap<string, readonly string[]>;

/** Policies from Content-Security-Policy header values (each may hold several, comma-separated). */
export function parseCsp(values: readonly string[]): CspPolicy[] {
  const policies: CspPolicy[] = [];
  for (const value of values) {
    for (const text of value.split(',')) {
      const policy = new Map<string, string[]>();
      for (const part of text.split(';')) {
        const tokens = part.trim().split(/[\s]+/).filter(Boolean);
        const name = tokens.shift()?.toLowerCase();
        // The first occurrence of a directive wins; later ones are ignored, as browsers do.
        if (name && /^[a-z0-9-]+$/.test(name) && !policy.has(name)) policy.set(name, tokens);
      }
      if (policy.size > 0) policies.push(policy);
    }
  }
  return policies;
}

const FALLBACKS = {
  style: ['style-src-elem', 'style-src', 'default-src'],
  img: ['img-src', 'default-src'],
} as const;

/** True when every policy lets `url` load as a stylesheet (`style`) or image/icon (`img`). */
export function cspAllows(
  policies: readonly CspPolicy[],
  kind: 'style' | 'img',
  url: URL,
  page: URL,
): boolean {
  for (const policy of policies) {
    const directive = FALLBACKS[kind].find((d) => policy.has(d));
    if (directive === undefined) continue;
    if (!sourceListMatches(policy.get(directive)!, url, page)) return false;
  }
  return true;
}

function sourceListMatches(list: readonly string[], url: URL, page: URL): boolean {
  for (const raw of list) {
    const src = raw.toLowerCase();
    if (src === "'self'") {
      if (url.origin === page.origin) return true;
      // 'self' also matches the https:/wss: upgrade of an http: page's own host and port.
      if (page.protocol === 'http:' && url.protocol === 'https:' && url.hostname === page.hostname)
        return true;
      continue;
    }
    if (src === '*') {
      if (/^(https?|wss?):$/.test(url.protocol) || url.protocol === page.protocol) return true;
      continue;
    }
    if (src.startsWith("'")) continue; // 'none', 'unsafe-inline', nonces, hashes, …
    if (/^[a-z][a-z0-9+.-]*:$/.test(src)) {
      if (url.protocol === src || (src === 'http:' && url.protocol === 'https:')) return true;
      continue;
    }
    if (hostSourceMatches(raw, url, page)) return true;
  }
  return false;
}

const HOST_SOURCE =
  /^(?:([a-z][a-z0-9+.-]*):\/\/)?(\*|(?:\*\.)?[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::(\d+|\*))?(\/[^?#]*)?$/i;
const DEFAULT_PORT: Record<string, string> = { 'http:': '80', 'https:': '443', 'ws:': '80', 'wss:': '443' };

function hostSourceMatches(src: string, url: URL, page: URL): boolean {
  const m = HOST_SOURCE.exec(src);
  if (!m) return false;
  const [, rawScheme, rawHost, port, path] = m;
  const scheme = rawScheme?.toLowerCase();
  const host = rawHost!.toLowerCase();
  if (scheme) {
    const s = `${scheme}:`;
    if (!(url.protocol === s || (s === 'http:' && url.protocol === 'https:'))) return false;
  } else if (!(url.protocol === page.protocol || (page.protocol === 'http:' && url.protocol === 'https:'))) {
    return false;
  }
  const hostname = url.hostname.toLowerCase();
  if (host === '*') {
    // `*` alone as a host matches any host.
  } else if (host.startsWith('*.')) {
    if (!hostname.endsWith(host.slice(1))) return false;
  } else if (hostname !== host) return false;
  const urlPort = url.port || DEFAULT_PORT[url.protocol] || '';
  if (port === '*') {
    // any port
  } else if (port !== undefined) {
    if (urlPort !== port) return false;
  } else {
    const expected = DEFAULT_PORT[scheme ? `${scheme}:` : url.protocol];
    // http://h (port 80) also matches https://h:443.
    if (urlPort !== expected && !(urlPort === '443' && expected === '80')) return false;
  }
  if (path && path !== '/') {
    const decoded = decodeURIComponent(url.pathname);
    if (path.endsWith('/') ? !decoded.startsWith(path) : decoded !== path) return false;
  }
  return true;
}
