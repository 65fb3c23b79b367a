import { channel } from 'node:diagnostics_channel';

/**
 * The core publishes what happened; metrics, alerts and audit subscribe. With no subscriber a
 * publish costs one property read, so the hot path pays nothing for features that are off.
 */
export const channels = {
  /** RequestEvent (ops/accessLog.ts): { ctx, routeId, own, method, status, durationMs, aborted } when a response is done. */
  request: channel('portico:request'),
  /** { routeId, kind, err } for every upstream failure. */
  upstreamError: channel('portico:upstream-error'),
  /** { routeId, open: boolean } when a WebSocket tunnel opens or closes (bytes on close). */
  websocket: channel('portico:websocket'),
  /** { ok, file, problems?, hash? } on every reload attempt. */
  configReload: channel('portico:config-reload'),
  /** { idp, result, reason?, user?, ip? } on every login attempt. */
  login: channel('portico:login'),
  /** { type, ... } for audit-worthy events (logout, access denied, admin change). */
  audit: channel('portico:audit'),
  /** { sessionId } whenever a Portico session ends: logout, revocation, expiry, failed refresh, re-login. */
  sessionEnded: channel('portico:session-ended'),
};
