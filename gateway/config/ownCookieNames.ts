/**
 * The session cookie's default name and the OpenID Provider's cookie names (oidc-provider signs
 * each with a `.sig` companion), kept in one place so that the proxy both keeps them from
 * upstreams and refuses an upstream's Set-Cookie of any of them (compile.ts `ownCookies`).
 */
/** The session cookie's default name (with `__Host-` in front behind an https publicUrl). */
export const SESSION_COOKIE = 'portico_session';

/** What every one of the OpenID Provider's starts with. */
export const OP_COOKIE_PREFIX = 'portico_op_';

export const OP_COOKIES = {
  session: 'portico_op_session',
  interaction: 'portico_op_interaction',
  resume: 'portico_op_resume',
} as const;
