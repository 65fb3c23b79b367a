import { hkdfSync } from 'node:crypto';

/**
 * The keys that sign oidc-provider's cookies, derived from session.secret (newest first, so a
 * rotated secret keeps old cookies readable): every replica derives the same keys, and they are
 * never the session secret itself.
 */
export function cookieKeys(secrets: readonly string[]): string[] {
  return secrets.map((secret) =>
    Buffer.from(hkdfSync('sha256', secret, 'portico', 'oidc-provider cookies', 32)).toString('base64url'),
  );
}
