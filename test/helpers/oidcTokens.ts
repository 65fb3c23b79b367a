import * as client from 'openid-client';
import { driveLogin, type Idp } from './idp.ts';

/**
 * Tokens a user gets from the test IdP for a client, the way that client's own sign-in would get
 * them (authorization code with PKCE): what a script or another application could then present
 * to Portico as a bearer token.
 */
export async function userTokens(
  idp: Idp,
  o: {
    clientId: string;
    clientSecret: string;
    redirectUri: string;
    user: string;
    scope?: string;
    resource?: string;
  },
): Promise<client.TokenEndpointResponse> {
  const config = await client.discovery(new URL(idp.issuer), o.clientId, o.clientSecret, undefined, {
    execute: [client.allowInsecureRequests],
  });
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: o.redirectUri,
    scope: o.scope ?? 'openid profile email groups',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    ...(o.resource ? { resource: o.resource } : {}),
  });
  const back = await driveLogin(idp, url, { username: o.user, password: o.user });
  return client.authorizationCodeGrant(
    config,
    new URL(back.location),
    { pkceCodeVerifier: verifier, expectedState: state },
    o.resource ? { resource: o.resource } : undefined,
  );
}
