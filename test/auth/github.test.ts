import { ANY_ROUTE } from '../helpers/gateway.ts';
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { githubApiUrl, nextLink } from '../../gateway/auth/providers/github.ts';
import { loadConfigText } from '../../gateway/config/loadConfig.ts';
import { startGateway } from '../helpers/gateway.ts';
import {
  approveAtGithub,
  type GithubStandInOptions,
  type GithubStandInUser,
  startGithubStandIn,
} from '../helpers/githubStandIn.ts';
import { json, send } from '../helpers/http.ts';
import { freePort, GatewayClient, SESSION_SECRET } from '../helpers/sso.ts';
import { upstreamFor } from '../helpers/upstream.ts';

const USERS: GithubStandInUser[] = [
  {
    id: 583231,
    login: 'octocat',
    name: 'The Octocat',
    publicEmail: 'octocat@public.example',
    emails: [
      { email: 'octocat@old.example', primary: false, verified: true, visibility: null },
      { email: 'octo@acme.example', primary: true, verified: true, visibility: 'private' },
    ],
    orgs: ['acme', 'open-source'],
    teams: ['acme/platform'],
  },
  {
    id: 1001,
    login: 'mona',
    name: 'Mona Lisa',
    emails: [
      { email: 'mona@unverified.example', primary: true, verified: false, visibility: 'public' },
      { email: 'mona@verified.example', primary: false, verified: true, visibility: null },
    ],
    orgs: ['acme'],
    teams: ['acme/design'],
  },
  {
    id: 1002,
    login: 'hubot',
    name: null,
    emails: [{ email: 'hubot@other.example', primary: true, verified: true, visibility: null }],
    orgs: ['other-org'],
    publicOrgs: ['other-org'],
    teams: ['other-org/bots'],
  },
  {
    id: 1003,
    login: 'joiner',
    name: 'Many Orgs',
    emails: [],
    orgs: ['o1', 'o2', 'o3', 'o4', 'o5', 'ACME'],
    teams: [],
  },
];

const CLIENT_ID = 'Iv1.8a61f9b3a7aba766';
const CLIENT_SECRET = 'gh-client-secret-1234567890';

type Setup = {
  enterprise?: boolean;
  secret?: string;
  extra?: string;
  standIn?: Partial<GithubStandInOptions>;
  inject?: string;
};

async function setup(t: TestContext, options: Setup = {}) {
  const port = await freePort();
  const publicUrl = `http://127.0.0.1:${port}`;
  const gh = await startGithubStandIn(t, {
    apps: [
      {
        clientId: CLIENT_ID,
        clientSecret: CLIENT_SECRET,
        callbackUrl: `${publicUrl}/_portico/callback/github`,
      },
    ],
    users: USERS,
    ...(options.enterprise ? { basePath: '/ghe', apiPrefix: '/api/v3' } : {}),
    ...options.standIn,
  });
  const upstream = await upstreamFor(t);
  // github.com has its API on another host (api.github.com): the stand-in serves both at its root.
  const api = options.enterprise ? '' : `, apiUrl: "${gh.apiUrl}"`;
  const yaml = `publicUrl: ${publicUrl}
session: { secret: ${SESSION_SECRET} }
identityProviders:
  - { id: github, type: github, clientId: "${CLIENT_ID}", clientSecret: "${options.secret ?? CLIENT_SECRET}", baseUrl: "${gh.url}"${api}${options.extra ?? ''} }
routes:
  - { id: app, path: /, upstream: "${upstream.url}", auth: required, inject: { headers: true${options.inject ?? ''} } }
`;
  const gw = await startGateway(t, yaml, { port });
  return { gh, gw, upstream, publicUrl };
}

type S = Awaited<ReturnType<typeof setup>>;

/** A browser: the gateway sends it to GitHub, the configured user approves, it comes back. */
async function githubLogin(s: S, login: string, client = new GatewayClient(s.gw.url)) {
  s.gh.approveAs(login);
  const first = await client.follow('/');
  const authorize = first.headers.location!;
  assert.ok(authorize?.startsWith(`${s.gh.url}/login/oauth/authorize?`), `went to ${authorize}`);
  const callback = await approveAtGithub(authorize);
  const landed = await client.follow(callback);
  return { client, landed, authorize: new URL(authorize), callback };
}

async function me(client: GatewayClient) {
  return client.request('/_portico/me', { headers: { accept: 'application/json' } });
}

describe('signing in with GitHub', () => {
  it('passes the login, the primary verified address and orgs and teams as groups to the upstream', async (t) => {
    const s = await setup(t, { extra: ', allowedOrganizations: [acme]' });
    const { client, landed, authorize } = await githubLogin(s, 'octocat');
    assert.equal(landed.status, 200);
    const h = s.upstream.last().headers;
    assert.equal(h['x-forwarded-user'], 'octocat');
    assert.equal(h['x-forwarded-email'], 'octo@acme.example');
    assert.deepEqual(String(h['x-forwarded-groups']).split(','), ['acme', 'open-source', 'acme/platform']);
    assert.equal(h['x-forwarded-preferred-username'], 'The Octocat');
    const body = json(await me(client));
    assert.equal(body.sub, '583231');
    assert.equal(body.idp, 'github');

    // The authorization request: state, PKCE S256 and read:org because membership is checked.
    assert.equal(authorize.searchParams.get('client_id'), CLIENT_ID);
    assert.equal(authorize.searchParams.get('redirect_uri'), `${s.publicUrl}/_portico/callback/github`);
    assert.deepEqual(authorize.searchParams.get('scope')!.split(' '), [
      'read:user',
      'user:email',
      'read:org',
    ]);
    assert.ok(authorize.searchParams.get('state'));
    assert.equal(authorize.searchParams.get('code_challenge_method'), 'S256');
    assert.match(authorize.searchParams.get('code_challenge')!, /^[A-Za-z0-9_-]{43}$/);
    // REST calls carry the headers GitHub documents.
    const apiCalls = s.gh.requests.filter((r) => r.path.startsWith('/user'));
    assert.deepEqual(apiCalls.map((r) => r.path).sort(), [
      '/user',
      '/user/emails',
      '/user/orgs',
      '/user/teams',
    ]);
    for (const r of apiCalls) {
      assert.match(String(r.headers.authorization), /^Bearer gho_/);
      assert.equal(r.headers.accept, 'application/vnd.github+json');
      assert.equal(r.headers['x-github-api-version'], '2022-11-28');
      assert.ok(r.headers['user-agent']);
    }
    const exchange = s.gh.requests.find((r) => r.path === '/login/oauth/access_token')!;
    assert.equal(exchange.headers.accept, 'application/json');
    assert.ok(exchange.body?.code_verifier);
  });

  it('asks only for read:user and user:email, and loads no groups, when membership is not restricted', async (t) => {
    const s = await setup(t);
    const { landed, authorize } = await githubLogin(s, 'hubot');
    assert.equal(landed.status, 200);
    assert.equal(authorize.searchParams.get('scope'), 'read:user user:email');
    assert.equal(s.upstream.last().headers['x-forwarded-user'], 'hubot');
    assert.equal(s.upstream.last().headers['x-forwarded-email'], 'hubot@other.example');
    assert.equal(s.upstream.last().headers['x-forwarded-groups'], undefined);
    assert.equal(s.gh.requests.filter((r) => r.path === '/user/orgs').length, 0);
  });

  it('does not use a primary address GitHub has not verified, nor another address instead', async (t) => {
    const s = await setup(t);
    const { client, landed } = await githubLogin(s, 'mona');
    assert.equal(landed.status, 200);
    assert.equal(s.upstream.last().headers['x-forwarded-user'], 'mona');
    assert.equal(s.upstream.last().headers['x-forwarded-email'], undefined);
    assert.equal(json(await me(client)).email, undefined);
  });

  it('refuses a user outside allowedOrganizations with a 403 page and no session', async (t) => {
    const s = await setup(t, { extra: ', allowedOrganizations: [acme]' });
    const before = s.upstream.requests.length;
    const { client, landed } = await githubLogin(s, 'hubot');
    assert.equal(landed.status, 403);
    assert.match(landed.text, /hubot is not a member/);
    assert.equal((await me(client)).status, 401);
    assert.equal((await client.request('/', { headers: { accept: 'application/json' } })).status, 401);
    assert.equal(s.upstream.requests.length, before);
  });

  it('admits members of an allowed team and refuses other members of the same organization', async (t) => {
    const s = await setup(t, { extra: ', allowedTeams: [ACME/platform]' });
    const ok = await githubLogin(s, 'octocat');
    assert.equal(ok.landed.status, 200);
    const refused = await githubLogin(s, 'mona');
    assert.equal(refused.landed.status, 403);
    assert.equal((await me(refused.client)).status, 401);
  });

  it('follows Link pagination of the organization listing to find the membership', async (t) => {
    const s = await setup(t, { extra: ', allowedOrganizations: [acme]', standIn: { maxPerPage: 2 } });
    const { landed } = await githubLogin(s, 'joiner');
    assert.equal(landed.status, 200);
    assert.equal(s.upstream.last().headers['x-forwarded-groups'], 'o1,o2,o3,o4,o5,ACME');
    const pages = s.gh.requests.filter((r) => r.path === '/user/orgs').map((r) => r.query.get('page'));
    assert.deepEqual(pages, [null, '2', '3']);
  });

  it('shows a login error and keeps no session when GitHub refuses the client secret', async (t) => {
    const s = await setup(t, { secret: 'not-the-secret' });
    const { client, landed } = await githubLogin(s, 'octocat');
    assert.equal(landed.status, 400);
    assert.match(landed.text, /client_id and\/or client_secret passed are incorrect/);
    assert.equal((await me(client)).status, 401);
  });

  it('shows a login error when the user cancels at GitHub', async (t) => {
    const s = await setup(t);
    s.gh.denyNext();
    const { client, landed, callback } = await githubLogin(s, 'octocat');
    assert.match(callback, /error=access_denied/);
    assert.equal(landed.status, 400);
    assert.equal((await me(client)).status, 401);
  });

  it('works with a GitHub Enterprise Server base URL, the API under /api/v3', async (t) => {
    const s = await setup(t, { enterprise: true, extra: ', allowedTeams: [acme/platform]' });
    assert.match(s.gh.url, /\/ghe$/);
    const { landed, authorize } = await githubLogin(s, 'octocat');
    assert.equal(landed.status, 200);
    assert.equal(authorize.pathname, '/ghe/login/oauth/authorize');
    assert.equal(s.upstream.last().headers['x-forwarded-user'], 'octocat');
    assert.deepEqual(
      s.gh.requests.map((r) => r.path).filter((p) => p.includes('/user')),
      ['/ghe/api/v3/user', '/ghe/api/v3/user/emails', '/ghe/api/v3/user/orgs', '/ghe/api/v3/user/teams'],
    );
  });

  it('refuses a replayed authorization code, and a replayed callback', async (t) => {
    const s = await setup(t);
    const { client, landed, callback } = await githubLogin(s, 'octocat');
    assert.equal(landed.status, 200);
    // The same callback again: its state was consumed.
    assert.equal((await client.request(callback)).status, 400);
    // A fresh login in the same browser, answered with the old code: GitHub refuses it.
    const start = await client.follow('/_portico/login/github');
    const state = new URL(start.headers.location!).searchParams.get('state')!;
    const code = new URL(callback).searchParams.get('code')!;
    const replay = await client.request(`/_portico/callback/github?code=${code}&state=${state}`);
    assert.equal(replay.status, 400);
    assert.match(replay.text, /code passed is incorrect or expired/);
  });

  it("refuses a code injected into another browser's login (PKCE)", async (t) => {
    const s = await setup(t);
    const victim = new GatewayClient(s.gw.url);
    const first = await victim.follow('/');
    const stolen = new URL(await approveAtGithub(first.headers.location!)).searchParams.get('code')!;
    const attacker = new GatewayClient(s.gw.url);
    const own = await attacker.follow('/_portico/login/github');
    const state = new URL(own.headers.location!).searchParams.get('state')!;
    const r = await attacker.request(`/_portico/callback/github?code=${stolen}&state=${state}`);
    assert.equal(r.status, 400);
    assert.match(r.text, /code_verifier does not match/);
    assert.equal((await me(attacker)).status, 401);
  });

  it('refreshes an expiring GitHub App user token before passing it on', async (t) => {
    const s = await setup(t, { standIn: { expiringTokens: 20 }, inject: ', accessToken: true' });
    const { client, landed } = await githubLogin(s, 'octocat');
    assert.equal(landed.status, 200);
    const first = s.upstream.last().headers.authorization;
    // expires in 20 s < the 30 s margin: the next request refreshes.
    assert.equal((await client.request('/again')).status, 200);
    const refreshed = s.upstream.last().headers.authorization;
    assert.ok(s.gh.requests.some((r) => r.body?.grant_type === 'refresh_token'));
    assert.match(String(refreshed), /^Bearer gho_/);
    assert.notEqual(refreshed, first);
  });
});

describe('GitHub provider settings', () => {
  it('derives the API root from the web base URL', () => {
    assert.equal(githubApiUrl('https://github.com'), 'https://api.github.com');
    assert.equal(githubApiUrl('https://github.com/'), 'https://api.github.com');
    assert.equal(githubApiUrl('https://ghe.example.com'), 'https://ghe.example.com/api/v3');
    assert.equal(githubApiUrl('https://git.example.com/github/'), 'https://git.example.com/github/api/v3');
    assert.equal(githubApiUrl('https://acme.ghe.com'), 'https://api.acme.ghe.com');
  });

  it('reads the next page from a Link header', () => {
    assert.equal(
      nextLink(
        '<https://api.github.com/user/orgs?page=2>; rel="next", <https://api.github.com/user/orgs?page=5>; rel="last"',
      ),
      'https://api.github.com/user/orgs?page=2',
    );
    assert.equal(nextLink('<https://api.github.com/user/orgs?page=1>; rel="prev"'), undefined);
    assert.equal(nextLink(null), undefined);
  });

  it('requires a client secret and rejects unknown keys and malformed team names in the config', () => {
    const config = (idp: string) => `publicUrl: http://127.0.0.1:1
session: { secret: ${SESSION_SECRET} }
${ANY_ROUTE}identityProviders:
  - ${idp}
`;
    assert.doesNotThrow(() =>
      loadConfigText(
        config(
          '{ id: gh, type: github, clientId: a, clientSecret: b, baseUrl: "https://ghe.example.com", allowedOrganizations: [acme], allowedTeams: [acme/core] }',
        ),
      ),
    );
    assert.throws(() => loadConfigText(config('{ id: gh, type: github, clientId: a }')), /clientSecret/);
    assert.throws(
      () =>
        loadConfigText(config('{ id: gh, type: github, clientId: a, clientSecret: b, allowedOrgs: [x] }')),
      /unknown key "allowedOrgs"/,
    );
    assert.throws(
      () =>
        loadConfigText(
          config('{ id: gh, type: github, clientId: a, clientSecret: b, allowedTeams: [core] }'),
        ),
      /allowedTeams/,
    );
  });
});

describe('the GitHub stand-in', () => {
  const app = { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, callbackUrl: 'http://127.0.0.1:1/cb' };

  it('answers the REST API as GitHub documents: 401, 403 without User-Agent, 415 for other media types', async (t) => {
    const gh = await startGithubStandIn(t, { apps: [app], users: USERS });
    const code = new URL(
      await approveAtGithub(`${gh.url}/login/oauth/authorize?client_id=${CLIENT_ID}&scope=user:email`),
    ).searchParams.get('code')!;
    const tokenRes = await fetch(`${gh.url}/login/oauth/access_token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ client_id: CLIENT_ID, client_secret: CLIENT_SECRET, code }),
    });
    const token = ((await tokenRes.json()) as { access_token: string }).access_token;
    const call = (headers: Record<string, string>) => fetch(`${gh.apiUrl}/user`, { headers });
    const ok = { 'user-agent': 'test', accept: 'application/vnd.github+json' };
    assert.equal((await call({ ...ok, authorization: `token ${token}` })).status, 200);
    const none = await call(ok);
    assert.equal(none.status, 401);
    assert.equal(((await none.json()) as { message: string }).message, 'Requires authentication');
    const bad = await call({ ...ok, authorization: 'Bearer gho_nope' });
    assert.equal(((await bad.json()) as { message: string }).message, 'Bad credentials');
    // fetch always sends a User-Agent; node:http sends none unless told.
    const anonymousAgent = await send(gh.apiUrl, '/user', {
      headers: { accept: 'application/json', authorization: `Bearer ${token}` },
    });
    assert.equal(anonymousAgent.status, 403);
    assert.match(anonymousAgent.text, /User-Agent/);
    assert.equal(
      (await call({ ...ok, accept: 'application/xml', authorization: `Bearer ${token}` })).status,
      415,
    );
    // read:org was not granted: teams are not accessible.
    const teams = await fetch(`${gh.apiUrl}/user/teams`, {
      headers: { ...ok, authorization: `Bearer ${token}` },
    });
    assert.equal(teams.status, 403);
  });

  it('answers token errors with HTTP 200, and form-encoded unless JSON is asked for', async (t) => {
    const gh = await startGithubStandIn(t, { apps: [app], users: USERS });
    const r = await fetch(`${gh.url}/login/oauth/access_token`, {
      method: 'POST',
      body: new URLSearchParams({ client_id: CLIENT_ID, client_secret: CLIENT_SECRET, code: 'nope' }),
    });
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type')!, /x-www-form-urlencoded/);
    const body = new URLSearchParams(await r.text());
    assert.equal(body.get('error'), 'bad_verification_code');
    assert.ok(body.get('error_uri'));
  });
});
