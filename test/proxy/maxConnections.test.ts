import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, request, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { pino } from 'pino';
import { startGateway } from '../helpers/gateway.ts';
import { holdingUpstream } from '../helpers/holdingUpstream.ts';
import { send } from '../helpers/http.ts';
import { freePort } from '../helpers/ports.ts';

const API = { accept: 'application/json' };

/**
 * An upstream whose `/events` is an event stream that never falls silent for the idle timeout (it
 * holds its connection until `endStream()`); every other path answers at once. It records the
 * paths it received and the connections it accepted.
 */
async function eventStreamUpstream(t: TestContext) {
  const paths: string[] = [];
  let connections = 0;
  let stream: ServerResponse | undefined;
  const server = createServer((req, res) => {
    paths.push(req.url!);
    if (req.url !== '/events') {
      res.end('ok');
      return;
    }
    stream = res;
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const tick = setInterval(() => res.write('data: tick\n\n'), 50);
    res.on('close', () => clearInterval(tick));
    res.on('finish', () => clearInterval(tick));
  });
  server.on('connection', () => connections++);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    paths,
    connections: () => connections,
    endStream: () => stream!.end(),
  };
}

/** Opens `/events` through the gateway and resolves once its first event came: the connection is held. */
async function openStream(base: string) {
  const events = request(new URL('/events', base), { agent: false });
  events.on('error', () => {});
  await new Promise<void>((resolve) => {
    events.on('response', (res) => res.once('data', () => resolve()));
    events.end();
  });
  return events;
}

function answerOf(base: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, base), { headers: API, agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A logger whose lines the test reads. */
function recordingLogger() {
  const lines: { msg: string; route?: string; maxConnections?: number }[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) });
  return { logger, lines };
}

describe('routes[].maxConnections', () => {
  it('opens at most that many connections to the upstream; the next request waits for one, and a warning says so', async (t) => {
    const up = await holdingUpstream(t);
    const { logger, lines } = recordingLogger();
    const gw = await startGateway(
      t,
      `routes:
  - { id: streams, path: /, upstream: "${up.url}", maxConnections: 2 }
`,
      { logger },
    );
    const answers = [answerOf(gw.url, '/1'), answerOf(gw.url, '/2')];
    await up.arrived(2);
    answers.push(answerOf(gw.url, '/3'));
    // The third waits in Portico while both connections are busy: said as it arrives (waited for,
    // not assumed within a fixed time, which a loaded machine may outlast).
    const isBusy = (l: { msg: string }) => l.msg.startsWith('all 2 connections to the upstream are busy');
    for (let i = 0; i < 500 && !lines.some(isBusy); i++) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(up.received(), 2);
    const busy = lines.filter(isBusy);
    assert.equal(busy.length, 1, JSON.stringify(lines.map((l) => l.msg)));
    assert.equal(busy[0]!.route, 'streams');
    up.release();
    await up.arrived(1);
    up.release();
    assert.deepEqual(await Promise.all(answers), [200, 200, 200]);
  });

  it('answers 504 to a request that waited the idle timeout for a connection, and never sends it', async (t) => {
    // The one connection carries an event stream that never falls silent.
    const up = await eventStreamUpstream(t);
    const gw = await startGateway(
      t,
      `routes:
  - { id: streams, path: /, upstream: "${up.url}", maxConnections: 1, timeouts: { idle: 300ms } }
`,
    );
    await openStream(gw.url);
    const waited = await send(gw.url, '/next', { headers: API });
    assert.equal(waited.status, 504);
    assert.equal(JSON.parse(waited.text).error, 'PORTICO_ERR_UPSTREAM_TIMEOUT');
    // Once the stream ends its connection is free: the next request gets it, the one answered
    // 504 is never sent.
    up.endStream();
    assert.equal((await send(gw.url, '/after', { headers: API })).status, 200);
    assert.deepEqual(up.paths, ['/events', '/after']);
  });

  it('lets go of requests that stopped waiting: once a connection is free, none of them opens one', async (t) => {
    // The one connection carries an event stream; requests that waited for it in vain (504) or
    // whose client left must not stay queued until it ends, each then opening a connection to
    // the upstream only to abort it.
    const up = await eventStreamUpstream(t);
    const gw = await startGateway(
      t,
      `routes:
  - { id: streams, path: /, upstream: "${up.url}", maxConnections: 1, timeouts: { idle: 400ms } }
`,
    );
    const events = await openStream(gw.url);
    // Three wait in vain, one at a time; a fourth's client leaves while it waits.
    for (const n of [1, 2, 3])
      assert.equal((await send(gw.url, `/gave-up-${n}`, { headers: API })).status, 504);
    const leaving = request(new URL('/left', gw.url), { headers: API, agent: false });
    leaving.on('error', () => {});
    leaving.end();
    await new Promise((r) => setTimeout(r, 50));
    leaving.destroy();
    await new Promise((r) => setTimeout(r, 50));
    up.endStream();
    events.destroy();
    assert.equal((await send(gw.url, '/after', { headers: API })).status, 200);
    assert.deepEqual(up.paths, ['/events', '/after']);
    assert.equal(up.connections(), 1, 'the stream’s connection, kept alive for the next request');
  });

  it('lets the answer of a retry on another server run past the first attempt’s wait for a connection', async (t) => {
    // The first server refuses the connection; the request goes to the second, whose event stream
    // outlasts the idle timeout (never silent that long). The first attempt waited for a
    // connection of its own (maxConnections: 1, none open yet): that wait ended with its failure.
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      let n = 0;
      const tick = setInterval(() => {
        res.write(`data: ${++n}\n\n`);
        if (n === 12) {
          clearInterval(tick);
          res.end();
        }
      }, 50);
      res.on('close', () => clearInterval(tick));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    t.after(() => {
      server.closeAllConnections();
      server.close();
    });
    const refused = `http://127.0.0.1:${await freePort()}/`;
    const gw = await startGateway(
      t,
      `routes:
  - id: streams
    path: /
    upstreams: { servers: ["${refused}", "http://127.0.0.1:${(server.address() as AddressInfo).port}/"] }
    maxConnections: 1
    timeouts: { idle: 300ms }
`,
    );
    const body = await new Promise<string>((resolve, reject) => {
      const req = request(new URL('/events', gw.url), { agent: false }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          text += c;
        });
        res.on('end', () => resolve(text));
        res.on('error', reject);
        res.on('aborted', () => reject(new Error(`the stream was cut after: ${JSON.stringify(text)}`)));
      });
      req.on('error', reject);
      req.end();
    });
    assert.match(body, /data: 12\n\n$/);
  });

  it('is an integer from 1 in routes.yaml', async (t) => {
    await assert.rejects(
      startGateway(
        t,
        `routes:
  - { id: api, path: /, upstream: "http://127.0.0.1:9/", maxConnections: 0 }
`,
      ),
      /maxConnections/,
    );
  });

  it('refuses timeouts.idle: 0, which would end every wait it bounds at once', async (t) => {
    for (const idle of ['0', '0s', '"0ms"'])
      await assert.rejects(
        startGateway(
          t,
          `routes:
  - { id: api, path: /, upstream: "http://127.0.0.1:9/", timeouts: { idle: ${idle} } }
`,
        ),
        (err: { problems?: { message: string }[] }) =>
          err.problems?.some((p) => p.message.startsWith('must be more than 0')) === true,
      );
  });
});
