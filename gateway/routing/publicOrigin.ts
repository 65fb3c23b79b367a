import type { Config } from '../config/types.ts';
import { hostName, servesHost } from './routesForHost.ts';

/**
 * The origin a browser on this request sees, for callbacks, redirects and Origin checks:
 * `publicUrl`, or — for a host that routes name (`host: ai.example.com`) — that host with
 * publicUrl's scheme, so a sign-in started on it comes back to it and its cookies are its own.
 * Undefined when publicUrl is unset (callers fall back to the request's own Host).
 */
export function publicOriginOf(config: Config, hostHeader: string | undefined): string | undefined {
  const publicUrl = config.publicUrl;
  if (publicUrl === undefined) return undefined;
  if (config.hosts !== undefined && hostHeader !== undefined) {
    const name = hostName(hostHeader);
    // The Host is well-formed here (hostName checked it); URL drops a default port as browsers do.
    if (servesHost(config.hosts, name)) return new URL(`${publicUrl.protocol}//${hostHeader}`).origin;
  }
  return publicUrl.origin;
}
