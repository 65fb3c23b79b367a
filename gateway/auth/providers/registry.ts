import type { Config, ProviderDefinition, RawIdentityProvider } from '../../config/types.ts';
import type { KeyValueStore } from '../../store/keyValueStore.ts';
import { createRequire } from 'node:module';
import type { LoginProvider } from './types.ts';

/**
 * A provider's module is loaded when a config first names its type (a synchronous require of the
 * ES module, which Node 24 allows): a gateway without SAML never loads @node-saml (22 MB), one
 * without LDAP never loads ldapts (11 MB).
 */
const load = createRequire(import.meta.url);
const github = (): typeof import('./github.ts') => load('./github.ts');
const gitlab = (): typeof import('./gitlab.ts') => load('./gitlab.ts');
const google = (): typeof import('./google.ts') => load('./google.ts');
const ldap = (): typeof import('./ldap.ts') => load('./ldap.ts');
const oidc = (): typeof import('./oidc.ts') => load('./oidc.ts');
const saml = (): typeof import('./saml.ts') => load('./saml.ts');

export type ProviderContext = {
  config: Config;
  /** The gateway's store: replay caches live there (shared with Redis). */
  store: KeyValueStore;
  /** Login throttle counters (the same Redis, or a memory store of their own). */
  throttleStore: KeyValueStore;
  /** The public origin, for callback/ACS URLs and SP metadata. */
  publicUrl: URL | undefined;
};

/** Login methods by `type`. */
const PROVIDER_TYPES: {
  [T in RawIdentityProvider['type']]: (def: ProviderDefinition<T>, ctx: ProviderContext) => LoginProvider;
} = {
  oidc: (def) => oidc().createOidcProvider(def),
  ldap: (def, ctx) => ldap().createLdapProvider(def, ctx),
  saml: (def, ctx) => saml().createSamlProvider(def, ctx),
  github: (def) => github().createGithubProvider(def),
  google: (def) => google().createGoogleProvider(def),
  gitlab: (def) => gitlab().createGitlabProvider(def),
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
export function createProviderRegistry(
  store: KeyValueStore,
  throttleStore: KeyValueStore = store,
): ProviderRegistry {
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
          p = factory(def, { config, store, throttleStore, publicUrl: config.publicUrl });
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
