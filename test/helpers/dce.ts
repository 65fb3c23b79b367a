import { createHash, randomBytes } from 'node:crypto';
import type { TestContext } from 'node:test';
import { type AiPlatform, type AiPlatformOptions, startAiPlatform } from '../../scripts/demo/aiPlatform.ts';
import type { IdentityProviderOptions } from '../../scripts/demo/dce/identityProvider.ts';
import type { TokenResponse } from '../../scripts/demo/dce/realmTokens.ts';
import { CookieJar, driveLogin, httpRequest, type Idp, type IdpOptions, startTestIdp } from './idp.ts';

export type DceSetup = { ai: AiPlatform; idp: Idp; alias: string };

/**
 * The demo AI platform (DCE-shaped: its own realm) with a real demo IdP registered in its realm,
 * and the realm's broker registered as a confidential client at that IdP; both closed after the
 * test. `idp` options let a test change the provider's token lifetimes or users.
 */
export async function startDce(
  t: Pick<TestContext, 'after'>,
  o: {
    alias?: string;
    pkce?: boolean;
    clientAuthMethod?: IdentityProviderOptions['clientAuthMethod'];
    ai?: AiPlatformOptions;
    idp?: IdpOptions;
  } = {},
): Promise<DceSetup> {
  const alias = o.alias ?? 'customer-sso';
  const idp = await startTestIdp(t, { logErrors: false, ...o.idp });
  const secret = randomBytes(16).toString('hex');
  const ai = await startAiPlatform({
    port: 0,
    ...o.ai,
    identityProviders: [
      {
        alias,
        issuer: idp.issuer,
        clientId: 'dce5-ghippo',
        clientSecret: secret,
        clientAuthMethod: o.clientAuthMethod,
        pkce: o.pkce,
      },
    ],
  });
  t.after(() => ai.close());
  registerBroker(idp, ai, alias, secret, o);
  return { ai, idp, alias };
}

/** What a DCE admin registers at the IdP for the realm's broker. */
export function registerBroker(
  idp: Idp,
  ai: AiPlatform,
  alias: string,
  secret: string,
  o: { pkce?: boolean; clientAuthMethod?: IdentityProviderOptions['clientAuthMethod'] } = {},
): void {
  idp.setClient({
    clientId: 'dce5-ghippo',
    clientSecret: secret,
    tokenEndpointAuthMethod: o.clientAuthMethod ?? 'client_secret_post',
    pkceRequired: o.pkce ?? false,
    redirectUris: [ai.realm.urls.brokerEndpoint(alias)],
    postLogoutRedirectUris: [ai.realm.urls.brokerLogoutResponse(alias)],
    backchannelLogoutUri: new URL(
      'auth/realms/ghippo/protocol/openid-connect/logout/backchannel-logout',
      ai.url,
    ).href,
  });
}

/** The UI's side of a sign-in: PKCE verifier, state and nonce, and the authorization URL. */
export type UiLogin = { url: string; verifier: string; state: string; nonce: string; redirectUri: string };

/** The authorization request the AI platform's UI makes (public client `ghippo`, PKCE S256). */
export function uiLogin(ai: AiPlatform, extra: Record<string, string> = {}): UiLogin {
  const verifier = randomBytes(32).toString('base64url');
  const state = randomBytes(12).toString('base64url');
  const nonce = randomBytes(12).toString('base64url');
  const redirectUri = `${ai.realm.urls.issuer.replace(/\/auth\/realms\/ghippo$/, '')}/`;
  const url = new URL(ai.realm.urls.authorization);
  url.search = new URLSearchParams({
    client_id: 'ghippo',
    redirect_uri: redirectUri,
    response_type: 'code',
    scope: 'openid profile email',
    state,
    nonce,
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
    ...extra,
  }).toString();
  return { url: url.href, verifier, state, nonce, redirectUri };
}

export type SignedIn = { tokens: TokenResponse; jar: CookieJar; login: UiLogin; formShown: boolean };

/**
 * Plays the browser through the realm: the authorization request (with `kc_idp_hint` unless
 * `hint: false`, then the login page's provider button), the IdP's login form, the broker
 * endpoint and the code exchange at the realm's token endpoint.
 */
export async function signIn(
  setup: DceSetup,
  o: { username?: string; hint?: boolean; jar?: CookieJar } = {},
): Promise<SignedIn> {
  const username = o.username ?? 'alice';
  const jar = o.jar ?? new CookieJar();
  const login = uiLogin(setup.ai, o.hint === false ? {} : { kc_idp_hint: setup.alias });
  let res = await httpRequest(login.url, { jar });
  if (res.status === 200) {
    const href = new RegExp(`id="social-${setup.alias}"[^>]*href="([^"]+)"`).exec(res.body)?.[1];
    if (!href) throw new Error(`no button for ${setup.alias} on the login page:\n${res.body}`);
    res = await httpRequest(href.replace(/&amp;/g, '&'), { jar });
  }
  let callback: URL;
  let formShown = false;
  if (res.status === 302 && res.headers.location?.startsWith(setup.idp.issuer)) {
    const back = await driveLogin(setup.idp, res.headers.location, { username, password: username }, jar);
    formShown = back.formShown;
    const fromBroker = await httpRequest(back.location, { jar });
    if (fromBroker.status !== 302)
      throw new Error(`broker endpoint answered ${fromBroker.status}: ${fromBroker.body}`);
    callback = new URL(fromBroker.headers.location!);
  } else if (res.status === 302) {
    callback = new URL(res.headers.location!); // a live realm session: the code comes at once
  } else throw new Error(`authorization answered ${res.status}: ${res.body}`);
  if (callback.searchParams.get('state') !== login.state)
    throw new Error(`unexpected callback ${callback.href}`);
  const tokens = await redeem(setup.ai, login, callback.searchParams.get('code')!);
  return { tokens, jar, login, formShown };
}

/** The code exchange the UI makes; throws with the realm's error otherwise. */
export async function redeem(
  ai: AiPlatform,
  login: UiLogin,
  code: string,
  verifier = login.verifier,
): Promise<TokenResponse> {
  const res = await tokenRequest(ai, {
    grant_type: 'authorization_code',
    code,
    redirect_uri: login.redirectUri,
    code_verifier: verifier,
  });
  if (res.status !== 200)
    throw new Error(`token endpoint answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body as TokenResponse;
}

export async function tokenRequest(
  ai: AiPlatform,
  params: Record<string, string>,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(new URL('auth/realms/ghippo/protocol/openid-connect/token', ai.url), {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ client_id: 'ghippo', ...params }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}
