import type { Identity } from '../../context.ts';

/** One sign-in in flight: kept server-side by its `state`, bound to the browser that began it. */
export type LoginTransaction = {
  idp: string;
  verifier?: string;
  nonce?: string;
  returnTo: string;
  createdAt: number;
  /** SAML: the AuthnRequest id the response must answer (InResponseTo). */
  requestId?: string;
  /** sha256 of the browser's login cookie; absent for POST-binding callbacks (cross-site, no cookie). */
  binding?: string;
};

export type Tokens = {
  accessToken?: string;
  refreshToken?: string;
  idToken?: string;
  /** Epoch ms when the access token expires. */
  expiresAt?: number;
};

/** What a signed-in session holds, server-side. The cookie carries only the signed id. */
export type StoredSession = {
  identity: Identity;
  tokens?: Tokens;
  /** The IdP's session id (`sid`), for back-channel logout. */
  idpSid?: string;
  /**
   * The primary provider when the names were made ('' for none): a reload that changes it would
   * give this session's bare names to another provider's users (sessions made before: absent).
   */
  namedUnder?: string;
  /**
   * Where the provider's users came from when the session was made (its type and issuer or
   * server, see config/providerSource.ts): a reload that points the same provider id at another
   * IdP would keep this session signed in under the same names (sessions made before: absent).
   */
  source?: string;
  createdAt: number;
  /** When the session was last used, written at most once a minute and apart from the data. */
  lastSeen?: number;
};
