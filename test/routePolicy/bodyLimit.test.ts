import assert from 'node:assert/strict';
import { type ClientRequest, type OutgoingHttpHeaders, request } from 'node:http';
import { describe, it, type TestContext } from 'node:test';
import { startGateway } from '../helpers/gateway.ts';
import { send } from '../helpers/http.ts';
import { startSso } from '../helpers/sso.ts';
import { upstreamFor } from '../helpers/upstream.ts';

type Seen = { bytes: number; ended: boolean; closed: Promise<void> };

/** An upstream that streams each body in and notes how much arrived and whether it ended. */
async function countingUpstream(t: TestContext) {
  const seen: Seen[] = [];
  const up = await upstreamFor(t, {
    streaming: true,
    handler: (req, res) => {
      let done!: () => void;
      const s: Seen = { bytes: 0, ended: false, closed: new Promise((r) => (done = r)) };
      seen.push(s);
      req.on('data', (c: Buffer) => (s.bytes += c.length));
      req.on('end', () => {
        s.ended = true;
        res.end(JSON.stringify({ bytes: s.bytes }));
      });
      req.on('close', () => done());
    },
  });
  return { up, seen };
}

/** A POST to `path` on its own connection, its body left for the caller to write. */
function post(base: string, path: string, headers: OutgoingHttpHeaders): ClientRequest {
  const url = new URL(base);
  return request({ hostname: url.hostname, port: url.port, method: 'POST', path, agent: false, headers });
}

/**
 * A chunked upload written piece by piece with backpressure, as a browser or curl streams a file;
 * resolves with the answer even when the gateway closes the connection before the last piece.
 */
function chunkedUpload(
  base: string,
  path: string,
  pieces: Buffer[],
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = post(base, path, {
      'transfer-encoding': 'chunked',
      'content-type': 'application/octet-stream',
      ...headers,
    });
    let answered = false;
    req.on('response', (res) => {
      answered = true;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }));
    });
    req.on('error', (err) => {
      if (!answered) reject(err);
    });
    (async () => {
      for (const piece of pieces) {
        if (answered || req.destroyed) return;
        if (!req.write(piece)) await new Promise((r) => req.once('drain', r));
      }
      req.end();
    })().catch(() => {});
  });
}

/**
 * A request that sends `Expect: 100-continue` and its body only once told to continue, as curl
 * does for large uploads; resolves with whether it was told to, and the final status.
 */
function expectContinue(
  base: string,
  path: string,
  size: number,
  type = 'application/octet-stream',
): Promise<{ continued: boolean; status: number }> {
  return new Promise((resolve, reject) => {
    let continued = false;
    const req = post(base, path, {
      expect: '100-continue',
      'content-length': size,
      'content-type': type,
      accept: 'application/json',
    });
    req.on('continue', () => {
      continued = true;
      req.end(Buffer.alloc(size, 'a'));
    });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve({ continued, status: res.statusCode! }));
    });
    req.on('error', reject);
    req.flushHeaders();
  });
}

describe('request body limits', () => {
  it('refuses a declared body over the limit with 413 before the upstream sees anything', async (t) => {
    const { up, seen } = await countingUpstream(t);
    const gw = await startGateway(
      t,
      `routes:\n  - { id: up, path: /, upstream: "${up.url}", maxBodySize: 1k }\n`,
    );
    const json = await send(gw.url, '/upload', {
      method: 'POST',
      headers: { 'content-type': 'application/octet-stream', accept: 'application/json' },
      body: Buffer.alloc(1025),
    });
    assert.equal(json.status, 413);
    const answer = JSON.parse(json.text);
    assert.equal(answer.error, 'PORTICO_ERR_TOO_LARGE');
    assert.equal(answer.limit, 1024);
    const page = await send(gw.url, '/upload', {
      method: 'POST',
      headers: { accept: 'text/html' },
      body: Buffer.alloc(4096),
    });
    assert.equal(page.status, 413);
    assert.match(page.text, /Request too large/);
    assert.equal(up.requests.length, 0);
    assert.equal(seen.length, 0);
    const exact = await send(gw.url, '/upload', { method: 'POST', body: Buffer.alloc(1024) });
    assert.equal(exact.status, 200);
    assert.equal(JSON.parse(exact.text).bytes, 1024);
  });

  it('counts a chunked body on its way and cuts the upstream request at the limit', async (t) => {
    const { up, seen } = await countingUpstream(t);
    const gw = await startGateway(
      t,
      `routes:\n  - { id: up, path: /, upstream: "${up.url}", maxBodySize: 100k }\n`,
    );
    const piece = Buffer.alloc(16 * 1024, 1);
    const r = await chunkedUpload(gw.url, '/upload', new Array(64).fill(piece), {
      accept: 'application/json',
    });
    assert.equal(r.status, 413);
    assert.equal(JSON.parse(r.body).error, 'PORTICO_ERR_TOO_LARGE');

    const within = await chunkedUpload(gw.url, '/upload', new Array(6).fill(piece));
    assert.equal(within.status, 200);
    assert.equal(JSON.parse(within.body).bytes, 6 * piece.length);
    // The cut request reached the upstream as an unfinished one, or (cut before its connection
    // was up) not at all: only the upload within the limit ever ended there.
    await Promise.all(seen.map((x) => x.closed));
    assert.equal(seen.filter((x) => x.ended).length, 1);
    for (const x of seen.filter((y) => !y.ended))
      assert.ok(x.bytes <= 100 * 1024, `the upstream got ${x.bytes} bytes of the cut upload`);
  });

  it('answers 100 Continue only to a body it will read, so a refused upload is never sent', async (t) => {
    const { up, seen } = await countingUpstream(t);
    const s = await startSso(
      t,
      `  - { id: up, path: /, upstream: "${up.url}", maxBodySize: 1k }
  - { id: private, path: /private/, upstream: "${up.url}", auth: required }
`,
    );
    const over = await expectContinue(s.gw.url, '/upload', 4096);
    assert.deepEqual(over, { continued: false, status: 413 });
    const login = await expectContinue(s.gw.url, '/private/upload', 10);
    assert.deepEqual(login, { continued: false, status: 401 });
    const within = await expectContinue(s.gw.url, '/upload', 1000);
    assert.deepEqual(within, { continued: true, status: 200 });
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.bytes, 1000);
    // Portico's own endpoints read their bodies too (the logout form): they say continue.
    const own = await expectContinue(s.gw.url, '/_portico/logout', 10, 'application/x-www-form-urlencoded');
    assert.equal(own.continued, true);
  });

  it('applies limits.maxBodySize to every route, a route its own, and 0 for none', async (t) => {
    const { up } = await countingUpstream(t);
    const gw = await startGateway(
      t,
      `limits: { maxBodySize: 2k }
routes:
  - { id: small, path: /small/, upstream: "${up.url}" }
  - { id: big, path: /big/, upstream: "${up.url}", maxBodySize: 1m }
  - { id: any, path: /any/, upstream: "${up.url}", maxBodySize: 0 }
`,
    );
    const post = (path: string, size: number) =>
      send(gw.url, path, { method: 'POST', body: Buffer.alloc(size) }).then((r) => r.status);
    assert.equal(await post('/small/x', 2048), 200);
    assert.equal(await post('/small/x', 2049), 413);
    assert.equal(await post('/big/x', 512 * 1024), 200);
    assert.equal(await post('/big/x', 1024 * 1024 + 1), 413);
    assert.equal(await post('/any/x', 3 * 1024 * 1024), 200);
  });

  it('leaves bodies unlimited by default, as the AI platform uploads images and datasets', async (t) => {
    const { up } = await countingUpstream(t);
    const gw = await startGateway(t, `routes:\n  - { id: up, path: /, upstream: "${up.url}" }\n`);
    const piece = Buffer.alloc(256 * 1024, 7);
    const r = await chunkedUpload(gw.url, '/dataset', new Array(64).fill(piece));
    assert.equal(r.status, 200);
    assert.equal(JSON.parse(r.body).bytes, 64 * piece.length);
  });
});
