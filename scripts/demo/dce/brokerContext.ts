import type { BrokerStore } from './brokerStore.ts';
import type { IdentityProvider } from './identityProvider.ts';
import type { RealmTokens } from './realmTokens.ts';
import type { RealmUrls } from './realmUrls.ts';
import type { SigningKey } from './signingKey.ts';

/** A client of the realm: the AI platform's own UI is a public client with PKCE. */
export type RealmClient = {
  clientId: string;
  /**
   * Redirect and post-logout URIs must start with this (Keycloak's valid redirect URI
   * `<reverseProxy>/*`).
   */
  redirectPrefix: string;
};

/** What every endpoint of the realm works with; one per platform instance. */
export type BrokerContext = {
  urls: RealmUrls;
  key: SigningKey;
  store: BrokerStore;
  tokens: RealmTokens;
  providers: ReadonlyMap<string, IdentityProvider>;
  clients: ReadonlyMap<string, RealmClient>;
};

/** The normalised URI when it is a valid redirect target of the client, else undefined. */
export function validRedirectUri(client: RealmClient, uri: string | null | undefined): string | undefined {
  if (!uri) return undefined;
  let parsed: URL;
  try {
    parsed = new URL(uri);
  } catch {
    return undefined;
  }
  if (parsed.hash !== '' || parsed.username !== '' || parsed.password !== '') return undefined;
  return parsed.href.startsWith(client.redirectPrefix) ? parsed.href : undefined;
}
