import type { HostTable, Route } from './types.ts';

/**
 * The routes of each host, as nginx groups locations into server blocks: one list per exact host,
 * one per `*.` pattern (longest suffix first, as nginx prefers the longest wildcard), and the
 * routes without a host, which serve every other host. `routes` come sorted longest prefix first
 * and each list keeps that order. Undefined when no route names a host: the hot path then reads
 * `config.routes` and never looks at Host.
 */
export function compileHosts(routes: readonly Route[]): HostTable | undefined {
  if (!routes.some((r) => r.host !== undefined)) return undefined;
  const exact = new Map<string, Route[]>();
  const wildcard = new Map<string, Route[]>();
  const any: Route[] = [];
  for (const route of routes) {
    const host = route.host;
    if (host === undefined) any.push(route);
    else if (host.startsWith('*.')) push(wildcard, host.slice(1), route);
    else push(exact, host, route);
  }
  return Object.freeze({
    exact: new Map([...exact].map(([h, list]) => [h, Object.freeze(list)])),
    wildcard: Object.freeze(
      [...wildcard]
        .sort(([a], [b]) => b.length - a.length)
        .map(([suffix, list]) => Object.freeze({ suffix, routes: Object.freeze(list) })),
    ),
    any: Object.freeze(any),
  });
}

function push(map: Map<string, Route[]>, key: string, route: Route): void {
  const list = map.get(key);
  if (list) list.push(route);
  else map.set(key, [route]);
}
