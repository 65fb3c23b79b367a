import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { startGateway } from '../helpers/gateway.ts';
import { send } from '../helpers/http.ts';
import { startSentinelSet } from '../helpers/sentinel.ts';
import { login, startSso } from '../helpers/sso.ts';
import { upstreamFor } from '../helpers/upstream.ts';
import { eventually } from '../helpers/eventually.ts';

describe('drill: Redis sentinel failover with two replicas of Portico', () => {
  it('keeps sessions working on both replicas after the Redis master dies', async (t) => {
    const set = await startSentinelSet(t);
    const ai = await upstreamFor(t);
    const routes = `  - { id: ai-platform, path: /dce5/, upstream: "${ai.url}", auth: required, inject: { headers: true, jwt: true } }\n`;
    const a = await startSso(t, routes, { store: 'memory' });
    // Both replicas use the sentinel set instead of a single Redis.
    const yaml = a.yaml.replace(
      'store: memory',
      `store: redis\n  redis: { sentinels: [{ host: 127.0.0.1, port: ${set.sentinel.port} }], name: ${set.name} }`,
    );
    a.gw.write(yaml);
    // The store kind is fixed per process: start fresh gateways on the new file.
    await a.gw.gateway.close(100);
    const g1 = await startGateway(t, yaml, { port: a.port });
    const g2 = await startGateway(t, yaml);
    const { client } = await login({ ...a, gw: g1 }, 'alice');
    const cookie = client.cookieHeader();
    const ok = (url: string) =>
      send(url, '/dce5/', { headers: { cookie, accept: 'application/json' } }).then((r) => r.status);
    assert.equal(await ok(g1.url), 200);
    assert.equal(await ok(g2.url), 200);
    // The replica must hold the session before the master dies (replication is asynchronous).
    const master = new Redis({ port: set.master.port, host: '127.0.0.1', maxRetriesPerRequest: 1 });
    master.on('error', () => {});
    const acked = await master.call('WAIT', '1', '5000');
    master.disconnect();
    assert.equal(acked, 1, 'the replica acknowledged the writes');
    set.master.kill();
    await set.waitForFailover(60_000);
    // Each replica's client finds the new master on its own schedule.
    const statuses = await eventually(
      async () => [await ok(g1.url), await ok(g2.url)],
      (now) => now.every((s) => s === 200),
      { timeoutMs: 40_000, intervalMs: 200 },
    );
    assert.deepEqual(statuses, [200, 200]);
    // A new sign-in after the failover (through the replica the public URL points at).
    const again = await login({ ...a, gw: g1 }, 'alice');
    assert.equal(again.landed.status, 200);
  });
});
