import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type AddressInfo, createServer, createServer as createNetServer } from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { startGateway } from '../helpers/gateway.ts';
import { json, send } from '../helpers/http.ts';
import { upstreamFor } from '../helpers/upstream.ts';
import { deadPort } from '../helpers/ports.ts';

/**
 * An upstream that answers each connection's first request with the bytes `answer` gives for it,
 * as they are (answers node:http would refuse to send), then closes; its URL.
 */
async function rawUpstream(t: TestContext, answer: (request: string) => string): Promise<string> {
  const raw = createNetServer((socket) => {
    socket.on('error', () => {});
    socket.once('data', (d) => socket.end(answer(String(d))));
  });
  raw.listen(0, '127.0.0.1');
  await once(raw, 'listening');
  t.after(() => raw.close());
  return `http://127.0.0.1:${(raw.address() as AddressInfo).port}/`;
}

describe('upstream failures', () => {
  it('answers 502 on the dead route only, and the other route keeps working', async (t) => {
    const live = await upstreamFor(t);
    const port = await deadPort();
    const gw = await startGateway(
      t,
      `routes:\n  - { id: ai, path: /dce5/, upstream: "http://127.0.0.1:${port}/" }\n  - { id: customer, path: /, upstream: "${live.url}" }\n`,
    );
    const dead = await send(gw.url, '/dce5/x', { headers: { accept: 'application/json' } });
    assert.equal(dead.status, 502);
    const body = json(dead);
    assert.equal(body.error, 'PORTICO_ERR_UPSTREAM');
    assert.equal(body.reason, 'refused');
    assert.ok(typeof body.requestId === 'string');
    assert.doesNotMatch(dead.text, /ECONNREFUSED|at .*\.ts/);
    const ok = await send(gw.url, '/fine');
    assert.equal(ok.status, 200);
  });

  it('shows browsers a branded 502 page without internals', async (t) => {
    const port = await deadPort();
    const gw = await startGateway(
      t,
      `routes:\n  - { id: ai, path: /dce5/, upstream: "http://127.0.0.1:${port}/" }\n`,
    );
    const r = await send(gw.url, '/dce5/', {
      headers: { accept: 'text/html,application/xhtml+xml', 'accept-language': 'zh-CN,zh;q=0.9' },
    });
    assert.equal(r.status, 502);
    assert.match(String(r.headers['content-type']), /text\/html/);
    assert.match(r.text, /服务暂不可用/);
    assert.match(r.text, /<html lang="zh-CN">/);
    assert.doesNotMatch(r.text, /ECONNREFUSED|127\.0\.0\.1|stack/);
  });

  it('answers 504 when the upstream does not answer within the idle timeout', async (t) => {
    const slow = await upstreamFor(t, { handler: () => {} });
    const gw = await startGateway(
      t,
      `routes:\n  - { id: slow, path: /, upstream: "${slow.url}", timeouts: { idle: 300ms } }\n`,
    );
    const started = Date.now();
    const r = await send(gw.url, '/', { headers: { accept: 'application/json' } });
    assert.equal(r.status, 504);
    assert.equal(json(r).error, 'PORTICO_ERR_UPSTREAM_TIMEOUT');
    assert.ok(Date.now() - started < 5000);
  });

  it('answers 504 when the TLS connection cannot be set up within the connect timeout', async (t) => {
    // A loopback server that accepts TCP but never answers the TLS ClientHello: the connection is
    // "made" only at secureConnect, which never comes.
    const held = new Set<import('node:net').Socket>();
    const silent = createServer((s) => {
      held.add(s);
      s.on('error', () => {});
    }).listen(0, '127.0.0.1');
    await new Promise((r) => silent.once('listening', r));
    t.after(() => {
      for (const s of held) s.destroy();
      silent.close();
    });
    const port = (silent.address() as { port: number }).port;
    const gw = await startGateway(
      t,
      `routes:\n  - { id: hang, path: /, upstream: "https://127.0.0.1:${port}/", tls: { insecureSkipVerify: true }, timeouts: { connect: 200ms, idle: 30s } }\n`,
    );
    const started = Date.now();
    const r = await send(gw.url, '/', { headers: { accept: 'application/json' } });
    assert.equal(r.status, 504);
    assert.equal(json(r).reason, 'timeout');
    assert.ok(Date.now() - started < 3000);
  });

  it("answers an upstream answer whose reason phrase Node will not write (a control character) with the status's own, and keeps serving", async (t) => {
    const bad = await rawUpstream(
      t,
      () => 'HTTP/1.1 200 O\x01K\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok',
    );
    const ok = await upstreamFor(t);
    const gw = await startGateway(
      t,
      `routes:\n  - { id: bad, path: /bad/, upstream: "${bad}" }\n  - { id: ok, path: /, upstream: "${ok.url}" }\n`,
    );
    const r = await send(gw.url, '/bad/x', { headers: { accept: 'application/json' } });
    assert.equal(r.status, 200);
    assert.equal(r.text, 'ok');
    assert.equal((await send(gw.url, '/ok')).status, 200);
  });

  it('never dies of an answer Node will not write on a branded page: a bad reason phrase or a status over 599 is a 502', async (t) => {
    const up = await rawUpstream(
      t,
      (request) =>
        `HTTP/1.1 ${request.startsWith('GET /status') ? '999 Odd' : '200 O\x01K'}\r\nContent-Type: text/html\r\nContent-Length: 39\r\nConnection: close\r\n\r\n<html><head></head><body>x</body></html>`,
    );
    const gw = await startGateway(t, `routes:\n  - { id: a, path: /, upstream: "${up}", branding: true }\n`);
    const html = { accept: 'text/html' };
    const reason = await send(gw.url, '/page', { headers: html });
    assert.equal(reason.status, 200, "the reason phrase is replaced by the status's own");
    assert.match(reason.text, /<body>x<\/body>/);
    assert.equal((await send(gw.url, '/status', { headers: html })).status, 502);
    assert.equal((await send(gw.url, '/status', { headers: { accept: 'application/json' } })).status, 502);
  });

  it('passes a 204 on without the Content-Length a careless upstream gave it (RFC 9110 §8.6, as nginx)', async (t) => {
    const up = await rawUpstream(
      t,
      () => 'HTTP/1.1 204 No Content\r\nContent-Length: 39\r\nX-Kept: yes\r\n\r\n',
    );
    const gw = await startGateway(t, `routes:\n  - { id: a, path: /, upstream: "${up}" }\n`);
    const r = await send(gw.url, '/x');
    assert.equal(r.status, 204);
    assert.equal(r.headers['content-length'], undefined);
    assert.equal(r.headers['x-kept'], 'yes');
  });

  it('ends a response cleanly when the upstream dies half-way, and keeps serving', async (t) => {
    const up = await upstreamFor(t, {
      handler: (req, res) => {
        if (req.url === '/die') {
          res.writeHead(200, { 'content-length': '100' });
          res.write('partial');
          setTimeout(() => req.socket.destroy(), 20);
        } else res.end('fine');
      },
    });
    const gw = await startGateway(t, `routes:\n  - { id: a, path: /, upstream: "${up.url}" }\n`);
    await assert.rejects(send(gw.url, '/die'));
    const r = await send(gw.url, '/ok');
    assert.equal(r.text, 'fine');
  });

  it('retries an idempotent request once when a reused keep-alive connection was closed by the upstream', async (t) => {
    const up = await closesReusedConnections(t);
    const gw = await startGateway(t, `routes:\n  - { id: a, path: /, upstream: "${up.url}" }\n`);
    assert.equal((await send(gw.url, '/first')).text, 'answered /first');
    // The keep-alive connection is reused for this one, and the upstream drops it unanswered.
    const r = await send(gw.url, '/second');
    assert.equal(r.status, 200);
    assert.equal(r.text, 'answered /second');
    assert.deepEqual(up.dropped, ['GET /second'], 'the first attempt did reach a closing connection');
    assert.equal(up.connections(), 2, 'the retry went out on a new connection');
  });

  it('does not retry a request with a body: the upstream may have acted on it', async (t) => {
    const up = await closesReusedConnections(t);
    const gw = await startGateway(t, `routes:\n  - { id: a, path: /, upstream: "${up.url}" }\n`);
    assert.equal((await send(gw.url, '/first')).status, 200);
    const r = await send(gw.url, '/order', {
      method: 'POST',
      body: 'x=1',
      headers: { accept: 'application/json' },
    });
    assert.equal(r.status, 502);
    assert.deepEqual(up.dropped, ['POST /order']);
  });
});

/**
 * An upstream that answers the first request of each connection (keep-alive) and drops the
 * connection, unanswered, when a second request arrives on it: an upstream whose idle timeout
 * fired just as the gateway reused the connection, every time, with no timing involved.
 */
async function closesReusedConnections(t: TestContext) {
  const dropped: string[] = [];
  const sockets = new Set<import('node:net').Socket>();
  let connections = 0;
  const server = createNetServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    let answered = 0;
    let buffer = '';
    socket.on('data', (chunk) => {
      buffer += chunk.toString('latin1');
      const end = buffer.indexOf('\r\n\r\n');
      if (end === -1) return;
      const head = buffer.slice(0, end);
      const length = Number(/content-length: *(\d+)/i.exec(head)?.[1] ?? 0);
      if (buffer.length < end + 4 + length) return;
      buffer = buffer.slice(end + 4 + length);
      const [method, target] = head.split(' ');
      if (answered++ > 0) {
        dropped.push(`${method} ${target}`);
        socket.destroy();
        return;
      }
      const body = `answered ${target}`;
      socket.write(
        `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nConnection: keep-alive\r\n\r\n${body}`,
      );
    });
    socket.on('error', () => {});
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    for (const s of sockets) s.destroy();
    return new Promise<void>((r) => server.close(() => r()));
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    dropped,
    connections: () => connections,
  };
}
