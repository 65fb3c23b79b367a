import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect } from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { describe, it, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { brandingFeature } from '../../gateway/branding/brandingFeature.ts';
import { createGateway } from '../../gateway/server.ts';
import { brandDir } from '../branding/helpers.ts';
import { eventually } from '../helpers/eventually.ts';
import { http2Request } from '../helpers/http2.ts';
import { listenerCertificates, startTlsGateway, startTlsSso } from '../helpers/tlsGateway.ts';
import { startUpstream } from '../helpers/upstream.ts';

const execFileAsync = promisify(execFile);

/** Headers that frame an HTTP/1.1 connection: never on an HTTP/2 answer, never forwarded. */
const CONNECTION_HEADERS = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade'];

async function upstream(
  t: TestContext,
  handler?: (req: IncomingMessage, res: ServerResponse) => void,
  streaming = false,
) {
  const up = await startUpstream(handler ? { handler, streaming } : {});
  t.after(() => up.close());
  return up;
}

async function gatewayTo(t: TestContext, url: string, extra = '') {
  return startTlsGateway(t, `routes:\n  - { id: app, path: /app/, upstream: "${url}"${extra} }\n`);
}

/** Process warnings raised while `run` runs (Node warns once per process on status messages in HTTP/2). */
async function warningsDuring(run: () => Promise<void>): Promise<string[]> {
  const seen: string[] = [];
  const collect = (w: Error) => seen.push(w.message);
  process.on('warning', collect);
  try {
    await run();
    // Warnings are emitted on the next tick.
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off('warning', collect);
  }
  return seen;
}

describe('HTTP/2 on the TLS listener', () => {
  it('proxies a GET over h2: :status, the upstream headers and body, no connection headers', async (t) => {
    const up = await upstream(t, (_req, res) => {
      res.writeHead(201, 'Created Here', {
        'content-type': 'text/plain',
        'x-app': 'ai',
        'keep-alive': 'timeout=5',
        'proxy-connection': 'keep-alive',
        upgrade: 'h2c',
        connection: 'keep-alive, upgrade, x-hop',
        'x-hop': 'only for this hop',
      });
      res.end('made');
    });
    const lines: Record<string, unknown>[] = [];
    const logger = pino(
      { level: 'info' },
      new Writable({
        write(chunk, _encoding, done) {
          for (const line of String(chunk).split('\n')) if (line) lines.push(JSON.parse(line));
          done();
        },
      }),
    );
    const gw = await startTlsGateway(t, `routes:\n  - { id: app, path: /app/, upstream: "${up.url}" }\n`, {
      logger,
    });
    let r: Awaited<ReturnType<typeof http2Request>> | undefined;
    const warnings = await warningsDuring(async () => {
      r = await http2Request(gw.url, '/app/things?id=7', { ca: gw.ca });
    });
    assert.equal(r!.alpn, 'h2');
    assert.equal(r!.status, 201);
    assert.equal(r!.headers['x-app'], 'ai');
    assert.equal(r!.headers['content-type'], 'text/plain');
    assert.equal(r!.text, 'made');
    for (const name of [...CONNECTION_HEADERS, 'x-hop']) assert.equal(r!.headers[name], undefined, name);
    assert.deepEqual(
      warnings.filter((w) => /HTTP\/2|connection header/i.test(w)),
      [],
      'no status message or connection header reached node:http2',
    );
    assert.equal(up.last().url, '/things?id=7');
    const access = await eventually(
      async () => lines.find((l) => l.msg === 'request completed' && l.url === '/app/things?id=7'),
      (line) => line !== undefined,
    );
    assert.equal(access?.h2, true, 'the access log says the request came over HTTP/2');
    assert.equal(access?.status, 201);
  });

  it('streams a large upstream body over h2 intact, chunk by chunk', async (t) => {
    const chunk = Buffer.alloc(64 * 1024, 'portico ');
    const chunks = 80; // 5 MiB, more than any HTTP/2 flow-control window
    const expected = createHash('sha256');
    for (let i = 0; i < chunks; i++) expected.update(chunk);
    const up = await upstream(t, (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' }); // chunked, no length
      Readable.from(
        (function* () {
          for (let i = 0; i < chunks; i++) yield chunk;
        })(),
      ).pipe(res);
    });
    const gw = await gatewayTo(t, up.url);
    const r = await http2Request(gw.url, '/app/big', { ca: gw.ca });
    assert.equal(r.status, 200);
    assert.equal(r.body.length, chunk.length * chunks);
    assert.equal(createHash('sha256').update(r.body).digest('hex'), expected.digest('hex'));
  });

  it('sends a POST body to the upstream, with a Content-Length and streamed without one', async (t) => {
    const up = await upstream(t);
    const gw = await gatewayTo(t, up.url);
    const sized = await http2Request(gw.url, '/app/form', {
      ca: gw.ca,
      headers: { 'content-type': 'text/plain', 'content-length': '11' },
      body: 'hello world',
    });
    assert.equal(sized.status, 200);
    assert.equal(up.last().method, 'POST');
    assert.equal(up.last().body.toString(), 'hello world');
    const parts = ['streamed ', 'without ', 'a length'];
    const streamed = await http2Request(gw.url, '/app/upload', {
      ca: gw.ca,
      method: 'PUT',
      body: Readable.from(parts.map((p) => Buffer.from(p))),
    });
    assert.equal(streamed.status, 200);
    assert.equal(up.last().method, 'PUT');
    assert.equal(up.last().body.toString(), parts.join(''));
  });

  for (const limit of ['', ', maxBodySize: 1m']) {
    it(`never lets an upload the client cancels (RST_STREAM) reach the upstream as a complete request${limit ? ' (route with maxBodySize)' : ''}`, async (t) => {
      const ended: string[] = [];
      let arrived: () => void = () => {};
      const started = new Promise<void>((resolve) => (arrived = resolve));
      let cut: () => void = () => {};
      const settled = new Promise<void>((resolve) => (cut = resolve));
      const up = await upstream(
        t,
        (req, res) => {
          let body = '';
          req.on('data', (c: Buffer) => {
            body += c.toString();
            arrived();
          });
          req.on('end', () => {
            ended.push(body);
            res.end('complete');
            cut();
          });
          req.on('close', () => {
            if (!req.complete) cut();
          });
        },
        true,
      );
      const gw = await gatewayTo(t, up.url, limit);
      const session = connect(gw.url, { ca: gw.ca });
      t.after(() => session.close());
      session.on('error', () => {});
      const stream = session.request({
        ':method': 'POST',
        ':path': '/app/items',
        'content-type': 'application/json',
      });
      stream.on('error', () => {});
      stream.write('{"items":[1,2,');
      await started;
      // RST_STREAM with no END_STREAM before it (close() would end the body first).
      stream.destroy();
      await settled;
      assert.deepEqual(ended, [], 'the upstream never saw the body end');
    });
  }

  it('answers 502 over h2 to an upstream answer HTTP/2 cannot carry (Location twice, status 999), with none of its headers', async (t) => {
    const up = await upstream(t, (req, res) => {
      if (req.url === '/twice') {
        res.setHeader('location', ['/a', '/b']);
        res.setHeader('content-length', '2');
        res.writeHead(302);
      } else {
        res.setHeader('content-length', '2');
        res.writeHead(999);
      }
      res.end('no');
    });
    const gw = await gatewayTo(t, up.url);
    for (const path of ['/app/twice', '/app/status']) {
      const r = await http2Request(gw.url, path, { ca: gw.ca, headers: { accept: 'application/json' } });
      assert.equal(r.status, 502, path);
      assert.equal(r.headers.location, undefined, path);
      assert.equal(JSON.parse(r.text).error, 'PORTICO_ERR_UPSTREAM', path);
    }
  });

  it('passes an answer with a single-value header sent twice (X-Content-Type-Options from an app and its middleware) with the first, branded or not', async (t) => {
    const up = await upstream(t, (_req, res) => {
      res.setHeader('x-content-type-options', ['nosniff', 'nosniff']);
      res.setHeader('content-type', 'text/html');
      res.end('<html><head><title>x</title></head><body>page</body></html>');
    });
    const gw = await startTlsGateway(
      t,
      `routes:\n  - { id: app, path: /app/, upstream: "${up.url}" }\n  - { id: branded, path: /b/, upstream: "${up.url}", branding: true }\n`,
    );
    for (const path of ['/app/page', '/b/page']) {
      const r = await http2Request(gw.url, path, { ca: gw.ca, headers: { accept: 'text/html' } });
      assert.equal(r.status, 200, path);
      assert.equal(r.headers['x-content-type-options'], 'nosniff', path);
      assert.match(r.text, /page/, path);
    }
  });

  it('ends the stream (RST_STREAM NO_ERROR) once it answered an upload the client has not finished, the answer kept', async (t) => {
    const up = await upstream(
      t,
      (_req, res) => {
        res.statusCode = 403;
        res.end('no');
      },
      true,
    );
    const gw = await gatewayTo(t, up.url);
    const session = connect(gw.url, { ca: gw.ca });
    t.after(() => session.destroy());
    const stream = session.request({ ':method': 'POST', ':path': '/app/upload' });
    let status = 0;
    let body = '';
    stream.on('response', (h) => {
      status = Number(h[':status']);
    });
    stream.on('data', (c: Buffer) => {
      body += c.toString();
    });
    stream.write('the first part of an upload that never ends');
    await once(stream, 'close');
    assert.equal(status, 403);
    assert.equal(body, 'no');
    assert.equal(stream.rstCode, 0, 'NO_ERROR: the client stops sending, the answer stands');
  });

  it('counts a body streamed without Content-Length against maxBodySize (413)', async (t) => {
    const up = await upstream(t);
    const gw = await gatewayTo(t, up.url, ', maxBodySize: 1k');
    const r = await http2Request(gw.url, '/app/upload', {
      ca: gw.ca,
      headers: { accept: 'application/json' },
      body: Readable.from([Buffer.alloc(800, 'a'), Buffer.alloc(800, 'b')]),
    });
    assert.equal(r.status, 413);
    assert.equal(
      up.requests.every((req) => req.body.length <= 1024),
      true,
    );
  });

  it('answers 408 to a body for Portico’s own endpoints that trickles past ownBodyTimeout, and ends a stream whose body never comes', async (t) => {
    const up = await upstream(t);
    const { gw } = await startTlsSso(t, `routes:\n  - { id: app, path: /app/, upstream: "${up.url}" }\n`, {
      extra: 'limits: { ownBodyTimeout: 400ms }\n',
    });
    const session = connect(gw.url, { ca: gw.ca });
    t.after(() => session.destroy());
    const trickling = session.request({
      ':method': 'POST',
      ':path': '/_portico/login/corp',
      'content-type': 'application/x-www-form-urlencoded',
      'content-length': '1000',
    });
    trickling.write('username=a');
    const [headers] = (await once(trickling, 'response')) as [Record<string, string | number>];
    assert.equal(headers[':status'], 408);
    // Without Content-Length the endpoint answers at once; the stream whose body never ends is
    // then closed by the same deadline rather than kept open.
    const endless = session.request({ ':method': 'POST', ':path': '/_portico/login/corp' });
    endless.write('x');
    endless.resume();
    await once(endless, 'close');
  });

  it('never forwards pseudo-headers or hop-by-hop headers; :authority is the Host Portico reads', async (t) => {
    const up = await upstream(t);
    const gw = await gatewayTo(t, up.url);
    const authority = new URL(gw.url).host;
    const r = await http2Request(gw.url, '/app/who', {
      ca: gw.ca,
      headers: { te: 'trailers', 'x-keep': 'kept' },
    });
    assert.equal(r.status, 200);
    const seen = up.last();
    const names = seen.rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
    assert.deepEqual(
      names.filter((n) => n.startsWith(':')),
      [],
    );
    for (const name of ['te', 'http2-settings', 'keep-alive', 'upgrade', 'transfer-encoding'])
      assert.ok(!names.includes(name), name);
    assert.equal(seen.headers.connection, 'keep-alive', "only the upstream pool's own connection header");
    assert.equal(seen.headers['x-keep'], 'kept');
    assert.equal(seen.headers.host, authority, 'preserveHost (the default) passes :authority as Host');
    assert.equal(seen.headers['x-forwarded-host'], authority);
    assert.equal(seen.headers['x-forwarded-proto'], 'https');
    assert.match(String(seen.headers.forwarded), new RegExp(`host="?${authority}"?;proto=https`));
  });

  it('routes by :authority (routes[].host) and refuses a Host that names another authority', async (t) => {
    const portal = await upstream(t);
    const other = await upstream(t);
    const gw = await startTlsGateway(
      t,
      `routes:\n  - { id: portal, host: localhost, path: /, upstream: "${portal.url}" }\n  - { id: other, path: /, upstream: "${other.url}" }\n`,
    );
    const port = new URL(gw.url).port;
    const byName = await http2Request(gw.url, '/x', {
      ca: gw.ca,
      headers: { ':authority': `localhost:${port}` },
    });
    assert.equal(byName.status, 200);
    assert.equal(portal.requests.length, 1);
    const byAddress = await http2Request(gw.url, '/x', { ca: gw.ca });
    assert.equal(byAddress.status, 200);
    assert.equal(other.requests.length, 1);
    // Host without :authority is allowed (RFC 9113 §8.3.1) and read the same way.
    const byHost = await http2Request(gw.url, '/x', { ca: gw.ca, headers: { host: `localhost:${port}` } });
    assert.equal(byHost.status, 200);
    assert.equal(portal.requests.length, 2);
    const confused = await http2Request(gw.url, '/x', {
      ca: gw.ca,
      headers: { ':authority': `127.0.0.1:${port}`, host: 'localhost', accept: 'application/json' },
    });
    assert.equal(confused.status, 400);
    assert.equal(JSON.parse(confused.text).error, 'PORTICO_ERR_BAD_REQUEST');
    assert.equal(portal.requests.length + other.requests.length, 3);
  });

  it('answers 431 to HTTP/2 headers over limits.maxHeaderSize, before anything reaches the upstream', async (t) => {
    const up = await upstream(t);
    const gw = await startTlsGateway(
      t,
      `limits: { maxHeaderSize: 4096 }\nroutes:\n  - { id: app, path: /, upstream: "${up.url}" }\n`,
    );
    const big = await http2Request(gw.url, '/x', {
      ca: gw.ca,
      headers: { 'x-big': 'a'.repeat(5000), accept: 'application/json' },
    });
    assert.equal(big.status, 431);
    assert.equal(JSON.parse(big.text).error, 'PORTICO_ERR_HEADERS_TOO_LARGE');
    const fits = await http2Request(gw.url, '/x', { ca: gw.ca, headers: { 'x-fits': 'a'.repeat(3000) } });
    assert.equal(fits.status, 200);
    assert.equal(up.requests.length, 1);
  });

  it("answers Portico's own endpoints, pages and redirects over h2", async (t) => {
    const up = await upstream(t);
    const gw = await startTlsGateway(
      t,
      `routes:\n  - { id: app, path: /app/, upstream: "${up.url}" }\n  - { id: tea, path: /tea, respond: { status: 418, body: "short and stout", headers: { X-Pot: tea } } }\n`,
    );
    const warnings = await warningsDuring(async () => {
      const health = await http2Request(gw.url, '/_portico/healthz', { ca: gw.ca });
      assert.equal(health.status, 200);
      assert.deepEqual(JSON.parse(health.text), { status: 'ok' });
      assert.equal(health.headers['x-content-type-options'], 'nosniff', 'helmet runs over h2 too');
      const missing = await http2Request(gw.url, '/nowhere', { ca: gw.ca, headers: { accept: 'text/html' } });
      assert.equal(missing.status, 404);
      assert.match(String(missing.headers['content-type']), /^text\/html/);
      assert.match(missing.text, /<html/i);
      const ownMissing = await http2Request(gw.url, '/_portico/nothing-here', {
        ca: gw.ca,
        headers: { accept: 'application/json' },
      });
      assert.equal(ownMissing.status, 404);
      assert.equal(JSON.parse(ownMissing.text).error, 'PORTICO_ERR_NOT_FOUND');
      const slash = await http2Request(gw.url, '/app?x=1', { ca: gw.ca });
      assert.equal(slash.status, 301);
      assert.equal(slash.headers.location, '/app/?x=1');
      const tea = await http2Request(gw.url, '/tea', { ca: gw.ca });
      assert.equal(tea.status, 418);
      assert.equal(tea.headers['x-pot'], 'tea');
      assert.equal(tea.text, 'short and stout');
    });
    assert.deepEqual(
      warnings.filter((w) => /HTTP\/2|connection header/i.test(w)),
      [],
    );
    assert.equal(up.requests.length, 0);
  });

  it('injects the brand into an upstream HTML page served over h2', async (t) => {
    const page = '<!doctype html><html><head><title>App</title></head><body><h1>Hi</h1></body></html>';
    const up = await upstream(t, (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', connection: 'keep-alive' });
      res.end(page);
    });
    const brand = brandDir(t);
    const gw = await startTlsGateway(
      t,
      `routes:\n  - { id: app, path: /, upstream: "${up.url}", branding: true }\n`,
      {
        features: [brandingFeature({ dir: brand.dir, watch: false })],
      },
    );
    const r = await http2Request(gw.url, '/', { ca: gw.ca, headers: { accept: 'text/html' } });
    assert.equal(r.status, 200);
    assert.match(r.text, /<link rel="stylesheet" href="\/_portico\/branding\/[0-9a-f]{16}\/theme\.css"/);
    assert.match(r.text, /class="portico-footer"/);
    assert.match(r.text, /<h1>Hi<\/h1>/);
    const css = await http2Request(gw.url, /href="([^"]+theme\.css)"/.exec(r.text)![1]!, { ca: gw.ca });
    assert.equal(css.status, 200);
    assert.match(String(css.headers['content-type']), /text\/css/);
  });

  it('answers curl --http2 with HTTP/2 200 and the proxied body', async (t) => {
    const version = spawnSync('curl', ['--version'], { encoding: 'utf8' });
    if (version.status !== 0 || !/\bHTTP2\b/.test(version.stdout)) {
      t.skip(
        `curl is missing or built without HTTP/2 (nghttp2): ${version.stdout.split('\n')[0] ?? version.error}`,
      );
      return;
    }
    const up = await upstream(t, (_req, res) => {
      res.writeHead(200, {
        'content-type': 'text/plain',
        connection: 'keep-alive',
        'keep-alive': 'timeout=5',
      });
      res.end('hello from the upstream');
    });
    const gw = await gatewayTo(t, up.url);
    // Not spawnSync: the gateway answering curl runs in this process.
    const curl = await execFileAsync('curl', ['--http2', '-k', '-sS', '-i', `${gw.url}/app/hello`], {
      encoding: 'utf8',
    });
    assert.match(curl.stdout, /^HTTP\/2 200 ?\r?\n/);
    assert.match(curl.stdout, /\r?\n\r?\nhello from the upstream$/);
    assert.doesNotMatch(curl.stdout, /^(connection|keep-alive):/im);
  });
});

describe('closing a gateway that speaks HTTP/2', () => {
  it('ends idle HTTP/2 connections at once and cuts a stuck stream after the grace period', async (t) => {
    const held: ServerResponse[] = [];
    const up = await upstream(t, (req, res) => {
      if (req.url === '/stuck') held.push(res);
      else res.end('ok');
    });
    t.after(() => {
      for (const res of held) res.destroy();
    });
    const files = listenerCertificates(t);
    const dir = mkdtempSync(join(tmpdir(), 'portico-h2-close-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'routes.yaml');
    writeFileSync(
      file,
      `listen:\n  tls: { cert: "${files.cert}", key: "${files.key}" }\nroutes:\n  - { id: app, path: /, upstream: "${up.url}" }\n`,
    );
    const gateway = createGateway({
      configFile: file,
      port: 0,
      host: '127.0.0.1',
      watch: false,
      logger: pino({ level: 'silent' }),
    });
    await gateway.listen();
    const ca = readFileSync(files.ca);

    const idle = connect(gateway.url(), { ca });
    const idleClosed = once(idle, 'close');
    const warmUp = idle.request({ ':path': '/warm' });
    warmUp.resume();
    await once(warmUp, 'end');

    const busy = connect(gateway.url(), { ca });
    busy.on('error', () => {});
    const stuck = busy.request({ ':path': '/stuck' });
    stuck.on('error', () => {});
    const stuckClosed = once(stuck, 'close');
    await eventually(
      async () => held.length,
      (n) => n === 1,
    );

    const startedAt = performance.now();
    await gateway.close(300);
    await idleClosed;
    await stuckClosed;
    const took = performance.now() - startedAt;
    assert.ok(took >= 250, `the stream in flight had its grace period (${took} ms)`);
    assert.ok(took < 5000, `and no more (${took} ms)`);
    assert.equal(busy.destroyed || busy.closed, true);
  });
});
