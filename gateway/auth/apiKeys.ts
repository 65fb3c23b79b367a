import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * API keys are 32 random bytes, so a plain SHA-256 is a safe way to store them (no password
 * stretching needed for a secret with 256 bits of entropy). Keys carry their id for lookup:
 * `ptk_<id>_<secret>`.
 */
export function newApiKey(id: string): { key: string; hash: string } {
  const key = `ptk_${id}_${randomBytes(32).toString('base64url')}`;
  return { key, hash: hashApiKey(key) };
}

export function hashApiKey(key: string): string {
  return `sha256:${createHash('sha256').update(key).digest('hex')}`;
}

/** Constant-time comparison of a presented key with a stored hash. */
export function apiKeyMatches(presented: string, storedHash: string): boolean {
  const a = Buffer.from(hashApiKey(presented));
  const b = Buffer.from(storedHash);
  return a.length === b.length && timingSafeEqual(a, b);
}
