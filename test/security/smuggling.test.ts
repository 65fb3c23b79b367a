// Request smuggling through raw sockets: framing that two HTTP parsers could read differently is
// refused with 400, and no single client request ever becomes two upstream requests (the hidden
// second one would skip the auth check). What each upstream received is compared with what was sent.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { send } from '../helpers/http.ts';
import { until } from '../helpers/eventually.ts';
import { startGateway } from '../helpers/gateway.ts';
import { exchange, RawConnection } from '../helpers/rawSocket.ts';
import { upstreamFor } from '../helpers/upstream.ts';
import { twoRoutesSuite } from '../helpers/twoRoutes.ts';

// The request an attacker hides: for the protected route, and for the public one (a marker path).
const HIDDEN_PROTECTED = 'GET /dce5/smuggled HTTP/1.1\r\nHost: x\r\n\r\n';
const HIDDEN_PUBLIC = 'GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n';
const HIDDEN = HIDDEN_PROTECTED + HIDDEN_PUBLIC;
const len = (s: string) => Buffer.byteLength(s, 'latin1');

/** Requests whose framing is ambiguous or malformed: each must be answered 400 and the connection closed. */
const REFUSED: Record<string, (host: string) => string> = {
  'Content-Length and Transfer-Encoding together (CL.TE)': (h) =>
    `POST / HTTP/1.1\r\nHost: ${h}\r\nContent-Length: ${len(`0\r\n\r\n${HIDDEN}`)}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${HIDDEN}`,
  'Transfer-Encoding and Content-Length together (TE.CL)': (h) =>
    `POST / HTTP/1.1\r\nHost: ${h}\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n${len(HIDDEN).toString(16)}\r\n${HIDDEN}\r\n0\r\n\r\n`,
  'two differing Content-Length headers': (h) =>
    `POST / HTTP/1.1\r\nHost: ${h}\r\nContent-Length: 0\r\nContent-Length: ${len(HIDDEN)}\r\n\r\n${HIDDEN}`,
  'two equal Content-Length headers': (h) =>
    `POST / HTTP/1.1\r\nHost: ${h}\r\nContent-Length: ${len(HIDDEN)}\r\nContent-Length: ${len(HIDDEN)}\r\n\r\n${HIDDEN}`,
  'a Content-Length list': (h) =>
    `POST / HTTP/1.1\r\nHost: ${h}\r\nContent-Length: 0, ${len(HIDDEN)}\r\n\r\n${HIDDEN}`,
  'a signed Content-Length': (h) => `POST / HTTP/1.1\r\nHost: ${h}\r\nContent-Length: +0\r\n\r\n${HIDDEN}`,
  'a negative Content-Length': (h) => `POST / HTTP/1.1\r\nHost: ${h}\r\nContent-Length: -1\r\n\r\n${HIDDEN}`,
  'Transfer-Encoding: chunked, identity (chunked not last)': (h) =>
    `POST / HTTP/1.1\r\nHost: ${h}\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n${HIDDEN}`,
  'Transfer-Encoding: chunked twice': (h) =>
    `POST / HTTP/1.1\r\nHost: ${h}\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${HIDDEN}`,
  'Transfer-Encoding: chunked then identity on separate lines': (h) =>
    `POST / HTTP/1.1\r\nHost: ${h}\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n${HIDDEN}`,
  'Transfer-Encoding folded onto a continuation line (obs-fold)': (h) =>
    `POST / HTTP/1.1\r\nHost: ${h}\r\nContent-Length: ${len(`0\r\n\r\n${HIDDEN}`)}\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n${HIDDEN}`,
  'Transfer-Encoding with a space before the colon': (h) =>
    `POST / HTTP/1.1\r\nHost: ${h}\r\nContent-Length: ${len(`0\r\n\r\n${HIDDEN}`)}\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n${HIDDEN}`,
  'Transfer-Encoding with a vertical tab': (h) =>
    `POST / HTTP/1.1\r\nHost: ${h}\r\nContent-Length: ${len(`0\r\n\r\n${HIDDEN}`)}\r\nTransfer-Encoding:\x0bchunked\r\n\r\n0\r\n\r\n${HIDDEN}`,
  'obs-fold in an ordinary header': (h) =>
    `GET / HTTP/1.1\r\nHost: ${h}\r\nX-Note: a\r\n b\r\nAccept: */*\r\n\r\n`,
  'obs-fold continuing an identity header': (h) =>
    `GET / HTTP/1.1\r\nHost: ${h}\r\nX-Note: a\r\n\tX-Forwarded-User: mallory\r\n\r\n`,
  'bare LF line endings': (h) => `GET /dce5/ HTTP/1.1\nHost: ${h}\nAccept: */*\n\n`,
  'a bare LF inside the header block': (h) =>
    `POST / HTTP/1.1\r\nHost: ${h}\r\nX-A: 1\nContent-Length: ${len(HIDDEN)}\r\n\r\n${HIDDEN}`,
  'a bare CR inside a header line': (h) =>
    `GET / HTTP/1.1\r\nHost: ${h}\r\nX-A: 1\rX-Forwarded-User: mallory\r\n\r\n`,
  'a chunk size that overflows': (h) =>
    `POST / HTTP/1.1\r\nHost: ${h}\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000001\r\nx\r\n0\r\n\r\n${HIDDEN}`,
  'chunk lines ending in bare LF': (h) =>
    `POST / HTTP/1.1\r\nHost: ${h}\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc\n0\n\n${HIDDEN}`,
  'a NUL byte in the request target': (h) => `GET /dce5\x00/ HTTP/1.1\r\nHost: ${h}\r\n\r\n`,
  'a NUL byte in a header value': (h) => `GET / HTTP/1.1\r\nHost: ${h}\r\nX-A: a\x00b\r\n\r\n`,
  'no Host header': () => 'GET / HTTP/1.1\r\nAccept: */*\r\n\r\n',
};

describe('request smuggling', () => {
  const s = twoRoutesSuite(
    { ai: 'auth: required, websocket: true', public: 'auth: none, websocket: true' },
    { signIn: false },
  );
  let host: string;
  before(() => {
    host = new URL(s.gw.url).host;
  });

  /** What the upstreams received while `fn` ran; a smuggled request shows up as one for /smuggled. */
  async function watch<T>(fn: () => Promise<T>) {
    const before = { prot: s.prot.requests.length, pub: s.pub.requests.length };
    const result = await fn();
    const protGot = s.prot.requests.slice(before.prot);
    const pubGot = s.pub.requests.slice(before.pub);
    return {
      result,
      protGot,
      pubGot,
      smuggled: [...protGot, ...pubGot].filter((r) => r.url.includes('smuggled')),
    };
  }

  /** Writes `bytes` on one connection (see exchange) and reports it as watch does. */
  const sendWatched = (bytes: string, options?: Parameters<typeof exchange>[2]) =>
    watch(() => exchange(s.gw.url, bytes, options));

  /** One 200, and only the public upstream got a request: one, whose body is the hidden bytes. */
  function assertForwardedAsOneBody(w: Awaited<ReturnType<typeof sendWatched>>) {
    assert.deepEqual(
      w.result.responses.map((r) => r.status),
      [200],
    );
    assert.deepEqual(w.protGot, []);
    assert.equal(w.pubGot.length, 1);
    assert.equal(w.pubGot[0]!.body.toString('latin1'), HIDDEN);
    assert.deepEqual(w.smuggled, []);
  }

  for (const [name, build] of Object.entries(REFUSED)) {
    it(`refuses ${name} with 400 and nothing reaches an upstream`, async () => {
      const w = await sendWatched(build(host), { expect: 2, timeoutMs: 2000 });
      const statuses = w.result.responses.map((r) => r.status);
      assert.ok(statuses[0] === 400 || (statuses.length === 0 && w.result.closed), `answered ${statuses}`);
      assert.ok(w.result.closed, 'the connection is closed after a framing error');
      assert.equal(statuses.length <= 1, true, `one request, several answers: ${statuses}`);
      assert.deepEqual(w.protGot, [], 'the protected upstream heard nothing');
      assert.deepEqual(w.smuggled, [], 'no hidden request reached an upstream');
      assert.deepEqual(w.pubGot, []);
    });
  }

  it('refuses an absolute-form target naming the protected route with 400', async () => {
    const w = await sendWatched(
      `GET http://${host}/dce5/smuggled HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
    );
    assert.deepEqual(
      w.result.responses.map((r) => r.status),
      [400],
    );
    assert.deepEqual(w.protGot, []);
    assert.deepEqual(w.pubGot, []);
  });

  it('refuses two Host headers, or forwards exactly one (the one it routed and authenticated with)', async () => {
    const w = await sendWatched(
      `GET /two-hosts HTTP/1.1\r\nHost: ${host}\r\nHost: evil.example\r\nConnection: close\r\n\r\n`,
    );
    const status = w.result.responses[0]?.status;
    assert.ok(status === 400 || status === 200, `answered ${status}`);
    for (const r of w.pubGot) {
      const hosts = r.rawHeaders.filter((_v, i) => i % 2 === 0 && r.rawHeaders[i]!.toLowerCase() === 'host');
      assert.equal(hosts.length, 1);
      assert.equal(r.headers.host, host);
      assert.equal(r.headers['x-forwarded-host'], host);
    }
  });

  it('forwards a body that hides a request as one request whose body is those bytes', async () => {
    const w = await sendWatched(
      `POST / HTTP/1.1\r\nHost: ${host}\r\nContent-Length: ${len(HIDDEN)}\r\nConnection: close\r\n\r\n${HIDDEN}`,
    );
    assertForwardedAsOneBody(w);
  });

  it('forwards a chunked body that hides a request as one request whose body is those bytes', async () => {
    const w = await sendWatched(
      `POST / HTTP/1.1\r\nHost: ${host}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${len(HIDDEN).toString(16)}\r\n${HIDDEN}\r\n0\r\n\r\n`,
    );
    assertForwardedAsOneBody(w);
  });

  for (const coding of ['gzip, chunked', 'identity, chunked', 'deflate,chunked', 'xchunked']) {
    it(`answers Transfer-Encoding: ${coding} with 501 and forwards nothing (the upstream would get still-coded bytes)`, async () => {
      const w = await sendWatched(
        `POST / HTTP/1.1\r\nHost: ${host}\r\nTransfer-Encoding: ${coding}\r\nConnection: close\r\n\r\n${len(HIDDEN).toString(16)}\r\n${HIDDEN}\r\n0\r\n\r\n`,
      );
      assert.deepEqual(
        w.result.responses.map((r) => r.status),
        [501],
      );
      assert.deepEqual(w.protGot, []);
      assert.deepEqual(w.pubGot, []);
      assert.deepEqual(w.smuggled, []);
    });
  }

  it('runs nothing pipelined behind the 501 of an unknown coding (the connection ends there)', async () => {
    const w = await sendWatched(
      `POST / HTTP/1.1\r\nHost: ${host}\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n${HIDDEN_PUBLIC}`,
    );
    assert.deepEqual(
      w.result.responses.map((r) => r.status),
      [501],
    );
    assert.deepEqual(w.pubGot, []);
    assert.deepEqual(w.smuggled, []);
  });

  it('runs nothing pipelined behind a request that asked to close the connection', async () => {
    const w = await sendWatched(
      `GET /first HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n${HIDDEN_PUBLIC}`,
    );
    assert.deepEqual(
      w.result.responses.map((r) => r.status),
      [200],
    );
    assert.deepEqual(
      w.pubGot.map((r) => r.url),
      ['/first'],
    );
  });

  it('takes the chunked coding in any letter case', async () => {
    const w = await sendWatched(
      `POST / HTTP/1.1\r\nHost: ${host}\r\nTransfer-Encoding: Chunked\r\nConnection: close\r\n\r\n${len(HIDDEN).toString(16)}\r\n${HIDDEN}\r\n0\r\n\r\n`,
    );
    assertForwardedAsOneBody(w);
  });

  it('does not let Connection: content-length strip the framing on the way to the upstream', async () => {
    const w = await sendWatched(
      `POST / HTTP/1.1\r\nHost: ${host}\r\nContent-Length: ${len(HIDDEN)}\r\nConnection: close, content-length, transfer-encoding\r\n\r\n${HIDDEN}`,
    );
    assertForwardedAsOneBody(w);
  });

  it('authenticates a request pipelined after a body on its own', async () => {
    const w = await sendWatched(
      `POST / HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 5\r\n\r\nhello${HIDDEN_PROTECTED.replace('\r\n\r\n', '\r\nAccept: application/json\r\nConnection: close\r\n\r\n')}`,
      { expect: 2 },
    );
    assert.deepEqual(
      w.result.responses.map((r) => r.status),
      [200, 401],
    );
    assert.deepEqual(w.protGot, []);
  });

  it('answers an HTTP/0.9-style request line for the protected route without reaching it', async () => {
    const w = await sendWatched('GET /dce5/smuggled\r\n\r\n', { timeoutMs: 1500 });
    const status = w.result.responses[0]?.status;
    assert.ok(status === undefined || status === 400 || status === 401, `answered ${status}`);
    assert.deepEqual(w.protGot, []);
  });

  it('answers an "HTTP/2.0" request line on an HTTP/1.1 connection with 400, not an internal error', async () => {
    for (const path of ['/x', '/dce5/x', '/_portico/jwks.json']) {
      const w = await sendWatched(`GET ${path} HTTP/2.0\r\nHost: ${host}\r\n\r\n`, { timeoutMs: 1500 });
      assert.deepEqual(
        w.result.responses.map((r) => r.status),
        [400],
        path,
      );
      assert.deepEqual([...w.protGot, ...w.pubGot], []);
    }
  });

  it('closes the connection after an HTTP/1.0 request with Transfer-Encoding (RFC 9112 §6.1)', async () => {
    const w = await sendWatched(
      `POST / HTTP/1.0\r\nHost: ${host}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${HIDDEN}`,
      { expect: 3 },
    );
    assert.ok(w.result.closed);
    assert.ok(w.result.responses.length <= 1, `answers: ${w.result.responses.map((r) => r.status)}`);
    assert.deepEqual(w.protGot, []);
    assert.deepEqual(w.smuggled, []);
  });

  it('does not tunnel the bytes after an upgrade the public upstream refuses', async () => {
    const w = await sendWatched(
      // No Sec-WebSocket-Key: the upstream's WebSocket server answers 400 instead of 101.
      `GET /ws HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n${HIDDEN}`,
      { expect: 3, timeoutMs: 2000 },
    );
    assert.notEqual(w.result.responses[0]?.status, 101);
    assert.deepEqual(w.protGot, []);
    assert.deepEqual(w.smuggled, []);
  });

  it('refuses an anonymous upgrade of the protected route and ignores what follows it', async () => {
    const w = await sendWatched(
      `GET /dce5/ws HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n${HIDDEN}`,
      { expect: 3, timeoutMs: 2000 },
    );
    assert.deepEqual(
      w.result.responses.map((r) => r.status),
      [401],
    );
    assert.ok(w.result.closed);
    assert.deepEqual(w.protGot, []);
    assert.deepEqual(w.smuggled, []);
  });

  it('keeps serving after all of the above', async () => {
    assert.equal((await send(s.gw.url, '/_portico/healthz')).status, 200);
    assert.equal((await send(s.gw.url, '/fine')).status, 200);
  });
});

describe('malformed bytes while an answer is under way', () => {
  it('never writes a 400 into the middle of the answer it is streaming: the connection ends instead', async (t) => {
    let finish: () => void = () => {};
    const up = await upstreamFor(t, {
      streaming: true,
      handler: (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('first part;');
        finish = () => res.end('second part');
      },
    });
    const gw = await startGateway(t, `routes:\n  - { id: a, path: /, upstream: "${up.url}" }\n`);
    const conn = await RawConnection.open(gw.url);
    t.after(() => conn.destroy());
    await conn.write(`GET /stream HTTP/1.1\r\nHost: ${new URL(gw.url).host}\r\n\r\n`);
    await until(() => conn.text().includes('first part;'), 5000, 'the first part of the answer');
    await conn.write('\x00not a request\r\n\r\n');
    finish();
    await conn.waitForClose(2000);
    assert.equal(conn.text().match(/HTTP\/1\.1 /g)?.length, 1, `one status line only:\n${conn.text()}`);
    assert.ok(conn.closed);
  });
});

describe('a body where the method expects none', () => {
  it('forwards it, and never sends another client’s request on that upstream connection (a lenient upstream would read the body as a request of its own)', async (t) => {
    const sockets = new Map<unknown, number>();
    /** The upstream connection each request came on, by path. */
    const cameOn = new Map<string, number>();
    const up = await upstreamFor(t, {
      handler: (req, res) => {
        if (!sockets.has(req.socket)) sockets.set(req.socket, sockets.size + 1);
        cameOn.set(req.url ?? '', sockets.get(req.socket)!);
        res.end('ok');
      },
    });
    const gw = await startGateway(t, `routes:\n  - { id: a, path: /, upstream: "${up.url}" }\n`);
    // Control: plain requests one after another share a kept-alive connection.
    await send(gw.url, '/a');
    await send(gw.url, '/b');
    assert.equal(cameOn.get('/b'), cameOn.get('/a'));
    for (const method of ['GET', 'HEAD', 'DELETE', 'OPTIONS']) {
      const hidden = 'GET /admin HTTP/1.1\r\nHost: x\r\nX-Forwarded-User: admin\r\n\r\n';
      await send(gw.url, `/${method}-with-body`, { method, body: hidden, headers: {} });
      await send(gw.url, `/after-${method}`);
      assert.notEqual(
        cameOn.get(`/after-${method}`),
        cameOn.get(`/${method}-with-body`),
        `${method} with a body: the next request came on the same upstream connection`,
      );
    }
  });
});
