import type { Logger } from 'pino';
import type { ConfigProblem } from './config/loadConfig.ts';
import type { RequestContext } from './context.ts';

/** What the core tells features (metrics, alerts, audit, the OpenID Provider) as it happens. */
export type GatewayEvents = {
  /** An HTTP exchange or a WebSocket upgrade was answered (for an upgrade: 101 or the refusal). */
  request: {
    ctx: RequestContext;
    kind: 'http' | 'ws';
    /** The matched route's id; undefined for Portico's own endpoints and unrouted requests. */
    routeId: string | undefined;
    /** True for /_portico/… (Portico's own endpoints). */
    own: boolean;
    method: string | undefined;
    status: number;
    durationMs: number;
    /** The client went away before the response was finished. */
    aborted: boolean;
  };
  /** `server`: the one of the route's `upstreams` that failed (its origin); undefined for one `upstream`. */
  upstreamError: { routeId: string; kind: string; err: unknown; server?: string };
  /** A WebSocket tunnel opened or closed (byte counts on close). */
  websocket: { routeId: string; open: boolean; bytesIn?: number; bytesOut?: number };
  /** Every reload attempt; `restartNeeded` names changed keys that only a restart applies. */
  configReload: {
    ok: boolean;
    file?: string;
    hash?: string;
    problems?: ConfigProblem[];
    restartNeeded?: string[];
    /** The file is good again after a rejected version. */
    recovered?: boolean;
  };
  login: { idp: string; result: 'success' | 'failure'; reason?: string; user?: string; ip?: string };
  audit: { type: string; [field: string]: unknown };
  /**
   * The audit archive's spool (storage): after each pass, and when it starts or stops dropping.
   * `dropped`: events dropped for want of room since the start (a running total).
   */
  auditSpool: { spoolBytes: number; maxSpoolBytes: number; full: boolean; dropped: number };
  /** A signed-in session ended (logout, revoke, back-channel logout, expiry, refresh refused), on this or another replica. */
  sessionEnded: { sessionId: string; reason: string; local: boolean };
};

export type EventName = keyof GatewayEvents;
export type Listener<K extends EventName> = (event: GatewayEvents[K]) => void;

export type EventBus = {
  /** Whether anyone listens: publishers skip building an event nobody reads (the hot path). */
  has(name: EventName): boolean;
  emit<K extends EventName>(name: K, event: GatewayEvents[K]): void;
  /** Returns the function that stops listening. */
  on<K extends EventName>(name: K, listener: Listener<K>): () => void;
};

/**
 * One bus per gateway instance: two gateways in a process (tests, an embedding) never hear each
 * other's events. A listener that throws is logged and never breaks the publisher or the others.
 */
export function createEventBus(log: Logger): EventBus {
  const listeners: { [K in EventName]?: Listener<K>[] } = {};
  return {
    has: (name) => (listeners[name]?.length ?? 0) > 0,
    emit(name, event) {
      const list = listeners[name];
      if (!list) return;
      for (const l of list) {
        try {
          l(event);
        } catch (err) {
          log.warn({ err, event: name }, 'event listener failed');
        }
      }
    },
    // Copy on write: an emit in progress keeps iterating the list it started with.
    on(name, listener) {
      const current = (listeners[name] ?? []) as Listener<typeof name>[];
      (listeners as Record<string, unknown>)[name] = [...current, listener];
      return () => {
        const list = (listeners[name] ?? []) as Listener<typeof name>[];
        const rest = list.filter((l) => l !== listener);
        if (rest.length > 0) (listeners as Record<string, unknown>)[name] = rest;
        else delete listeners[name];
      };
    },
  };
}
