import { createHash } from 'node:crypto';
import type { Identity } from '../context.ts';

/**
 * The `sub` Portico gives its clients: stable for a user of one identity provider, opaque, and
 * never the same for two providers (a GitHub login "alice" and an LDAP "alice" are two people).
 */
export function subjectOf(identity: Pick<Identity, 'idp' | 'sub'>): string {
  return createHash('sha256').update(`${identity.idp}\0${identity.sub}`).digest('base64url');
}
