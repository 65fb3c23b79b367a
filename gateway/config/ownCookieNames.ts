/**
 * The OpenID Provider's cookie names (oidc-provider signs each with a `.sig` companion). Listed
 * here, beside the session's, so that the proxy both keeps them from upstreams and refuses an
 * upstream's Set-Cookie of any of them (compile.ts `ownCookies`).
 */
/** What every one of them starts with. */
export const OP_COOKIE_PREFIX = 'portico_op_';

export const OP_COOKIES = {
  session: 'portico_op_session',
  interaction: 'portico_op_interaction',
  resume: 'portico_op_resume',
} as const;
