import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { CryptoKey, JWK } from 'jose';
import { jose } from '../libraries.ts';
import type { Logger } from 'pino';
import type { KeyValueStore } from '../store/keyValueStore.ts';

type StoredKey = { kid: string; privateJwk: JWK; publicJwk: JWK; createdAt: number; activeFrom: number };
type LoadedKey = StoredKey & { privateKey: CryptoKey };

export type KeyStoreOptions = {
  /** Where keys are kept so every replica signs with the same set: the gateway's store (Redis or memory), or a file. */
  store: KeyValueStore;
  file?: string;
  rotateEveryMs: number;
  /** A new key is published this long before it signs anything, so every replica and every
   * upstream's JWKS cache has it before the first assertion carries its kid. */
  publishAheadMs: number;
  /** Old keys stay in the JWKS this long after they stop signing (longer than the JWT TTL). */
  retainMs: number;
};

const STORE_KEY = 'jwt-keys';

/**
 * ES256 signing keys for the identity assertion, rotated on a schedule and shared by replicas
 * through the store (Redis) or a file. The JWKS lists the keys that sign now, the next one, and recently
 * retired ones.
 */
export function createKeyStore(options: KeyStoreOptions, log: Logger) {
  let keys: LoadedKey[] = [];
  let timer: NodeJS.Timeout | undefined;

  const read = async (): Promise<{ list: StoredKey[]; raw: string | undefined }> => {
    if (options.file) {
      if (!existsSync(options.file)) return { list: [], raw: undefined };
      const raw = readFileSync(options.file, 'utf8');
      return { list: JSON.parse(raw) as StoredKey[], raw };
    }
    const raw = await options.store.get(STORE_KEY);
    return { list: raw ? (JSON.parse(raw) as StoredKey[]) : [], raw };
  };
  const write = async (list: StoredKey[], previous: string | undefined) => {
    if (options.file) {
      const tmp = `${options.file}.${process.pid}.tmp`;
      writeFileSync(tmp, JSON.stringify(list, null, 2), { mode: 0o600 });
      renameSync(tmp, options.file);
      return true;
    }
    // Compare-and-set so two replicas rotating at once do not drop each other's key.
    return options.store.compareAndSet(STORE_KEY, previous, JSON.stringify(list));
  };
  const newKey = async (activeFrom: number): Promise<StoredKey> => {
    const { generateKeyPair, exportJWK } = await jose();
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const kid = randomUUID();
    const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: 'ES256', use: 'sig' };
    const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
    return { kid, privateJwk, publicJwk, createdAt: Date.now(), activeFrom };
  };

  /** Loads the shared set, adds a key when due, drops retired ones. */
  const sync = async () => {
    const now = Date.now();
    const { list: stored, raw } = await read();
    let list = [...stored].sort((a, b) => b.activeFrom - a.activeFrom);
    let changed = false;
    if (list.length === 0) {
      list = [await newKey(now)];
      changed = true;
    } else if (list[0]!.activeFrom + options.rotateEveryMs - options.publishAheadMs <= now) {
      list.unshift(
        await newKey(Math.max(now + options.publishAheadMs, list[0]!.activeFrom + options.rotateEveryMs)),
      );
      changed = true;
    }
    const signing = list.find((k) => k.activeFrom <= now);
    const keep = list.filter(
      (k) =>
        k.activeFrom > now ||
        k === signing ||
        (signing && k.activeFrom + options.rotateEveryMs + options.retainMs > now),
    );
    if (keep.length !== list.length) changed = true;
    if (changed && !(await write(keep, raw))) return sync(); // another replica won the race
    const { importJWK } = await jose();
    keys = await Promise.all(
      keep.map(async (k) => ({ ...k, privateKey: (await importJWK(k.privateJwk, 'ES256')) as CryptoKey })),
    );
  };

  let started: Promise<void> | undefined;
  return {
    /**
     * Loads (or makes) the keys and keeps them in sync, once: called when the first assertion is
     * signed or the JWKS first asked for, so a gateway that signs nothing never loads jose.
     */
    start(): Promise<void> {
      started ??= sync().then(
        () => {
          timer = setInterval(
            () => sync().catch((err) => log.warn({ err }, 'signing key sync failed')),
            30_000,
          );
          timer.unref();
        },
        (err) => {
          started = undefined; // try again next time
          throw err;
        },
      );
      return started;
    },
    /** The key that signs now. */
    current(): LoadedKey {
      const now = Date.now();
      const k = keys.find((x) => x.activeFrom <= now) ?? keys[keys.length - 1];
      if (!k) throw new Error('no signing key loaded');
      return k;
    },
    jwks(): { keys: JWK[] } {
      return { keys: keys.map((k) => k.publicJwk) };
    },
    sync,
    stop() {
      clearInterval(timer);
    },
  };
}

export type KeyStore = ReturnType<typeof createKeyStore>;
