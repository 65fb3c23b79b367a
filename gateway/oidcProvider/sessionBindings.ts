import type { Identity } from '../context.ts';
import type { KeyValueStore } from '../store/keyValueStore.ts';

/** One client's sign-in through the OpenID Provider, as the Portico session it came from holds it. */
export type BoundAuthorization = {
  clientId: string;
  /** The `sid` of the ID tokens this client got (and of its logout token). */
  sid: string;
  sub: string;
  grantId: string;
  /** The OP session's uid (stable for its life, unlike its cookie id). */
  uid: string;
};

export type PorticoSessionRef = { id: string; identity: Identity; expiresAt: number };

/**
 * Ties what the OpenID Provider issues to the Portico session of the browser that asked for it,
 * in the shared store, for no longer than that session can live: a grant to the identity it was
 * made for, an OP session to its Portico session, and the Portico session to every client sign-in
 * (so that ending it ends them all, on any replica).
 */
export function sessionBindings(store: KeyValueStore) {
  const grantKey = (grantId: string) => `oidc:grant-session:${grantId}`;
  const opKey = (uid: string) => `oidc:op-session:${uid}`;
  const porticoKey = (id: string) => `oidc:portico-session:${id}`;
  return {
    /** False when the Portico session has no time left (nothing is bound then). */
    async bind(session: PorticoSessionRef, authorization: BoundAuthorization): Promise<boolean> {
      const ttlMs = session.expiresAt - Date.now();
      if (ttlMs <= 0) return false;
      await store.set(
        grantKey(authorization.grantId),
        JSON.stringify({ porticoSession: session.id, identity: session.identity }),
        ttlMs,
      );
      await store.set(opKey(authorization.uid), session.id, ttlMs);
      await store.setAdd(porticoKey(session.id), [JSON.stringify(authorization)], ttlMs);
      return true;
    },
    /** The identity a grant was made for, while its Portico session lasts. */
    async grant(grantId: string): Promise<{ porticoSession: string; identity: Identity } | undefined> {
      const value = await store.get(grantKey(grantId));
      return value ? JSON.parse(value) : undefined;
    },
    async porticoSessionOf(opSessionUid: string): Promise<string | undefined> {
      return store.get(opKey(opSessionUid));
    },
    /** Every client sign-in of an ended Portico session; their bindings are removed. */
    async release(porticoSession: string): Promise<BoundAuthorization[]> {
      const members = await store.setMembers(porticoKey(porticoSession));
      const authorizations = members.map((m) => JSON.parse(m) as BoundAuthorization);
      await store.delete(
        porticoKey(porticoSession),
        ...authorizations.flatMap((a) => [grantKey(a.grantId), opKey(a.uid)]),
      );
      return authorizations;
    },
  };
}

export type SessionBindings = ReturnType<typeof sessionBindings>;
