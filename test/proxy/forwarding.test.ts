import assert from 'node:assert/strict';
import { Agent, request } from 'node:http';
import { describe, it } from 'node:test';
import { startGateway } from '../helpers/gateway.ts';
import { json, send } from '../helpers/http.ts';
import { upstreamFor, redirectingUpstream } from '../helpers/upstream.ts';

describe('forwarding to upstreams', () => {
  it('strips the route prefix and passes path and query byte for byte', async (t) => {
    const ai = await upstreamFor(t);
    const gw = await startGateway(t, `routes:\n  - { id: ai, path: /dce5/, upstream: "${ai.url}" }\n`);
    const r = await send(gw.url, '/dce5/a%2Fb/%E4%B8%AD?q=a%20b&x=%2F&y=+&z=');
    assert.equal(r.status, 200);
    assert.equal(ai.last().url, '/a%2Fb/%E4%B8%AD?q=a%20b&x=%2F&y=+&z=');
  });

  it('sends Host as the client sent it, X-Real-IP, X-Forwarded-For/Proto/Host/Prefix and the request id', async (t) => {
    const ai = await upstreamFor(t);
    const gw = await startGateway(t, `routes:\n  - { id: ai, path: /dce5/, upstream: "${ai.url}" }\n`);
    await send(gw.url, '/dce5/x', { headers: { host: 'portal.example.com', 'x-request-id': 'abc-123' } });
    const h = ai.last().headers;
    assert.equal(h.host, 'portal.example.com');
    assert.equal(h['x-real-ip'], '127.0.0.1');
    assert.equal(h['x-forwarded-for'], '127.0.0.1');
    assert.equal(h['x-forwarded-proto'], 'http');
    assert.equal(h['x-forwarded-host'], 'portal.example.com');
    assert.equal(h['x-forwarded-prefix'], '/dce5');
    assert.equal(h['x-request-id'], 'abc-123');
  });

  it("sends the upstream's own host when the route says preserveHost: false", async (t) => {
    const up = await upstreamFor(t);
    const gw = await startGateway(
      t,
      `routes:\n  - { id: a, path: /, upstream: "${up.url}", preserveHost: false }\n`,
    );
    await send(gw.url, '/', { headers: { host: 'portal.example.com' } });
    assert.equal(up.last().headers.host, `127.0.0.1:${up.port}`);
  });

  it('replaces X-Forwarded-For from an untrusted client and appends to it behind a trusted proxy', async (t) => {
    const up = await upstreamFor(t);
    const untrusted = await startGateway(t, `routes:\n  - { id: a, path: /, upstream: "${up.url}" }\n`);
    await send(untrusted.url, '/', {
      headers: { 'x-forwarded-for': '6.6.6.6', 'x-forwarded-proto': 'https' },
    });
    assert.equal(up.last().headers['x-forwarded-for'], '127.0.0.1');
    assert.equal(up.last().headers['x-real-ip'], '127.0.0.1');
    assert.equal(up.last().headers['x-forwarded-proto'], 'http');

    const trusted = await startGateway(
      t,
      `trustProxy: [127.0.0.1/32]\nroutes:\n  - { id: a, path: /, upstream: "${up.url}" }\n`,
    );
    await send(trusted.url, '/', {
      headers: { 'x-forwarded-for': '203.0.113.9', 'x-forwarded-proto': 'https' },
    });
    assert.equal(up.last().headers['x-forwarded-for'], '203.0.113.9, 127.0.0.1');
    assert.equal(up.last().headers['x-real-ip'], '203.0.113.9');
    assert.equal(up.last().headers['x-forwarded-proto'], 'https');
  });

  it('stops trusting a kept-alive connection’s X-Forwarded-For once a reload leaves its peer out of trustProxy', async (t) => {
    const up = await upstreamFor(t);
    const routes = `routes:\n  - { id: a, path: /, upstream: "${up.url}" }\n`;
    const gw = await startGateway(t, `trustProxy: [127.0.0.1/32]\n${routes}`);
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    t.after(() => agent.destroy());
    const ask = () =>
      new Promise<{ port: number }>((resolve, reject) => {
        const req = request(`${gw.url}/`, { agent, headers: { 'x-forwarded-for': '203.0.113.9' } }, (res) => {
          res.resume();
          res.on('end', () => resolve({ port: req.socket!.localPort! }));
        });
        req.on('error', reject);
        req.end();
      });
    const first = await ask();
    assert.equal(up.last().headers['x-real-ip'], '203.0.113.9');
    gw.write(`trustProxy: [10.0.0.0/8]\n${routes}`);
    assert.equal(gw.gateway.reload().ok, true);
    const second = await ask();
    assert.equal(second.port, first.port, 'the same connection');
    assert.equal(up.last().headers['x-real-ip'], '127.0.0.1');
    assert.equal(up.last().headers['x-forwarded-for'], '127.0.0.1');
  });

  it('drops hop-by-hop headers, including those named in Connection', async (t) => {
    const up = await upstreamFor(t);
    const gw = await startGateway(t, `routes:\n  - { id: a, path: /, upstream: "${up.url}" }\n`);
    await send(gw.url, '/', {
      headers: {
        connection: 'keep-alive, x-secret-hop',
        'x-secret-hop': '1',
        'proxy-authorization': 'x',
        te: 'trailers',
        'x-kept': 'yes',
      },
    });
    const h = up.last().headers;
    assert.equal(h['x-secret-hop'], undefined);
    assert.equal(h['proxy-authorization'], undefined);
    assert.equal(h.te, undefined);
    assert.equal(h['x-kept'], 'yes');
  });

  it('redirects the bare prefix to the prefix with its slash, keeping the query', async (t) => {
    const up = await upstreamFor(t);
    const gw = await startGateway(t, `routes:\n  - { id: ai, path: /dce5/, upstream: "${up.url}" }\n`);
    const r = await send(gw.url, '/dce5?tab=1');
    assert.equal(r.status, 301);
    assert.equal(r.headers.location, '/dce5/?tab=1');
    assert.equal(up.requests.length, 0);
  });

  it("rewrites a Location at the upstream's own origin under the prefix, and leaves others alone", async (t) => {
    const up = await redirectingUpstream(t);
    const gw = await startGateway(t, `routes:\n  - { id: ai, path: /dce5/, upstream: "${up.url}" }\n`);
    const cases: [string, string][] = [
      [`http://127.0.0.1:${up.port}/login?x=1`, '/dce5/login?x=1'],
      [`http://127.0.0.1:${up.port}`, '/dce5/'],
      [`http://127.0.0.1:${up.port}/`, '/dce5/'],
      ['https://idp.example.com/auth', 'https://idp.example.com/auth'],
      ['/dce5/already', '/dce5/already'],
      [`http://127.0.0.1:${up.port}0/other-port`, `http://127.0.0.1:${up.port}0/other-port`],
    ];
    for (const [given, expected] of cases) {
      up.redirectTo(given);
      const r = await send(gw.url, '/dce5/');
      assert.equal(r.headers.location, expected, given);
    }
  });

  it('rewrites Set-Cookie paths under the prefix only when the route asks for it', async (t) => {
    const up = await upstreamFor(t, {
      handler: (_req, res) => {
        res.setHeader('set-cookie', ['a=1; Path=/; HttpOnly', 'b=2; path=/api; Secure', 'c=3']);
        res.end('ok');
      },
    });
    const gw = await startGateway(
      t,
      `routes:\n  - { id: ai, path: /dce5/, upstream: "${up.url}", rewrite: { cookiePath: true } }\n  - { id: plain, path: /plain/, upstream: "${up.url}" }\n`,
    );
    const r = await send(gw.url, '/dce5/');
    assert.deepEqual(r.headers['set-cookie'], [
      'a=1; Path=/dce5/; HttpOnly',
      'b=2; Path=/dce5/api; Secure',
      'c=3',
    ]);
    const p = await send(gw.url, '/plain/');
    assert.deepEqual(p.headers['set-cookie'], ['a=1; Path=/; HttpOnly', 'b=2; path=/api; Secure', 'c=3']);
  });

  it('passes status, repeated headers and bodies of every method unchanged', async (t) => {
    const up = await upstreamFor(t, {
      handler: (req, res, rec) => {
        res.writeHead(
          req.url === '/created' ? 201 : 200,
          [
            ['X-Multi', 'one'],
            ['X-Multi', 'two'],
            ['Content-Type', 'text/plain'],
          ].flat(),
        );
        res.end(req.method === 'HEAD' ? undefined : `${req.method} ${rec.body.toString()}`);
      },
    });
    const gw = await startGateway(t, `routes:\n  - { id: a, path: /, upstream: "${up.url}" }\n`);
    for (const method of ['POST', 'PUT', 'PATCH', 'DELETE']) {
      const r = await send(gw.url, '/created', {
        method,
        body: '{"a":1}',
        headers: { 'content-type': 'application/json' },
      });
      assert.equal(r.status, 201);
      assert.equal(r.text, `${method} {"a":1}`);
      assert.equal(up.last().headers['content-type'], 'application/json');
    }
    const r = await send(gw.url, '/x');
    const multi = r.rawHeaders.filter((_v, i) => i % 2 === 0 && r.rawHeaders[i] === 'X-Multi').length;
    assert.equal(multi, 2);
  });

  it('answers 404 as JSON for API clients when no route matches', async (t) => {
    const up = await upstreamFor(t);
    const gw = await startGateway(t, `routes:\n  - { id: ai, path: /dce5/, upstream: "${up.url}" }\n`);
    const r = await send(gw.url, '/nothing-here', { headers: { accept: 'application/json' } });
    assert.equal(r.status, 404);
    assert.equal(json(r).error, 'PORTICO_ERR_NOT_FOUND');
  });

  it('refuses dot-segment tricks with 400 before anything reaches an upstream', async (t) => {
    const up = await upstreamFor(t);
    const gw = await startGateway(
      t,
      `routes:\n  - { id: ai, path: /dce5/, upstream: "${up.url}" }\n  - { id: root, path: /, upstream: "${up.url}" }\n`,
    );
    for (const target of ['/dce5/../x', '/dce5/%2e%2e/x', '/dce5/..%2fx', '/x/..%2F..%2Fdce5/']) {
      const r = await send(gw.url, target);
      assert.equal(r.status, 400, target);
    }
    assert.equal(up.requests.length, 0);
  });
});

describe('bodies stream both ways', () => {
  it('passes an upload on as it arrives: the upstream reads its first part before the client sent the rest', async (t) => {
    let firstPart: (chunk: string) => void = () => {};
    const arrived = new Promise<string>((resolve) => (firstPart = resolve));
    const up = await upstreamFor(t, {
      streaming: true,
      handler: (req, res) => {
        let body = '';
        req.on('data', (c: Buffer) => {
          if (body === '') firstPart(c.toString());
          body += c.toString();
        });
        req.on('end', () => res.end(`got ${body.length} bytes`));
      },
    });
    const gw = await startGateway(t, `routes:\n  - { id: a, path: /, upstream: "${up.url}" }\n`);
    const { request } = await import('node:http');
    const url = new URL(gw.url);
    const req = request({ hostname: url.hostname, port: url.port, method: 'POST', path: '/upload' });
    const answered = new Promise<string>((resolve) =>
      req.on('response', (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve(text));
      }),
    );
    req.write('first part;');
    assert.equal(await arrived, 'first part;', 'the upstream has the first part while the upload is open');
    req.end('second part');
    assert.equal(await answered, 'got 22 bytes');
  });

  it('passes a download on as it comes: the client reads the first event before the upstream finished', async (t) => {
    let finish: () => void = () => {};
    const up = await upstreamFor(t, {
      streaming: true,
      handler: (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('data: one\n\n');
        finish = () => res.end('data: two\n\n');
      },
    });
    const gw = await startGateway(t, `routes:\n  - { id: a, path: /, upstream: "${up.url}" }\n`);
    const { request } = await import('node:http');
    const url = new URL(gw.url);
    const chunks: string[] = [];
    const ended = new Promise<void>((resolve) => {
      const req = request({ hostname: url.hostname, port: url.port, path: '/events' }, (res) => {
        res.on('data', (c: Buffer) => {
          chunks.push(c.toString());
          if (chunks.length === 1) finish();
        });
        res.on('end', () => resolve());
      });
      req.end();
    });
    await ended;
    assert.deepEqual(chunks, ['data: one\n\n', 'data: two\n\n']);
  });
});
