import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { operations } from '../../gateway/ops/operations.ts';
import { startGateway } from '../helpers/gateway.ts';
import { json, send } from '../helpers/http.ts';
import {
  sampleValue,
  scrape,
  startDingTalkReceiver,
  startFeishuReceiver,
  startUptimeKumaReceiver,
} from '../helpers/receivers.ts';
import { until } from '../helpers/eventually.ts';

/** An upstream that can be stopped and started again on the same port. */
async function restartableUpstream(handler: (path: string) => number = () => 200) {
  let server: Server | undefined;
  let port = 0;
  const start = async () => {
    server = createServer((req, res) => {
      res.statusCode = handler(req.url ?? '/');
      res.end('ok');
    });
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as { port: number }).port;
  };
  const stop = () =>
    new Promise<void>((resolve) => {
      if (!server?.listening) return resolve();
      server.closeAllConnections();
      server.close(() => resolve());
    });
  await start();
  return { url: `http://127.0.0.1:${port}/`, start, stop };
}

type Readyz = {
  status: string;
  checks: {
    operations: { ok: boolean; down: string[]; upstreams: Record<string, { up: boolean; error?: string }> };
  };
};

describe('upstream health', () => {
  it('turns a stopped upstream into a metric, a readiness detail and signed DingTalk and Feishu alerts, and back', async (t) => {
    const ai = await restartableUpstream();
    const customer = await restartableUpstream();
    const dt = await startDingTalkReceiver({ secret: 'SECdingtalk' });
    const fs = await startFeishuReceiver({ secret: 'feishu-secret' });
    t.after(() => Promise.all([ai.stop(), customer.stop(), dt.close(), fs.close()]));
    const gw = await startGateway(
      t,
      `routes:
  - { id: ai, path: /dce5/, upstream: "${ai.url}" }
  - { id: customer, path: /, upstream: "${customer.url}" }
health: { interval: 50ms, timeout: 500ms, unhealthyThreshold: 2, healthyThreshold: 2 }
notifications:
  - { type: dingtalk, webhook: "${dt.url}", secret: \${DT_SECRET}, dedupWindow: 100ms }
  - { type: feishu, webhook: "${fs.url}", secret: \${FS_SECRET}, dedupWindow: 100ms, lang: en-US }
`,
      { env: { DT_SECRET: 'SECdingtalk', FS_SECRET: 'feishu-secret' }, features: [operations] },
    );
    const metrics = `${gw.url}/_portico/metrics`;
    const upGauge = async (route: string) =>
      sampleValue(await scrape(metrics), 'portico_upstream_up', { route });
    await until(
      async () => (await upGauge('ai')) === 1 && (await upGauge('customer')) === 1,
      5000,
      'both up',
    );

    await ai.stop();
    await until(async () => (await upGauge('ai')) === 0, 5000, 'ai down in metrics');
    assert.equal(await upGauge('customer'), 1);

    const ready = await send(gw.url, '/_portico/readyz');
    assert.equal(ready.status, 200, 'a down upstream does not take the gateway out of rotation');
    const ops = json<Readyz>(ready).checks.operations;
    assert.deepEqual(ops.down, ['ai']);
    assert.equal(ops.upstreams.ai!.up, false);
    assert.match(ops.upstreams.ai!.error!, /^refused/);
    assert.equal(ops.upstreams.customer!.up, true);

    await until(() => dt.received.length >= 1 && fs.received.length >= 1, 5000, 'down alerts');
    assert.equal(dt.rejected().length, 0, JSON.stringify(dt.rejected()[0]?.answer));
    assert.equal(fs.rejected().length, 0, JSON.stringify(fs.rejected()[0]?.answer));
    assert.equal(
      (dt.accepted()[0] as { markdown: { title: string } }).markdown.title,
      '【故障】上游服务不可达：ai',
    );
    const card = (fs.accepted()[0] as { card: { header: { title: { content: string } } } }).card;
    assert.equal(card.header.title.content, '[DOWN] Upstream unreachable: ai');

    await ai.start();
    await until(async () => (await upGauge('ai')) === 1, 5000, 'ai up again in metrics');
    await until(() => dt.accepted().length === 2 && fs.accepted().length === 2, 5000, 'up alerts');
    assert.equal(
      (dt.accepted()[1] as { markdown: { title: string } }).markdown.title,
      '【恢复】上游服务已恢复：ai',
    );
    assert.match(JSON.stringify(fs.accepted()[1]), /\[RECOVERED\] Upstream is back: ai/);
    assert.equal(dt.rejected().length + fs.rejected().length, 0);
    const samples = await scrape(metrics);
    assert.equal(sampleValue(samples, 'portico_notifications_total', { sink: 'dingtalk', result: 'ok' }), 2);
    assert.equal(sampleValue(samples, 'portico_notifications_total', { sink: 'feishu', result: 'ok' }), 2);
    assert.deepEqual(json<Readyz>(await send(gw.url, '/_portico/readyz')).checks.operations.down, []);
  });

  it('checks the per-route path and counts a 5xx answer as down but a 404 or a redirect as up', async (t) => {
    const app = await restartableUpstream((path) => (path === '/healthz' ? 503 : path === '/' ? 302 : 404));
    t.after(() => app.stop());
    const gw = await startGateway(
      t,
      `routes:
  - { id: app, path: /app/, upstream: "${app.url}" }
  - { id: other, path: /other/, upstream: "${app.url}nothing/" }
  - { id: checked, path: /checked/, upstream: "${app.url}" }
health: { interval: 30ms, unhealthyThreshold: 1, path: { checked: /healthz } }
`,
      { features: [operations] },
    );
    const metrics = `${gw.url}/_portico/metrics`;
    await until(async () => {
      const s = await scrape(metrics);
      return (
        sampleValue(s, 'portico_upstream_up', { route: 'checked' }) === 0 &&
        sampleValue(s, 'portico_upstream_up', { route: 'app' }) === 1 &&
        sampleValue(s, 'portico_upstream_up', { route: 'other' }) === 1
      );
    });
    const ops = json<Readyz>(await send(gw.url, '/_portico/readyz')).checks.operations;
    assert.equal(ops.upstreams.checked!.error, 'answered 503');
  });

  it('pushes Uptime Kuma status, message and ping, and down while an upstream is down', async (t) => {
    const app = await restartableUpstream();
    const kuma = await startUptimeKumaReceiver();
    t.after(() => Promise.all([app.stop(), kuma.close()]));
    await startGateway(
      t,
      `routes:
  - { id: app, path: /, upstream: "${app.url}" }
health:
  interval: 30ms
  unhealthyThreshold: 1
  healthyThreshold: 1
  uptimeKuma: { pushUrl: "\${KUMA_PUSH_URL}", interval: 50ms }
`,
      { env: { KUMA_PUSH_URL: kuma.url }, features: [operations] },
    );
    await until(() => kuma.pushes().length >= 1, 5000, 'a first push');
    const first = kuma.pushes()[0]!;
    assert.equal(first.status, 'up');
    assert.equal(first.msg, 'OK, 1 upstream up');
    assert.match(first.ping, /^\d+$/);
    assert.equal(kuma.rejected().length, 0);

    await app.stop();
    await until(() => kuma.pushes().at(-1)?.status === 'down', 5000, 'a down push');
    assert.match(kuma.pushes().at(-1)!.msg, /^down: app \(refused/);
    await app.start();
    await until(() => kuma.pushes().at(-1)?.status === 'up', 5000, 'an up push again');
  });

  it('stops checking when the health section is removed by a reload', async (t) => {
    let hits = 0;
    const app = await restartableUpstream(() => {
      hits++;
      return 200;
    });
    t.after(() => app.stop());
    const base = `routes:\n  - { id: app, path: /, upstream: "${app.url}" }\n`;
    const gw = await startGateway(t, `${base}health: { interval: 20ms }\n`, { features: [operations] });
    await until(() => hits >= 2);
    gw.write(base);
    assert.equal(gw.gateway.reload().ok, true);
    // The point is a silence: let a check already on its way land, then see that no other follows.
    await sleep(60);
    const after = hits;
    await sleep(100);
    assert.equal(hits, after);
    const s = await scrape(`${gw.url}/_portico/metrics`);
    assert.equal(sampleValue(s, 'portico_upstream_up', { route: 'app' }), undefined);
  });
});
