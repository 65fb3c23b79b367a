import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { StoredSession } from './auth/session/sessionData.ts';
import type { Duplex } from 'node:stream';
import type { Config, Route } from './config/types.ts';

/** The normalised identity every login method produces, and upstreams receive. */
export type Identity = {
  idp: string;
  sub: string;
  username: string;
  email?: string;
  emailVerified?: boolean;
  name?: string;
  groups: string[];
  claims?: Record<string, unknown>;
};

/** Services that live as long as the gateway (not per config): filled by server.ts. */
export type Runtime = {
  /** Handles Portico's own endpoints under /_portico/ (an express app). */
  ownEndpoints: (req: IncomingMessage, res: ServerResponse) => void;
  /** Where access-log lines go (the gateway's stream, without the redaction pass). */
  accessLogger?: Logger;
  /** Extra stages contributed by features (auth, identity, branding), by pipeline slot. */
  [key: string]: unknown;
};

/** What every stage of a request sees. Filled in stage by stage; see pipeline.ts for the order. */
export type RequestContext = {
  req: IncomingMessage;
  config: Config;
  runtime: Runtime;
  log: Logger;
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
  upstreamHeaders: OutgoingHttpHeaders;
  /** The caller authenticated with a Portico API key (its Authorization header is not forwarded). */
  bearerIsApiKey?: boolean;
  /** Set by a stage that has answered the request; later stages are skipped. */
  done: boolean;
  startedAt: number;
};

/** Rewrites an upstream answer on its way out (branding injection); decides per response. */
export type ResponseTransform = {
  start(res: ServerResponse, upstreamRes: IncomingMessage, headers: string[]): void;
};

export type HttpContext = RequestContext & {
  kind: 'http';
  res: ServerResponse;
  transformResponse:
    | ((ctx: HttpContext, upstreamRes: IncomingMessage) => ResponseTransform | undefined)
    | undefined;
};
export type UpgradeContext = RequestContext & { kind: 'ws'; socket: Duplex; head: Buffer };

export type Stage<C> = (ctx: C) => void | Promise<void>;
