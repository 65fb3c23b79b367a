import type { Config } from './types.ts';

const LOOPBACK = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])$/i;

/**
 * LDAP providers whose users' passwords (and the service account's) would cross the network in
 * clear text: `ldap://` to a host other than this machine, without `startTls`. Said at start and
 * at every reload, as a warning: a directory on a trusted segment may be meant that way.
 */
export function plaintextDirectories(config: Config): string[] {
  const out: string[] = [];
  for (const p of config.identityProviders) {
    if (p.type !== 'ldap') continue;
    const def = p as { id: string; url: string; startTls?: boolean };
    let url: URL;
    try {
      url = new URL(def.url);
    } catch {
      continue;
    }
    if (url.protocol === 'ldap:' && !def.startTls && !LOOPBACK.test(url.host.replace(/:\d+$/, '')))
      out.push(def.id);
  }
  return out;
}
