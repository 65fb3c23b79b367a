import { randomUUID } from 'node:crypto';
import { type CryptoKey, exportJWK, generateKeyPair, type JSONWebKeySet, type JWK } from 'jose';

/** An RS256 key pair with its public JWK (what `…/certs` publishes). */
export type SigningKey = {
  readonly kid: string;
  readonly alg: 'RS256';
  readonly privateKey: CryptoKey;
  readonly publicJwk: JWK;
  readonly jwks: JSONWebKeySet;
};

/** A fresh key per start: the demo keeps no state on disk, so tokens die with the process. */
export async function createSigningKey(): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { modulusLength: 2048 });
  const kid = randomUUID();
  const publicJwk: JWK = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  return Object.freeze({ kid, alg: 'RS256', privateKey, publicJwk, jwks: { keys: [publicJwk] } });
}
