import type { JWK } from 'jose';
import { jose } from '../libraries.ts';
import type { KeyValueStore } from '../store/keyValueStore.ts';

const KEY = 'oidc:signing-key';

/**
 * The RS256 key that signs ID and logout tokens: made once and shared by every replica through the
 * store. Replicas that start together each make a candidate; only the first one written (set
 * only when absent) is kept, and the others adopt it.
 */
export async function loadSigningKey(store: KeyValueStore): Promise<JWK> {
  const existing = await store.get(KEY);
  if (existing) return JSON.parse(existing) as JWK;
  const { calculateJwkThumbprint, exportJWK, generateKeyPair } = await jose();
  const { privateKey } = await generateKeyPair('RS256', { extractable: true, modulusLength: 2048 });
  const jwk = await exportJWK(privateKey);
  const candidate = JSON.stringify({
    ...jwk,
    kid: await calculateJwkThumbprint(jwk),
    alg: 'RS256',
    use: 'sig',
  });
  if (await store.compareAndSet(KEY, undefined, candidate)) return JSON.parse(candidate) as JWK;
  const winner = await store.get(KEY);
  if (!winner) throw new Error('the OpenID Provider signing key vanished from the store');
  return JSON.parse(winner) as JWK;
}
