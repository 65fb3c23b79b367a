import type { Config } from '../config/types.ts';

export type ConfigSummary = {
  routes: {
    id: string;
    path: string;
    upstream: string | undefined;
    /** A route with `upstreams`: every server (`upstream` is the first). */
    servers?: string[];
    websocket: boolean;
  }[];
  identityProviders: number;
  websockets: number;
  /** The line `portico validate` prints. */
  text: string;
};

/** What `portico validate` says about a valid file, as data and as its one-line text. */
export function summarizeConfig(c: Config, file: string): ConfigSummary {
  const idps = (c.raw.identityProviders ?? []).length;
  const ws = c.routes.filter((r) => r.websocket).length;
  return {
    routes: c.routes.map((r) => ({
      id: r.id,
      path: r.prefix,
      upstream: r.upstream?.href,
      ...(r.servers ? { servers: r.servers.list.map((s) => s.url.href) } : {}),
      websocket: r.websocket,
    })),
    identityProviders: idps,
    websockets: ws,
    text:
      `${file}: valid — ${c.routes.length} route${c.routes.length === 1 ? '' : 's'} (${c.routes.map((r) => r.prefix).join(', ')}), ` +
      `${idps} identity provider${idps === 1 ? '' : 's'}, ${ws} with WebSockets${idps === 0 ? ', pure reverse proxy' : ''}`,
  };
}
