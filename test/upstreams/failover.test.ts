import assert from 'node:assert/strict';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { WebSocket } from 'ws';
import { eventually } from '../helpers/eventually.ts';
import { deadPort, startResettingServer } from '../helpers/failingServers.ts';
import { startGateway } from '../helpers/gateway.ts';
import { json, send } from '../helpers/http.ts';
import { startUpstream } from '../helpers/upstream.ts';

/** A logger whose JSON lines the test reads. */
function capturedLogger() {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) });
  return { logger, lines };
}

describe('several upstream servers: failures', () => {
  it('sends a GET whose connection is refused to another server, and the access log names the server that answered', async (t) => {
    const live = await startUpstream();
    t.after(() => live.close());
    const dead = `http://127.0.0.1:${await deadPort()}/`;
    const { logger, lines } = capturedLogger();
    const gw = await startGateway(
      t,
      `routes:
  - id: app
    path: /
    upstreams: { servers: ["${dead}", "${live.url}"], maxFails: 0 }
`,
      { logger },
    );
    // maxFails 0 never leaves the dead server out: every other request is picked for it first.
    for (let i = 0; i < 4; i++) assert.equal((await send(gw.url, `/${i}`)).status, 200);
    assert.deepEqual(
      live.requests.map((r) => r.url),
      ['/0', '/1', '/2', '/3'],
    );
    const access = await eventually(
      async () => lines.filter((l) => l.msg === 'request completed'),
      (l) => l.length === 4,
    );
    assert.deepEqual(
      access.map((l) => l.upstream),
      Array(4).fill(live.url.slice(0, -1)),
    );
    assert.equal(lines.filter((l) => l.msg === 'upstream server failed, trying another').length, 2);
  });

  it('does not send a POST with a body to another server, nor a POST the failing server may have read', async (t) => {
    const live = await startUpstream();
    const resetting = await startResettingServer();
    t.after(() => Promise.all([live.close(), resetting.close()]));
    const dead = `http://127.0.0.1:${await deadPort()}/`;
    const gw = await startGateway(
      t,
      `routes:
  - id: refused
    path: /refused/
    upstreams: { servers: ["${dead}", "${live.url}"], maxFails: 0 }
  - id: reset
    path: /reset/
    upstreams: { servers: ["${resetting.url}", "${live.url}"], maxFails: 0 }
`,
    );
    const headers = { accept: 'application/json', 'content-type': 'text/plain' };
    const posted = await send(gw.url, '/refused/x', { method: 'POST', headers, body: 'order #1' });
    assert.equal(posted.status, 502);
    assert.equal(json(posted).reason, 'refused');
    // Nothing was sent on a refused connection: a POST without a body may go to another server.
    const empty = await send(gw.url, '/refused/y', {
      method: 'POST',
      headers: { accept: 'application/json' },
    });
    assert.equal(empty.status, 200);
    // A connection reset after the request went out: the server may have acted on it.
    const reset = await send(gw.url, '/reset/z', { method: 'POST', headers: { accept: 'application/json' } });
    assert.equal(reset.status, 502);
    assert.equal(resetting.connections, 1);
    assert.deepEqual(
      live.requests.map((r) => `${r.method} ${r.url}`),
      ['POST /y'],
    );
    // The same reset on a GET is tried on the other server (one of two GETs is picked for it).
    for (const path of ['/reset/v', '/reset/w']) assert.equal((await send(gw.url, path)).status, 200);
    assert.equal(resetting.connections, 2);
  });

  it('answers the branded 502 when every server fails', async (t) => {
    const one = `http://127.0.0.1:${await deadPort()}/`;
    const two = `http://127.0.0.1:${await deadPort()}/`;
    const gw = await startGateway(
      t,
      `routes:
  - id: app
    path: /
    upstreams: { servers: ["${one}", "${two}"] }
`,
    );
    const r = await send(gw.url, '/x', { headers: { accept: 'application/json' } });
    assert.equal(r.status, 502);
    assert.equal(json(r).error, 'PORTICO_ERR_UPSTREAM');
    // Both are out now; they are tried anyway rather than no server at all.
    const again = await send(gw.url, '/x', { headers: { accept: 'application/json' } });
    assert.equal(again.status, 502);
    assert.equal(json(again).reason, 'refused');
  });

  it('leaves a server out after maxFails failed connections, and tries it again after failTimeout', async (t) => {
    const live = await startUpstream();
    const failing = await startResettingServer();
    t.after(() => Promise.all([live.close(), failing.close()]));
    const gw = await startGateway(
      t,
      `routes:
  - id: app
    path: /
    upstreams: { servers: ["${failing.url}", "${live.url}"], maxFails: 2, failTimeout: 300ms }
`,
    );
    // Every GET is answered: the failing server's turns go on to the live one.
    for (let i = 0; i < 3; i++) assert.equal((await send(gw.url, `/${i}`)).status, 200);
    assert.equal(failing.connections, 2, 'two turns of the failing server, both failed');
    for (let i = 3; i < 9; i++) assert.equal((await send(gw.url, `/${i}`)).status, 200);
    assert.equal(failing.connections, 2, 'left out after its second failure');
    const tried = await eventually(
      async () => {
        assert.equal((await send(gw.url, '/later')).status, 200);
        return failing.connections;
      },
      (n) => n > 2,
    );
    assert.equal(tried, 3, 'tried again once failTimeout has passed');
    // It failed once more right away: left out again at once (nginx), not after another maxFails.
    for (let i = 0; i < 4; i++) await send(gw.url, '/again');
    assert.equal(failing.connections, 3);
  });

  it('opens a WebSocket on another server when the first refuses the connection', async (t) => {
    const live = await startUpstream({ websocket: true });
    t.after(() => live.close());
    const dead = `http://127.0.0.1:${await deadPort()}/`;
    const gw = await startGateway(
      t,
      `routes:
  - id: term
    path: /term/
    websocket: true
    upstreams: { servers: ["${dead}", "${live.url}"], maxFails: 0 }
`,
    );
    for (const text of ['first', 'second']) {
      const ws = new WebSocket(`${gw.url.replace(/^http/, 'ws')}/term/ws`);
      await once(ws, 'open');
      ws.send(text);
      const [echo] = await once(ws, 'message');
      assert.equal(String(echo), text);
      ws.close();
      await once(ws, 'close');
    }
    assert.deepEqual(
      live.requests.map((r) => `${r.method} ${r.url}`),
      ['UPGRADE /ws', 'UPGRADE /ws'],
    );
  });
});
