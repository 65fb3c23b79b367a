import type { Config, RawIdentityProvider } from '../../config/types.ts';
import { createGithubProvider, type GithubDefinition } from './github.ts';
import { createGitlabProvider, type GitlabDefinition } from './gitlab.ts';
import { createGoogleProvider, type GoogleDefinition } from './google.ts';
import { createLdapProvider, type LdapDefinition } from './ldap.ts';
import { createOidcProvider, type OidcDefinition } from './oidc.ts';
import { createSamlProvider, type SamlDefinition } from './saml.ts';
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
  ldap: (def, ctx) => createLdapProvider(def as LdapDefinition, ctx),
  saml: (def, ctx) => createSamlProvider(def as SamlDefinition, ctx),
  github: (def) => createGithubProvider(def as GithubDefinition),
  google: (def) => createGoogleProvider(def as GoogleDefinition),
  gitlab: (def) => createGitlabProvider(def as GitlabDefinition),
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
        // publicUrl is part of a provider's identity (SAML entity id and ACS, OAuth callbacks).
        const key = JSON.stringify([def, config.publicUrl?.origin]);
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
