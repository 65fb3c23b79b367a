import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import { describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { operations } from '../../gateway/ops/operations.ts';
import { eventually } from '../helpers/eventually.ts';
import { startGateway } from '../helpers/gateway.ts';
import { send } from '../helpers/http.ts';
import { startUpstream, type Upstream } from '../helpers/upstream.ts';

const served = (...servers: Upstream[]) => servers.map((s) => s.requests.length);

describe('several upstream servers: balancing', () => {
  it('sends requests to the servers in turn, twice as many to a server of weight 2', async (t) => {
    const a = await startUpstream();
    const b = await startUpstream();
    const c = await startUpstream();
    t.after(() => Promise.all([a.close(), b.close(), c.close()]));
    const gw = await startGateway(
      t,
      `routes:
  - id: even
    path: /even/
    upstreams: { servers: ["${a.url}", "${b.url}"] }
  - id: weighted
    path: /weighted/
    upstreams: { servers: ["${a.url}base/", { url: "${c.url}base/", weight: 2 }] }
`,
    );
    for (let i = 0; i < 4; i++) assert.equal((await send(gw.url, `/even/${i}`)).status, 200);
    assert.deepEqual(served(a, b), [2, 2]);
    assert.deepEqual(
      a.requests.map((r) => r.url),
      ['/0', '/2'],
    );
    for (let i = 0; i < 6; i++) assert.equal((await send(gw.url, `/weighted/${i}`)).status, 200);
    assert.deepEqual(served(a, c), [2 + 2, 4]);
    assert.ok(c.requests.every((r) => r.url.startsWith('/base/')));
  });

  it('least-conn sends new requests to the idle server while a slow one is held open', async (t) => {
    const held: ServerResponse[] = [];
    const handler = (req: { url?: string }, res: ServerResponse) => {
      if (req.url === '/hold') held.push(res);
      else res.end('quick');
    };
    const a = await startUpstream({ handler });
    const b = await startUpstream({ handler });
    t.after(() => Promise.all([a.close(), b.close()]));
    const gw = await startGateway(
      t,
      `routes:
  - id: app
    path: /
    upstreams: { servers: ["${a.url}", "${b.url}"], balance: least-conn }
`,
    );
    const slow = send(gw.url, '/hold');
    await eventually(
      async () => held.length,
      (n) => n === 1,
    );
    const busy = a.requests.length === 1 ? a : b;
    const idle = busy === a ? b : a;
    for (let i = 0; i < 3; i++) assert.equal((await send(gw.url, `/q${i}`)).text, 'quick');
    assert.deepEqual(
      idle.requests.map((r) => r.url),
      ['/q0', '/q1', '/q2'],
    );
    assert.deepEqual(
      busy.requests.map((r) => r.url),
      ['/hold'],
    );
    held[0]!.end('done');
    assert.equal((await slow).text, 'done');
    // Both idle again: the two servers take turns.
    await send(gw.url, '/r0');
    await send(gw.url, '/r1');
    assert.equal(a.requests.length + b.requests.length, 6);
    assert.ok(busy.requests.length >= 2, 'the server that was busy takes requests again');
  });

  it('sends nothing to a backup server while another is in, and everything while none is', async (t) => {
    const main = await startUpstream();
    const backup = await startUpstream();
    t.after(() => Promise.all([main.close(), backup.close()]));
    const gw = await startGateway(
      t,
      `routes:
  - id: app
    path: /
    upstreams: { servers: ["${main.url}", { url: "${backup.url}", backup: true }] }
`,
    );
    for (let i = 0; i < 3; i++) assert.equal((await send(gw.url, '/x')).status, 200);
    assert.deepEqual(served(main, backup), [3, 0]);
    await main.close();
    for (let i = 0; i < 3; i++) assert.equal((await send(gw.url, '/x')).status, 200);
    assert.deepEqual(served(main, backup), [3, 3]);
  });

  it("sends each server its own host with preserveHost: false, and the client's otherwise", async (t) => {
    const a = await startUpstream();
    const b = await startUpstream();
    t.after(() => Promise.all([a.close(), b.close()]));
    const gw = await startGateway(
      t,
      `routes:
  - id: own
    path: /own/
    preserveHost: false
    upstreams: { servers: ["${a.url}", "${b.url}"] }
  - id: client
    path: /client/
    upstreams: { servers: ["${a.url}", "${b.url}"] }
`,
    );
    for (const path of ['/own/1', '/own/2', '/client/1', '/client/2']) await send(gw.url, path);
    assert.deepEqual(
      [...a.requests, ...b.requests].map((r) => [r.url, r.headers.host]).sort(),
      [
        ['/1', new URL(a.url).host],
        ['/1', new URL(gw.url).host],
        ['/2', new URL(b.url).host],
        ['/2', new URL(gw.url).host],
      ].sort(),
    );
  });

  it('least-conn counts an open WebSocket as a connection until it closes', async (t) => {
    const a = await startUpstream({ websocket: true });
    const b = await startUpstream({ websocket: true });
    t.after(() => Promise.all([a.close(), b.close()]));
    const gw = await startGateway(
      t,
      `routes:
  - id: app
    path: /
    websocket: true
    upstreams: { servers: ["${a.url}", "${b.url}"], balance: least-conn }
`,
    );
    const ws = new WebSocket(`${gw.url.replace(/^http/, 'ws')}/term`);
    await once(ws, 'open');
    const busy = a.requests.length === 1 ? a : b;
    const idle = busy === a ? b : a;
    try {
      for (let i = 0; i < 3; i++) await send(gw.url, `/q${i}`);
      assert.deepEqual(
        idle.requests.map((r) => r.url),
        ['/q0', '/q1', '/q2'],
      );
    } finally {
      // Before the upstreams close: an open tunnel would hold their close() up.
      ws.close();
      await once(ws, 'close');
    }
    // Closed: the busy server takes its turn again.
    await eventually(
      async () => {
        await send(gw.url, '/after');
        return busy.requests.filter((r) => r.url === '/after').length;
      },
      (n) => n > 0,
    );
  });

  it('does not pick a server the health check finds down, though it would answer', async (t) => {
    const a = await startUpstream();
    const b = await startUpstream({
      handler: (req, res) => {
        res.statusCode = req.url === '/healthz' ? 503 : 200;
        res.end('b');
      },
    });
    t.after(() => Promise.all([a.close(), b.close()]));
    const gw = await startGateway(
      t,
      `routes:
  - id: app
    path: /
    upstreams: { servers: ["${a.url}", "${b.url}"] }
health: { interval: 30ms, unhealthyThreshold: 1, path: { app: /healthz } }
`,
      { features: [operations] },
    );
    // Once the check has run, four requests in a row all go to a.
    const toB = await eventually(
      async () => {
        const before = b.requests.filter((r) => r.url !== '/healthz').length;
        for (let i = 0; i < 4; i++) await send(gw.url, '/x');
        return b.requests.filter((r) => r.url !== '/healthz').length - before;
      },
      (n) => n === 0,
    );
    assert.equal(toB, 0);
    assert.ok(
      b.requests.some((r) => r.url === '/healthz'),
      'b was checked',
    );
    // Checks switched off: their verdict no longer holds b out.
    gw.write(`routes:\n  - { id: app, path: /, upstreams: { servers: ["${a.url}", "${b.url}"] } }\n`);
    assert.equal(gw.gateway.reload().ok, true);
    const back = await eventually(
      async () => {
        const before = b.requests.length;
        for (let i = 0; i < 2; i++) await send(gw.url, '/x');
        return b.requests.length - before;
      },
      (n) => n > 0,
    );
    assert.equal(back, 1);
  });
});
