import { ANY_ROUTE } from '../helpers/gateway.ts';
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { gitlabClaimsCheck } from '../../gateway/auth/providers/gitlab.ts';
import { googleClaimsCheck } from '../../gateway/auth/providers/google.ts';
import { loadConfigText } from '../../gateway/config/loadConfig.ts';
import { startGateway } from '../helpers/gateway.ts';
import { json } from '../helpers/http.ts';
import { driveLogin, type Idp, startTestIdp, WORKSPACE_USERS } from '../helpers/idp.ts';
import { freePort, GatewayClient, SESSION_SECRET } from '../helpers/sso.ts';
import { upstreamFor } from '../helpers/upstream.ts';

async function setup(t: TestContext, shape: 'google' | 'gitlab', provider: (idp: Idp) => string) {
  const port = await freePort();
  const publicUrl = `http://127.0.0.1:${port}`;
  const id = shape;
  const idp = await startTestIdp(t, {
    claimsShape: shape,
    users: WORKSPACE_USERS,
    logErrors: false,
    clients: [
      {
        clientId: 'portico',
        clientSecret: 'portico-secret',
        redirectUris: [`${publicUrl}/_portico/callback/${id}`],
        postLogoutRedirectUris: [`${publicUrl}/_portico/logged-out`],
      },
    ],
  });
  const upstream = await upstreamFor(t);
  const yaml = `publicUrl: ${publicUrl}
session: { secret: ${SESSION_SECRET} }
identityProviders:
  - ${provider(idp)}
routes:
  - { id: app, path: /, upstream: "${upstream.url}", auth: required, inject: { headers: true } }
`;
  const gw = await startGateway(t, yaml, { port });
  return { idp, gw, upstream, publicUrl };
}

async function signIn(s: Awaited<ReturnType<typeof setup>>, user: string) {
  const client = new GatewayClient(s.gw.url);
  const first = await client.follow('/');
  const authorize = new URL(first.headers.location!);
  assert.ok(authorize.href.startsWith(s.idp.issuer), authorize.href);
  const back = await driveLogin(s.idp, authorize, { username: user, password: user });
  const landed = await client.follow(back.location);
  return { client, landed, authorize };
}

const me = (client: GatewayClient) =>
  client.request('/_portico/me', { headers: { accept: 'application/json' } });

describe('signing in with Google', () => {
  const google = (idp: Idp) =>
    `{ id: google, type: google, issuer: "${idp.issuer}", clientId: portico, clientSecret: portico-secret, hostedDomain: example.com }`;

  it('admits a Workspace user whose ID token carries the configured hosted domain', async (t) => {
    const s = await setup(t, 'google', google);
    const { client, landed, authorize } = await signIn(s, 'alice');
    assert.equal(landed.status, 200);
    assert.equal(authorize.searchParams.get('hd'), 'example.com');
    assert.equal(authorize.searchParams.get('scope'), 'openid email profile');
    const h = s.upstream.last().headers;
    assert.equal(h['x-forwarded-user'], 'alice@example.com');
    assert.equal(h['x-forwarded-email'], 'alice@example.com');
    const body = json(await me(client));
    assert.equal(body.idp, 'google');
    assert.equal(body.sub, '110248495921238986420');
    assert.equal(body.emailVerified, true);
  });

  it('refuses a user of another hosted domain although the hd parameter was sent', async (t) => {
    const s = await setup(t, 'google', google);
    const before = s.upstream.requests.length;
    const { client, landed, authorize } = await signIn(s, 'eve');
    assert.equal(authorize.searchParams.get('hd'), 'example.com', 'the hint alone did not stop her');
    assert.equal(landed.status, 403);
    assert.match(landed.text, /does not belong to example\.com/);
    assert.equal((await me(client)).status, 401);
    assert.equal(s.upstream.requests.length, before);
  });

  it('admits any verified Google account when no hosted domain is configured', async (t) => {
    const s = await setup(
      t,
      'google',
      (idp) =>
        `{ id: google, type: google, issuer: "${idp.issuer}", clientId: portico, clientSecret: portico-secret }`,
    );
    const { landed, authorize } = await signIn(s, 'eve');
    assert.equal(landed.status, 200);
    assert.equal(authorize.searchParams.get('hd'), null);
    assert.equal(s.upstream.last().headers['x-forwarded-user'], 'eve@example.com');
  });

  it('checks the hd claim and the verified address of an ID token', () => {
    const check = googleClaimsCheck(['example.com', 'example.org']);
    assert.equal(check({ email_verified: true, hd: 'example.org' }), undefined);
    assert.equal(check({ email_verified: true, hd: 'EXAMPLE.com' }), undefined);
    assert.ok(check({ email_verified: true, hd: 'evil.example' }));
    assert.ok(check({ email_verified: true }), 'a consumer account has no hd');
    assert.ok(check({ email_verified: false, hd: 'example.com' }));
    assert.ok(googleClaimsCheck(undefined)({ email_verified: 'true' }), 'only a boolean true counts');
  });
});

describe('signing in with GitLab', () => {
  const gitlab = (idp: Idp, extra = '') =>
    `{ id: gitlab, type: gitlab, baseUrl: "${idp.issuer}", clientId: portico, clientSecret: portico-secret${extra} }`;

  it('passes the nickname as user and the groups_direct claim as X-Forwarded-Groups', async (t) => {
    const s = await setup(t, 'gitlab', (idp) => gitlab(idp));
    const { client, landed, authorize } = await signIn(s, 'alice');
    assert.equal(landed.status, 200);
    assert.equal(authorize.searchParams.get('scope'), 'openid profile email');
    const h = s.upstream.last().headers;
    assert.equal(h['x-forwarded-user'], 'alice');
    assert.equal(h['x-forwarded-groups'], 'acme/platform,acme');
    assert.equal(h['x-forwarded-email'], 'alice@example.com');
    assert.equal(json(await me(client)).idp, 'gitlab');
  });

  it('admits members of allowedGroups and refuses everyone else with a 403 and no session', async (t) => {
    const s = await setup(t, 'gitlab', (idp) => gitlab(idp, ', allowedGroups: [acme/platform]'));
    const ok = await signIn(s, 'alice');
    assert.equal(ok.landed.status, 200);
    const refused = await signIn(s, 'eve');
    assert.equal(refused.landed.status, 403);
    assert.match(refused.landed.text, /not a member of a group allowed/);
    assert.equal((await me(refused.client)).status, 401);
  });

  it('checks allowed groups case-insensitively against the mapped groups claim', () => {
    const check = gitlabClaimsCheck(['Acme/Platform'], 'groups_direct');
    assert.equal(check({ groups_direct: ['acme/platform'] }), undefined);
    assert.ok(check({ groups_direct: ['acme'] }), 'a parent group is not the subgroup');
    assert.ok(check({ groups: ['acme/platform'] }), 'another claim does not count');
    assert.equal(gitlabClaimsCheck(undefined, 'groups_direct')({}), undefined);
  });
});

describe('Google and GitLab settings', () => {
  const config = (idp: string) => `publicUrl: http://127.0.0.1:1
session: { secret: ${SESSION_SECRET} }
${ANY_ROUTE}identityProviders:
  - ${idp}
`;
  it('accepts the documented keys and requires a client secret', () => {
    assert.doesNotThrow(() =>
      loadConfigText(
        config(
          '{ id: g, type: google, clientId: a, clientSecret: b, hostedDomain: [example.com, example.org] }',
        ),
      ),
    );
    assert.doesNotThrow(() =>
      loadConfigText(
        config(
          '{ id: gl, type: gitlab, clientId: a, clientSecret: b, baseUrl: "https://gitlab.example.com", allowedGroups: [acme/platform], claims: { groups: groups } }',
        ),
      ),
    );
    assert.throws(() => loadConfigText(config('{ id: g, type: google, clientId: a }')), /clientSecret/);
    assert.throws(() => loadConfigText(config('{ id: gl, type: gitlab, clientId: a }')), /clientSecret/);
    assert.throws(
      () =>
        loadConfigText(config('{ id: g, type: google, clientId: a, clientSecret: b, hostDomain: x.com }')),
      /unknown key "hostDomain"/,
    );
  });
});
