import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { adminFeature } from '../../gateway/admin/adminFeature.ts';
import { newApiKey } from '../../gateway/auth/apiKeys.ts';
import { eventually } from '../helpers/eventually.ts';
import { startGateway } from '../helpers/gateway.ts';
import { json, send } from '../helpers/http.ts';
import { sharedRedisUrl } from '../helpers/redis.ts';
import { startSso } from '../helpers/sso.ts';
import { upstreamFor } from '../helpers/upstream.ts';
import { upgradeStatus } from '../helpers/websocket.ts';

const API = { accept: 'application/json' };
const PAGE = { accept: 'text/html' };

describe('maintenance written in routes.yaml', () => {
  it('answers a branded 503 with Retry-After and the message in the reader’s language', async (t) => {
    const up = await upstreamFor(t, { websocket: true });
    const gw = await startGateway(
      t,
      `routes:
  - id: ai
    path: /dce5/
    upstream: "${up.url}"
    websocket: true
    maintenance:
      retryAfter: 10m
      message: { zh-CN: AI 算力中心正在升级，预计 10 分钟后恢复。, en-US: The AI platform is being upgraded; back in 10 minutes. }
  - { id: plain, path: /plain/, upstream: "${up.url}", maintenance: true }
  - { id: customer, path: /, upstream: "${up.url}" }
`,
    );
    const api = await send(gw.url, '/dce5/apis/jobs', { headers: API });
    assert.equal(api.status, 503);
    assert.equal(api.headers['retry-after'], '600');
    assert.deepEqual(
      { ...json<Record<string, unknown>>(api), requestId: undefined },
      {
        error: 'PORTICO_ERR_MAINTENANCE',
        status: 503,
        message: 'The AI platform is being upgraded; back in 10 minutes.',
        requestId: undefined,
        retryAfter: 600,
      },
    );
    const zh = await send(gw.url, '/dce5/', { headers: { ...PAGE, 'accept-language': 'zh-CN,zh;q=0.9' } });
    assert.equal(zh.status, 503);
    assert.match(zh.text, /系统维护中/);
    assert.match(zh.text, /AI 算力中心正在升级，预计 10 分钟后恢复。/);
    const en = await send(gw.url, '/dce5/', { headers: { ...PAGE, 'accept-language': 'en-US' } });
    assert.match(en.text, /Under maintenance/);
    assert.match(en.text, /being upgraded; back in 10 minutes/);
    const plain = await send(gw.url, '/plain/x', { headers: PAGE });
    assert.equal(plain.status, 503);
    assert.equal(plain.headers['retry-after'], undefined);
    assert.match(plain.text, /This service is being upgraded\. Please try again later\./);
    assert.equal(await upgradeStatus(`${gw.url.replace('http', 'ws')}/dce5/tty`), 503);
    assert.equal(up.requests.length, 0, 'nothing reached the upstream');
    assert.equal((await send(gw.url, '/other')).status, 200, 'other routes keep working');
  });

  it('answers before the sign-in, so a signed-out user sees the notice rather than a login', async (t) => {
    const up = await upstreamFor(t);
    const s = await startSso(
      t,
      `  - { id: ai, path: /dce5/, upstream: "${up.url}", auth: required, maintenance: { retryAfter: 1h } }\n`,
    );
    const r = await send(s.gw.url, '/dce5/', { headers: PAGE });
    assert.equal(r.status, 503);
    assert.equal(r.headers['retry-after'], '3600');
  });
});

describe('fixed answers without an upstream', () => {
  it('responds with the configured status, headers and body', async (t) => {
    const gw = await startGateway(
      t,
      `routes:
  - { id: robots, path: /robots.txt, respond: { status: 200, body: "User-agent: *\\nDisallow: /dce5/\\n" } }
  - { id: gone, path: /old-api/, respond: { status: 410, body: '{"error":"gone"}', headers: { Content-Type: application/json, Cache-Control: max-age=60 } } }
  - { id: empty, path: /ping, respond: { status: 204 } }
`,
    );
    const robots = await send(gw.url, '/robots.txt');
    assert.equal(robots.status, 200);
    assert.equal(robots.text, 'User-agent: *\nDisallow: /dce5/\n');
    assert.equal(robots.headers['content-type'], 'text/plain; charset=utf-8');
    const gone = await send(gw.url, '/old-api/v1/x', { method: 'POST', body: '{}' });
    assert.equal(gone.status, 410);
    assert.equal(gone.text, '{"error":"gone"}');
    assert.equal(gone.headers['content-type'], 'application/json');
    assert.equal(gone.headers['cache-control'], 'max-age=60');
    const head = await send(gw.url, '/robots.txt', { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.text, '');
    const ping = await send(gw.url, '/ping');
    assert.equal(ping.status, 204);
    assert.equal((await send(gw.url, '/nothing')).status, 404);
  });

  it('redirects to a fixed place, or keeps the rest of the path and the query when asked', async (t) => {
    const gw = await startGateway(
      t,
      `routes:
  - { id: moved, path: /docs/, redirect: { to: "https://docs.example.com/portal/", status: 301, keepPath: true } }
  - { id: home, path: /start, redirect: { to: /dce5/ } }
  - { id: all, path: /, redirect: { to: "https://new.example.com", status: 308, keepPath: true } }
`,
    );
    const at = async (target: string) => {
      const r = await send(gw.url, target);
      return `${r.status} ${r.headers.location}`;
    };
    assert.equal(
      await at('/docs/guide/install?lang=zh'),
      '301 https://docs.example.com/portal/guide/install?lang=zh',
    );
    assert.equal(await at('/docs/'), '301 https://docs.example.com/portal/');
    assert.equal(await at('/docs'), '301 /docs/', 'the bare prefix gets its slash first, as any route');
    assert.equal(await at('/start'), '302 /dce5/');
    assert.equal(await at('/start/x?y'), '302 /dce5/');
    assert.equal(await at('/a/b?c=1'), '308 https://new.example.com/a/b?c=1');
    assert.equal(await at('/'), '308 https://new.example.com');
  });
});

describe('maintenance through the admin API', () => {
  it('switches a route on every replica, audits it, and never lifts what the file says', async (t) => {
    const redisUrl = await sharedRedisUrl();
    const up = await upstreamFor(t);
    const ops = newApiKey('ops');
    const ci = newApiKey('ci');
    const yaml = (aiMaintenance = '') => `logging: { level: silent }
session: { store: redis, redis: { url: "${redisUrl}", keyPrefix: "maint${Date.now()}${process.pid}:" } }
routes:
  - { id: ai, path: /dce5/, upstream: "${up.url}"${aiMaintenance} }
  - { id: legacy, path: /legacy/, upstream: "${up.url}", maintenance: { retryAfter: 1d } }
  - { id: customer, path: /, upstream: "${up.url}" }
admin:
  apiKeys:
    - { id: ops, hash: "${ops.hash}", scopes: [routes:maintenance] }
    - { id: ci, hash: "${ci.hash}", scopes: [config:read, config:write] }
`;
    const text = yaml();
    const one = await startGateway(t, text, { features: [adminFeature()] });
    const two = await startGateway(t, text, { features: [adminFeature()] });
    const audits: Record<string, unknown>[] = [];
    one.gateway.events.on('audit', (e) => audits.push(e));
    const admin = (gw: typeof one, method: string, path: string, key = ops.key, body?: unknown) =>
      send(gw.url, `/_portico/admin/${path}`, {
        method,
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    const statusOn = (gw: typeof one, target = '/dce5/x') =>
      send(gw.url, target, { headers: API }).then((r) => r.status);
    /** A replica follows the switch when the store's announcement reaches it (later under load). */
    const follows = (gw: typeof one, expected: number) =>
      eventually(
        () => statusOn(gw),
        (status) => status === expected,
        { timeoutMs: 10_000 },
      );

    assert.equal(await statusOn(one), 200);
    const on = await admin(one, 'PUT', 'routes/ai/maintenance', ops.key, {
      retryAfter: '30m',
      message: { 'zh-CN': '升级中', 'en-US': 'Upgrading DCE 5' },
    });
    assert.equal(on.status, 200);
    assert.equal(json(on).inFile, false);
    assert.equal(await statusOn(one), 503);
    assert.equal(await follows(two, 503), 503);
    const notice = await send(two.url, '/dce5/x', { headers: API });
    assert.equal(notice.headers['retry-after'], '1800');
    assert.equal(json(notice).message, 'Upgrading DCE 5');
    assert.equal(await statusOn(two, '/'), 200, 'only that route');
    assert.deepEqual(audits.at(-1), {
      type: 'admin.change',
      actor: 'ops',
      ip: '127.0.0.1',
      time: audits.at(-1)!.time,
      detail: { action: 'route.maintenance.on', route: 'ai', retryAfter: 1800 },
    });
    const listed = json(await admin(two, 'GET', 'routes/maintenance'));
    assert.deepEqual(Object.keys(listed.switches as object), ['ai']);
    assert.deepEqual(listed.inFile, ['legacy']);

    // A reload of the file keeps the switch: it is not part of the file.
    one.write(`${text}# edited\n`);
    assert.equal(one.gateway.reload().ok, true);
    assert.equal(await statusOn(one), 503);

    const off = await admin(two, 'DELETE', 'routes/ai/maintenance');
    assert.deepEqual(json(off), { route: 'ai', switchedOff: true, maintenance: false, inFile: false });
    assert.equal(await statusOn(two), 200);
    assert.equal(await follows(one, 200), 200);

    // Switching off never lifts a maintenance written in the file; the answer says so.
    const legacy = await admin(one, 'DELETE', 'routes/legacy/maintenance');
    assert.deepEqual(json(legacy), { route: 'legacy', switchedOff: false, maintenance: true, inFile: true });
    assert.equal(await statusOn(one, '/legacy/x'), 503);

    // Only the routes:maintenance scope, only routes that exist, only notices the schema accepts.
    assert.equal((await admin(one, 'PUT', 'routes/ai/maintenance', ci.key, {})).status, 403);
    assert.equal((await admin(one, 'PUT', 'routes/nope/maintenance', ops.key, {})).status, 404);
    const bad = await admin(one, 'PUT', 'routes/ai/maintenance', ops.key, { retryAfter: 'soon', extra: 1 });
    assert.equal(bad.status, 400);
    assert.deepEqual(json(bad).problems, [
      { path: '/extra', message: 'unknown key "extra"' },
      { path: '/retryAfter', message: 'must be a duration such as 300s, 5m or 8h' },
    ]);
    assert.equal(await statusOn(one), 200, 'a refused switch changes nothing');
  });
  it('ends the open terminals of a route it switches on', async (t) => {
    const redisUrl = await sharedRedisUrl();
    const up = await upstreamFor(t, { websocket: true });
    const ops = newApiKey('ops');
    const gw = await startGateway(
      t,
      `logging: { level: silent }
session: { store: redis, redis: { url: "${redisUrl}", keyPrefix: "maintws${Date.now()}${process.pid}:" } }
routes:
  - { id: ai, path: /dce5/, upstream: "${up.url}", websocket: true }
admin:
  apiKeys:
    - { id: ops, hash: "${ops.hash}", scopes: [routes:maintenance] }
`,
      { features: [adminFeature()] },
    );
    const ws = new WebSocket(`${gw.url.replace('http', 'ws')}/dce5/tty`);
    await once(ws, 'open');
    const closed = once(ws, 'close');
    const on = await send(gw.url, '/_portico/admin/routes/ai/maintenance', {
      method: 'PUT',
      headers: { authorization: `Bearer ${ops.key}`, 'content-type': 'application/json' },
      body: '{}',
    });
    assert.equal(on.status, 200);
    const [code] = await closed;
    assert.equal(code, 1008);
  });
});
