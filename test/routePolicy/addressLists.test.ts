import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startGateway } from '../helpers/gateway.ts';
import { send } from '../helpers/http.ts';
import { upstreamFor } from '../helpers/upstream.ts';
import { upgradeStatus, wsUrl } from '../helpers/websocket.ts';

const API = { accept: 'application/json' };

describe('address allow and deny lists', () => {
  it('lets only allowed addresses through, and refuses denied ones whatever the allow list says', async (t) => {
    const up = await upstreamFor(t, { websocket: true });
    const gw = await startGateway(
      t,
      `routes:
  - { id: ops, path: /ops/, upstream: "${up.url}", ipAllow: [127.0.0.1/32], websocket: true }
  - { id: lan, path: /lan/, upstream: "${up.url}", ipAllow: [127.0.0.0/8], ipDeny: [127.0.0.3] }
  - { id: open, path: /, upstream: "${up.url}", ipDeny: ["::ffff:127.0.0.4", 127.0.0.5] }
`,
    );
    const from = async (target: string, localAddress: string) =>
      (await send(gw.url, target, { headers: API, localAddress })).status;
    assert.equal(await from('/ops/x', '127.0.0.1'), 200);
    const refused = await send(gw.url, '/ops/x', { headers: API, localAddress: '127.0.0.2' });
    assert.equal(refused.status, 403);
    assert.equal(JSON.parse(refused.text).error, 'PORTICO_ERR_ADDRESS_DENIED');
    const page = await send(gw.url, '/ops/x', {
      headers: { accept: 'text/html' },
      localAddress: '127.0.0.2',
    });
    assert.match(page.text, /network address/);
    assert.equal(await from('/lan/x', '127.0.0.2'), 200);
    assert.equal(await from('/lan/x', '127.0.0.3'), 403, 'deny wins over allow');
    assert.equal(await from('/x', '127.0.0.2'), 200);
    assert.equal(await from('/x', '127.0.0.5'), 403);
    const before = up.requests.length;
    assert.equal(await from('/ops/x', '127.0.0.9'), 403);
    assert.equal(up.requests.length, before, 'a refused address reaches nothing');

    const upgrade = (localAddress: string) => upgradeStatus(wsUrl(gw.url, '/ops/tty'), { localAddress });
    assert.equal(await upgrade('127.0.0.1'), 101);
    assert.equal(await upgrade('127.0.0.2'), 403, 'upgrades are checked too');
  });

  it('checks the client address a trusted proxy names, never one an untrusted peer claims', async (t) => {
    const up = await upstreamFor(t);
    const gw = await startGateway(
      t,
      `trustProxy: [127.0.0.1]
routes:
  - { id: office, path: /, upstream: "${up.url}", ipAllow: [10.0.0.0/8] }
`,
    );
    const from = async (xff: string | undefined, localAddress: string) =>
      (
        await send(gw.url, '/x', {
          headers: { ...API, ...(xff ? { 'x-forwarded-for': xff } : {}) },
          localAddress,
        })
      ).status;
    assert.equal(
      await from('10.1.2.3', '127.0.0.1'),
      200,
      'the load balancer says the client is in the office',
    );
    assert.equal(await from('203.0.113.9', '127.0.0.1'), 403);
    // Walked right to left, the first untrusted hop is the client: what it claimed before that is not.
    assert.equal(await from('203.0.113.9, 10.1.2.3', '127.0.0.1'), 200);
    assert.equal(await from('10.1.2.3, 203.0.113.9', '127.0.0.1'), 403);
    assert.equal(await from('10.1.2.3', '127.0.0.2'), 403, 'an untrusted peer cannot claim an address');
    assert.equal(await from('unknown', '127.0.0.1'), 403, 'a name that is no address is in no allow list');
  });

  it('reads the address a proxy names with a port as that address, and never lets a hop that is no address past a deny list', async (t) => {
    const up = await upstreamFor(t);
    const gw = await startGateway(
      t,
      `trustProxy: [127.0.0.1]
routes:
  - { id: open, path: /, upstream: "${up.url}", ipDeny: [198.51.100.0/24, "2001:db8::/32"] }
`,
    );
    const status = async (xff: string) =>
      (await send(gw.url, '/x', { headers: { ...API, 'x-forwarded-for': xff }, localAddress: '127.0.0.1' }))
        .status;
    for (const xff of [
      '198.51.100.7',
      '198.51.100.7:4444',
      '[2001:db8::1]:443',
      '[2001:db8::1]',
      '2001:db8::1',
    ])
      assert.equal(await status(xff), 403, xff);
    // No address at all: the proxy itself is the client, and it is not denied.
    for (const xff of ['198.051.100.007', 'unknown', '', 'x:y:z']) assert.equal(await status(xff), 200, xff);
    assert.equal(up.last().headers['x-real-ip'], '127.0.0.1');
    assert.equal(await status('203.0.113.5:80'), 200);
    assert.equal(up.last().headers['x-real-ip'], '203.0.113.5');
  });
});
