// Where ghippo's Keycloak realm lives, as the browser and every token see it. DCE is told its
// public address through the Helm value `global.reverseProxy` (e.g. http://10.6.165.50/dce5) and
// derives the realm's issuer from it: `<reverseProxy>/auth/realms/<realm>`. A proxy that strips
// `/dce5` hands the platform requests for `/auth/realms/<realm>/…` (`localPath`).

export type RealmUrls = {
  realm: string;
  /** The `iss` of every token the realm signs; Istio accepts only this one. */
  issuer: string;
  /** The realm's path on the platform's own server (the front door strips its prefix). */
  localPath: string;
  /** Path of the realm's cookies as the browser sees it (`/dce5/auth/realms/ghippo/`). */
  cookiePath: string;
  secure: boolean;
  discovery: string;
  authorization: string;
  token: string;
  certs: string;
  userinfo: string;
  logout: string;
  backchannelLogout: string;
  /** Starts the sign-in at an identity provider (a link on the login page). */
  brokerLogin(alias: string): string;
  /** The redirect URI to register at an identity provider: Keycloak's broker endpoint. */
  brokerEndpoint(alias: string): string;
  /** Where the identity provider sends the browser back after RP-initiated logout. */
  brokerLogoutResponse(alias: string): string;
};

export function realmUrls(reverseProxy: string, realm = 'ghippo'): RealmUrls {
  const base = new URL(reverseProxy);
  if (base.protocol !== 'http:' && base.protocol !== 'https:')
    throw new Error(`reverseProxy must be an http(s) URL, got ${reverseProxy}`);
  if (base.search !== '' || base.hash !== '')
    throw new Error('reverseProxy must not have a query or fragment');
  const root = base.href.replace(/\/+$/, '');
  const issuer = `${root}/auth/realms/${encodeURIComponent(realm)}`;
  const oidc = `${issuer}/protocol/openid-connect`;
  const broker = (alias: string) => `${issuer}/broker/${encodeURIComponent(alias)}`;
  return Object.freeze({
    realm,
    issuer,
    localPath: `/auth/realms/${encodeURIComponent(realm)}`,
    cookiePath: `${new URL(issuer).pathname}/`,
    secure: base.protocol === 'https:',
    discovery: `${issuer}/.well-known/openid-configuration`,
    authorization: `${oidc}/auth`,
    token: `${oidc}/token`,
    certs: `${oidc}/certs`,
    userinfo: `${oidc}/userinfo`,
    logout: `${oidc}/logout`,
    backchannelLogout: `${oidc}/logout/backchannel-logout`,
    brokerLogin: (alias: string) => `${broker(alias)}/login`,
    brokerEndpoint: (alias: string) => `${broker(alias)}/endpoint`,
    brokerLogoutResponse: (alias: string) => `${broker(alias)}/endpoint/logout_response`,
  });
}
