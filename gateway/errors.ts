/**
 * One registry for every error Portico answers itself, on the proxied path, its own endpoints and
 * the admin API: a stable code (clients and tests match on it), the HTTP status, and the texts a
 * person reads, in both languages. `expose` decides whether a detail may be shown: details of 5xx
 * errors stay in the logs, as in node-oidc-provider's error handler. pages/errorResponse.ts is the
 * one serializer (HTML page, JSON, or a raw HTTP answer on an upgrade socket).
 */
type Text = { readonly title: string; readonly message: string };
type ErrorDefinition = { readonly status: number; readonly 'en-US': Text; readonly 'zh-CN': Text };

const define = <T extends Record<string, ErrorDefinition>>(registry: T) => registry;

export const ERRORS = define({
  PORTICO_ERR_BAD_REQUEST: {
    status: 400,
    'en-US': { title: 'Bad request', message: 'The request could not be understood.' },
    'zh-CN': { title: '请求无效', message: '无法处理该请求。' },
  },
  PORTICO_ERR_BAD_PATH: {
    status: 400,
    'en-US': { title: 'Bad request', message: 'The request path is not allowed.' },
    'zh-CN': { title: '请求无效', message: '不允许访问该请求路径。' },
  },
  PORTICO_ERR_LOGIN: {
    status: 400,
    'en-US': {
      title: 'Sign-in not completed',
      message: 'Sign-in could not be completed. Please start again.',
    },
    'zh-CN': { title: '登录未完成', message: '登录未能完成，请重新开始。' },
  },
  PORTICO_ERR_UNAUTHENTICATED: {
    status: 401,
    'en-US': { title: 'Sign-in required', message: 'You need to sign in to open this page.' },
    'zh-CN': { title: '需要登录', message: '请先登录后再访问此页面。' },
  },
  PORTICO_ERR_FORBIDDEN: {
    status: 403,
    'en-US': { title: 'Access denied', message: 'Your account does not have access to this page.' },
    'zh-CN': { title: '无权访问', message: '您的账号没有访问此页面的权限。' },
  },
  PORTICO_ERR_ADDRESS_DENIED: {
    status: 403,
    'en-US': { title: 'Access denied', message: 'This page cannot be opened from your network address.' },
    'zh-CN': { title: '无权访问', message: '您所在的网络地址不能访问此页面。' },
  },
  PORTICO_ERR_BAD_ORIGIN: {
    status: 403,
    'en-US': { title: 'Access denied', message: 'The request came from a site that is not allowed.' },
    'zh-CN': { title: '无权访问', message: '请求来自不被允许的站点。' },
  },
  PORTICO_ERR_NOT_FOUND: {
    status: 404,
    'en-US': { title: 'Page not found', message: 'There is no page at this address.' },
    'zh-CN': { title: '页面不存在', message: '此地址没有对应的页面。' },
  },
  PORTICO_ERR_METHOD: {
    status: 405,
    'en-US': { title: 'Method not allowed', message: 'This method is not allowed here.' },
    'zh-CN': { title: '方法不允许', message: '此处不允许使用该请求方法。' },
  },
  PORTICO_ERR_CONFLICT: {
    status: 409,
    'en-US': { title: 'Conflict', message: 'The request conflicts with the current state.' },
    'zh-CN': { title: '冲突', message: '请求与当前状态冲突。' },
  },
  PORTICO_ERR_PRECONDITION_FAILED: {
    status: 412,
    'en-US': { title: 'Precondition failed', message: 'The resource changed since it was read.' },
    'zh-CN': { title: '前置条件失败', message: '资源在读取后已被修改。' },
  },
  PORTICO_ERR_TOO_LARGE: {
    status: 413,
    'en-US': { title: 'Request too large', message: 'The request is too large.' },
    'zh-CN': { title: '请求过大', message: '请求内容过大。' },
  },
  PORTICO_ERR_HEADERS_TOO_LARGE: {
    status: 431,
    'en-US': { title: 'Request headers too large', message: 'The request headers are too large.' },
    'zh-CN': { title: '请求头过大', message: '请求头内容过大。' },
  },
  PORTICO_ERR_UNSUPPORTED_TYPE: {
    status: 415,
    'en-US': { title: 'Unsupported type', message: 'The content type is not supported here.' },
    'zh-CN': { title: '类型不支持', message: '此处不支持该内容类型。' },
  },
  PORTICO_ERR_INVALID_CONFIG: {
    status: 422,
    'en-US': { title: 'Invalid configuration', message: 'The configuration is not valid.' },
    'zh-CN': { title: '配置无效', message: '配置无效。' },
  },
  PORTICO_ERR_INVALID_ASSET: {
    status: 422,
    'en-US': { title: 'Invalid file', message: 'The file is not acceptable.' },
    'zh-CN': { title: '文件无效', message: '文件不被接受。' },
  },
  PORTICO_ERR_PRECONDITION_REQUIRED: {
    status: 428,
    'en-US': { title: 'Precondition required', message: 'Send If-Match with the ETag you read.' },
    'zh-CN': { title: '需要前置条件', message: '请携带读取时得到的 ETag（If-Match）。' },
  },
  PORTICO_ERR_TOO_MANY: {
    status: 429,
    'en-US': {
      title: 'Too many requests',
      message: 'Too many requests. Please wait a moment and try again.',
    },
    'zh-CN': { title: '请求过于频繁', message: '请求过于频繁，请稍候再试。' },
  },
  PORTICO_ERR_INTERNAL: {
    status: 500,
    'en-US': { title: 'Something went wrong', message: 'The gateway could not complete this request.' },
    'zh-CN': { title: '出错了', message: '网关无法完成此请求。' },
  },
  PORTICO_ERR_NOT_IMPLEMENTED: {
    status: 501,
    'en-US': { title: 'Not available', message: 'This function is not available on this gateway.' },
    'zh-CN': { title: '功能不可用', message: '此网关未提供该功能。' },
  },
  PORTICO_ERR_UPSTREAM: {
    status: 502,
    'en-US': {
      title: 'Service unavailable',
      message: 'The service behind this page is not reachable right now.',
    },
    'zh-CN': { title: '服务暂不可用', message: '此页面背后的服务暂时无法访问。' },
  },
  PORTICO_ERR_IDP: {
    status: 502,
    'en-US': {
      title: 'Sign-in is unavailable',
      message:
        'The identity provider cannot be reached right now. If you are already signed in, you can keep working.',
    },
    'zh-CN': { title: '暂时无法登录', message: '身份认证服务暂时无法访问。已登录的用户可以继续使用。' },
  },
  PORTICO_ERR_UNAVAILABLE: {
    status: 503,
    'en-US': {
      title: 'Temporarily unavailable',
      message: 'The gateway cannot check your session right now. Try again in a moment.',
    },
    'zh-CN': { title: '暂时不可用', message: '网关暂时无法验证您的会话，请稍后重试。' },
  },
  PORTICO_ERR_MAINTENANCE: {
    status: 503,
    'en-US': {
      title: 'Under maintenance',
      message: 'This service is being upgraded. Please try again later.',
    },
    'zh-CN': { title: '系统维护中', message: '该服务正在升级维护，请稍后再试。' },
  },
  PORTICO_ERR_UPSTREAM_TIMEOUT: {
    status: 504,
    'en-US': { title: 'Gateway timeout', message: 'The service behind this page did not answer in time.' },
    'zh-CN': { title: '网关超时', message: '此页面背后的服务未能及时响应。' },
  },
});

export type ErrorCode = keyof typeof ERRORS;

export type GatewayErrorOptions = {
  cause?: unknown;
  /** Client-facing detail added to the message; shown only when the error is exposed. */
  detail?: string;
  /** Replaces the registry's message for API clients (the admin API speaks to programs). */
  message?: string;
  /** Extra JSON fields for API clients (for example `login` for a 401). */
  extra?: Record<string, unknown>;
  headers?: Record<string, string>;
  /** The message in each language, written by the admin (a maintenance notice): shown as it is. */
  texts?: { readonly 'zh-CN': string; readonly 'en-US': string };
};

export class GatewayError extends Error {
  readonly status: number;
  readonly code: ErrorCode;
  readonly expose: boolean;
  readonly detail: string | undefined;
  readonly extra: Record<string, unknown> | undefined;
  readonly headers: Record<string, string> | undefined;
  readonly texts: GatewayErrorOptions['texts'];

  constructor(code: ErrorCode, options: GatewayErrorOptions = {}) {
    const def = ERRORS[code];
    super(options.message ?? def['en-US'].message, { cause: options.cause });
    this.name = 'GatewayError';
    this.status = def.status;
    this.code = code;
    this.expose = def.status < 500;
    this.detail = options.detail;
    this.extra = options.extra;
    this.headers = options.headers;
    this.texts = options.texts;
  }

  /** What an API client reads: the message and, when exposed, the detail. */
  publicMessage(): string {
    if (this.texts) return this.texts['en-US'];
    if (!this.expose) return ERRORS[this.code]['en-US'].message;
    return this.detail ? `${this.message} ${this.detail}` : this.message;
  }
}

/** Wraps anything thrown into a GatewayError without losing the original as `cause`. */
export function toGatewayError(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  // Libraries (express, body parsers) mark the client's mistakes with a 4xx status.
  const e = err as { status?: unknown; statusCode?: unknown; type?: unknown; limit?: unknown } | undefined;
  const status = Number(e?.status ?? e?.statusCode);
  if (status === 413 || e?.type === 'entity.too.large')
    return new GatewayError('PORTICO_ERR_TOO_LARGE', {
      cause: err,
      detail: typeof e?.limit === 'number' ? `The limit is ${e.limit} bytes.` : undefined,
    });
  if (status === 415) return new GatewayError('PORTICO_ERR_UNSUPPORTED_TYPE', { cause: err });
  if (status >= 400 && status < 500) return new GatewayError('PORTICO_ERR_BAD_REQUEST', { cause: err });
  return new GatewayError('PORTICO_ERR_INTERNAL', { cause: err });
}

/** The shared store (Redis) did not answer: what callers that can go on without it tell apart. */
export function isStoreUnavailable(err: unknown): err is GatewayError {
  return err instanceof GatewayError && err.code === 'PORTICO_ERR_UNAVAILABLE';
}
