import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { adminFeature } from '../../gateway/admin/adminFeature.ts';
import { hashApiKey } from '../../gateway/auth/apiKeys.ts';
import { startGateway } from '../helpers/gateway.ts';
import { json, send } from '../helpers/http.ts';
import { sharedRedisUrl } from '../helpers/redis.ts';
import { login, startSso } from '../helpers/sso.ts';
import { upstreamFor } from '../helpers/upstream.ts';

describe('revoking sessions through the admin API', () => {
  it("ends a user's sessions on every replica sharing the Redis", async (t) => {
    const redisUrl = await sharedRedisUrl();
    const ai = await upstreamFor(t);
    const key = 'ptk_support_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG';
    const s = await startSso(
      t,
      `  - { id: ai-platform, path: /dce5/, upstream: "${ai.url}", auth: required }\n`,
      {
        store: 'redis',
        redisUrl,
        keyPrefix: `revoke${Date.now()}:`,
        extra: `admin:\n  apiKeys:\n    - { id: support, hash: "${hashApiKey(key)}", scopes: [sessions:revoke] }\n`,
      },
    );
    const other = await startGateway(t, s.yaml, { features: [adminFeature()] });
    const { client } = await login(s, 'alice');
    const cookie = client.cookieHeader();
    assert.equal(
      (await send(other.url, '/dce5/', { headers: { cookie, accept: 'application/json' } })).status,
      200,
    );
    // The first replica ends its cached copy when the store's announcement reaches it, not later.
    const announced = new Promise((resolve) =>
      s.gw.gateway.events.on('sessionEnded', (e: { local: boolean }) => {
        if (!e.local) resolve(e);
      }),
    );
    const r = await send(other.url, '/_portico/admin/sessions/revoke', {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'alice' }),
    });
    assert.equal(r.status, 200);
    assert.equal(json(r).revoked, 1);
    await announced;
    assert.equal(
      (await send(s.gw.url, '/dce5/', { headers: { cookie, accept: 'application/json' } })).status,
      401,
    );
    assert.equal(
      (await send(other.url, '/dce5/', { headers: { cookie, accept: 'application/json' } })).status,
      401,
    );
  });
});
