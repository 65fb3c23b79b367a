// What a valid config is warned about at start and at every reload: LDAP passwords in clear text,
// allow rules no signed-in user can pass.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfigText } from '../../gateway/config/loadConfig.ts';
import {
  bareRulesWithoutPrimary,
  emailRulesNoOnePasses,
  opaqueTokensNoOneChecks,
  openMetricsOnPublicListener,
  secureCookieOverHttp,
} from '../../gateway/config/configWarnings.ts';
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

describe('allow rules with bare names and no primary provider', () => {
  it('names the routes and clients whose rules no signed-in user can pass, and none once a provider is primary', () => {
    const config = (primary: string) =>
      loadConfigText(
        `publicUrl: https://portal.example.com
session: { secret: "${'s'.repeat(32)}" }
${primary}identityProviders:
  - { id: corp, type: oidc, issuer: "https://idp.example.com", clientId: portico }
  - { id: github, type: github, clientId: portico, clientSecret: x }
oidcProvider:
  clients:
    - { id: grafana, secret: "${'g'.repeat(32)}", redirectUris: ["https://grafana.example.com/cb"], allow: { domains: [corp.example] } }
routes:
  - { id: bare-groups, path: /a/, upstream: "http://127.0.0.1:9/", allow: { groups: [admins] } }
  - { id: bare-claims, path: /b/, upstream: "http://127.0.0.1:9/", allow: { claims: { dept: ai } } }
  - { id: qualified, path: /c/, upstream: "http://127.0.0.1:9/", allow: { groups: ["corp:admins"], domains: ["github:corp.example"] } }
  - { id: open, path: /, upstream: "http://127.0.0.1:9/", auth: required }
`,
        { env: {} },
      );
    assert.deepEqual(bareRulesWithoutPrimary(config('')), [
      'routes.bare-groups',
      'routes.bare-claims',
      'oidcProvider.clients.grafana',
    ]);
    assert.deepEqual(bareRulesWithoutPrimary(config('identity: { primaryProvider: corp }\n')), []);
  });
});

describe('bearer: verify routes with several token-checking providers and none primary', () => {
  it('names the routes that refuse every opaque token, and none once a provider is primary or named', () => {
    const config = (primary: string, providers = '') =>
      loadConfigText(
        `publicUrl: https://portal.example.com
session: { secret: "${'s'.repeat(32)}" }
${primary}identityProviders:
  - { id: corp, type: oidc, issuer: "https://idp.example.com", clientId: portico, clientSecret: x }
  - { id: partner, type: oidc, issuer: "https://partner.example.com", clientId: portico, clientSecret: x }
routes:
  - { id: api, path: /api/, upstream: "http://127.0.0.1:9/", auth: required, bearer: verify${providers} }
  - { id: app, path: /, upstream: "http://127.0.0.1:9/", auth: required }
`,
        { env: {} },
      );
    assert.deepEqual(opaqueTokensNoOneChecks(config('')), ['routes.api']);
    assert.deepEqual(opaqueTokensNoOneChecks(config('identity: { primaryProvider: corp }\n')), []);
    assert.deepEqual(opaqueTokensNoOneChecks(config('', ', bearerProviders: [corp]')), []);
  });
});

describe('metrics open on the public listener', () => {
  it('is said when the portal serves metrics without a token, and not once they have one or a listener of their own', () => {
    const config = (metrics: string) =>
      loadConfigText(
        `publicUrl: https://portal.example.com
${metrics}routes:
  - { id: app, path: /, upstream: "http://127.0.0.1:9/" }
`,
        { env: {} },
      );
    assert.equal(openMetricsOnPublicListener(config('')), true);
    assert.equal(
      openMetricsOnPublicListener(config('metrics: { token: "metrics-token-0123456789" }\n')),
      false,
    );
    assert.equal(openMetricsOnPublicListener(config('metrics: { listen: { port: 9464 } }\n')), false);
    assert.equal(openMetricsOnPublicListener(config('metrics: { enabled: false }\n')), false);
  });
});

describe('email rules LDAP and SAML users cannot pass', () => {
  it('names the rules about a directory without trustEmail, and none once it is trusted', () => {
    const config = (trust: string) =>
      loadConfigText(
        `publicUrl: https://portal.example.com
session: { secret: "${'s'.repeat(32)}" }
identityProviders:
${ldap('dir', 'ldaps://ldap.corp.example', trust)}routes:
  - { id: by-domain, path: /a/, upstream: "http://127.0.0.1:9/", allow: { domains: [corp.example] } }
  - { id: by-group, path: /b/, upstream: "http://127.0.0.1:9/", allow: { groups: [staff] } }
`,
        { env: {} },
      );
    assert.deepEqual(emailRulesNoOnePasses(config('')), ['routes.by-domain (dir)']);
    assert.deepEqual(emailRulesNoOnePasses(config(', trustEmail: true')), []);
  });
});

describe('a __Host- or __Secure- session cookie behind an http publicUrl', () => {
  it('is warned about, since no browser keeps it from an http page; the default name and https are not', () => {
    const config = (publicUrl: string, cookie: string) =>
      loadConfigText(
        `publicUrl: ${publicUrl}
session: { secret: "${'s'.repeat(32)}"${cookie} }
routes:
  - { id: app, path: /, upstream: "http://127.0.0.1:9/", auth: required }
identityProviders:
  - { id: corp, type: oidc, issuer: "https://idp.example.com", clientId: portico }
`,
        { env: {} },
      );
    assert.equal(secureCookieOverHttp(config('http://portal.example.com', ', cookieName: __Host-sid')), true);
    assert.equal(
      secureCookieOverHttp(config('http://portal.example.com', ', cookieName: __Secure-sid')),
      true,
    );
    assert.equal(secureCookieOverHttp(config('http://portal.example.com', '')), false);
    assert.equal(secureCookieOverHttp(config('https://portal.example.com', '')), false);
    assert.equal(
      secureCookieOverHttp(config('https://portal.example.com', ', cookieName: __Host-sid')),
      false,
    );
  });
});
