// `allow` rules (emails, domains) against crafted identities: addresses with several `@`, quoted
// local parts, domains that merely end or start like the allowed one, case, and addresses the IdP
// did not verify, and users of other providers. Unit tests of isAllowed() and sign-ins through a real IdP.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isAllowed } from '../../gateway/auth/isAllowed.ts';
import { claimsToIdentity } from '../../gateway/auth/providers/claimsToIdentity.ts';
import { loadConfigText } from '../../gateway/config/loadConfig.ts';
import type { Route } from '../../gateway/config/types.ts';
import type { Identity } from '../../gateway/context.ts';
import type { DemoUser } from '../helpers/idp.ts';
import { freePort, login, startSso, startIdpFor } from '../helpers/sso.ts';
import { upstreamFor } from '../helpers/upstream.ts';

const config = loadConfigText(
  `publicUrl: http://127.0.0.1:1
session: { secret: x-secret-x-secret-x-secret-x-secret-x }
identityProviders:
  - { id: corp, type: oidc, issuer: "http://127.0.0.1:2", clientId: c, clientSecret: s }
routes:
  - { id: by-email, path: /a/, upstream: "http://127.0.0.1:3/", auth: required, allow: { emails: [alice@example.com] } }
  - { id: by-domain, path: /b/, upstream: "http://127.0.0.1:3/", auth: required, allow: { domains: [example.com] } }
  - { id: by-subdomains, path: /c/, upstream: "http://127.0.0.1:3/", auth: required, allow: { domains: [.example.com] } }
  - { id: by-upper-domain, path: /d/, upstream: "http://127.0.0.1:3/", auth: required, allow: { domains: [EXAMPLE.COM] } }
  - { id: by-upper-email, path: /e/, upstream: "http://127.0.0.1:3/", auth: required, allow: { emails: [Alice@Example.COM] } }
`,
  { env: {} },
);
const route = (id: string): Route['allow'] => config.routes.find((r) => r.id === id)!.allow;
/** The same providers, corp trusted for the addresses it gives (`trustEmail: true`). */
const trusting = {
  ...config,
  identityProviders: config.identityProviders.map((p) => ({ ...p, trustEmail: true })),
};

function who(email: string | undefined, emailVerified?: boolean): Identity {
  return { idp: 'corp', sub: 'mallory', username: 'mallory', email, emailVerified, groups: [] };
}

// Addresses that must not pass an `emails: [alice@example.com]` or `domains: [example.com]` rule.
const CRAFTED = [
  'alice@example.com@evil.io',
  '"alice@example.com"@evil.io',
  'alice@evil.io@example.com',
  '"alice@evil.io"@example.com',
  'alice@example.com.evil.io',
  'alice@evil-example.com',
  'alice@evilexample.com',
  'alice@example.com\u0000@evil.io',
  'alice@example.com\n@evil.io',
  'alice@example.com evil.io',
  'alice@example.com,mallory@evil.io',
  'alice@example.com;mallory@evil.io',
  'alice@exаmple.com', // Cyrillic а
  'alice@example.com.',
  'alice%40example.com@evil.io',
  '@example.com',
  'alice@',
  'alice',
  '',
];

describe('allow rules: emails and domains (isAllowed)', () => {
  for (const email of CRAFTED) {
    // Two of them are, read strictly (quoted local part), mailboxes at example.com: a domain rule
    // may admit or refuse them, but the exact email rule must refuse them.
    const domainOk = email === 'alice@evil.io@example.com' || email === '"alice@evil.io"@example.com';
    it(`refuses ${JSON.stringify(email)} for emails: [alice@example.com]${domainOk ? '' : ' and domains: [example.com]'}`, () => {
      assert.equal(isAllowed(route('by-email'), who(email), config), false, 'emails rule');
      assert.equal(isAllowed(route('by-email'), who(email, true), config), false, 'emails rule, verified');
      assert.equal(
        isAllowed(route('by-upper-email'), who(email, true), config),
        false,
        'upper-case emails rule',
      );
      if (!domainOk) {
        assert.equal(isAllowed(route('by-domain'), who(email, true), config), false, 'domains rule');
        assert.equal(
          isAllowed(route('by-upper-domain'), who(email, true), config),
          false,
          'upper-case domains rule',
        );
        assert.equal(isAllowed(route('by-subdomains'), who(email, true), config), false, 'subdomains rule');
      }
    });
  }

  it('refuses a subdomain for a plain domain rule, and look-alikes for a .domain rule', () => {
    assert.equal(isAllowed(route('by-domain'), who('alice@eu.example.com', true), config), false);
    assert.equal(isAllowed(route('by-subdomains'), who('alice@eu.example.com', true), config), true);
    assert.equal(isAllowed(route('by-subdomains'), who('alice@eu-example.com', true), config), false);
    assert.equal(
      isAllowed(route('by-subdomains'), who('alice@evil.io.example.com.evil.io', true), config),
      false,
    );
    assert.equal(isAllowed(route('by-subdomains'), who('alice@example.com.evil.io', true), config), false);
  });

  it('compares case-insensitively: EXAMPLE.COM addresses and rules still match (no lock-out)', () => {
    assert.equal(isAllowed(route('by-domain'), who('carol@EXAMPLE.COM', true), config), true);
    assert.equal(isAllowed(route('by-upper-domain'), who('carol@example.com', true), config), true);
    assert.equal(isAllowed(route('by-email'), who('ALICE@example.com', true), config), true);
    assert.equal(isAllowed(route('by-upper-email'), who('alice@example.com', true), config), true);
    assert.equal(isAllowed(route('by-email'), who('  alice@example.com  ', true), config), true);
  });

  it('ignores an email the IdP says it did not verify (email_verified: false)', () => {
    for (const id of ['by-email', 'by-domain', 'by-subdomains', 'by-upper-domain']) {
      assert.equal(isAllowed(route(id), who('alice@example.com', false), config), false, id);
    }
    assert.equal(isAllowed(route('by-email'), who('alice@example.com', false), trusting), false);
  });

  it('counts an address an OIDC provider says nothing about (Entra ID, ADFS send no email_verified)', () => {
    assert.equal(isAllowed(route('by-email'), who('alice@example.com', undefined), config), true);
    assert.equal(isAllowed(route('by-domain'), who('alice@example.com', undefined), config), true);
  });

  it('reads email_verified sent as a string (Amazon Cognito\'s userinfo): "false" is not verified', () => {
    const claims = (v: unknown) =>
      claimsToIdentity('corp', { sub: 's', email: 'alice@example.com', email_verified: v });
    assert.equal(claims('false').emailVerified, false);
    assert.equal(claims('true').emailVerified, true);
    assert.equal(isAllowed(route('by-email'), claims('false'), config), false);
  });

  it('counts an LDAP or SAML address only with trustEmail: true (a directory user may edit their own mail)', () => {
    for (const type of ['ldap', 'saml'] as const) {
      const provider = { id: 'corp', type } as unknown as (typeof config.identityProviders)[number];
      const c = { primaryIdp: 'corp', identityProviders: [provider] };
      const trusted = { primaryIdp: 'corp', identityProviders: [{ ...provider, trustEmail: true }] };
      assert.equal(isAllowed(route('by-domain'), who('alice@example.com'), c), false, type);
      assert.equal(isAllowed(route('by-domain'), who('alice@example.com'), trusted), true, type);
    }
  });

  it("judges a partner provider's users only by rules written for that provider: its addresses and claims are not the primary provider's", () => {
    const partner = (email: string, claims: Record<string, unknown> = {}): Identity => ({
      idp: 'partner',
      sub: 'm',
      username: 'partner:mallory',
      email,
      emailVerified: true,
      groups: ['partner:admins'],
      claims,
    });
    const c = { primaryIdp: 'corp', identityProviders: trusting.identityProviders };
    const ceo = partner('ceo@example.com', { groups: ['admins'], dept: 'board' });
    assert.equal(isAllowed({ emails: ['ceo@example.com'] }, ceo, c), false, 'emails');
    assert.equal(isAllowed({ domains: ['example.com'] }, ceo, c), false, 'domains');
    assert.equal(isAllowed({ domains: ['.example.com'] }, ceo, c), false, 'subdomains');
    assert.equal(isAllowed({ claims: { groups: ['admins'] } }, ceo, c), false, 'claims');
    assert.equal(isAllowed({ groups: ['admins'] }, ceo, c), false, 'groups (qualified)');
    // Written for the partner, they admit its users.
    assert.equal(isAllowed({ emails: ['partner:ceo@example.com'] }, ceo, c), true);
    assert.equal(isAllowed({ domains: ['partner:example.com'] }, ceo, c), true);
    assert.equal(isAllowed({ claims: { 'partner:dept': 'board' } }, ceo, c), true);
    // …and never the primary provider's.
    const corp: Identity = { ...ceo, idp: 'corp', username: 'ceo', groups: [] };
    assert.equal(isAllowed({ domains: ['partner:example.com'] }, corp, c), false);
    assert.equal(isAllowed({ claims: { 'partner:dept': 'board' } }, corp, c), false);
    // Not even when the primary IdP sends a claim literally called `partner:dept`, once a
    // provider `partner` is configured.
    const withPartner = {
      primaryIdp: 'corp',
      identityProviders: [...c.identityProviders, { ...c.identityProviders[0]!, id: 'partner' }],
    };
    const literal: Identity = { ...corp, claims: { 'partner:dept': 'board', 'urn:x': 'y' } };
    assert.equal(isAllowed({ claims: { 'partner:dept': 'board' } }, literal, withPartner), false);
    assert.equal(isAllowed({ claims: { 'partner:dept': 'board' } }, literal, c), true, 'no such provider');
    assert.equal(
      isAllowed({ claims: { 'urn:x': 'y' } }, literal, withPartner),
      true,
      'a prefix naming no provider',
    );
    assert.equal(isAllowed({ domains: ['example.com'] }, corp, c), true);
    assert.equal(isAllowed({ claims: { dept: 'board' } }, corp, c), true);
  });

  it('refuses an identity without an email, and no identity at all', () => {
    assert.equal(isAllowed(route('by-email'), who(undefined), config), false);
    assert.equal(isAllowed(route('by-domain'), undefined, config), false);
  });
});

describe('allow rules through a real IdP', () => {
  const user = (id: string, email: string): DemoUser => ({
    id,
    username: id,
    password: id,
    email,
    name: id,
    groups: ['staff'],
  });

  it('admits alice@example.com and carol@EXAMPLE.COM, and refuses crafted addresses with 403 before the upstream', async (t) => {
    const ai = await upstreamFor(t);
    const port = await freePort();
    const publicUrl = `http://127.0.0.1:${port}`;
    const users = [
      user('alice', 'alice@example.com'),
      user('carol', 'carol@EXAMPLE.COM'),
      user('m1', 'alice@example.com@evil.io'),
      user('m2', '"alice@example.com"@evil.io'),
      user('m3', 'mallory@evil-example.com'),
      user('m4', 'mallory@example.com.evil.io'),
    ];
    const idp = await startIdpFor(t, publicUrl, { users });
    const s = await startSso(
      t,
      `  - { id: ai, path: /dce5/, upstream: "${ai.url}", auth: required, allow: { domains: [example.com] }, inject: { headers: true } }
  - { id: mail, path: /mail/, upstream: "${ai.url}", auth: required, allow: { emails: [alice@example.com] }, inject: { headers: true } }
`,
      { idp, port },
    );
    const outcome: Record<string, [number, number]> = {};
    for (const u of users) {
      const before = ai.requests.length;
      const { client, landed } = await login(s, u.username);
      const mail = await client.request('/mail/', { headers: { accept: 'application/json' } });
      outcome[u.username] = [landed.status, mail.status];
      const reached = ai.requests.slice(before);
      for (const r of reached) assert.ok(['alice', 'carol'].includes(String(r.headers['x-forwarded-user'])));
    }
    assert.deepEqual(outcome, {
      alice: [200, 200],
      carol: [200, 403],
      m1: [403, 403],
      m2: [403, 403],
      m3: [403, 403],
      m4: [403, 403],
    });
  });
});
