// `oidcProvider:` in routes.yaml: mistakes are reported with their line, and a reload that adds
// or removes a client takes effect at the next request.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import * as oc from 'openid-client';
import { ConfigError, loadConfigText } from '../../gateway/config/loadConfig.ts';
import {
  authorizationRequest,
  followToClient,
  oidcProviderYaml,
  type OpClient,
  relyingParty,
  secretsEnv,
  startOp,
} from '../helpers/openidProvider.ts';
import { ANY_ROUTE } from '../helpers/gateway.ts';
import { login, SESSION_SECRET } from '../helpers/sso.ts';
import { deadPort } from '../helpers/ports.ts';

const HEAD = `publicUrl: https://portal.example.com
session: { secret: ${SESSION_SECRET} }
identityProviders:
  - { id: corp, type: oidc, issuer: "https://idp.example.com", clientId: portico, clientSecret: s }
`;
const GOOD_SECRET = 'a-client-secret-of-more-than-32-characters';

function problemsOf(yaml: string, env: NodeJS.ProcessEnv = {}) {
  try {
    loadConfigText(yaml + ANY_ROUTE, { env });
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems;
  }
  assert.fail('the config was accepted');
}

describe('oidcProvider in routes.yaml', () => {
  it('accepts the clients of SPEC §9 with their secrets from the environment', () => {
    const config = loadConfigText(
      `${HEAD}oidcProvider:
  clients:
    - id: dce5-ghippo
      secret: \${GHIPPO_CLIENT_SECRET}
      redirectUris: [https://portal.example.com/dce5/auth/realms/ghippo/broker/portico/endpoint]
      postLogoutRedirectUris: [https://portal.example.com/dce5/]
      backchannelLogoutUri: https://portal.example.com/dce5/auth/realms/ghippo/protocol/openid-connect/logout/backchannel-logout
      allow: { groups: [ai-users] }
      pkce: optional
      tokenEndpointAuthMethod: client_secret_post
    - { id: grafana, secret: "\${GRAFANA_CLIENT_SECRET}", redirectUris: ["http://localhost:3000/login/generic_oauth"] }
${ANY_ROUTE}`,
      { env: { GHIPPO_CLIENT_SECRET: GOOD_SECRET, GRAFANA_CLIENT_SECRET: `${GOOD_SECRET}!` } },
    );
    const clients = (config.raw.oidcProvider as { clients: { secret: string }[] }).clients;
    assert.equal(clients[0]!.secret, GOOD_SECRET);
  });

  it('reports short secrets, duplicate ids and plain-http URIs with their lines, without printing the secret', () => {
    const problems = problemsOf(
      `${HEAD}oidcProvider:
  clients:
    - id: ghippo
      secret: \${SHORT}
      redirectUris: [https://portal.example.com/cb]
    - id: ghippo
      secret: ${GOOD_SECRET}
      redirectUris:
        - http://portal.example.com/cb
        - http://127.0.0.1:3000/cb
      postLogoutRedirectUris: ["http://[::1]:3000/out"]
      backchannelLogoutUri: http://ghippo.internal/logout
`,
      { SHORT: 'too-short-secret' },
    );
    const at = (path: string) => problems.find((p) => p.path === path);
    assert.equal(at('oidcProvider.clients[0].secret')?.line, 8);
    assert.match(at('oidcProvider.clients[0].secret')!.message, /16 characters long; .* at least 32/);
    assert.doesNotMatch(JSON.stringify(problems), /too-short-secret/);
    assert.equal(at('oidcProvider.clients[1].id')?.line, 10);
    assert.match(at('oidcProvider.clients[1].id')!.message, /duplicate client id "ghippo"/);
    assert.equal(at('oidcProvider.clients[1].redirectUris[0]')?.line, 13);
    assert.match(at('oidcProvider.clients[1].redirectUris[0]')!.message, /must be https/);
    assert.equal(at('oidcProvider.clients[1].backchannelLogoutUri')?.line, 16);
    assert.equal(at('oidcProvider.clients[1].redirectUris[1]'), undefined, 'loopback may be plain http');
    assert.equal(at('oidcProvider.clients[1].postLogoutRedirectUris[0]'), undefined, '[::1] is loopback');
    assert.equal(problems.length, 4, JSON.stringify(problems));
  });

  it('takes plain-http client URIs when the site itself is plain http, as the compose demo is', () => {
    const clients = `oidcProvider:
  clients:
    - id: ghippo
      secret: ${GOOD_SECRET}
      redirectUris: [http://portico:8080/dce5/cb]
      backchannelLogoutUri: http://ai-platform:8082/logout
`;
    const plain = HEAD.replace('https://portal.example.com', 'http://portico:8080');
    const config = loadConfigText(plain + clients + ANY_ROUTE);
    assert.equal((config.raw.oidcProvider as { clients: unknown[] }).clients.length, 1);
    assert.equal(problemsOf(HEAD + clients).length, 2, 'an https site refuses them');
  });

  it('reports unknown keys, missing redirect URIs and a bad pkce value with their lines', () => {
    const problems = problemsOf(`${HEAD}oidcProvider:
  clients:
    - id: grafana
      secret: ${GOOD_SECRET}
      redirectUri: https://grafana.example.com/login/generic_oauth
      pkce: sometimes
`);
    assert.deepEqual(
      problems.map((p) => [p.path, p.line]),
      [
        ['oidcProvider.clients[0]', 7],
        ['oidcProvider.clients[0].redirectUri', 9],
        ['oidcProvider.clients[0].pkce', 10],
      ],
    );
    assert.match(problems[0]!.message, /missing required key "redirectUris"/);
    assert.match(problems[1]!.message, /unknown key "redirectUri"/);
  });

  it('needs publicUrl and a way to sign in', () => {
    const problems = problemsOf(`oidcProvider:
  clients:
    - { id: grafana, secret: ${GOOD_SECRET}, redirectUris: ["https://grafana.example.com/cb"] }
`);
    assert.deepEqual(
      problems.map((p) => [p.path, p.line]),
      [
        ['oidcProvider', 2],
        ['oidcProvider', 2],
      ],
    );
    assert.match(problems.map((p) => p.message).join('\n'), /needs publicUrl[\s\S]*needs identityProviders/);
  });

  it('serves a client added by a reload at the next request, applies narrowed allow rules, and stops serving one removed', async (t) => {
    const rp = `http://127.0.0.1:${await deadPort()}`; // a client nobody runs: its redirects are only read
    const first: OpClient = { id: 'first', secret: `first-${GOOD_SECRET}`, redirectUris: [`${rp}/first`] };
    const added: OpClient = { id: 'added', secret: `added-${GOOD_SECRET}`, redirectUris: [`${rp}/added`] };
    const s = await startOp(t, [first], { env: secretsEnv([added]) });
    const withClients = (clients: OpClient[]) =>
      s.yaml.replace(oidcProviderYaml([first]), oidcProviderYaml(clients));
    const { client: browser } = await login(s, 'alice', '/app/');
    const firstConfig = await relyingParty(s.issuer, first);
    const firstReq = await authorizationRequest(firstConfig, first);
    const firstTokens = await firstReq.redeem((await followToClient(browser, firstReq.url)).location);

    const addedConfig = await relyingParty(s.issuer, added);
    const before = await authorizationRequest(addedConfig, added);
    const unknown = await browser.request(before.url.href);
    assert.equal(unknown.status, 400);
    assert.match(unknown.text, /invalid_client/);

    s.gw.write(withClients([first, added]));
    assert.equal(s.gw.gateway.reload().ok, true);
    const after = await authorizationRequest(addedConfig, added);
    const tokens = await after.redeem((await followToClient(browser, after.url)).location);
    assert.equal(tokens.claims()!.preferred_username, 'alice');

    // `allow` narrowed by a reload: alice's next authorization and refresh are refused.
    s.gw.write(withClients([first, { ...added, allow: '{ users: [bob] }' }]));
    assert.equal(s.gw.gateway.reload().ok, true);
    const denied = await authorizationRequest(addedConfig, added);
    assert.equal(
      (await followToClient(browser, denied.url)).location.searchParams.get('error'),
      'access_denied',
    );
    await assert.rejects(
      oc.refreshTokenGrant(addedConfig, tokens.refresh_token!),
      (err: oc.ResponseBodyError) => {
        assert.equal(err.error, 'invalid_grant');
        return true;
      },
    );

    // `added` alone now: `first` is gone, and so is what it was given.
    s.gw.write(withClients([added]));
    assert.equal(s.gw.gateway.reload().ok, true);
    await assert.rejects(oc.refreshTokenGrant(firstConfig, firstTokens.refresh_token!), (err: Error) => {
      assert.equal((err as { status?: number }).status, 401);
      return true;
    });
  });
});
