import type { Logger } from 'pino';
import { parseDuration } from '../config/duration.ts';
import type { Config } from '../config/types.ts';
import { createAssertions } from '../identity/assertion.ts';
import { createKeyStore } from '../identity/signingKeys.ts';
import { createProviderRegistry } from './providers/registry.ts';
import { createSessions, waitForRedis } from './session/sessions.ts';

/**
 * Everything login-related that lives as long as the process: sessions (and their store), the
 * login providers of the live config, the assertion signing keys. Created once at start; the
 * session store kind is fixed for the life of the process (changing it needs a restart).
 */
export function createAuth(config: Config, log: Logger) {
  const sessions = createSessions(config, log);
  const keyConfig = config.raw.identity?.jwt?.keys as
    | { store?: string; file?: string; rotateEvery?: string }
    | undefined;
  const keyStoreKind = keyConfig?.store ?? (sessions.redis ? 'redis' : keyConfig?.file ? 'file' : 'memory');
  const keys = createKeyStore(
    {
      redis: keyStoreKind === 'redis' ? sessions.redis : undefined,
      file: keyStoreKind === 'file' ? keyConfig?.file : undefined,
      rotateEveryMs: parseDuration(keyConfig?.rotateEvery ?? '24h'),
      publishAheadMs: 5 * 60_000,
      retainMs: 60 * 60_000,
    },
    log,
  );
  const registry = createProviderRegistry(sessions.redis);
  const assertions = createAssertions(keys);
  return {
    sessions,
    keys,
    assertions,
    providers: (c: Config) => registry.providers(c),
    async start() {
      await waitForRedis(sessions, 3000);
      await keys.start().catch((err) => {
        log.error({ err }, 'could not load the signing keys; retrying in the background');
      });
    },
    async close() {
      keys.stop();
      await sessions.close();
    },
  };
}

export type Auth = ReturnType<typeof createAuth>;
