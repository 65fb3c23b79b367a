import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:http2';
import { connect as tlsConnect } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { loadConfigFile } from '../../gateway/config/loadConfig.ts';
import { createListener } from '../../gateway/listener/createListener.ts';
import { listenerCertificates } from '../helpers/tlsGateway.ts';

const IDLE_MS = 300;

/** The TLS listener alone, with a short keep-alive timeout, answering through `handler`. */
async function listener(t: TestContext, handler: Parameters<typeof createListener>[1]) {
  const files = listenerCertificates(t);
  const dir = mkdtempSync(join(tmpdir(), 'portico-listener-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'routes.yaml');
  writeFileSync(
    file,
    `listen:\n  tls: { cert: "${files.cert}", key: "${files.key}" }\nroutes:\n  - { id: app, path: /, upstream: "http://127.0.0.1:9/" }\n`,
  );
  const l = createListener(loadConfigFile(file, {}), handler, { keepAliveTimeoutMs: IDLE_MS });
  l.server.listen(0, '127.0.0.1');
  await once(l.server, 'listening');
  t.after(() => {
    l.closeAllConnections();
    l.server.close();
  });
  const port = (l.server.address() as AddressInfo).port;
  return { url: `https://127.0.0.1:${port}`, ca: readFileSync(files.ca) };
}

describe('HTTP/2 settings', () => {
  it('announce at most 128 streams at once per connection, as nginx does, and the header limit', async (t) => {
    const l = await listener(t, (_req, res) => res.end('ok'));
    const session = connect(l.url, { ca: l.ca });
    t.after(() => session.close());
    const [settings] = await once(session, 'remoteSettings');
    assert.equal(settings.maxConcurrentStreams, 128);
    assert.equal(settings.maxHeaderListSize, 16384);
  });
});

describe('HTTP/2 connections left open', () => {
  it('are closed once no stream has been open for the keep-alive timeout', async (t) => {
    const l = await listener(t, (_req, res) => res.end('ok'));
    const session = connect(l.url, { ca: l.ca });
    const closed = once(session, 'close');
    const stream = session.request({ ':path': '/' });
    stream.resume();
    await once(stream, 'end');
    const startedAt = performance.now();
    await closed;
    const idle = performance.now() - startedAt;
    assert.ok(idle >= IDLE_MS * 0.8 && idle < 5000, `closed after ${Math.round(idle)} ms idle`);
  });

  it('are cut off after the keep-alive timeout and a grace when the client stopped half-way through a header block', async (t) => {
    const l = await listener(t, (_req, res) => res.end('ok'));
    const { port } = new URL(l.url);
    const raw = tlsConnect({
      port: Number(port),
      host: '127.0.0.1',
      ca: l.ca,
      ALPNProtocols: ['h2'],
      servername: 'localhost',
    });
    raw.on('error', () => {});
    t.after(() => raw.destroy());
    await once(raw, 'secureConnect');
    assert.equal(raw.alpnProtocol, 'h2');
    const frame = (type: number, flags: number, stream: number, payload: Buffer) => {
      const head = Buffer.alloc(9);
      head.writeUIntBE(payload.length, 0, 3);
      head[3] = type;
      head[4] = flags;
      head.writeUInt32BE(stream, 5);
      return Buffer.concat([head, payload]);
    };
    raw.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
    raw.write(frame(4, 0, 0, Buffer.alloc(0))); // SETTINGS
    // HEADERS on stream 1 without END_HEADERS (0x4): `:method: GET`, and no CONTINUATION ever.
    raw.write(frame(1, 0, 1, Buffer.from([0x82])));
    raw.resume();
    const startedAt = performance.now();
    await once(raw, 'close');
    const after = performance.now() - startedAt;
    assert.ok(after < IDLE_MS * 2 + 3000, `closed after ${Math.round(after)} ms`);
  });

  it('stay open while a quiet stream is in flight (a long poll outlasts several idle periods), for the next request too', async (t) => {
    const l = await listener(t, (req, res) => {
      if (req.url === '/poll') setTimeout(() => res.end('late'), IDLE_MS * 3);
      else res.end('now');
    });
    const session = connect(l.url, { ca: l.ca });
    t.after(() => session.destroy());
    const stream = session.request({ ':path': '/poll' });
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    await once(stream, 'end');
    assert.equal(Buffer.concat(chunks).toString(), 'late');
    // The same connection takes the next request: it was never sent away (GOAWAY).
    const next = session.request({ ':path': '/next' });
    next.resume();
    const [headers] = await once(next, 'response');
    assert.equal(headers[':status'], 200);
  });
});
