// A route's upstream connections (a pool of 256 per upstream) are not held by clients that stop
// halfway: one that stops sending its body or stops reading the answer is cut off after the route's
// idle timeout (nginx client_body_timeout / send_timeout), and a request still waiting for a free
// connection is never sent once its client has left (security review: 256 stalled anonymous
// clients hung a route for everyone).
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect as h2connect } from 'node:http2';
import { connect } from 'node:net';
import { request } from 'node:http';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startGateway } from '../helpers/gateway.ts';
import { startTlsGateway } from '../helpers/tlsGateway.ts';
import { RawConnection } from '../helpers/rawSocket.ts';
import { upstreamFor } from '../helpers/upstream.ts';
import { until } from '../helpers/eventually.ts';

const IDLE_MS = 500;
/** How late after the idle timeout the connection may still be open. */
const GRACE_MS = 2000;

describe('clients that stop halfway', () => {
  it('closes an upload whose client stops sending, and the upstream request with it', async (t) => {
    let upstreamClosed = false;
    const up = await upstreamFor(t, {
      streaming: true,
      handler: (req, res) => {
        req.resume();
        res.on('close', () => {
          upstreamClosed = true;
        });
      },
    });
    const gw = await startGateway(
      t,
      `routes:\n  - { id: app, path: /, upstream: "${up.url}", timeouts: { idle: ${IDLE_MS}ms } }\n`,
    );
    const c = await RawConnection.open(gw.url);
    t.after(() => c.destroy());
    c.write('POST /upload HTTP/1.1\r\nHost: portal\r\nContent-Length: 1000\r\n\r\nA');
    assert.ok(await up.waitForRequests(1), 'the upload reached the upstream');
    assert.ok(await c.waitForClose(IDLE_MS + GRACE_MS), 'Portico closed the stalled upload');
    await until(() => upstreamClosed, GRACE_MS, 'the upstream request closed');
  });

  it('closes an answer its client stops reading, and frees the upstream connection', async (t) => {
    let upstreamClosed = false;
    const up = await upstreamFor(t, {
      handler: (_req, res) => {
        res.on('close', () => {
          upstreamClosed = true;
        });
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        const chunk = Buffer.alloc(64 * 1024, 'x');
        let sent = 0;
        const more = () => {
          while (sent < 256 && res.write(chunk)) sent++;
          if (sent >= 256) res.end();
        };
        res.on('drain', more);
        more();
      },
    });
    const gw = await startGateway(
      t,
      `routes:\n  - { id: app, path: /, upstream: "${up.url}", timeouts: { idle: ${IDLE_MS}ms } }\n`,
    );
    const { port } = new URL(gw.url);
    const c = connect({ host: '127.0.0.1', port: Number(port) });
    t.after(() => c.destroy());
    let received = 0;
    const readOnce = (chunk: Buffer) => {
      received += chunk.length;
      c.pause();
    };
    c.on('data', readOnce);
    c.write('GET /big HTTP/1.1\r\nHost: portal\r\n\r\n');
    await until(() => received > 0, 2000, 'the first bytes of the answer');
    await until(() => upstreamClosed, IDLE_MS + GRACE_MS, 'the upstream connection freed');
    // Reading again drains what the kernel holds, then finds the connection closed.
    const closed = once(c, 'close');
    c.off('data', readOnce);
    c.on('data', (chunk: Buffer) => {
      received += chunk.length;
    });
    c.on('error', () => {});
    c.resume();
    await closed;
    assert.ok(received < 256 * 64 * 1024, `the answer was cut short (${received} bytes), not completed`);
  });

  it('frees the upstream connection of an HTTP/2 stream whose client grants no flow-control window', async (t) => {
    let inFlight = 0;
    const up = await upstreamFor(t, {
      handler: (_req, res) => {
        inFlight++;
        res.on('close', () => inFlight--);
        // More than the sockets between the two can hold: the upstream waits on Portico reading.
        res.end(Buffer.alloc(16 * 1024 * 1024, 'x'));
      },
    });
    const gw = await startTlsGateway(
      t,
      `routes:\n  - { id: app, path: /, upstream: "${up.url}", timeouts: { idle: ${IDLE_MS}ms } }\n`,
    );
    const session = h2connect(gw.url, { ca: gw.ca, settings: { initialWindowSize: 0 } });
    session.on('error', () => {});
    t.after(() => session.destroy());
    for (let i = 0; i < 8; i++) session.request({ ':path': `/asset${i}` }).on('error', () => {});
    assert.ok(await up.waitForRequests(8), 'the streams reached the upstream');
    await until(() => inFlight === 0, IDLE_MS + GRACE_MS, 'every upstream answer closed');
  });

  it('never sends a request waiting for a free upstream connection once its client has left', async (t) => {
    const waiting: (() => void)[] = [];
    const up = await upstreamFor(t, {
      handler: (req, res) => {
        if (req.url === '/victim') res.end('victim');
        else waiting.push(() => res.end('ok'));
      },
    });
    const gw = await startGateway(t, `routes:\n  - { id: app, path: /, upstream: "${up.url}" }\n`);
    const { port } = new URL(gw.url);
    // Every one of the pool's 256 connections busy with an answer the upstream holds back.
    const busy = Array.from({ length: 256 }, (_, i) => {
      const r = request({ host: '127.0.0.1', port, path: `/hold${i}`, agent: false });
      r.end();
      return once(r, 'response').then(([res]) => res.resume());
    });
    assert.ok(await up.waitForRequests(256, 10_000), 'the pool is busy');
    const victim = await RawConnection.open(gw.url);
    victim.write('GET /victim HTTP/1.1\r\nHost: portal\r\n\r\n');
    await sleep(200);
    victim.destroy();
    await sleep(100);
    for (const answer of waiting) answer();
    await Promise.all(busy);
    await sleep(300);
    assert.deepEqual(
      up.requests.filter((r) => r.url === '/victim'),
      [],
      'the abandoned request was not sent once a connection was free',
    );
  });
});
