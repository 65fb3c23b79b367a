import { randomUUID } from 'node:crypto';
import type { Config, Route } from '../config/types.ts';
import type { Identity } from '../context.ts';
import { jose } from '../libraries.ts';
import { releasedEmail } from '../auth/isAllowed.ts';
import { qualifiedSubject } from './qualifyIdentity.ts';
import type { KeyStore } from './signingKeys.ts';
import { boundedCache } from '../store/boundedCache.ts';

/**
 * The signed identity assertion (ES256): iss = publicUrl, aud = route id, sub, email, groups,
 * name, idp, iat, exp, jti. An assertion is reused for the same session and route until shortly
 * before it expires: signing is the most expensive step of an authenticated request.
 */
export function createAssertions(keys: KeyStore) {
  const cache = boundedCache<string, { token: string; exp: number }>(100_000);
  /** The cached assertion for this session and route while it is fresh (synchronous). */
  const cached = (config: Config, route: Route, sessionKey: string | undefined): string | undefined => {
    if (!sessionKey) return undefined;
    const hit = cache.get(`${sessionKey}|${route.id}|${config.sourceHash}`);
    return hit && hit.exp - Date.now() > Math.min(10_000, config.jwt.ttlMs / 4) ? hit.token : undefined;
  };
  return {
    cached,
    async sign(
      config: Config,
      route: Route,
      identity: Identity,
      sessionKey: string | undefined,
    ): Promise<string> {
      const now = Date.now();
      const cacheKey = sessionKey ? `${sessionKey}|${route.id}|${config.sourceHash}` : undefined;
      const fresh = cached(config, route, sessionKey);
      if (fresh) return fresh;
      await keys.start();
      const key = keys.current();
      const iat = Math.floor(now / 1000);
      const exp = iat + Math.max(1, Math.round(config.jwt.ttlMs / 1000));
      const { SignJWT } = await jose();
      const token = await new SignJWT({
        email: releasedEmail(identity, config),
        groups: identity.groups,
        name: identity.name ?? identity.username,
        preferred_username: identity.username,
        idp: identity.idp,
      })
        .setProtectedHeader({ alg: 'ES256', kid: key.kid, typ: 'JWT' })
        .setIssuer(issuerOf(config))
        .setAudience(route.id)
        .setSubject(qualifiedSubject(identity, config.primaryIdp))
        .setIssuedAt(iat)
        .setExpirationTime(exp)
        .setJti(randomUUID())
        .sign(key.privateKey);
      if (cacheKey) cache.set(cacheKey, { token, exp: exp * 1000 });
      return token;
    },
    forget(sessionKey: string) {
      for (const k of cache.keys()) if (k.startsWith(`${sessionKey}|`)) cache.delete(k);
    },
  };
}

export function issuerOf(config: Config): string {
  return config.publicUrl ? config.publicUrl.origin : 'portico';
}

export type Assertions = ReturnType<typeof createAssertions>;
