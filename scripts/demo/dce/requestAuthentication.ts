// What Istio's `RequestAuthentication ghippo` does in front of DCE's `/apis/…`: a bearer JWT is
// checked against the JWKS of the rule for its issuer (the realm's `<reverseProxy>/auth/realms/
// ghippo` and the access-key issuer `ghippo.io`); anything else is refused with 401. Like
// Istio, it looks at nothing but the token: no identity header, no cookie, no session.
import { createLocalJWKSet, decodeJwt, errors, type JSONWebKeySet, type JWTPayload, jwtVerify } from 'jose';

export type JwtRule = { issuer: string; jwks: JSONWebKeySet };

/** Who a verified token speaks for. */
export type Principal = {
  sub: string;
  username: string;
  email?: string;
  name?: string;
  issuer: string;
  claims: JWTPayload;
};

export type AuthResult = { ok: true; principal: Principal } | { ok: false; reason: string };

/** Istio's own wording for the failures. */
export function requestAuthentication(
  rules: readonly JwtRule[],
): (token: string | undefined) => Promise<AuthResult> {
  const compiled = new Map(rules.map((r) => [r.issuer, createLocalJWKSet(r.jwks)]));
  return async (token) => {
    if (token === undefined) return { ok: false, reason: 'Jwt is missing' };
    let issuer: unknown;
    try {
      issuer = decodeJwt(token).iss;
    } catch {
      return { ok: false, reason: 'Jwt is not in the form of Header.Payload.Signature' };
    }
    const jwks = typeof issuer === 'string' ? compiled.get(issuer) : undefined;
    if (jwks === undefined) return { ok: false, reason: 'Jwt issuer is not configured' };
    try {
      const { payload } = await jwtVerify(token, jwks, { issuer: issuer as string, algorithms: ['RS256'] });
      if (typeof payload.sub !== 'string') return { ok: false, reason: 'Jwt verification fails' };
      return {
        ok: true,
        principal: {
          sub: payload.sub,
          username: typeof payload.preferred_username === 'string' ? payload.preferred_username : payload.sub,
          email: typeof payload.email === 'string' ? payload.email : undefined,
          name: typeof payload.name === 'string' ? payload.name : undefined,
          issuer: issuer as string,
          claims: payload,
        },
      };
    } catch (err) {
      return {
        ok: false,
        reason: err instanceof errors.JWTExpired ? 'Jwt is expired' : 'Jwt verification fails',
      };
    }
  };
}
