// Two Portico replicas behind one publicUrl, sharing a Redis (a key prefix of their own): the
// OpenID Provider's keys, codes, grants and sessions are shared, and a logout token goes out once.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { createLocalJWKSet, jwtVerify } from 'jose';
import * as oc from 'openid-client';
import { oidcProviderFeature } from '../../gateway/oidcProvider/oidcProviderFeature.ts';
import { startGateway } from '../helpers/gateway.ts';
import { json, send } from '../helpers/http.ts';
import {
  authorizationRequest,
  followToClient,
  type OpClient,
  relyingParty,
  secretsEnv,
  startLogoutReceiver,
  startOp,
} from '../helpers/openidProvider.ts';
import { sharedRedisUrl } from '../helpers/redis.ts';
import { login, logout } from '../helpers/sso.ts';
import { deadPort } from '../helpers/ports.ts';

async function replicas(t: TestContext) {
  const receiver = await startLogoutReceiver(t);
  const client: OpClient = {
    id: 'dce5-ghippo',
    secret: 'ghippo-secret-0123456789abcdefghijklmnopqrstuvwxyz',
    redirectUris: [`http://127.0.0.1:${await deadPort()}/broker/endpoint`],
    backchannelLogoutUri: receiver.url,
  };
  const a = await startOp(t, [client], {
    store: 'redis',
    redisUrl: await sharedRedisUrl(),
    keyPrefix: `op-replicas-${process.pid}-${Date.now()}:`,
  });
  const b = await startGateway(t, a.yaml, {
    features: [oidcProviderFeature],
    env: secretsEnv([client]),
  });
  return { a, b, client, receiver };
}

function tokenRequest(base: string, client: OpClient, params: Record<string, string>) {
  return send(base, '/_portico/oidc/token', {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${client.id}:${client.secret}`).toString('base64')}`,
    },
    body: new URLSearchParams(params).toString(),
  });
}

describe('the OpenID Provider on two replicas sharing Redis', () => {
  it('publishes the same signing key on both, and a code issued by one is redeemed at the other', async (t) => {
    const { a, b, client } = await replicas(t);
    const jwksA = json(await send(a.gw.url, '/_portico/oidc/jwks'));
    const jwksB = json(await send(b.url, '/_portico/oidc/jwks'));
    assert.deepEqual(jwksA, jwksB);
    const { client: browser } = await login(a, 'alice', '/app/');
    const config = await relyingParty(a.issuer, client);
    const req = await authorizationRequest(config, client, { pkce: false });
    const { location } = await followToClient(browser, req.url);
    const r = await tokenRequest(b.url, client, {
      grant_type: 'authorization_code',
      code: location.searchParams.get('code')!,
      redirect_uri: client.redirectUris[0]!,
    });
    assert.equal(r.status, 200, r.text);
    const tokens = json<{ id_token: string; refresh_token: string; access_token: string }>(r);
    const { payload } = await jwtVerify(tokens.id_token, createLocalJWKSet(jwksA as never), {
      issuer: a.issuer,
      audience: client.id,
    });
    assert.equal(payload.preferred_username, 'alice');
    const refreshed = await tokenRequest(a.gw.url, client, {
      grant_type: 'refresh_token',
      refresh_token: tokens.refresh_token,
    });
    assert.equal(refreshed.status, 200, refreshed.text);
    const info = await send(b.url, '/_portico/oidc/me', {
      headers: { authorization: `Bearer ${json(refreshed).access_token}` },
    });
    assert.equal(json(info).preferred_username, 'alice');
  });

  it('lets one of two simultaneous redemptions of a code succeed, on different replicas', async (t) => {
    const { a, b, client } = await replicas(t);
    const { client: browser } = await login(a, 'alice', '/app/');
    const config = await relyingParty(a.issuer, client);
    const req = await authorizationRequest(config, client, { pkce: false });
    const code = (await followToClient(browser, req.url)).location.searchParams.get('code')!;
    const params = { grant_type: 'authorization_code', code, redirect_uri: client.redirectUris[0]! };
    const answers = await Promise.all([
      tokenRequest(a.gw.url, client, params),
      tokenRequest(b.url, client, params),
    ]);
    assert.deepEqual(answers.map((r) => r.status).sort(), [200, 400], answers.map((r) => r.text).join('\n'));
    assert.equal(json(answers.find((r) => r.status === 400)!).error, 'invalid_grant');
  });

  it('sends the logout token once when the session ends, though both replicas hear of it', async (t) => {
    const { a, b, client, receiver } = await replicas(t);
    const { client: browser } = await login(a, 'alice', '/app/');
    const config = await relyingParty(a.issuer, client);
    const req = await authorizationRequest(config, client, { pkce: false });
    const tokens = await req.redeem((await followToClient(browser, req.url)).location);
    assert.equal((await logout(browser)).status, 303);
    const token = await receiver.verify(await receiver.next(0), a.issuer, client.id);
    assert.equal(token.sid, tokens.claims()!.sid);
    await assert.rejects(oc.refreshTokenGrant(config, tokens.refresh_token!));
    // Closing waits for the work each replica started on the event.
    await Promise.all([a.gw.gateway.close(500), b.gateway.close(500)]);
    assert.equal(receiver.tokens.length, 1);
  });
});
