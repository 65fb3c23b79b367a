// The slice of oidc-provider's API Portico uses: the package ships no type declarations.
import type { IncomingMessage, ServerResponse } from 'node:http';

export type Payload = Record<string, unknown>;

/** One storage adapter per model (Session, Grant, AuthorizationCode, …), as oidc-provider calls it. */
export type OidcAdapter = {
  upsert(id: string, payload: Payload, expiresIn?: number): Promise<void>;
  find(id: string): Promise<Payload | undefined>;
  findByUid(uid: string): Promise<Payload | undefined>;
  findByUserCode(userCode: string): Promise<Payload | undefined>;
  consume(id: string): Promise<void>;
  destroy(id: string): Promise<void>;
  revokeByGrantId(grantId: string): Promise<void>;
};

export type OidcSession = {
  uid: string;
  jti: string;
  accountId?: string;
  /** RP-initiated logout keeps its xsrf secret here between the question and the answer. */
  state?: { secret?: string };
  sidFor(clientId: string): string | undefined;
};

/** The per-request state oidc-provider keeps on its Koa context (inside its routes). */
export type OidcRequest = {
  route: string;
  urlFor(name: string): string;
  client?: { clientId: string };
  session?: OidcSession;
  params?: Record<string, unknown>;
  result?: { login?: { accountId: string } };
  /** The parsed form of a POST, every field (params holds only those a route declares). */
  body?: Record<string, unknown>;
  entities: {
    AuthorizationCode?: { grantId: string; accountId: string };
    /** end_session's id_token_hint, once the library has validated it. */
    IdTokenHint?: { payload: { sub?: string; iat?: number } };
  };
};

export type KoaContext = {
  req: IncomingMessage;
  res: ServerResponse;
  status: number;
  body: unknown;
  type: string;
  set(name: string, value: string): void;
  response: { get(name: string): string };
  oidc?: OidcRequest;
};

export type OidcGrant = {
  jti?: string;
  accountId: string;
  clientId: string;
  addOIDCScope(scope: string): void;
  addOIDCClaims(claims: string[]): void;
  addResourceScope(resource: string, scope: string): void;
  save(): Promise<string>;
};

export type OidcInteraction = {
  uid: string;
  exp: number;
  prompt: {
    name: string;
    reasons: string[];
    details: {
      missingOIDCScope?: string[];
      missingOIDCClaims?: string[];
      missingResourceScopes?: Record<string, string[]>;
    };
  };
  params: Record<string, string | undefined>;
  session?: { accountId: string; uid?: string; cookie?: string };
  grantId?: string;
  save(ttlSeconds: number): Promise<string>;
};

export type OidcClient = {
  clientId: string;
  backchannelLogoutUri?: string;
  /** Signs and POSTs a logout token (through the configured `fetch`). */
  backchannelLogout(sub: string, sid: string): Promise<void>;
};

export type OidcProvider = {
  issuer: string;
  proxy: boolean;
  callback(): (req: IncomingMessage, res: ServerResponse) => void;
  use(middleware: (ctx: KoaContext, next: () => Promise<void>) => Promise<void>): void;
  on(event: string, listener: (...args: never[]) => void): void;
  interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<OidcInteraction>;
  interactionFinished(
    req: IncomingMessage,
    res: ServerResponse,
    result: Record<string, unknown>,
    options?: { mergeWithLastSubmission?: boolean },
  ): Promise<void>;
  Grant: {
    new (init: { accountId: string; clientId: string }): OidcGrant;
    find(id: string): Promise<OidcGrant | undefined>;
  };
  Client: { find(id: string): Promise<OidcClient | undefined> };
};
