import type { IncomingMessage, ServerResponse } from 'node:http';
import type { GatewayError } from '../errors.ts';
import { escapeHtml } from './escapeHtml.ts';
import { type Lang, pickLang, wantsHtml } from './negotiate.ts';
import { renderPage } from './renderPage.ts';

const TEXT: Record<string, Record<Lang, { title: string; message: string }>> = {
  400: {
    'en-US': { title: 'Bad request', message: 'The request could not be understood.' },
    'zh-CN': { title: '请求无效', message: '无法处理该请求。' },
  },
  401: {
    'en-US': { title: 'Sign-in required', message: 'You need to sign in to open this page.' },
    'zh-CN': { title: '需要登录', message: '请先登录后再访问此页面。' },
  },
  403: {
    'en-US': { title: 'Access denied', message: 'Your account does not have access to this page.' },
    'zh-CN': { title: '无权访问', message: '您的账号没有访问此页面的权限。' },
  },
  404: {
    'en-US': { title: 'Page not found', message: 'There is no page at this address.' },
    'zh-CN': { title: '页面不存在', message: '此地址没有对应的页面。' },
  },
  429: {
    'en-US': { title: 'Too many requests', message: 'Please wait a moment and try again.' },
    'zh-CN': { title: '请求过于频繁', message: '请稍候再试。' },
  },
  500: {
    'en-US': { title: 'Something went wrong', message: 'The gateway could not complete this request.' },
    'zh-CN': { title: '出错了', message: '网关无法完成此请求。' },
  },
  502: {
    'en-US': {
      title: 'Service unavailable',
      message: 'The service behind this page is not reachable right now.',
    },
    'zh-CN': { title: '服务暂不可用', message: '此页面背后的服务暂时无法访问。' },
  },
  503: {
    'en-US': {
      title: 'Temporarily unavailable',
      message: 'The gateway cannot check your session right now. Try again in a moment.',
    },
    'zh-CN': { title: '暂时不可用', message: '网关暂时无法验证您的会话，请稍后重试。' },
  },
  504: {
    'en-US': { title: 'Gateway timeout', message: 'The service behind this page did not answer in time.' },
    'zh-CN': { title: '网关超时', message: '此页面背后的服务未能及时响应。' },
  },
};

const LINKS: Record<Lang, { retry: string; home: string; signIn: string; id: string }> = {
  'en-US': { retry: 'Try again', home: 'Go to the home page', signIn: 'Sign in', id: 'Request ID' },
  'zh-CN': { retry: '重试', home: '返回首页', signIn: '登录', id: '请求 ID' },
};

const BY_CODE: Partial<Record<string, Record<Lang, { title: string; message: string }>>> = {
  PORTICO_ERR_IDP: {
    'en-US': {
      title: 'Sign-in is unavailable',
      message:
        'The identity provider cannot be reached right now. If you are already signed in, you can keep working.',
    },
    'zh-CN': { title: '暂时无法登录', message: '身份认证服务暂时无法访问。已登录的用户可以继续使用。' },
  },
  PORTICO_ERR_LOGIN: {
    'en-US': {
      title: 'Sign-in not completed',
      message: 'Sign-in could not be completed. Please start again.',
    },
    'zh-CN': { title: '登录未完成', message: '登录未能完成，请重新开始。' },
  },
};

export function errorText(status: number, lang: Lang, code?: string) {
  const bucket = (code && BY_CODE[code]) || TEXT[status] || TEXT[status >= 500 ? 500 : 400]!;
  return bucket[lang];
}

/**
 * The one responder for errors Portico answers itself: a branded page for browsers, JSON for API
 * clients. Only exposed errors (status < 500) show their detail; a 5xx never shows its cause.
 */
export function respondError(
  req: IncomingMessage,
  res: ServerResponse,
  err: GatewayError,
  requestId: string,
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const lang = pickLang(req);
  const text = errorText(err.status, lang, err.code);
  const headers: Record<string, string> = {
    'cache-control': 'no-store',
    'x-request-id': requestId,
    'x-content-type-options': 'nosniff',
    ...err.headers,
  };
  if (wantsHtml(req)) {
    const links = LINKS[lang];
    const login = typeof err.extra?.login === 'string' ? err.extra.login : undefined;
    const action = login
      ? `<a class="portico-button" href="${escapeHtml(login)}">${links.signIn}</a>`
      : err.status >= 500
        ? `<a class="portico-button" href="">${links.retry}</a>`
        : '';
    const body = `<p>${escapeHtml(err.expose && err.detail ? `${text.message} ${err.detail}` : text.message)}</p>
${action}<a class="portico-button secondary" href="/">${links.home}</a>
<p class="portico-muted">${links.id}: <code>${escapeHtml(requestId)}</code></p>`;
    const html = renderPage({
      lang,
      title: text.title,
      heading: text.title,
      bodyHtml: body,
      status: err.status,
    });
    headers['content-type'] = 'text/html; charset=utf-8';
    headers['content-security-policy'] =
      "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'self'";
    res.writeHead(err.status, headers);
    res.end(req.method === 'HEAD' ? undefined : html);
    return;
  }
  const payload: Record<string, unknown> = {
    error: err.code,
    status: err.status,
    message: err.expose && err.detail ? `${err.message} ${err.detail}` : err.message,
    requestId,
    ...err.extra,
  };
  headers['content-type'] = 'application/json; charset=utf-8';
  res.writeHead(err.status, headers);
  res.end(req.method === 'HEAD' ? undefined : JSON.stringify(payload));
}
