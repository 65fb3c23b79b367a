// What the OpenID Provider says about a user's e-mail: a client such as DCE 5's Keycloak may link
// accounts by a verified address, so "verified" must mean someone verified it.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Identity } from '../../gateway/context.ts';
import { claimsOf } from '../../gateway/oidcProvider/claimsOf.ts';

const mallory = (emailVerified?: boolean): Identity => ({
  idp: 'partner',
  sub: 'm-1',
  username: 'partner:mallory',
  email: 'alice@example.com',
  groups: [],
  ...(emailVerified === undefined ? {} : { emailVerified }),
});

describe('email_verified released by the OpenID Provider', () => {
  it('is true only when the identity provider said it verified the address', () => {
    assert.equal(claimsOf(mallory(true)).email_verified, true);
    assert.equal(claimsOf(mallory()).email_verified, false, 'LDAP and SAML say nothing: not verified');
    assert.equal(claimsOf(mallory(false)).email_verified, false);
  });

  it('is true for a provider trusted for its emails (trustEmail), unless it said otherwise', () => {
    assert.equal(claimsOf(mallory(), true).email_verified, true);
    assert.equal(claimsOf(mallory(false), true).email_verified, false);
  });
});
