import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { connect as netConnect } from 'node:net';
import { connect, type TLSSocket } from 'node:tls';
import { WebSocket } from 'ws';
import { until } from '../helpers/eventually.ts';
import { json, send } from '../helpers/http.ts';
import { openConnections } from '../helpers/gateway.ts';
import { listenerCertificates, startTlsGateway } from '../helpers/tlsGateway.ts';
import { startUpstream } from '../helpers/upstream.ts';

/** What ALPN settles on when a client offering `protocols` connects to `url`. */
async function negotiated(url: string, ca: Buffer, protocols: string[]): Promise<string | false | null> {
  const { hostname, port } = new URL(url);
  const socket: TLSSocket = connect({ host: hostname, port: Number(port), ca, ALPNProtocols: protocols });
  try {
    await once(socket, 'secureConnect');
    return socket.alpnProtocol;
  } finally {
    socket.destroy();
  }
}

async function echoUpstream(t: TestContext, options: Parameters<typeof startUpstream>[0] = {}) {
  const up = await startUpstream(options);
  t.after(() => up.close());
  return up;
}

const portico = (...args: string[]) =>
  spawnSync(process.execPath, ['scripts/portico.js', ...args], { encoding: 'utf8' });

describe('the TLS listener', () => {
  it('serves HTTPS with the configured certificate, which the test CA verifies', async (t) => {
    const up = await echoUpstream(t);
    const gw = await startTlsGateway(t, `routes:\n  - { id: app, path: /, upstream: "${up.url}" }\n`);
    assert.match(gw.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const r = await send(gw.url, '/hello?x=1', { ca: gw.ca });
    assert.equal(r.status, 200);
    assert.equal(json(r).url, '/hello?x=1');
    const { hostname, port } = new URL(gw.url);
    const socket = connect({ host: hostname, port: Number(port), ca: gw.ca });
    await once(socket, 'secureConnect');
    t.after(() => socket.destroy());
    assert.equal(socket.authorized, true);
    assert.equal(socket.getPeerCertificate().subject.CN, 'localhost');
  });

  it('refuses a client that does not trust the certificate (no silent fallback to plain HTTP)', async (t) => {
    const up = await echoUpstream(t);
    const gw = await startTlsGateway(t, `routes:\n  - { id: app, path: /, upstream: "${up.url}" }\n`);
    await assert.rejects(send(gw.url, '/'), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
    // Plain HTTP on the TLS port fails the handshake: the connection is closed, nothing is served.
    await assert.rejects(send(gw.url.replace('https:', 'http:'), '/'), { code: 'ECONNRESET' });
    assert.equal(up.requests.length, 0);
  });

  it('speaks HTTP/1.1 over TLS, telling the upstream the request came over https', async (t) => {
    const up = await echoUpstream(t);
    const gw = await startTlsGateway(t, `routes:\n  - { id: app, path: /app/, upstream: "${up.url}" }\n`);
    const r = await send(gw.url, '/app/x', { ca: gw.ca, method: 'POST', body: 'hello over 1.1' });
    assert.equal(r.status, 200);
    const seen = json<{ method: string; body: string; headers: Record<string, string> }>(r);
    assert.equal(seen.method, 'POST');
    assert.equal(seen.body, 'hello over 1.1');
    assert.equal(seen.headers['x-forwarded-proto'], 'https');
    assert.equal(seen.headers['x-forwarded-host'], new URL(gw.url).host);
  });

  it('offers h2 and http/1.1 by ALPN: an h2 client gets h2, an HTTP/1.1-only client http/1.1', async (t) => {
    const gw = await startTlsGateway(
      t,
      'routes:\n  - { id: app, path: /, upstream: "http://127.0.0.1:9/" }\n',
    );
    assert.equal(await negotiated(gw.url, gw.ca, ['h2', 'http/1.1']), 'h2');
    assert.equal(await negotiated(gw.url, gw.ca, ['http/1.1']), 'http/1.1');
  });

  it('offers only http/1.1 with listen.tls.http2: false, and still serves HTTPS', async (t) => {
    const up = await echoUpstream(t);
    const gw = await startTlsGateway(t, `routes:\n  - { id: app, path: /, upstream: "${up.url}" }\n`, {
      http2: false,
    });
    assert.equal(gw.gateway.config().listen.tls?.http2, false);
    assert.equal(await negotiated(gw.url, gw.ca, ['h2', 'http/1.1']), 'http/1.1');
    const r = await send(gw.url, '/x', { ca: gw.ca });
    assert.equal(r.status, 200);
  });

  it('carries a WebSocket (wss) to the upstream on the same port as HTTP/2', async (t) => {
    const up = await echoUpstream(t, { websocket: true });
    const gw = await startTlsGateway(
      t,
      `routes:\n  - { id: term, path: /term/, upstream: "${up.url}", websocket: true }\n`,
    );
    assert.equal(await negotiated(gw.url, gw.ca, ['h2', 'http/1.1']), 'h2');
    const ws = new WebSocket(`${gw.url.replace('https:', 'wss:')}/term/ws?cols=80`, ['tty'], { ca: gw.ca });
    await once(ws, 'open');
    assert.equal(ws.protocol, 'tty');
    ws.send('ls -la');
    const [echoed] = await once(ws, 'message');
    assert.equal(String(echoed), 'ls -la');
    ws.close();
    await once(ws, 'close');
    const upgrade = up.requests.find((r) => r.method === 'UPGRADE')!;
    assert.equal(upgrade.url, '/ws?cols=80');
    assert.equal(upgrade.headers['x-forwarded-proto'], 'https');
  });

  it('answers an HTTP/1.1 header block over the limit with 431 over TLS too', async (t) => {
    const gw = await startTlsGateway(
      t,
      'limits: { maxHeaderSize: 4096 }\nroutes:\n  - { id: app, path: /, upstream: "http://127.0.0.1:9/" }\n',
    );
    const r = await send(gw.url, '/', { ca: gw.ca, headers: { 'x-big': 'a'.repeat(8000) } });
    assert.equal(r.status, 431);
  });

  it('closes an HTTP/1.1 connection over TLS whose headers never finish, once headersTimeout has passed', async (t) => {
    const gw = await startTlsGateway(
      t,
      'limits: { headersTimeout: 1s }\nroutes:\n  - { id: app, path: /, upstream: "http://127.0.0.1:9/" }\n',
    );
    const { hostname, port } = new URL(gw.url);
    const socket = connect({ host: hostname, port: Number(port), ca: gw.ca, ALPNProtocols: ['http/1.1'] });
    t.after(() => socket.destroy());
    socket.on('error', () => {});
    await once(socket, 'secureConnect');
    const startedAt = performance.now();
    socket.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
    socket.resume();
    // Node's own defaults on this server (60 s, checked every 30 s) would keep it open far longer.
    const deadline = new Promise<'open'>((resolve) => setTimeout(() => resolve('open'), 4000).unref());
    const outcome = await Promise.race([once(socket, 'close').then(() => 'closed' as const), deadline]);
    assert.equal(outcome, 'closed');
    const afterMs = performance.now() - startedAt;
    assert.ok(afterMs >= 800, `closed after ${Math.round(afterMs)} ms, not before the timeout`);
  });
});

describe('validating listen.tls', () => {
  const dir = mkdtempSync(join(tmpdir(), 'portico-tls-validate-'));

  function validate(tls: string): { status: number | null; stderr: string } {
    const file = join(dir, `routes-${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(
      file,
      `listen:\n  tls: ${tls}\nroutes:\n  - { id: app, path: /, upstream: "http://127.0.0.1:9/" }\n`,
    );
    return portico('validate', file);
  }

  it('accepts a matching certificate and key, and http2: false', (t) => {
    const files = listenerCertificates(t);
    assert.equal(validate(`{ cert: "${files.cert}", key: "${files.key}" }`).status, 0);
    assert.equal(validate(`{ cert: "${files.cert}", key: "${files.key}", http2: false }`).status, 0);
  });

  it('says which file is missing', (t) => {
    const files = listenerCertificates(t);
    const r = validate(`{ cert: "${join(dir, 'nowhere.pem')}", key: "${files.key}" }`);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /listen\.tls\.cert: cannot read ".*nowhere\.pem"/);
  });

  it('says when the key does not belong to the certificate', (t) => {
    const mine = listenerCertificates(t);
    const other = listenerCertificates(t);
    const r = validate(`{ cert: "${mine.cert}", key: "${other.key}" }`);
    assert.equal(r.status, 1);
    assert.match(
      r.stderr,
      /listen\.tls: the key ".*server\.key" does not belong to the certificate ".*server\.pem"/,
    );
  });

  it('says when a file is not PEM', (t) => {
    const files = listenerCertificates(t);
    const garbage = join(dir, 'garbage.pem');
    writeFileSync(garbage, 'not a certificate\n');
    const r = validate(`{ cert: "${garbage}", key: "${files.key}" }`);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /listen\.tls: cert and key must be PEM/);
  });

  it('takes only a boolean for http2', (t) => {
    const files = listenerCertificates(t);
    const r = validate(`{ cert: "${files.cert}", key: "${files.key}", http2: "yes" }`);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /listen\.tls\.http2/);
  });

  it('accepts the certificate and key as PEM text in routes.yaml', (t) => {
    const files = listenerCertificates(t);
    const cert = JSON.stringify(readFileSync(files.cert, 'utf8'));
    const key = JSON.stringify(readFileSync(files.key, 'utf8'));
    assert.equal(validate(`{ cert: ${cert}, key: ${key} }`).status, 0);
  });

  it('cleans up', () => rmSync(dir, { recursive: true, force: true }));
});

describe('connections that never get to HTTP', () => {
  for (const http2 of [true, false])
    it(`drops a connection that never starts its TLS handshake once headersTimeout has passed (http2: ${http2})`, async (t) => {
      const gw = await startTlsGateway(
        t,
        'routes:\n  - { id: app, path: /, upstream: "http://127.0.0.1:9/" }\n',
        {
          http2,
          before: 'limits: { headersTimeout: 1s }\n',
        },
      );
      const { port } = new URL(gw.url);
      const raw = netConnect(Number(port), '127.0.0.1');
      raw.on('error', () => {});
      await once(raw, 'connect');
      const started = Date.now();
      // Nothing is sent: no ClientHello. Node's own handshake timeout is 120 s, and the answer
      // to it was written into a socket that could not send it, so the descriptor stayed for good.
      await Promise.race([
        once(raw, 'close'),
        new Promise((_, reject) => setTimeout(() => reject(new Error('still open after 6 s')), 6000)),
      ]);
      assert.ok(Date.now() - started < 6000);
      await until(async () => (await openConnections(gw)) === 0, 2000, 'the server to let go of it');
    });
});
