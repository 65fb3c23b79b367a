import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { createMetrics } from '../../gateway/ops/metrics/metrics.ts';
import { operations } from '../../gateway/ops/operations.ts';
import { startGateway } from '../helpers/gateway.ts';
import { freePort } from '../helpers/nginx.ts';
import { json, send } from '../helpers/http.ts';
import { type Sample, sampleValue, scrape } from '../helpers/receivers.ts';
import { upstreamFor } from '../helpers/upstream.ts';
import { until } from '../helpers/eventually.ts';
import { deadPort } from '../helpers/ports.ts';

const value = (s: Sample[], name: string, labels: Record<string, string>) =>
  sampleValue(s, name, labels) ?? 0;

describe('Prometheus metrics', () => {
  it('counts real traffic by route id, method and status class, never by raw path', async (t) => {
    const ai = await upstreamFor(t, {
      handler: (req, res) => res.writeHead(req.url === '/missing' ? 404 : 200).end('x'),
    });
    const gw = await startGateway(t, `routes:\n  - { id: ai, path: /dce5/, upstream: "${ai.url}" }\n`, {
      features: [operations],
    });
    for (let i = 0; i < 3; i++) await send(gw.url, `/dce5/a/b/${i}?q=${i}`);
    await send(gw.url, '/dce5/missing');
    await send(gw.url, '/dce5/upload', {
      method: 'POST',
      body: 'x',
      headers: { 'content-type': 'text/plain' },
    });
    await send(gw.url, '/dce5/x', { method: 'PURGE' });
    await send(gw.url, '/unrouted/secret-looking/path');
    await send(gw.url, '/_portico/healthz');
    const url = `${gw.url}/_portico/metrics`;
    await until(async () => value(await scrape(url), 'portico_requests_total', { route: '_portico' }) >= 1);
    const s = await scrape(url);
    const req = (labels: Record<string, string>) => value(s, 'portico_requests_total', labels);
    assert.equal(req({ route: 'ai', method: 'GET', status_class: '2xx' }), 3);
    assert.equal(req({ route: 'ai', method: 'GET', status_class: '4xx' }), 1);
    assert.equal(req({ route: 'ai', method: 'POST', status_class: '2xx' }), 1);
    assert.equal(req({ route: 'ai', method: 'OTHER', status_class: '2xx' }), 1);
    assert.equal(req({ route: '_none', method: 'GET', status_class: '4xx' }), 1);
    assert.ok(
      req({ route: '_portico', method: 'GET', status_class: '2xx' }) >= 1,
      'healthz (and the scrapes)',
    );
    assert.equal(value(s, 'portico_request_duration_seconds_count', { route: 'ai' }), 6);
    assert.ok(value(s, 'portico_request_duration_seconds_sum', { route: 'ai' }) > 0);
    assert.equal(value(s, 'portico_request_duration_seconds_bucket', { route: 'ai', le: '+Inf' }), 6);
    const labelValues = s.flatMap((x) => Object.values(x.labels));
    assert.ok(
      !labelValues.some((v) => v.includes('/')),
      `no path in any label: ${labelValues.filter((v) => v.includes('/'))}`,
    );
    assert.ok(!labelValues.includes('PURGE'));
  });

  it('counts upstream errors by kind', async (t) => {
    const port = await deadPort();
    const gw = await startGateway(
      t,
      `routes:\n  - { id: gone, path: /, upstream: "http://127.0.0.1:${port}/" }\n`,
      {
        features: [operations],
      },
    );
    assert.equal((await send(gw.url, '/')).status, 502);
    assert.equal((await send(gw.url, '/')).status, 502);
    const url = `${gw.url}/_portico/metrics`;
    await until(
      async () =>
        value(await scrape(url), 'portico_requests_total', { route: 'gone', status_class: '5xx' }) === 2,
    );
    const s = await scrape(url);
    assert.equal(value(s, 'portico_upstream_errors_total', { route: 'gone', kind: 'refused' }), 2);
  });

  it('shows open WebSockets and the bytes they relayed', async (t) => {
    const ai = await upstreamFor(t, { websocket: true });
    const gw = await startGateway(
      t,
      `routes:\n  - { id: term, path: /dce5/, upstream: "${ai.url}", websocket: true }\n`,
      {
        features: [operations],
      },
    );
    const url = `${gw.url}/_portico/metrics`;
    const ws = new WebSocket(`${gw.url.replace('http', 'ws')}/dce5/ws`);
    await once(ws, 'open');
    ws.send('hello');
    await once(ws, 'message');
    assert.equal(value(await scrape(url), 'portico_websockets_open', { route: 'term' }), 1);
    ws.close();
    await until(async () => value(await scrape(url), 'portico_websockets_open', { route: 'term' }) === 0);
    const s = await scrape(url);
    assert.ok(value(s, 'portico_websocket_bytes_total', { route: 'term', direction: 'in' }) > 5);
    assert.ok(value(s, 'portico_websocket_bytes_total', { route: 'term', direction: 'out' }) > 5);
  });

  it('counts config reloads, logins by provider and result, with unknown providers folded into one label', async (t) => {
    const app = await upstreamFor(t);
    const yaml = `publicUrl: http://portal.test
session: { secret: "0123456789abcdef0123456789abcdef" }
identityProviders:
  - { id: corp, type: oidc, issuer: "http://127.0.0.1:9/", clientId: portico }
routes:\n  - { id: app, path: /, upstream: "${app.url}", auth: none }\n`;
    const gw = await startGateway(t, yaml, { features: [operations] });
    gw.write(`${yaml}# edit\n`);
    gw.gateway.reload();
    gw.write('routes: [');
    gw.gateway.reload();
    gw.gateway.events.emit('login', { idp: 'corp', result: 'success', user: 'alice' });
    gw.gateway.events.emit('login', { idp: 'corp', result: 'failure', user: 'bob' });
    gw.gateway.events.emit('login', { idp: 'corp', result: 'failure', user: 'bob' });
    gw.gateway.events.emit('login', { idp: '../../etc/passwd', result: 'weird' as 'failure' });
    const s = await scrape(`${gw.url}/_portico/metrics`);
    assert.equal(value(s, 'portico_config_reloads_total', { result: 'ok' }), 1);
    assert.equal(value(s, 'portico_config_reloads_total', { result: 'failed' }), 1);
    assert.equal(value(s, 'portico_logins_total', { idp: 'corp', result: 'success' }), 1);
    assert.equal(value(s, 'portico_logins_total', { idp: 'corp', result: 'failure' }), 2);
    assert.equal(value(s, 'portico_logins_total', { idp: '_unknown', result: 'other' }), 1);
  });

  it('exposes process metrics with the portico_ prefix', async (t) => {
    const gw = await startGateway(t, 'routes:\n  - { id: app, path: /, upstream: "http://127.0.0.1:9/" }\n', {
      features: [operations],
    });
    const s = await scrape(`${gw.url}/_portico/metrics`);
    assert.ok(sampleValue(s, 'portico_process_resident_memory_bytes')! > 0);
    assert.ok(sampleValue(s, 'portico_nodejs_eventloop_lag_seconds') !== undefined);
  });

  it('asks for the bearer token when one is configured', async (t) => {
    const token = 'a-long-metrics-token-0123456789';
    const gw = await startGateway(
      t,
      'routes:\n  - { id: app, path: /, upstream: "http://127.0.0.1:9/" }\nmetrics: { token: "${METRICS_TOKEN}" }\n',
      {
        env: { METRICS_TOKEN: token },
        features: [operations],
      },
    );
    const none = await send(gw.url, '/_portico/metrics');
    assert.equal(none.status, 401);
    assert.match(String(none.headers['www-authenticate']), /^Bearer/);
    const wrong = await send(gw.url, '/_portico/metrics', { headers: { authorization: 'Bearer nope' } });
    assert.equal(wrong.status, 401);
    const good = await send(gw.url, '/_portico/metrics', { headers: { authorization: `Bearer ${token}` } });
    assert.equal(good.status, 200);
    assert.match(String(good.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  });

  it('serves metrics on a listener of their own, and then not on the main one', async (t) => {
    const port = await freePort();
    const gw = await startGateway(
      t,
      `routes:\n  - { id: app, path: /, upstream: "http://127.0.0.1:9/" }\nmetrics: { listen: { host: 127.0.0.1, port: ${port} } }\n`,
      {
        features: [operations],
      },
    );
    assert.equal((await send(gw.url, '/_portico/metrics')).status, 404);
    await until(async () => {
      const r = json<{ checks: { operations: { metrics?: { listening: boolean } } } }>(
        await send(gw.url, '/_portico/readyz'),
      );
      return r.checks.operations.metrics?.listening === true;
    });
    const s = await scrape(`http://127.0.0.1:${port}/metrics`);
    assert.ok(s.some((x) => x.name === 'portico_requests_total'));
    assert.equal((await send(`http://127.0.0.1:${port}`, '/other')).status, 404);
  });

  it('can be turned off', async (t) => {
    const gw = await startGateway(
      t,
      'routes:\n  - { id: app, path: /, upstream: "http://127.0.0.1:9/" }\nmetrics: { enabled: false }\n',
      { features: [operations] },
    );
    assert.equal((await send(gw.url, '/_portico/metrics')).status, 404);
  });

  it('has every metric the Grafana dashboard queries', () => {
    const names = new Set(
      createMetrics()
        .registry.getMetricsAsArray()
        .map((m) => m.name),
    );
    const dashboard = JSON.parse(
      readFileSync(join(import.meta.dirname, '../../grafana/dashboards/portico.json'), 'utf8'),
    );
    assert.equal(dashboard.uid, 'portico');
    const exprs = JSON.stringify(dashboard).match(/portico_[a-z0-9_]+/g) ?? [];
    const used = new Set(exprs.map((n) => n.replace(/_(bucket|sum|count)$/, '')));
    assert.ok(used.size >= 8);
    for (const n of used) assert.ok(names.has(n), `${n} is queried by the dashboard but not exported`);
  });
});
