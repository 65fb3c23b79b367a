// The OpenID Provider while Redis (its grants, codes and sessions) does not answer: it fails closed
// as the rest of the gateway does, with 503 and OAuth's own `temporarily_unavailable`, never a 500
// `server_error` that says the gateway is broken, and answers again once Redis is back.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { eventually } from '../helpers/eventually.ts';
import { json, send } from '../helpers/http.ts';
import { authorizationRequest, type OpClient, relyingParty, startOp } from '../helpers/openidProvider.ts';
import { deadPort } from '../helpers/ports.ts';
import { startRedis } from '../helpers/redis.ts';
import { login } from '../helpers/sso.ts';

describe('the OpenID Provider while Redis is down', () => {
  it('answers 503 temporarily_unavailable (not 500 server_error) and recovers without a restart', async (t) => {
    const redis = await startRedis(t);
    const client: OpClient = {
      id: 'outage-rp',
      secret: 'outage-rp-secret-0123456789abcdefghijklmnopqrstuvwxyz',
      redirectUris: [`http://127.0.0.1:${await deadPort()}/cb`],
    };
    const s = await startOp(t, [client], { store: 'redis', redisUrl: redis.url });
    const { client: browser } = await login(s, 'alice', '/app/');
    const request = await authorizationRequest(await relyingParty(s.issuer, client), client);
    const token = () =>
      send(s.gw.url, '/_portico/oidc/token', {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`${client.id}:${client.secret}`).toString('base64')}`,
        },
        body: new URLSearchParams({
          grant_type: 'authorization_code',
          code: 'no-such-code',
          redirect_uri: client.redirectUris[0]!,
        }).toString(),
      });
    await redis.stop();
    await sleep(1100); // past the in-process session cache: everything must ask Redis

    const redeemed = await token();
    assert.equal(redeemed.status, 503, redeemed.text);
    assert.equal(json(redeemed).error, 'temporarily_unavailable');
    const userinfo = await send(s.gw.url, '/_portico/oidc/me', { headers: { authorization: 'Bearer abc' } });
    assert.equal(userinfo.status, 503, userinfo.text);
    assert.equal(json(userinfo).error, 'temporarily_unavailable');
    // The browser goes back to the client with the error OAuth has for this, no code.
    const authorize = await browser.request(request.url.href);
    assert.equal(authorize.status, 303, authorize.text.slice(0, 300));
    const back = new URL(String(authorize.headers.location));
    assert.equal(back.searchParams.get('error'), 'temporarily_unavailable');
    assert.equal(back.searchParams.get('code'), null);

    await redis.start();
    const after = await eventually(token, (r) => r.status !== 503, { timeoutMs: 8000, intervalMs: 100 });
    assert.equal(after.status, 400, after.text);
    assert.equal(json(after).error, 'invalid_grant');
  });
});
