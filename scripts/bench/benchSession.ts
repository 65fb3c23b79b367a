// A signed-in session made by Portico's own session code in the Redis store the benchmarked
// Portico reads, and the cookie that carries it: what a browser gets after signing in. Its name
// follows the config: `portico_session` here and in the benchmarked one (porticoConfig.ts, an http
// publicUrl); an https publicUrl would make it `__Host-portico_session` on both sides.
import type { Redis } from 'ioredis';
import { pino } from 'pino';
import { createSessions } from '../../gateway/auth/session/sessions.ts';
import { compileConfig } from '../../gateway/config/compile.ts';
import { createEventBus } from '../../gateway/events.ts';
import { createRedisStore } from '../../gateway/store/redisStore.ts';

export async function benchSession(redis: Redis, opts: { keyPrefix: string; secret: string }) {
  const settings = compileConfig(
    {
      routes: [{ id: 'x', path: '/', upstream: 'http://127.0.0.1:9/' }],
      session: {
        secret: opts.secret,
        store: 'redis',
        redis: { url: 'redis://unused', keyPrefix: opts.keyPrefix },
      },
    },
    '',
    undefined,
    '/',
  ).session;
  const log = pino({ level: 'silent' });
  const store = createRedisStore(redis, { prefix: opts.keyPrefix });
  const sessions = createSessions({ settings, store, events: createEventBus(log), log });
  const { setCookie } = await sessions.create(
    {
      identity: {
        idp: 'corp',
        sub: 'alice',
        username: 'alice',
        email: 'alice@example.com',
        name: 'Alice Zhang',
        groups: ['ai-users', 'staff'],
      },
    },
    false,
  );
  await sessions.close();
  await store.close();
  return setCookie.split(';')[0]!;
}
