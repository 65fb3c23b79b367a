import assert from 'node:assert/strict';
import { once } from 'node:events';
import { request } from 'node:http';
import { connect, constants } from 'node:http2';
import { describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { startGateway } from '../helpers/gateway.ts';
import { http2Request } from '../helpers/http2.ts';
import { startTlsGateway } from '../helpers/tlsGateway.ts';
import { holdingUpstream } from '../helpers/holdingUpstream.ts';
import { send } from '../helpers/http.ts';
import { wsUrl } from '../helpers/websocket.ts';

const API = { accept: 'application/json' };

/** The answer of `sent`, failing at once if the upstream receives its nth request meanwhile. */
function refusedBeforeUpstream<T>(up: { arrived(n: number): Promise<void> }, n: number, sent: Promise<T>) {
  const reached = up.arrived(n).then(() => {
    throw new Error('the request over the limit reached the upstream');
  });
  return Promise.race([sent, reached]);
}

/** A request left waiting for its answer; `answer` is its status once it comes. */
function hangingRequest(base: string, path: string, localAddress = '127.0.0.1') {
  const url = new URL(path, base);
  const req = request(url, { headers: API, localAddress, agent: false });
  const answer = new Promise<number>((resolve, reject) => {
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
  });
  req.end();
  return { req, answer };
}

describe('rateLimit.concurrentPerIp', () => {
  it('refuses an address a third request while two are in flight, and counts each address and route apart', async (t) => {
    const up = await holdingUpstream(t);
    const gw = await startGateway(
      t,
      `routes:
  - { id: api, path: /api/, upstream: "${up.url}", rateLimit: { concurrentPerIp: 2 } }
  - { id: free, path: /, upstream: "${up.url}" }
`,
    );
    const first = hangingRequest(gw.url, '/api/1');
    const second = hangingRequest(gw.url, '/api/2');
    await up.arrived(2);
    const third = await refusedBeforeUpstream(up, 3, send(gw.url, '/api/3', { headers: API }));
    assert.equal(third.status, 429);
    assert.equal(JSON.parse(third.text).error, 'PORTICO_ERR_TOO_MANY');
    assert.equal(third.headers['retry-after'], '1');
    assert.equal(up.held.length, 2, 'the refused request never reached the upstream');

    // Another address, and another route, are not held back by this address's two.
    const other = hangingRequest(gw.url, '/api/4', '127.0.0.2');
    const elsewhere = hangingRequest(gw.url, '/free');
    await up.arrived(4);
    up.release();
    assert.deepEqual(
      await Promise.all([first.answer, second.answer, other.answer, elsewhere.answer]),
      [200, 200, 200, 200],
    );
    // Answered requests no longer count.
    const again = hangingRequest(gw.url, '/api/5');
    await up.arrived(1);
    up.release();
    assert.equal(await again.answer, 200);
  });

  it('gives the count back when a client leaves before its answer', async (t) => {
    const up = await holdingUpstream(t);
    const gw = await startGateway(
      t,
      `routes:
  - { id: api, path: /, upstream: "${up.url}", rateLimit: { concurrentPerIp: 1 } }
`,
    );
    const leaving = hangingRequest(gw.url, '/slow');
    leaving.answer.catch(() => {});
    await up.arrived(1);
    assert.equal((await refusedBeforeUpstream(up, 2, send(gw.url, '/x', { headers: API }))).status, 429);
    const closed = once(up.held[0]!, 'close');
    leaving.req.destroy();
    await closed;
    up.held.splice(0);
    const next = hangingRequest(gw.url, '/next');
    await up.arrived(1);
    up.release();
    assert.equal(await next.answer, 200);
  });

  it('counts open WebSockets until they close', async (t) => {
    const up = await holdingUpstream(t);
    const gw = await startGateway(
      t,
      `routes:
  - { id: term, path: /, upstream: "${up.url}", websocket: true, rateLimit: { concurrentPerIp: 2 } }
`,
    );
    const open = async () => {
      const ws = new WebSocket(wsUrl(gw.url, '/tty'));
      t.after(() => ws.terminate());
      const status = await new Promise<number>((resolve, reject) => {
        ws.once('open', () => resolve(101));
        ws.once('unexpected-response', (_req, res) => {
          res.resume();
          resolve(res.statusCode!);
        });
        ws.once('error', reject);
      });
      return { ws, status };
    };
    const a = await open();
    const b = await open();
    assert.deepEqual([a.status, b.status], [101, 101]);
    assert.equal((await open()).status, 429, 'a third terminal from the same address');
    a.ws.close();
    await once(a.ws, 'close');
    // The gateway sees the close a moment after the client: the next terminal may need a retry.
    let status = 0;
    for (let i = 0; i < 50 && status !== 101; i++) {
      status = (await open()).status;
      if (status !== 101) await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(status, 101);
  });

  it('counts HTTP/2 streams: one the client resets before its answer closes its upstream request and gives its count back', async (t) => {
    const up = await holdingUpstream(t);
    const gw = await startTlsGateway(
      t,
      `routes:
  - { id: api, path: /, upstream: "${up.url}", rateLimit: { concurrentPerIp: 1 } }
`,
      { http2: true },
    );
    const session = connect(gw.url, { ca: gw.ca });
    t.after(() => session.close());
    const held = session.request({ ':path': '/held', accept: 'application/json' }, { endStream: true });
    held.on('error', () => {});
    await up.arrived(1);
    const refused = await refusedBeforeUpstream(
      up,
      2,
      http2Request(gw.url, '/x', { ca: gw.ca, headers: API }),
    );
    assert.equal(refused.status, 429);
    const closed = once(up.held[0]!, 'close');
    held.close(constants.NGHTTP2_CANCEL);
    await closed;
    up.held.splice(0);
    const next = http2Request(gw.url, '/next', { ca: gw.ca, headers: API });
    await up.arrived(1);
    up.release();
    assert.equal((await next).status, 200);
  });

  it('is an integer of at least 1 in routes.yaml', async (t) => {
    await assert.rejects(
      startGateway(
        t,
        `routes:
  - { id: api, path: /, upstream: "http://127.0.0.1:9/", rateLimit: { concurrentPerIp: 0 } }
`,
      ),
      /concurrentPerIp/,
    );
  });
});
