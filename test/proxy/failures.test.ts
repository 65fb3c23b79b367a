import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { describe, it } from 'node:test';
import { startGateway } from '../helpers/gateway.ts';
import { json, send } from '../helpers/http.ts';
import { startUpstream } from '../helpers/upstream.ts';

async function deadPort(): Promise<number> {
  const s = createServer().listen(0, '127.0.0.1');
  await new Promise((r) => s.once('listening', r));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

describe('upstream failures', () => {
  it('answers 502 on the dead route only, and the other route keeps working', async (t) => {
    const live = await startUpstream();
    t.after(() => live.close());
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
    const slow = await startUpstream({ handler: () => {} });
    t.after(() => slow.close());
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

  it('ends a response cleanly when the upstream dies half-way, and keeps serving', async (t) => {
    const up = await startUpstream({
      handler: (req, res) => {
        if (req.url === '/die') {
          res.writeHead(200, { 'content-length': '100' });
          res.write('partial');
          setTimeout(() => req.socket.destroy(), 20);
        } else res.end('fine');
      },
    });
    t.after(() => up.close());
    const gw = await startGateway(t, `routes:\n  - { id: a, path: /, upstream: "${up.url}" }\n`);
    await assert.rejects(send(gw.url, '/die'));
    const r = await send(gw.url, '/ok');
    assert.equal(r.text, 'fine');
  });

  it('retries an idempotent request once when a reused keep-alive connection was closed by the upstream', async (t) => {
    let n = 0;
    const up = await startUpstream({
      handler: (_req, res) => {
        n++;
        res.end(`n=${n}`);
      },
    });
    up.server.keepAliveTimeout = 50;
    t.after(() => up.close());
    const gw = await startGateway(t, `routes:\n  - { id: a, path: /, upstream: "${up.url}" }\n`);
    for (let i = 0; i < 5; i++) {
      const r = await send(gw.url, '/');
      assert.equal(r.status, 200);
      await new Promise((res) => setTimeout(res, 50));
    }
  });
});
