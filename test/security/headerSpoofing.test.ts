// Identity headers are Portico's to set (SPEC §5): whatever a client sends under those names, in
// whatever spelling a backend could read as the same header, must never reach an upstream.
import assert from 'node:assert/strict';
import type { IncomingHttpHeaders } from 'node:http';
import { before, describe, it } from 'node:test';
import {
  exchange,
  RawConnection,
  requestBytes,
  WEBSOCKET_UPGRADE,
  type WireHeaders,
} from '../helpers/rawSocket.ts';
import { login, type SsoSetup, startSso } from '../helpers/sso.ts';
import { startUpstream, type Upstream } from '../helpers/upstream.ts';
import { suiteContext } from '../helpers/suite.ts';
import { IDENTITY_HEADERS } from '../helpers/sso.ts';

/**
 * Every spelling a backend could read as `name`: cases, `_` or `.` for `-` (all or some), and
 * mixes. PHP and lighttpd's CGI map every character other than a letter or digit to `_`.
 */
function spellings(name: string): string[] {
  const dotted = name.replace(/-/g, '.');
  const mixed = [...name].map((c, i) => (c === '-' ? '._~'[i % 3] : c)).join('');
  const under = name.replace(/-/g, '_');
  const lastUnder = name.replace(/-([^-]*)$/, '_$1');
  const firstUnder = name.replace('-', '_');
  const alternating = [...name].map((c, i) => (i % 2 ? c.toLowerCase() : c.toUpperCase())).join('');
  return [
    name,
    name.toLowerCase(),
    name.toUpperCase(),
    alternating,
    under,
    under.toLowerCase(),
    under.toUpperCase(),
    lastUnder,
    firstUnder.toLowerCase(),
    dotted,
    dotted.toLowerCase(),
    name.replace('-', '.'),
    mixed,
  ];
}

// Values a parser trims (spaces, tabs) or that look like the real thing ('alice' is the real user).
const VALUES = ['mallory', '  mallory', 'mallory  ', '\tmallory\t', ' mallory, alice ', 'alice,mallory'];

/** Every identity name in every spelling, with padded values, and the canonical names repeated. */
function spoofHeaders(): [string, string][] {
  const out: [string, string][] = [];
  let i = 0;
  for (const name of IDENTITY_HEADERS) {
    for (const spelling of spellings(name)) out.push([spelling, VALUES[i++ % VALUES.length]!]);
    out.push([name, 'mallory-duplicate-1'], [name, 'mallory-duplicate-2']);
  }
  return out;
}

/** Raw header pairs the upstream received, whose value carries a client-supplied identity. */
function spoofedIn(rawHeaders: string[]): string[] {
  const found: string[] = [];
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (/mallory/i.test(rawHeaders[i + 1]!)) found.push(`${rawHeaders[i]}: ${rawHeaders[i + 1]}`);
  }
  return found;
}

type Trailers = { route: string; trailers: IncomingHttpHeaders; raw: string[] };

describe('client-supplied identity headers never reach an upstream', () => {
  const t = suiteContext();
  let sso: SsoSetup;
  let cookie: string;
  const upstreams: Record<string, Upstream> = {};
  const trailers: Trailers[] = [];
  const ROUTES = {
    required: '/dce5/',
    optional: '/opt/',
    none: '/',
  } as const;

  before(async () => {
    for (const id of Object.keys(ROUTES)) {
      const up = await startUpstream({
        websocket: true,
        handler: (req, res, recorded) => {
          trailers.push({ route: id, trailers: req.trailers, raw: req.rawTrailers });
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify({ url: recorded.url }));
        },
      });
      upstreams[id] = up;
      t.after(() => up.close());
    }
    sso = await startSso(
      t,
      `  - { id: required, path: /dce5/, upstream: "${upstreams.required!.url}", auth: required, websocket: true, inject: { headers: true, jwt: true } }
  - { id: optional, path: /opt/, upstream: "${upstreams.optional!.url}", auth: optional, websocket: true, inject: { headers: true, jwt: true } }
  - { id: none, path: /, upstream: "${upstreams.none!.url}", auth: none, websocket: true }
`,
    );
    cookie = (await login(sso, 'alice')).client.cookieHeader();
  });

  const host = () => new URL(sso.gw.url).host;

  for (const [route, prefix] of Object.entries(ROUTES)) {
    for (const who of ['anonymous', 'signed-in'] as const) {
      const reaches = !(route === 'required' && who === 'anonymous');
      const injects = who === 'signed-in' && route !== 'none';

      const a = who === 'anonymous' ? 'an' : 'a';
      it(`drops them from an HTTP request by ${a} ${who} client on the auth: ${route} route`, async () => {
        const up = upstreams[route]!;
        const before = up.requests.length;
        const headers: WireHeaders = [
          ['Host', host()],
          ['Accept', 'application/json'],
          ...(who === 'signed-in' ? [['Cookie', cookie] as const] : []),
          ...spoofHeaders(),
          // A control: an ordinary header does arrive, so the check below can see what a client sent.
          ['X-Not-Identity', 'control-value'],
          ['Connection', 'close'],
        ];
        const r = await exchange(sso.gw.url, requestBytes('GET', `${prefix}spoof`, headers));
        assert.equal(r.responses[0]?.status, reaches ? 200 : 401, r.raw.slice(0, 200));
        const got = up.requests.slice(before);
        assert.equal(got.length, reaches ? 1 : 0);
        for (const req of got) {
          assert.equal(req.headers['x-not-identity'], 'control-value');
          assert.deepEqual(spoofedIn(req.rawHeaders), [], 'a client identity header reached the upstream');
          if (injects) {
            assert.equal(req.headers['x-forwarded-user'], 'alice');
            assert.equal(req.headers['x-forwarded-email'], 'alice@example.com');
            assert.equal(req.headers['x-forwarded-groups'], 'ai-users,staff');
            assert.match(String(req.headers['x-portico-assertion']), /^[\w-]+\.[\w-]+\.[\w-]+$/);
          } else {
            for (const name of IDENTITY_HEADERS)
              assert.equal(req.headers[name.toLowerCase()], undefined, name);
          }
        }
      });

      it(`drops them from a WebSocket upgrade by ${a} ${who} client on the auth: ${route} route`, async () => {
        const up = upstreams[route]!;
        const before = up.requests.length;
        const conn = await RawConnection.open(sso.gw.url);
        try {
          await conn.write(
            requestBytes('GET', `${prefix}ws`, [
              ['Host', host()],
              ['Origin', sso.publicUrl],
              ...WEBSOCKET_UPGRADE,
              ...(who === 'signed-in' ? [['Cookie', cookie] as const] : []),
              ...spoofHeaders(),
            ]),
          );
          const [answer] = await conn.waitForResponses(1, 3000, 0);
          assert.equal(answer?.status, reaches ? 101 : 401, conn.text().slice(0, 200));
          if (reaches) {
            await up.waitForRequests(before + 1, 500);
          }
        } finally {
          conn.destroy();
        }
        const got = up.requests.slice(before);
        assert.equal(got.length, reaches ? 1 : 0);
        for (const req of got) {
          assert.equal(req.method, 'UPGRADE');
          assert.deepEqual(spoofedIn(req.rawHeaders), [], 'a client identity header reached the upstream');
          if (injects) assert.equal(req.headers['x-forwarded-user'], 'alice');
          else
            for (const name of IDENTITY_HEADERS)
              assert.equal(req.headers[name.toLowerCase()], undefined, name);
        }
      });
    }
  }

  for (const [route, prefix] of Object.entries(ROUTES)) {
    it(`does not pass identity headers sent as chunked trailers to the auth: ${route} route`, async () => {
      const before = trailers.length;
      const trailerLines = spoofHeaders()
        .map(([k, v]) => `${k}: ${v}\r\n`)
        .join('');
      const head = requestBytes('POST', `${prefix}upload`, [
        ['Host', host()],
        ['Accept', 'application/json'],
        ['Cookie', cookie],
        ['Transfer-Encoding', 'chunked'],
        ['Connection', 'close'],
      ]);
      const r = await exchange(
        sso.gw.url,
        Buffer.concat([head, Buffer.from(`5\r\nhello\r\n0\r\n${trailerLines}\r\n`, 'latin1')]),
      );
      const status = r.responses[0]?.status;
      assert.ok(status === 200 || status === 400, `answered ${status}`);
      if (status === 200) assert.equal(trailers.length, before + 1, 'the upstream got the request');
      for (const seen of trailers.slice(before)) {
        assert.deepEqual(spoofedIn(seen.raw), [], 'an identity trailer reached the upstream');
      }
    });
  }

  it('does not let a client strip or replace the injected identity by naming it in Connection', async () => {
    const up = upstreams.required!;
    const before = up.requests.length;
    const r = await exchange(
      sso.gw.url,
      requestBytes('GET', '/dce5/conn', [
        ['Host', host()],
        ['Accept', 'application/json'],
        ['Cookie', cookie],
        ['Connection', `close, ${IDENTITY_HEADERS.join(', ')}, x-forwarded_user`],
        ['X-Forwarded-User', 'mallory'],
      ]),
    );
    assert.equal(r.responses[0]?.status, 200);
    const req = up.requests[before]!;
    assert.deepEqual(spoofedIn(req.rawHeaders), []);
    assert.equal(req.headers['x-forwarded-user'], 'alice');
    assert.ok(req.headers['x-portico-assertion']);
  });
});
