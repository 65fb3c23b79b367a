import type { Config, ProviderDefinition, RawIdentityProvider } from '../../config/types.ts';
import type { KeyValueStore } from '../../store/keyValueStore.ts';
import { createGithubProvider } from './github.ts';
import { createGitlabProvider } from './gitlab.ts';
import { createGoogleProvider } from './google.ts';
import { createLdapProvider } from './ldap.ts';
import { createOidcProvider } from './oidc.ts';
import { createSamlProvider } from './saml.ts';
import type { LoginProvider } from './types.ts';

export type ProviderContext = {
  config: Config;
  /** The gateway's store: login throttles and replay caches live there (shared with Redis). */
  store: KeyValueStore;
  /** The public origin, for callback/ACS URLs and SP metadata. */
  publicUrl: URL | undefined;
};

/** Login methods by `type`. */
const PROVIDER_TYPES: {
  [T in RawIdentityProvider['type']]: (def: ProviderDefinition<T>, ctx: ProviderContext) => LoginProvider;
} = {
  oidc: (def) => createOidcProvider(def),
  ldap: (def, ctx) => createLdapProvider(def, ctx),
  saml: (def, ctx) => createSamlProvider(def, ctx),
  github: (def) => createGithubProvider(def),
  google: (def) => createGoogleProvider(def),
  gitlab: (def) => createGitlabProvider(def),
};

export type ProviderRegistry = {
  /** The providers of a config, by id. */
  providers(config: Config): Map<string, LoginProvider>;
  close(): Promise<void>;
};

/**
 * The providers of a gateway's configs. A provider whose definition did not change across a
 * reload is reused, so its discovery document and key set stay cached.
 */
export function createProviderRegistry(store: KeyValueStore): ProviderRegistry {
  const byDefinition = new Map<string, LoginProvider>();
  const byConfig = new WeakMap<Config, Map<string, LoginProvider>>();
  return {
    providers(config) {
      let map = byConfig.get(config);
      if (map) return map;
      map = new Map();
      for (const def of config.identityProviders) {
        // publicUrl is part of a provider's identity (SAML entity id and ACS, OAuth callbacks).
        const key = JSON.stringify([def, config.publicUrl?.origin]);
        let p = byDefinition.get(key);
        if (!p) {
          const factory = PROVIDER_TYPES[def.type] as (
            d: RawIdentityProvider,
            c: ProviderContext,
          ) => LoginProvider;
          p = factory(def, { config, store, publicUrl: config.publicUrl });
          byDefinition.set(key, p);
        }
        map.set(def.id, p);
      }
      byConfig.set(config, map);
      return map;
    },
    async close() {
      await Promise.all([...byDefinition.values()].map((p) => p.close?.()));
      byDefinition.clear();
    },
  };
}
