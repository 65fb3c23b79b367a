import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { STATUS_CODES } from '../nodeHttp.ts';
import type { Identity } from '../context.ts';
import { ERRORS, type GatewayError } from '../errors.ts';
import { escapeHtml } from './escapeHtml.ts';
import { type Lang, pickLang, wantsHtml } from './negotiate.ts';
import type { Pages } from './pages.ts';

const LINKS: Record<
  Lang,
  { retry: string; home: string; signIn: string; signOut: string; id: string; signedInAs: string }
> = {
  'en-US': {
    retry: 'Try again',
    home: 'Go to the home page',
    signIn: 'Sign in',
    signOut: 'Sign out or switch user',
    id: 'Request ID',
    signedInAs: 'You are signed in as',
  },
  'zh-CN': {
    retry: '重试',
    home: '返回首页',
    signIn: '登录',
    signOut: '退出或切换用户',
    id: '请求 ID',
    signedInAs: '当前登录用户：',
  },
};

const PAGE_CSP =
  "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'self'";

export type ErrorAnswer = { status: number; headers: Record<string, string>; body: string };

/** Who the error is shown to: a 403 page says who is signed in and offers to sign out. */
export type ErrorAudience = { identity?: Identity | undefined; providerName?: string | undefined };

/**
 * The one serializer of Portico's own errors: a branded page for a browser's navigation, JSON for
 * API clients, both with the request id. Only exposed errors (status < 500) show their detail.
 */
export function errorAnswer(
  req: IncomingMessage,
  err: GatewayError,
  requestId: string,
  pages: Pages,
  audience: ErrorAudience = {},
): ErrorAnswer {
  const headers: Record<string, string> = {
    'cache-control': 'no-store',
    'x-request-id': requestId,
    'x-content-type-options': 'nosniff',
    ...err.headers,
  };
  if (!wantsHtml(req)) {
    headers['content-type'] = 'application/json; charset=utf-8';
    return { status: err.status, headers, body: errorJson(err, requestId) };
  }
  const lang = pickLang(req);
  const text = ERRORS[err.code][lang];
  const links = LINKS[lang];
  const login = typeof err.extra?.login === 'string' ? err.extra.login : undefined;
  const who = err.status === 403 && audience.identity ? audience.identity : undefined;
  const action = login
    ? `<a class="portico-button" href="${escapeHtml(login)}">${links.signIn}</a>`
    : err.status >= 500
      ? `<a class="portico-button" href="">${links.retry}</a>`
      : '';
  const signedIn = who
    ? `<p class="portico-muted" id="portico-signed-in">${links.signedInAs} <strong>${escapeHtml(who.username)}</strong>${
        audience.providerName ? ` (${escapeHtml(audience.providerName)})` : ''
      }</p>
<a class="portico-button" id="portico-switch-user" href="/_portico/logout">${links.signOut}</a>`
    : '';
  const message = err.texts
    ? err.texts[lang]
    : lang === 'en-US' && err.expose && err.detail
      ? `${text.message} ${err.detail}`
      : text.message;
  const detail =
    lang !== 'en-US' && err.expose && err.detail
      ? `<p class="portico-muted">${escapeHtml(err.detail)}</p>`
      : '';
  const body = `<p>${escapeHtml(message)}</p>${detail}
${signedIn}${action}<a class="portico-button secondary" href="/">${links.home}</a>
<p class="portico-muted">${links.id}: <code>${escapeHtml(requestId)}</code></p>`;
  headers['content-type'] = 'text/html; charset=utf-8';
  headers['content-security-policy'] = PAGE_CSP;
  return {
    status: err.status,
    headers,
    body: pages.render({ lang, title: text.title, heading: text.title, bodyHtml: body, status: err.status }),
  };
}

/** The JSON body API clients get: stable code, status, message, request id and extra fields. */
export function errorJson(err: GatewayError, requestId: string): string {
  return JSON.stringify({
    error: err.code,
    status: err.status,
    message: err.publicMessage(),
    requestId,
    ...err.extra,
  });
}

/** Answers an HTTP request with an error (a response already under way is cut instead). */
export function respondError(
  req: IncomingMessage,
  res: ServerResponse,
  err: GatewayError,
  requestId: string,
  pages: Pages,
  audience?: ErrorAudience,
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const a = errorAnswer(req, err, requestId, pages, audience);
  res.writeHead(a.status, a.headers);
  res.end(req.method === 'HEAD' ? undefined : a.body);
}

/** Answers an upgrade request with a plain HTTP error (there is no ServerResponse for upgrades). */
export function rejectUpgrade(socket: Duplex, err: GatewayError, requestId: string): void {
  if (socket.destroyed) return;
  const body = errorJson(err, requestId);
  const extra = Object.entries(err.headers ?? {})
    .map(([k, v]) => `${k}: ${v}\r\n`)
    .join('');
  socket.end(
    `HTTP/1.1 ${err.status} ${STATUS_CODES[err.status] ?? ''}\r\n` +
      'Content-Type: application/json; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      `X-Request-Id: ${requestId}\r\n${extra}` +
      'Connection: close\r\n\r\n' +
      body,
  );
}
