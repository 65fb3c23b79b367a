// The gateway instance owns its state: two gateways in one process (as tests, or an application
// embedding Portico, run them) never affect each other.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { brandingFeature } from '../../gateway/branding/brandingFeature.ts';
import { startGateway } from '../helpers/gateway.ts';
import { send } from '../helpers/http.ts';
import { upstreamFor } from '../helpers/upstream.ts';
import { brandDir, HTML_ACCEPT } from '../branding/helpers.ts';

describe('two gateways in one process', () => {
  it('close one, and the other keeps its WebSockets, its upstream connections, its brand and its events', async (t) => {
    const up = await upstreamFor(t, { websocket: true });
    const routes = `routes:\n  - { id: app, path: /, upstream: "${up.url}", websocket: true }\n`;
    const brandA = brandDir(t, { 'brand.yaml': 'productName: { zh-CN: 甲, en-US: Brand A }\n' });
    const brandB = brandDir(t, { 'brand.yaml': 'productName: { zh-CN: 乙, en-US: Brand B }\n' });
    const a = await startGateway(t, routes, {
      features: [brandingFeature({ dir: brandA.dir, watch: false })],
    });
    const b = await startGateway(t, routes, {
      features: [brandingFeature({ dir: brandB.dir, watch: false })],
    });

    const heardByB: string[] = [];
    b.gateway.events.on('request', (e) => heardByB.push(e.ctx.req.url ?? ''));

    // B has a WebSocket open and a warm keep-alive connection to the upstream.
    const ws = new WebSocket(`${b.url.replace('http', 'ws')}/term`);
    await once(ws, 'open');
    await send(b.url, '/warm');
    const remoteBefore = up.last().remotePort;

    await send(a.url, '/only-a');
    assert.ok(!heardByB.includes('/only-a'), "B does not hear A's requests");

    const aClosed = new Promise<void>((resolve) => a.gateway.server.once('close', () => resolve()));
    await a.gateway.close(100);
    await aClosed;

    // B's tunnel still relays.
    ws.send('still there?');
    const [echo] = await once(ws, 'message');
    assert.equal(String(echo), 'still there?');
    ws.close();
    // B's pooled connection to the upstream survived A's shutdown: the same socket serves B.
    await send(b.url, '/after');
    assert.equal(up.last().remotePort, remoteBefore, "A's close did not destroy B's upstream connections");
    // B still wears its own brand on its pages.
    const page = await send(b.url, '/_portico/nope', { headers: HTML_ACCEPT });
    assert.match(page.text, /Brand B/);
    assert.doesNotMatch(page.text, /Brand A/);
  });
});
