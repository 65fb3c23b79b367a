// Resource limits (routes.yaml `limits:`): oversized headers and URLs are refused and the gateway
// keeps serving; a client that sends its headers or body too slowly (slowloris) is cut off once
// headersTimeout / requestTimeout have passed, not whenever Node next looks.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect as netConnect } from 'node:net';
import { before, describe, it, type TestContext } from 'node:test';
import { openConnections, startGateway } from '../helpers/gateway.ts';
import { until } from '../helpers/eventually.ts';
import { send } from '../helpers/http.ts';
import { exchange, RawConnection, requestBytes, WEBSOCKET_UPGRADE } from '../helpers/rawSocket.ts';
import { type Upstream, upstreamFor } from '../helpers/upstream.ts';
import { suiteContext } from '../helpers/suite.ts';

const MAX_HEADER_SIZE = 8192;
const MAX_URL_LENGTH = 1024;
const HEADERS_TIMEOUT_MS = 1000;
const REQUEST_TIMEOUT_MS = 2000;
/** How late after a timeout the connection may still be open. */
const GRACE_MS = 1500;

async function startLimited(t: TestContext) {
  const up = await upstreamFor(t, { websocket: true });
  const gw = await startGateway(
    t,
    `limits:
  maxHeaderSize: ${MAX_HEADER_SIZE}
  maxUrlLength: ${MAX_URL_LENGTH}
  headersTimeout: ${HEADERS_TIMEOUT_MS}ms
  requestTimeout: ${REQUEST_TIMEOUT_MS}ms
routes:
  - { id: app, path: /, upstream: "${up.url}", websocket: true }
`,
  );
  return { up, gw };
}

async function stillServes(base: string, up: Upstream) {
  assert.equal((await send(base, '/_portico/healthz')).status, 200);
  const before = up.requests.length;
  const r = await send(base, '/after', { headers: { accept: 'application/json' } });
  assert.equal(r.status, 200);
  assert.equal(up.requests.length, before + 1);
}

describe('oversized headers and URLs', () => {
  const t = suiteContext();
  let base: string;
  let host: string;
  let up: Upstream;

  before(async () => {
    const s = await startLimited(t);
    base = s.gw.url;
    up = s.up;
    host = new URL(base).host;
  });

  async function refused(bytes: Buffer, allowed: number[]) {
    const before = up.requests.length;
    const r = await exchange(base, bytes);
    const status = r.responses[0]?.status;
    assert.ok(status !== undefined && allowed.includes(status), `answered ${status}, wanted ${allowed}`);
    assert.equal(up.requests.length, before, 'nothing reached the upstream');
    return r;
  }

  it(`answers 431 to one header larger than limits.maxHeaderSize (${MAX_HEADER_SIZE})`, async () => {
    await refused(
      requestBytes('GET', '/', [
        ['Host', host],
        ['X-Big', 'a'.repeat(MAX_HEADER_SIZE + 100)],
      ]),
      [431],
    );
    await stillServes(base, up);
  });

  it('answers 431 to many small headers that add up to more than the limit', async () => {
    const many = Array.from({ length: 400 }, (_v, i) => [`X-H${i}`, 'v'.repeat(30)] as const);
    await refused(requestBytes('GET', '/', [['Host', host], ...many]), [431]);
    await stillServes(base, up);
  });

  it('answers 431 to an oversized Cookie header', async () => {
    await refused(
      requestBytes('GET', '/', [
        ['Host', host],
        ['Cookie', `portico_session=${'s'.repeat(MAX_HEADER_SIZE * 2)}`],
      ]),
      [431],
    );
    await stillServes(base, up);
  });

  it('answers 431 to an oversized WebSocket upgrade', async () => {
    await refused(
      requestBytes('GET', '/ws', [
        ['Host', host],
        ...WEBSOCKET_UPGRADE,
        ['X-Big', 'a'.repeat(MAX_HEADER_SIZE + 100)],
      ]),
      [431],
    );
    await stillServes(base, up);
  });

  it(`answers 400 or 414 to a URL longer than limits.maxUrlLength (${MAX_URL_LENGTH})`, async () => {
    await refused(requestBytes('GET', `/${'a'.repeat(MAX_URL_LENGTH + 10)}`, [['Host', host]]), [400, 414]);
    await refused(
      requestBytes('GET', `/x?q=${'a'.repeat(MAX_URL_LENGTH + 10)}`, [['Host', host]]),
      [400, 414],
    );
    await stillServes(base, up);
  });

  it('refuses a URL far beyond every limit (400, 414 or 431) and keeps serving', async () => {
    await refused(requestBytes('GET', `/${'a'.repeat(200_000)}`, [['Host', host]]), [400, 414, 431]);
    await stillServes(base, up);
  });

  it('keeps serving after a burst of oversized requests', async () => {
    await Promise.all(
      Array.from({ length: 40 }, () =>
        exchange(
          base,
          requestBytes('GET', '/', [
            ['Host', host],
            ['X-Big', 'a'.repeat(MAX_HEADER_SIZE * 4)],
          ]),
        ),
      ),
    );
    await stillServes(base, up);
  });

  it('accepts a URL and headers just under the limits (control)', async () => {
    const path = `/${'a'.repeat(MAX_URL_LENGTH - 1)}`;
    const r = await exchange(
      base,
      requestBytes('GET', path, [
        ['Host', host],
        ['X-Fill', 'b'.repeat(MAX_HEADER_SIZE - MAX_URL_LENGTH - 500)],
        ['Connection', 'close'],
      ]),
    );
    assert.equal(r.responses[0]?.status, 200);
    assert.equal(up.last().url, path);
  });
});

type Slow = {
  closed: boolean;
  afterMs: number | undefined;
  status: number | undefined;
  sent: number;
  total: number;
};

describe('slow clients (slowloris)', () => {
  const t = suiteContext();
  let base: string;
  let host: string;
  let up: Upstream;
  // The slow connections run side by side, started once; each test judges one of them.
  const runs: Record<string, Promise<Slow>> = {};

  async function slow(
    run: (conn: RawConnection) => Promise<{ sent: number; total: number }>,
    boundMs: number,
  ) {
    const conn = await RawConnection.open(base);
    try {
      const { sent, total } = await run(conn);
      if (!conn.closed) await conn.waitForClose(boundMs - (performance.now() - conn.openedAt));
      return {
        closed: conn.closed,
        afterMs: conn.closedAt === undefined ? undefined : Math.round(conn.closedAt - conn.openedAt),
        status: conn.responses()[0]?.status,
        sent,
        total,
      };
    } finally {
      conn.destroy();
    }
  }

  before(async () => {
    const s = await startLimited(t);
    base = s.gw.url;
    up = s.up;
    host = new URL(base).host;
    const headerBound = HEADERS_TIMEOUT_MS + GRACE_MS;
    const bodyBound = REQUEST_TIMEOUT_MS + GRACE_MS;
    const request = requestBytes('GET', '/slow', [
      ['Host', host],
      ['X-Pad', 'p'.repeat(80)],
    ]);
    runs.headers = slow(
      async (conn) => ({ sent: await conn.trickle(request, 100, 1, headerBound), total: request.length }),
      headerBound,
    );
    runs.idle = slow(async () => ({ sent: 0, total: 0 }), headerBound);
    const upload = requestBytes('POST', '/upload', [
      ['Host', host],
      ['Content-Length', '1000'],
    ]);
    runs.body = slow(async (conn) => {
      await conn.write(upload);
      return { sent: await conn.trickle('x'.repeat(1000), 100, 1, bodyBound), total: 1000 };
    }, bodyBound);
    const upgrade = requestBytes('GET', '/ws', [['Host', host], ...WEBSOCKET_UPGRADE]);
    runs.upgrade = slow(
      async (conn) => ({ sent: await conn.trickle(upgrade, 100, 1, headerBound), total: upgrade.length }),
      headerBound,
    );
  });

  it(`closes a connection whose headers trickle in slower than headersTimeout (${HEADERS_TIMEOUT_MS} ms)`, {}, async () => {
    const r = await runs.headers!;
    assert.ok(
      r.closed,
      `still open after ${HEADERS_TIMEOUT_MS + GRACE_MS} ms (${r.sent}/${r.total} bytes sent)`,
    );
    assert.ok(r.afterMs! <= HEADERS_TIMEOUT_MS + GRACE_MS, `closed after ${r.afterMs} ms`);
    assert.ok(r.status === undefined || r.status === 408, `answered ${r.status}`);
    assert.ok(r.sent < r.total, 'the request was cut off before its headers were complete');
  });

  it('closes a connection that sends nothing once headersTimeout has passed', {}, async () => {
    const r = await runs.idle!;
    assert.ok(r.closed, `still open after ${HEADERS_TIMEOUT_MS + GRACE_MS} ms`);
    assert.ok(r.afterMs! <= HEADERS_TIMEOUT_MS + GRACE_MS, `closed after ${r.afterMs} ms`);
  });

  it('closes a WebSocket upgrade whose headers trickle in slower than headersTimeout', {}, async () => {
    const r = await runs.upgrade!;
    assert.ok(
      r.closed,
      `still open after ${HEADERS_TIMEOUT_MS + GRACE_MS} ms (${r.sent}/${r.total} bytes sent)`,
    );
    assert.ok(r.afterMs! <= HEADERS_TIMEOUT_MS + GRACE_MS, `closed after ${r.afterMs} ms`);
  });

  it(`closes a request whose body trickles in slower than requestTimeout (${REQUEST_TIMEOUT_MS} ms)`, {}, async () => {
    const r = await runs.body!;
    assert.ok(
      r.closed,
      `still open after ${REQUEST_TIMEOUT_MS + GRACE_MS} ms (${r.sent}/${r.total} body bytes sent)`,
    );
    assert.ok(r.afterMs! <= REQUEST_TIMEOUT_MS + GRACE_MS, `closed after ${r.afterMs} ms`);
    assert.ok(r.sent < r.total, 'the upload was cut off before it was complete');
  });

  it('serves a request whose headers arrive slowly but within headersTimeout (control)', async () => {
    const conn = await RawConnection.open(base);
    try {
      await conn.trickle(
        requestBytes('GET', '/in-time', [
          ['Host', host],
          ['Connection', 'close'],
        ]),
        40,
        8,
      );
      const [r] = await conn.waitForResponses(1, 3000, 0);
      assert.equal(r?.status, 200);
    } finally {
      conn.destroy();
    }
  });

  it('keeps serving after the slow clients', async () => {
    await Promise.all(Object.values(runs));
    await stillServes(base, up);
  });
});

describe('slow bodies to Portico’s own endpoints', () => {
  it('answers 408 and closes the connection when a body to /_portico/… trickles past limits.ownBodyTimeout, with requestTimeout off', async (t) => {
    const up = await upstreamFor(t);
    const gw = await startGateway(
      t,
      `limits: { ownBodyTimeout: 400ms }\nroutes:\n  - { id: app, path: /, upstream: "${up.url}" }\n`,
    );
    const conn = await RawConnection.open(gw.url);
    t.after(() => conn.destroy());
    await conn.write(
      requestBytes('POST', '/_portico/login/corp', [
        ['Host', new URL(gw.url).host],
        ['Content-Type', 'application/x-www-form-urlencoded'],
        ['Content-Length', '1000'],
      ]),
    );
    const sent = await conn.trickle('x'.repeat(1000), 100, 1, 3000);
    if (!conn.closed) await conn.waitForClose(3000);
    assert.ok(conn.closed, 'the connection was closed');
    assert.ok(sent < 1000, `cut off after ${sent} of 1000 bytes`);
    assert.equal(conn.responses()[0]?.status, 408);
  });
});

describe('a slow client that stops reading', () => {
  it('is let go of once headersTimeout has passed, though it never reads the 408 nor closes its side', async (t) => {
    const gw = await startGateway(
      t,
      'limits: { headersTimeout: 1s }\nroutes:\n  - { id: app, path: /, upstream: "http://127.0.0.1:9/" }\n',
    );
    const { port } = new URL(gw.url);
    const client = netConnect(Number(port), '127.0.0.1');
    client.on('error', () => {});
    t.after(() => client.destroy());
    await once(client, 'connect');
    client.write('GET / HTTP/1.1\r\nHost: x\r\n');
    // Never read: the server's FIN is not seen, so this side never ends (a slowloris client).
    client.pause();
    assert.equal(await openConnections(gw), 1);
    await until(
      async () => (await openConnections(gw)) === 0,
      5000,
      'the server to let go of the connection',
    );
  });
});
