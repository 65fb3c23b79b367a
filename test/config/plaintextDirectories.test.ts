// A directory reached over plain LDAP carries every user's password in clear text: said at start.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfigText } from '../../gateway/config/loadConfig.ts';
import { plaintextDirectories } from '../../gateway/config/plaintextDirectories.ts';

const ldap = (id: string, url: string, extra = '') =>
  `  - { id: ${id}, type: ldap, url: "${url}", bindDn: "cn=svc,dc=corp", bindPassword: x, userBase: "ou=people,dc=corp"${extra} }\n`;

describe('LDAP without TLS', () => {
  it('names the directories on another host reached by ldap:// without startTls', () => {
    const config = loadConfigText(
      `publicUrl: https://portal.example.com
session: { secret: "${'s'.repeat(32)}" }
identityProviders:
${ldap('plain', 'ldap://ldap.corp.example:389')}${ldap('upgraded', 'ldap://ldap.corp.example:389', ', startTls: true')}${ldap('secure', 'ldaps://ldap.corp.example:636')}${ldap('local', 'ldap://127.0.0.1:389')}routes:
  - { id: app, path: /, upstream: "http://127.0.0.1:9/", auth: required }
`,
      { env: {} },
    );
    assert.deepEqual(plaintextDirectories(config), ['plain']);
  });
});
