import { oidcProviderLibrary } from '../libraries.ts';
import type { KeyValueStore } from '../store/keyValueStore.ts';
import type { OidcAdapter, Payload } from './types.ts';

/** Models whose entries belong to a grant, so that revoking the grant removes them all. */
const GRANTABLE = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken']);
const LABELS: Record<string, string> = {
  AuthorizationCode: 'authorization code',
  RefreshToken: 'refresh token',
};

/**
 * oidc-provider's storage on Portico's key-value store (Redis shared by replicas, or memory):
 * sessions, interactions, grants, codes and tokens as JSON with their TTL. Clients are not stored:
 * they are read from the live routes.yaml on every lookup, so a reload adds, changes or removes a
 * client at the next request. Consuming a code or a refresh token is one atomic set-if-absent,
 * so two replicas redeeming the same code at the same moment cannot both succeed.
 */
export function storeAdapter(
  store: KeyValueStore,
  options: { client: (id: string) => Payload | undefined; longestTtlMs: number },
): (model: string) => OidcAdapter {
  return (model) => {
    const key = (id: string) => `oidc:${model}:${id}`;
    const consumedKey = (id: string) => `oidc:consumed:${model}:${id}`;
    const uidKey = (uid: string) => `oidc:session-uid:${uid}`;
    const grantKey = (grantId: string) => `oidc:grant-tokens:${grantId}`;

    const adapter: OidcAdapter = {
      async upsert(id, payload, expiresIn) {
        const ttlMs = typeof expiresIn === 'number' ? expiresIn * 1000 : undefined;
        await store.set(key(id), JSON.stringify(payload), ttlMs);
        if (model === 'Session' && typeof payload.uid === 'string')
          await store.set(uidKey(payload.uid), id, ttlMs);
        if (GRANTABLE.has(model) && typeof payload.grantId === 'string')
          await store.setAdd(grantKey(payload.grantId), [key(id)], options.longestTtlMs);
      },
      async find(id) {
        if (model === 'Client') return options.client(id);
        const [value, consumed] = await Promise.all([
          store.get(key(id)),
          GRANTABLE.has(model) ? store.get(consumedKey(id)) : undefined,
        ]);
        if (!value) return undefined;
        const payload = JSON.parse(value) as Payload;
        if (consumed) payload.consumed = Number(consumed);
        return payload;
      },
      async findByUid(uid) {
        const id = await store.get(uidKey(uid));
        return id ? adapter.find(id) : undefined;
      },
      async findByUserCode() {
        return undefined; // the device flow is not enabled
      },
      async consume(id) {
        const ttlMs = (await store.ttl(key(id))) ?? options.longestTtlMs;
        const first = await store.add(consumedKey(id), String(Math.floor(Date.now() / 1000)), ttlMs);
        if (!first) {
          const { errors } = (await oidcProviderLibrary()) as {
            errors: { InvalidGrant: new (m: string) => Error };
          };
          throw new errors.InvalidGrant(`${LABELS[model] ?? model} already used`);
        }
      },
      async destroy(id) {
        if (model === 'Session') {
          const value = await store.get(key(id));
          const uid = value ? (JSON.parse(value) as Payload).uid : undefined;
          if (typeof uid === 'string') await store.deleteIf(uidKey(uid), id);
        }
        await store.delete(key(id), consumedKey(id));
      },
      async revokeByGrantId(grantId) {
        const members = await store.setMembers(grantKey(grantId));
        await store.delete(...members, grantKey(grantId));
      },
    };
    return adapter;
  };
}
