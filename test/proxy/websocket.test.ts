import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { until } from '../helpers/eventually.ts';
import { startGateway } from '../helpers/gateway.ts';
import { exchange, RawConnection, requestBytes, WEBSOCKET_UPGRADE } from '../helpers/rawSocket.ts';
import { startUpstream, upstreamFor } from '../helpers/upstream.ts';
import { wsUrl } from '../helpers/websocket.ts';

async function refusal(ws: WebSocket): Promise<number> {
  const [, res] = (await once(ws, 'unexpected-response')) as [unknown, { statusCode: number }];
  return res.statusCode;
}

describe('WebSocket upgrades', () => {
  it('tunnels a WebSocket with the tty subprotocol and strips the prefix', async (t) => {
    const ai = await upstreamFor(t, { websocket: true });
    const gw = await startGateway(
      t,
      `routes:\n  - { id: ai, path: /dce5/, upstream: "${ai.url}", websocket: true }\n`,
    );
    const ws = new WebSocket(wsUrl(gw.url, '/dce5/terminal/ws?cols=80'), ['tty']);
    await once(ws, 'open');
    assert.equal(ws.protocol, 'tty');
    ws.send('ls -la');
    const [text] = await once(ws, 'message');
    assert.equal(String(text), 'ls -la');
    ws.send(Buffer.from([0, 1, 2, 255]));
    const [bin] = await once(ws, 'message');
    assert.deepEqual([...(bin as Buffer)], [0, 1, 2, 255]);
    ws.close();
    const up = ai.requests.find((r) => r.method === 'UPGRADE')!;
    assert.equal(up.url, '/terminal/ws?cols=80');
    assert.equal(up.headers['x-forwarded-prefix'], '/dce5');
    assert.equal(up.headers['sec-websocket-protocol'], 'tty');
  });

  it('refuses upgrades on routes without websocket: true', async (t) => {
    const up = await upstreamFor(t, { websocket: true });
    const gw = await startGateway(t, `routes:\n  - { id: a, path: /, upstream: "${up.url}" }\n`);
    const ws = new WebSocket(wsUrl(gw.url, '/'));
    ws.on('error', () => {});
    assert.equal(await refusal(ws), 400);
    assert.equal(up.requests.length, 0);
  });

  it('refuses a browser upgrade from a foreign Origin before anything reaches the upstream', async (t) => {
    const up = await upstreamFor(t, { websocket: true });
    const gw = await startGateway(
      t,
      `routes:\n  - { id: ai, path: /dce5/, upstream: "${up.url}", websocket: true }\n`,
    );
    const evil = new WebSocket(wsUrl(gw.url, '/dce5/ws'), { origin: 'https://evil.example' });
    evil.on('error', () => {});
    assert.equal(await refusal(evil), 403);
    assert.equal(up.requests.length, 0);
    const own = new WebSocket(wsUrl(gw.url, '/dce5/ws'), { origin: gw.url });
    await once(own, 'open');
    own.close();
  });

  it('without a publicUrl, refuses a plain-http page on a connection that came over TLS, and lets an https page through', async (t) => {
    const up = await upstreamFor(t, { websocket: true });
    const gw = await startGateway(
      t,
      `trustProxy: [127.0.0.1/32]\nroutes:\n  - { id: ai, path: /dce5/, upstream: "${up.url}", websocket: true }\n`,
    );
    const host = new URL(gw.url).host;
    const open = async (origin: string, proto?: string) => {
      const ws = new WebSocket(wsUrl(gw.url, '/dce5/ws'), {
        origin,
        headers: proto ? { 'x-forwarded-proto': proto } : {},
      });
      ws.on('error', () => {});
      const result = await Promise.race([once(ws, 'open').then(() => 101), refusal(ws)]);
      ws.close();
      return result;
    };
    // Over TLS (as the trusted proxy says): the http page of the same host is another party.
    assert.equal(await open(`http://${host}`, 'https'), 403);
    assert.equal(await open(`https://${host}`, 'https'), 101);
    // Over plain http: its own page, and an https page (a TLS proxy Portico was not told to trust).
    assert.equal(await open(`http://${host}`), 101);
    assert.equal(await open(`https://${host}`), 101);
    assert.equal(up.requests.filter((r) => r.method === 'UPGRADE').length, 3);
  });

  it('closes an idle tunnel after the route idle timeout', async (t) => {
    const up = await upstreamFor(t, { websocket: true });
    const gw = await startGateway(
      t,
      `routes:\n  - { id: ai, path: /, upstream: "${up.url}", websocket: true, timeouts: { idle: 300ms } }\n`,
    );
    const ws = new WebSocket(wsUrl(gw.url, '/'));
    await once(ws, 'open');
    const started = Date.now();
    await once(ws, 'close');
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 250 && elapsed < 3000, `closed after ${elapsed} ms`);
  });

  it('answers 502 to an upgrade whose upstream is down', async (t) => {
    const up = await startUpstream();
    const port = up.port;
    await up.close();
    const gw = await startGateway(
      t,
      `routes:\n  - { id: ai, path: /, upstream: "http://127.0.0.1:${port}/", websocket: true }\n`,
    );
    const ws = new WebSocket(wsUrl(gw.url, '/'));
    ws.on('error', () => {});
    assert.equal(await refusal(ws), 502);
  });

  it('relays the upstream refusing an upgrade as it came', async (t) => {
    const up = await startUpstream({
      handler: (_req, res) => {
        res.writeHead(401, { 'content-type': 'text/plain' });
        res.end('no');
      },
    });
    t.after(() => up.close());
    const gw = await startGateway(
      t,
      `routes:\n  - { id: ai, path: /, upstream: "${up.url}", websocket: true }\n`,
    );
    const ws = new WebSocket(wsUrl(gw.url, '/'));
    ws.on('error', () => {});
    assert.equal(await refusal(ws), 401);
  });

  it('streams the answer of an upstream that declines an upgrade, and stops it when the client leaves', async (t) => {
    // An endless answer: held in memory whole, it would grow the gateway until it died.
    let upstreamClosed: () => void = () => {};
    const closedUpstream = new Promise<void>((resolve) => (upstreamClosed = resolve));
    const up = await upstreamFor(t, {
      streaming: true,
      handler: (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('data: first part\n\n');
        const timer = setInterval(() => res.write('data: more\n\n'), 20);
        res.on('close', () => {
          clearInterval(timer);
          upstreamClosed();
        });
      },
    });
    const gw = await startGateway(
      t,
      `routes:\n  - { id: ai, path: /, upstream: "${up.url}", websocket: true }\n`,
    );
    const conn = await RawConnection.open(gw.url);
    t.after(() => conn.destroy());
    await conn.write(
      `GET /events HTTP/1.1\r\nHost: ${new URL(gw.url).host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`,
    );
    await until(
      () => conn.text().includes('data: first part'),
      5000,
      'the first part, while the upstream still sends',
    );
    assert.match(conn.text(), /^HTTP\/1\.1 200 /);
    conn.destroy();
    await closedUpstream;
  });

  it('refuses an h2c upgrade and forwards no Content-Length of a body it did not send', async (t) => {
    const up = await upstreamFor(t, { websocket: true });
    const gw = await startGateway(
      t,
      `routes:\n  - { id: ai, path: /, upstream: "${up.url}", websocket: true }\n`,
    );
    const host = new URL(gw.url).host;
    const h2c = await RawConnection.open(gw.url);
    t.after(() => h2c.destroy());
    await h2c.write(
      `GET /x HTTP/1.1\r\nHost: ${host}\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n`,
    );
    await until(() => /^HTTP\/1\.1 \d{3}/.test(h2c.text()), 5000, 'an answer');
    assert.match(h2c.text(), /^HTTP\/1\.1 400 /);
    assert.equal(up.requests.filter((r) => r.method === 'UPGRADE').length, 0);
    const ws = new WebSocket(wsUrl(gw.url, '/ws'), { headers: { 'content-length': '0' } });
    await once(ws, 'open');
    ws.close();
    const upgrade = up.requests.find((r) => r.method === 'UPGRADE')!;
    assert.equal(upgrade.headers['content-length'], undefined);
  });

  it('refuses an upgrade that carries a body, whose bytes would reach the upstream as the tunnel’s first', async (t) => {
    const up = await upstreamFor(t, { websocket: true });
    const gw = await startGateway(
      t,
      `routes:\n  - { id: ai, path: /, upstream: "${up.url}", websocket: true }\n`,
    );
    const host: [string, string] = ['Host', new URL(gw.url).host];
    for (const [framing, body] of [
      [['Content-Length', '5'], 'hello'],
      [['Transfer-Encoding', 'chunked'], '5\r\nhello\r\n0\r\n\r\n'],
    ] as const) {
      const r = await exchange(
        gw.url,
        requestBytes('GET', '/ws', [host, ...WEBSOCKET_UPGRADE, framing], `${body}PING`),
      );
      assert.equal(r.responses[0]?.status, 400, `${framing[0]}: ${r.raw.slice(0, 80)}`);
    }
    assert.equal(up.requests.filter((r) => r.method === 'UPGRADE').length, 0);
    // Expect is not passed on with an upgrade: there is no body to wait for.
    const ws = new WebSocket(wsUrl(gw.url, '/ws'), { headers: { expect: '100-continue' } });
    await once(ws, 'open');
    ws.close();
    assert.equal(up.requests.find((r) => r.method === 'UPGRADE')!.headers.expect, undefined);
  });

  it('does not take an upgrade pipelined behind a request still being answered: its answer would land in the tunnel', async (t) => {
    const up = await upstreamFor(t, {
      websocket: true,
      handler: (_req, res) => setTimeout(() => res.end('SLOW-BODY'), 300),
    });
    const gw = await startGateway(
      t,
      `routes:\n  - { id: ai, path: /, upstream: "${up.url}", websocket: true }\n`,
    );
    const host: [string, string] = ['Host', new URL(gw.url).host];
    const r = await exchange(
      gw.url,
      Buffer.concat([
        requestBytes('GET', '/slow', [host]),
        requestBytes('GET', '/ws', [host, ...WEBSOCKET_UPGRADE], 'TUNNELDATA'),
      ]),
      { expect: 2, timeoutMs: 3000 },
    );
    assert.deepEqual(
      r.responses.map((x) => x.status),
      [200],
      r.raw,
    );
    assert.equal(r.responses[0]!.body.toString(), 'SLOW-BODY');
    assert.equal(r.closed, true, 'the connection closes after the earlier answer');
    assert.ok(!r.raw.includes('101'), 'no tunnel was opened');
    assert.equal(up.requests.filter((x) => x.method === 'UPGRADE').length, 0);
  });

  it('closes open tunnels with 1001 (going away) when the gateway shuts down', async (t) => {
    const up = await upstreamFor(t, { websocket: true });
    const gw = await startGateway(
      t,
      `routes:\n  - { id: ai, path: /, upstream: "${up.url}", websocket: true }\n`,
    );
    const ws = new WebSocket(wsUrl(gw.url, '/'));
    await once(ws, 'open');
    const closed = once(ws, 'close');
    await gw.gateway.close(2000);
    const [code] = await closed;
    assert.equal(code, 1001);
  });
});
