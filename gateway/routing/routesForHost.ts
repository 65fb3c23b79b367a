import type { Config, HostTable, Route } from '../config/types.ts';

// A host name (or bracketed IPv6 literal) with an optional port, which may be empty (RFC 3986
// §3.2.3: `host:` is `host`): anything else names no host. Underscores are taken, as nginx takes them.
const HOST = /^([a-z0-9_](?:[a-z0-9_.-]*[a-z0-9_])?|\[[0-9a-f:.]+\])\.?(?::\d{0,5})?$/;

/** The host name of a Host header, lower-case, without port or trailing dot; '' when malformed. */
export function hostName(header: string | undefined): string {
  if (header === undefined) return '';
  const m = HOST.exec(header.toLowerCase());
  return m ? m[1]! : '';
}

/**
 * The routes a request may match, by its Host: the exact host's, else the longest `*.` pattern's,
 * else those without a host (nginx's default server). A Host that matches no route's host and no
 * route without one gets no routes: 404. Without host routes, every route serves every host.
 */
export function routesForHost(config: Config, header: string | undefined): readonly Route[] {
  const table = config.hosts;
  if (table === undefined) return config.routes;
  const name = hostName(header);
  return table.exact.get(name) ?? wildcardRoutes(table, name) ?? table.any;
}

/** Whether a route names this host (exactly or by pattern): its own origin is then a public one. */
export function servesHost(table: HostTable, name: string): boolean {
  return name !== '' && (table.exact.has(name) || wildcardRoutes(table, name) !== undefined);
}

function wildcardRoutes(table: HostTable, name: string): readonly Route[] | undefined {
  for (const w of table.wildcard)
    if (name.endsWith(w.suffix) && name.length > w.suffix.length) return w.routes;
  return undefined;
}
