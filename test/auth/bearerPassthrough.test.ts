import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it, type TestContext } from 'node:test';
import { SignJWT, generateKeyPair } from 'jose';
import { WebSocket } from 'ws';
import { hashApiKey } from '../../gateway/auth/apiKeys.ts';
import { json, send } from '../helpers/http.ts';
import { login, startSso } from '../helpers/sso.ts';
import { startUpstream } from '../helpers/upstream.ts';

const KEY = 'ptk_deploy_abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG';

/** A token as DCE 5's Keycloak would issue it: RS256, its own issuer, nothing Portico knows. */
async function dceToken(): Promise<string> {
  const { privateKey } = await generateKeyPair('RS256');
  return new SignJWT({ preferred_username: 'alice', typ: 'Bearer' })
    .setProtectedHeader({ alg: 'RS256', kid: 'ghippo' })
    .setIssuer('https://portal.example.com/dce5/auth/realms/ghippo')
    .setSubject('9a1c-dce-user')
    .setAudience('ghippo')
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(privateKey);
}

async function setup(t: TestContext, aiExtra = '') {
  const ai = await startUpstream({ websocket: true });
  const customer = await startUpstream();
  const open = await startUpstream({ websocket: true });
  t.after(() => Promise.all([ai.close(), customer.close(), open.close()]));
  const s = await startSso(
    t,
    `  - { id: ai-platform, path: /dce5/, upstream: "${ai.url}", auth: required, websocket: true, inject: { headers: true }${aiExtra} }
  - { id: docs, path: /docs/, upstream: "${open.url}", websocket: true }
  - { id: customer, path: /, upstream: "${customer.url}", auth: optional }
`,
    { extra: `apiKeys:\n  - { id: deploy, hash: "${hashApiKey(KEY)}", groups: [ai-users] }\n` },
  );
  return { s, ai, customer, open };
}

describe('Authorization belongs to the upstream (bearer: passthrough, the default)', () => {
  it('forwards a foreign bearer token byte for byte together with the session identity', async (t) => {
    const { s, ai } = await setup(t);
    const { client } = await login(s, 'alice');
    const token = await dceToken();
    const r = await client.request('/dce5/apis/ghippo.io/v1alpha1/users', {
      headers: { authorization: `Bearer ${token}`, accept: 'application/json' },
    });
    assert.equal(r.status, 200);
    assert.equal(ai.last().headers.authorization, `Bearer ${token}`);
    assert.equal(ai.last().headers['x-forwarded-user'], 'alice');
  });

  it('lets an access-key call with no session through an optional route unchanged, as anonymous', async (t) => {
    const { s, customer } = await setup(t);
    const r = await send(s.gw.url, '/api/v1/jobs', {
      headers: { authorization: 'Bearer dce-access-key-0123456789', accept: 'application/json' },
    });
    assert.equal(r.status, 200);
    assert.equal(customer.last().headers.authorization, 'Bearer dce-access-key-0123456789');
    assert.equal(customer.last().headers['x-forwarded-user'], undefined);
  });

  it('answers 401 JSON with the login URL to a foreign bearer without a session on a required route', async (t) => {
    const { s, ai } = await setup(t);
    const r = await send(s.gw.url, '/dce5/apis/x', {
      headers: { authorization: `Bearer ${await dceToken()}`, accept: 'application/json' },
    });
    assert.equal(r.status, 401);
    assert.equal(json(r).error, 'PORTICO_ERR_UNAUTHENTICATED');
    assert.equal(json(r).login, '/_portico/login?rd=%2Fdce5%2Fapis%2Fx');
    assert.equal(ai.requests.length, 0);
  });

  it('still sends a browser without a session to sign in', async (t) => {
    const { s } = await setup(t);
    const r = await send(s.gw.url, '/dce5/', {
      headers: { accept: 'text/html', 'sec-fetch-mode': 'navigate' },
    });
    assert.equal(r.status, 302);
    assert.equal(r.headers.location, '/_portico/login?rd=%2Fdce5%2F');
  });
});

describe('bearer: verify', () => {
  it('refuses a bearer token none of its identity providers issued, even with a session', async (t) => {
    const { s, ai } = await setup(t, ', bearer: verify');
    const { client } = await login(s, 'alice');
    const before = ai.requests.length;
    const r = await client.request('/dce5/apis/x', {
      headers: { authorization: `Bearer ${await dceToken()}`, accept: 'application/json' },
    });
    assert.equal(r.status, 401);
    assert.match(String(r.headers['www-authenticate']), /invalid_token/);
    assert.equal(ai.requests.length, before, 'nothing reached the upstream');
    // Without a bearer token the session still works.
    assert.equal((await client.request('/dce5/', { headers: { accept: 'application/json' } })).status, 200);
  });
});

describe('Portico API keys', () => {
  it('are recognised on every route and never reach an upstream, whatever the route says', async (t) => {
    const { s, ai, customer, open } = await setup(t);
    const auth = { authorization: `Bearer ${KEY}`, accept: 'application/json' };
    assert.equal((await send(s.gw.url, '/dce5/x', { headers: auth })).status, 200);
    assert.equal(ai.last().headers['x-forwarded-user'], 'deploy');
    assert.equal((await send(s.gw.url, '/', { headers: auth })).status, 200);
    assert.equal((await send(s.gw.url, '/docs/readme', { headers: auth })).status, 200);
    // A malformed key on a public route is stripped as well: it is Portico's secret, not the upstream's.
    const lowercase = { authorization: 'bearer ptk_deploy_not-a-real-key', accept: 'application/json' };
    assert.equal((await send(s.gw.url, '/docs/readme', { headers: lowercase })).status, 200);
    for (const r of [...ai.requests, ...customer.requests, ...open.requests])
      assert.equal(r.headers.authorization, undefined, `${r.url} received the API key`);
  });

  it('never reach an upstream through a WebSocket either', async (t) => {
    const { s, open, ai } = await setup(t);
    for (const [target, upstream] of [
      ['/docs/ws', open],
      ['/dce5/terminal/ws', ai],
    ] as const) {
      const ws = new WebSocket(`${s.gw.url.replace('http', 'ws')}${target}`, {
        headers: { authorization: `Bearer ${KEY}` },
      });
      await once(ws, 'open');
      ws.close();
      const upgrade = upstream.requests.find((r) => r.method === 'UPGRADE')!;
      assert.equal(upgrade.headers.authorization, undefined, target);
    }
  });
});

describe('keycloakIdpHint', () => {
  it('adds kc_idp_hint once to the upstream Keycloak authorization request, and nowhere else', async (t) => {
    const { s, ai } = await setup(t, ', keycloakIdpHint: portico');
    const { client } = await login(s, 'alice');
    const auth = '/dce5/auth/realms/ghippo/protocol/openid-connect/auth';
    await client.request(`${auth}?client_id=ghippo&response_type=code&state=s1`);
    assert.equal(
      ai.last().url,
      '/auth/realms/ghippo/protocol/openid-connect/auth?client_id=ghippo&response_type=code&state=s1&kc_idp_hint=portico',
    );
    await client.request(`${auth}?client_id=ghippo&kc_idp_hint=other`);
    assert.equal(
      ai.last().url,
      '/auth/realms/ghippo/protocol/openid-connect/auth?client_id=ghippo&kc_idp_hint=other',
    );
    await client.request(auth);
    assert.equal(ai.last().url, '/auth/realms/ghippo/protocol/openid-connect/auth?kc_idp_hint=portico');
    await client.request('/dce5/auth/realms/ghippo/protocol/openid-connect/token?x=1');
    assert.equal(ai.last().url, '/auth/realms/ghippo/protocol/openid-connect/token?x=1');
    await client.request('/dce5/apis/auth/realms/ghippo/protocol/openid-connect/auth');
    assert.equal(ai.last().url, '/apis/auth/realms/ghippo/protocol/openid-connect/auth');
  });
});
