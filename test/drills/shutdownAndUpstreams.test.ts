import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { startGateway } from '../helpers/gateway.ts';
import { send } from '../helpers/http.ts';
import { startUpstream, upstreamFor } from '../helpers/upstream.ts';
import { listeningUrl } from '../helpers/porticoProcess.ts';
import { wsUrl } from '../helpers/websocket.ts';

describe('drill: SIGTERM', () => {
  it('lets in-flight requests finish, closes WebSockets with 1001 and exits 0', async (t) => {
    let arrived!: () => void;
    const reached = new Promise<void>((r) => (arrived = r));
    const slow = await upstreamFor(t, {
      websocket: true,
      handler: (_req, res) => {
        arrived();
        setTimeout(() => res.end('finished'), 800);
      },
    });
    const dir = mkdtempSync(join(tmpdir(), 'portico-drill-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'routes.yaml');
    writeFileSync(
      file,
      `logging: { level: info }\nroutes:\n  - { id: slow, path: /, upstream: "${slow.url}", websocket: true }\n`,
    );
    const child = spawn(
      process.execPath,
      ['scripts/portico.js', 'serve', '--config', file, '--port', '0', '--host', '127.0.0.1'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    t.after(() => child.kill('SIGKILL'));
    const base = await listeningUrl(child);
    const ws = new WebSocket(wsUrl(base, '/'));
    await once(ws, 'open');
    const wsClosed = once(ws, 'close');
    const inFlight = send(base, '/slow');
    await reached;
    child.kill('SIGTERM');
    const r = await inFlight;
    assert.equal(r.status, 200);
    assert.equal(r.text, 'finished');
    const [code] = await wsClosed;
    assert.equal(code, 1001);
    const [exitCode] = await once(child, 'exit');
    assert.equal(exitCode, 0);
    await assert.rejects(send(base, '/_portico/healthz'));
  });
});

describe('drill: an upstream dies under traffic', () => {
  it('answers 502 on its route only while it is down and recovers when it returns on the same port', async (t) => {
    const ai = await startUpstream({ handler: (_q, s) => s.end('ai') });
    const customer = await upstreamFor(t, { handler: (_q, s) => s.end('customer') });
    const aiPort = ai.port;
    const gw = await startGateway(
      t,
      `routes:\n  - { id: ai, path: /dce5/, upstream: "${ai.url}" }\n  - { id: customer, path: /, upstream: "${customer.url}" }\n`,
    );
    assert.equal((await send(gw.url, '/dce5/')).text, 'ai');
    await ai.close();
    const statuses = await Promise.all(
      Array.from({ length: 20 }, () =>
        send(gw.url, '/dce5/', { headers: { accept: 'application/json' } }).then((r) => r.status),
      ),
    );
    assert.deepEqual(new Set(statuses), new Set([502]));
    const others = await Promise.all(
      Array.from({ length: 20 }, () => send(gw.url, '/x').then((r) => r.text)),
    );
    assert.deepEqual(new Set(others), new Set(['customer']));
    const back = await startUpstreamOn(aiPort);
    t.after(() => new Promise<void>((r) => back.close(() => r())));
    assert.equal((await send(gw.url, '/dce5/')).text, 'back');
  });
});

async function startUpstreamOn(port: number) {
  const { createServer } = await import('node:http');
  const server = createServer((_q, s) => s.end('back'));
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  return server;
}
