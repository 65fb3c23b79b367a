import { jose } from '../libraries.ts';
import type { KeyValueStore } from '../store/keyValueStore.ts';

const SENT_TTL_MS = 24 * 3_600_000;

/** Another replica (or an earlier event) has sent this logout token already. */
export class LogoutTokenAlreadySent extends Error {
  constructor() {
    super('this logout token was sent already');
    this.name = 'LogoutTokenAlreadySent';
  }
}

/**
 * The `fetch` oidc-provider sends back-channel logout tokens with: the only door they leave by.
 * Each (client, sid) is claimed in the shared store before it is sent, so a logout token goes out
 * once even when the library (RP-initiated logout) and Portico (a Portico session ended) both
 * want to send it, on one replica or several. The URIs come from routes.yaml, written by an
 * administrator, so they may be on a private network (a cluster-internal ghippo): the library's
 * guard against private addresses is not applied.
 */
export function logoutTokenGate(store: KeyValueStore) {
  return async (url: string, init: RequestInit & { dispatcher?: unknown }): Promise<Response> => {
    const token = init.body instanceof URLSearchParams ? init.body.get('logout_token') : null;
    if (token) {
      const { aud, sid, sub } = (await jose()).decodeJwt(token);
      const claimed = await store.add(`oidc:logout-sent:${String(aud)}:${sid ?? sub}`, '1', SENT_TTL_MS);
      if (!claimed) throw new LogoutTokenAlreadySent();
    }
    delete init.dispatcher;
    return fetch(url, init);
  };
}
