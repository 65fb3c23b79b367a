// A signed-in session written straight into Portico's Redis store, and the cookie that carries it.
import { randomBytes } from 'node:crypto';
import signature from 'cookie-signature';
import type { Redis } from 'ioredis';

export async function benchSession(redis: Redis, opts: { keyPrefix: string; secret: string }) {
  const sid = randomBytes(16).toString('hex');
  const now = Date.now();
  await redis.set(
    `${opts.keyPrefix}portico:sess:${sid}`,
    JSON.stringify({
      cookie: {
        originalMaxAge: 28_800_000,
        expires: new Date(now + 28_800_000),
        httpOnly: true,
        path: '/',
        sameSite: 'lax',
      },
      identity: {
        idp: 'corp',
        sub: 'alice',
        username: 'alice',
        email: 'alice@example.com',
        name: 'Alice Zhang',
        groups: ['ai-users', 'staff'],
      },
      createdAt: now,
      lastSeen: now,
    }),
    'EX',
    28_800,
  );
  return `portico_session=${encodeURIComponent(`s:${signature.sign(sid, opts.secret)}`)}`;
}
