import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { releasedEmail } from '../../gateway/auth/isAllowed.ts';
import { claimsToIdentity } from '../../gateway/auth/providers/claimsToIdentity.ts';
import type { Identity } from '../../gateway/context.ts';

const providers = {
  primaryIdp: 'corp',
  identityProviders: [
    { id: 'corp', type: 'oidc' },
    { id: 'partner', type: 'oidc' },
    { id: 'vendor', type: 'oidc', trustEmail: true },
    { id: 'dir', type: 'ldap' },
  ],
} as never;
const who = (idp: string, email: string, emailVerified?: boolean): Identity => ({
  idp,
  sub: 's',
  username: 'u',
  email,
  emailVerified,
  groups: [],
});

describe('the address Portico passes on as the user’s', () => {
  it('is one allow rules would trust, and from a provider other than the primary one only with its trustEmail', () => {
    assert.equal(releasedEmail(who('corp', 'ceo@corp.example', true), providers), 'ceo@corp.example');
    assert.equal(
      releasedEmail(who('corp', 'ann@corp.example'), providers),
      'ann@corp.example',
      'Entra ID sends no flag',
    );
    assert.equal(releasedEmail(who('corp', 'ceo@corp.example', false), providers), undefined);
    assert.equal(releasedEmail(who('partner', 'CEO@corp.example', true), providers), undefined);
    assert.equal(releasedEmail(who('vendor', 'eve@vendor.example', true), providers), 'eve@vendor.example');
    assert.equal(
      releasedEmail(who('dir', 'alice@corp.example'), {
        ...(providers as object),
        primaryIdp: 'dir',
      } as never),
      undefined,
    );
  });

  it('is never one an upstream would read as another address (control characters, blanks inside)', () => {
    for (const email of [
      'ceo@corp.exam\u0000ple',
      'ceo\u001b@corp.example',
      'ceo@corp.example\u007f',
      'c eo@corp.example',
      'ceo@corp.example\u0085x',
    ])
      assert.equal(releasedEmail(who('corp', email, true), providers), undefined, JSON.stringify(email));
    assert.equal(releasedEmail(who('corp', ' ceo@corp.example ', true), providers), 'ceo@corp.example');
  });

  it('never makes an unchecked address the user name, nor a claim the user chose when the config names another', () => {
    const mallory = claimsToIdentity('corp', {
      sub: 'm-1',
      email: 'ceo@corp.example',
      email_verified: false,
    });
    assert.equal(mallory.username, 'm-1');
    assert.equal(
      claimsToIdentity('corp', { sub: 'c-1', email: 'ceo@corp.example', email_verified: true }).username,
      'ceo@corp.example',
    );
    assert.equal(
      claimsToIdentity('corp', { sub: 'e-1', email: 'ann@corp.example' }).username,
      'ann@corp.example',
    );
    const mapped = claimsToIdentity('corp', { sub: 'x-1', preferred_username: 'ceo' }, { username: 'upn' });
    assert.equal(mapped.username, 'x-1', 'the configured claim is missing: the stable sub');
    const byEmail = claimsToIdentity(
      'corp',
      { sub: 'y-1', email: 'ceo@corp.example', email_verified: false },
      { username: 'email' },
    );
    assert.equal(byEmail.username, 'y-1');
  });
});
