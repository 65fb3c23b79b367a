import type { Identity } from '../../context.ts';

export type LoginTransaction = {
  idp: string;
  verifier?: string;
  nonce?: string;
  returnTo: string;
  createdAt: number;
  /** SAML: the AuthnRequest id the response must answer (InResponseTo). */
  requestId?: string;
};

export type Tokens = {
  accessToken?: string;
  refreshToken?: string;
  idToken?: string;
  /** Epoch ms when the access token expires. */
  expiresAt?: number;
};

declare module 'express-session' {
  interface SessionData {
    identity?: Identity;
    tokens?: Tokens;
    /** The IdP's session id (`sid`), for back-channel logout. */
    idpSid?: string;
    createdAt?: number;
    lastSeen?: number;
    /** Login transactions in flight, by `state`, consumed once. */
    logins?: Record<string, LoginTransaction>;
    /** The login CSRF token for Portico's own forms (LDAP). */
    csrf?: string;
  }
}

export type StoredSession = import('express-session').SessionData;
