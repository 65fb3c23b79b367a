import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Duplex, Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { StoredSession } from './auth/session/sessionData.ts';
import type { Config, Route } from './config/types.ts';

/** The normalised identity every login method produces, and upstreams receive. */
export type Identity = {
  idp: string;
  /** The IdP's subject; qualified `<idp>:<sub>` where names are namespaced (see qualifyIdentity). */
  sub: string;
  username: string;
  email?: string;
  emailVerified?: boolean;
  name?: string;
  groups: string[];
  claims?: Record<string, unknown>;
  /** When the identity is a bearer token's (`bearer: verify`): its expiry, ms since the epoch. */
  tokenExpiresAt?: number;
  /** A bearer token's identity: whether the token was a JWT (every provider checks those) or opaque. */
  bearerJwt?: boolean;
};

/** How the caller proved who it is. */
export type Credential = 'session' | 'apiKey' | 'bearer';

/** What every stage of a request sees. Filled in stage by stage; see pipeline.ts for the order. */
export type RequestContext = {
  readonly req: IncomingMessage;
  /** The config in force when the request arrived: a reload mid-request does not change it. */
  readonly config: Config;
  readonly log: Logger;
  requestId: string;
  /** Raw path (slashes merged) and raw query (with its `?`), exactly as they will be forwarded. */
  path: string;
  query: string;
  route: Route | undefined;
  clientIp: string;
  proto: 'http' | 'https';
  identity: Identity | undefined;
  /** Session data when the request carried a valid session cookie. */
  session: StoredSession | undefined;
  sessionId: string | undefined;
  credential: Credential | undefined;
  upstreamHeaders: OutgoingHttpHeaders;
  /** The server picked among the route's `upstreams` (its origin), for the access log; else undefined. */
  server: string | undefined;
  /** Set by a stage that has answered the request; later stages are skipped. */
  done: boolean;
  startedAt: number;
};

/**
 * The part of a request's context no stage has found out yet (who the user is, the session, the
 * headers for the upstream), for contexts made outside the server (a forward-auth check, `portico
 * explain`). The server writes its own literal: one object shape on the hot path.
 */
export function nothingKnownYet(): Pick<
  RequestContext,
  'identity' | 'session' | 'sessionId' | 'credential' | 'upstreamHeaders' | 'server' | 'done'
> {
  return {
    identity: undefined,
    session: undefined,
    sessionId: undefined,
    credential: undefined,
    upstreamHeaders: {},
    server: undefined,
    done: false,
  };
}

/** The status line and headers of an upstream's answer, as the response passes see them. */
export type UpstreamHead = {
  readonly statusCode: number;
  readonly statusMessage: string;
  /** Lower-case names; repeated headers (Set-Cookie) as arrays. */
  readonly headers: IncomingHttpHeaders;
  /** Names and values as the upstream sent them, in order: `[name, value, name, value, …]`. */
  readonly rawHeaders: readonly string[];
};

/** An upstream's answer with its body as a stream, for a transform that rewrites it (branding). */
export type UpstreamResponse = UpstreamHead & Readable;

/** A response pass may pick a body transform (branding) for an upstream answer. */
export type ResponseTransform = {
  start(res: ServerResponse, upstream: UpstreamResponse, headers: string[]): void;
};

export type HttpContext = RequestContext & {
  kind: 'http';
  res: ServerResponse;
  /** Set by a response pass: the upstream's body goes through it instead of straight to the client. */
  transform: ResponseTransform | undefined;
  /**
   * Set by a stage that watches the request body on its way (the body limit counts it): the body
   * the upstream is sent instead of the request itself. To stop the upload it fails with a
   * GatewayError, which is answered to the client.
   */
  requestBody: ((from: IncomingMessage) => Readable) | undefined;
};

export type UpgradeContext = RequestContext & {
  kind: 'ws';
  socket: Duplex;
  head: Buffer;
  /** Called once with the status the upgrade was answered with (101 or the refusal). */
  answered: ((status: number) => void) | undefined;
};

/**
 * A forward-auth check (`/_portico/auth`): the request an external proxy (nginx `auth_request`,
 * ingress-nginx, Traefik, Envoy) is about to forward, as that proxy describes it. The pipeline's
 * `check` stages decide on it exactly as on a proxied request; nothing is forwarded here, the
 * proxy acts on the answer.
 */
export type CheckContext = RequestContext & {
  kind: 'check';
  /** The original request's method (the check request itself is usually a GET). */
  method: string;
};

export type AnyContext = HttpContext | UpgradeContext | CheckContext;

/** The method of the request being decided on: a forward-auth check's is the original one. */
export function methodOf(ctx: AnyContext): string {
  return ctx.kind === 'check' ? ctx.method : (ctx.req.method ?? 'GET');
}

/** A stage of the request pipeline: returns (next stage runs), sets `done`, or throws a GatewayError. */
export type Stage<C> = (ctx: C) => void | Promise<void>;

/** On the way back: sees the upstream's answer and the header list the client will get. */
export type ResponsePass = (ctx: HttpContext, upstream: UpstreamHead, headers: string[]) => void;
