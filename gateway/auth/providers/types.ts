import type { IncomingMessage } from 'node:http';
import type { Identity } from '../../context.ts';
import type { Lang } from '../../pages/negotiate.ts';
import type { LoginTransaction, Tokens } from '../session/sessionData.ts';

/** What a completed login yields, whatever the method. */
export type LoginResult = { identity: Identity; tokens?: Tokens; idpSid?: string };

/**
 * Every login method implements this. Redirect methods (OIDC, OAuth2, SAML) send the browser
 * away in `begin` and come back to `complete`; form methods (LDAP) render Portico's own form
 * and check the posted credentials in `complete`.
 */
export type LoginProvider = {
  readonly id: string;
  readonly type: string;
  readonly kind: 'redirect' | 'form';
  displayName(lang: Lang): string;
  /** Discovery / metadata fetch; throws when the provider cannot be reached. */
  ready(): Promise<void>;
  /** A fresh reachability check before a login starts, so an IdP outage shows Portico's own error. */
  probe?(): Promise<void>;
  /** Redirect kinds: the URL to send the browser to; fills the transaction (verifier, nonce). */
  begin(txn: LoginTransaction, state: string, callbackUrl: string): Promise<URL>;
  /** Completes the login from the callback (query or posted body) and the consumed transaction. */
  complete(req: IncomingMessage, input: CompleteInput): Promise<LoginResult>;
  /** Where to send the browser to end the IdP session too (RP-initiated logout), if supported. */
  endSessionUrl?(
    session: { tokens?: Tokens; identity?: Identity },
    postLogoutRedirect: string,
  ): Promise<URL | undefined>;
  /** Machine clients: a bearer JWT issued by this provider → identity, or undefined if not ours. */
  verifyBearer?(token: string): Promise<Identity | undefined>;
  /** Back-channel logout token → whose sessions to end. */
  verifyLogoutToken?(token: string): Promise<{ sid?: string; sub?: string; jti: string }>;
  /**
   * Form kinds: Portico's own sign-in form (fields `username`, `password`, `csrf`, `rd`), as a
   * title and body; the login router puts it in the gateway's branded page.
   */
  renderForm?(
    lang: Lang,
    form: { action: string; csrf: string; rd: string; error?: string; username?: string },
  ): { title: string; bodyHtml: string };
  /**
   * The IdP answers with a cross-site POST (SAML POST binding), which carries no SameSite=Lax
   * cookie: the transaction is then kept server-side by its one-time `state` (RelayState), and
   * the provider must bind the answer to its request itself (InResponseTo).
   */
  readonly postCallback?: boolean;
  /** Refresh tokens before they expire. */
  refresh?(tokens: Tokens): Promise<Tokens>;
  close?(): Promise<void>;
};

export type CompleteInput = {
  /** The callback URL with its query, as the browser requested it. */
  callbackUrl: URL;
  /** The transaction found by `state`, already deleted from the session (consumed once). */
  txn: LoginTransaction | undefined;
  state: string | undefined;
  /** Posted form fields (LDAP form, SAML POST binding). */
  body?: Record<string, string>;
  /** The client address (throttling of form logins). */
  clientIp?: string;
};
