// Personal access keys (ghippo → Personal Center → Access Keys): RS256 JWTs with `iss: ghippo.io`,
// signed by ghippo's own key, that CI jobs and scripts send as `Authorization: Bearer <key>`.
// Istio accepts them through its `ghippo.io` rule, whose JWKS ghippo serves at
// `/apis/ghippo.io/v1alpha1/certs`. A key is shown once, at creation; only its metadata is kept.
import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import type { Principal } from './requestAuthentication.ts';
import type { SigningKey } from './signingKey.ts';

export const ACCESS_KEY_ISSUER = 'ghippo.io';

export type AccessKeyRecord = { id: string; name: string; createdAt: string; expiresAt: string };

export type AccessKeys = ReturnType<typeof createAccessKeys>;

export function createAccessKeys(o: { key: SigningKey; ttlSeconds?: number }) {
  const ttl = o.ttlSeconds ?? 30 * 24 * 3600;
  const byUser = new Map<string, AccessKeyRecord[]>();
  return {
    issuer: ACCESS_KEY_ISSUER,
    key: o.key,
    async create(owner: Principal, name: string): Promise<AccessKeyRecord & { token: string }> {
      const id = randomUUID();
      const now = Math.floor(Date.now() / 1000);
      const token = await new SignJWT({
        preferred_username: owner.username,
        ...(owner.email !== undefined ? { email: owner.email } : {}),
        ...(owner.name !== undefined ? { name: owner.name } : {}),
      })
        .setProtectedHeader({ alg: 'RS256', kid: o.key.kid, typ: 'JWT' })
        .setIssuer(ACCESS_KEY_ISSUER)
        .setSubject(owner.sub)
        .setJti(id)
        .setIssuedAt(now)
        .setExpirationTime(now + ttl)
        .sign(o.key.privateKey);
      const record = {
        id,
        name,
        createdAt: new Date(now * 1000).toISOString(),
        expiresAt: new Date((now + ttl) * 1000).toISOString(),
      };
      byUser.set(owner.sub, [...(byUser.get(owner.sub) ?? []), record]);
      return { ...record, token };
    },
    list: (userId: string): AccessKeyRecord[] => [...(byUser.get(userId) ?? [])],
  };
}
