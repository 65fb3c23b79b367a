import type { ErrorEvent } from '@sentry/node';
import { redactUrlSecrets } from '../../admin/redactConfig.ts';
import { REDACTED, redactSecrets, redactText, SECRET_KEY } from '../audit/redact.ts';

const SECRET_HEADERS = new Set([
  'cookie',
  'set-cookie',
  'authorization',
  'proxy-authorization',
  'x-api-key',
  'x-auth-token',
  'x-csrf-token',
  'x-xsrf-token',
]);

export function scrubHeaders(
  headers: Record<string, unknown> | undefined,
): Record<string, string> | undefined {
  if (!headers) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue;
    const name = k.toLowerCase();
    out[name] = SECRET_HEADERS.has(name) || SECRET_KEY.test(name) ? REDACTED : redactText(String(v));
  }
  return out;
}

/** Query parameters that carry credentials or bind a sign-in, as the access log masks them. */
const CREDENTIAL_PARAM =
  /^(state|nonce|key|sig|rd|samlresponse|samlrequest|samlart|relaystate|ticket|code_verifier|id_token_hint)$/i;

export function scrubQuery(query: string): string {
  const q = new URLSearchParams(query.startsWith('?') ? query.slice(1) : query);
  for (const k of [...q.keys()]) if (SECRET_KEY.test(k) || CREDENTIAL_PARAM.test(k)) q.set(k, REDACTED);
  return q.toString();
}

/**
 * `beforeSend`: nothing secret leaves for Sentry. Cookies, Authorization, Set-Cookie and other
 * credential headers are replaced; secret query parameters masked; bodies dropped; tokens,
 * passwords and secrets masked by key anywhere in extra/contexts/tags, and in exception messages.
 */
export function scrubEvent(event: ErrorEvent): ErrorEvent {
  const req = event.request;
  if (req) {
    delete req.cookies;
    delete req.data;
    delete req.env;
    req.headers = scrubHeaders(req.headers);
    if (typeof req.query_string === 'string') req.query_string = scrubQuery(req.query_string);
    else if (req.query_string)
      req.query_string = scrubQuery(
        new URLSearchParams(req.query_string as Record<string, string>).toString(),
      );
    if (req.url) {
      const [path, query] = req.url.split('?');
      req.url = query ? `${path}?${scrubQuery(query)}` : req.url;
    }
  }
  if (event.extra) event.extra = redactSecrets(event.extra) as typeof event.extra;
  if (event.contexts) event.contexts = redactSecrets(event.contexts) as typeof event.contexts;
  if (event.tags) event.tags = redactSecrets(event.tags) as typeof event.tags;
  if (event.user) event.user = event.user.id ? { id: event.user.id } : undefined;
  // A connection error's text can hold the URL it tried, password and all (`redis://:pw@host`).
  if (event.message) event.message = redactText(redactUrlSecrets(event.message));
  for (const ex of event.exception?.values ?? [])
    if (ex.value) ex.value = redactText(redactUrlSecrets(ex.value));
  delete event.breadcrumbs;
  return event;
}
