import type { Config, RawIdentityProvider } from '../../config/types.ts';
import { createOidcProvider, type OidcDefinition } from './oidc.ts';
import type { LoginProvider } from './types.ts';

export type ProviderFactory = (def: RawIdentityProvider, context: ProviderContext) => LoginProvider;
export type ProviderContext = {
  config: Config;
  /** Shared Redis when sessions use it: login throttles and replay caches live there. */
  redis: import('ioredis').Redis | import('ioredis').Cluster | undefined;
  /** The public origin, for callback/ACS URLs and SP metadata. */
  publicUrl: URL | undefined;
};

/** Login methods by `type`. More types register here (github, gitlab, google, ldap, saml). */
export const PROVIDER_TYPES: Record<string, ProviderFactory> = {
  oidc: (def) => createOidcProvider(def as OidcDefinition),
};

/**
 * The providers of a config. A provider whose definition did not change across a reload is
 * reused, so its discovery document and key set stay cached.
 */
export function createProviderRegistry(redis?: ProviderContext['redis']) {
  const byDefinition = new Map<string, LoginProvider>();
  const byConfig = new WeakMap<Config, Map<string, LoginProvider>>();
  return {
    providers(config: Config): Map<string, LoginProvider> {
      let map = byConfig.get(config);
      if (map) return map;
      map = new Map();
      for (const def of config.raw.identityProviders ?? []) {
        const key = JSON.stringify(def);
        let p = byDefinition.get(key);
        if (!p) {
          const factory = PROVIDER_TYPES[def.type];
          if (!factory) continue;
          p = factory(def, { config, redis, publicUrl: config.publicUrl });
          byDefinition.set(key, p);
        }
        map.set(def.id, p);
      }
      byConfig.set(config, map);
      return map;
    },
  };
}
