import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:http2';
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
