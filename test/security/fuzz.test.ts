// Property-based fuzzing (fast-check) of request targets and header sets against a gateway with a
// protected and a public route. For every generated request: Portico answers it or closes the
// connection cleanly, no upstream ever receives a client-supplied identity header, and nothing
// reaches the protected upstream without a session. Bounded: 300 runs or 15 s.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { send } from '../helpers/http.ts';
import { exchange, requestBytes, WEBSOCKET_UPGRADE } from '../helpers/rawSocket.ts';
import { IDENTITY_HEADERS } from '../helpers/sso.ts';
import { twoRoutesSuite, upgradeRecorded } from '../helpers/twoRoutes.ts';

const MARKER = 'spoofed-identity';

// --- request targets --------------------------------------------------------------------------

const TRICKY_SEGMENTS = [
  '',
  '.',
  '..',
  '%2e',
  '%2E%2e',
  '.%2e',
  '..;',
  '%2f',
  '%2F',
  '..%2f',
  '%5c',
  '\\',
  'dce5',
  'DCE5',
  '%64ce5',
  'dce5;x',
  ';',
  '%00',
  '\x00',
  '\t',
  '\x7f',
  '\x01',
  ' ',
  '%c0%ae',
  '%c0%af',
  '%e0%80%ae',
  '%ef%bc%8f',
  '%23',
  '#',
  '?',
  '%3f',
  '_portico',
  '%',
  '%zz',
  '%25',
  '%252e',
  '~',
  '@',
  'é',
  '中文',
];

const segment = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...TRICKY_SEGMENTS) },
  {
    weight: 3,
    arbitrary: fc.string({
      unit: fc.constantFrom(..."abcdefxyz0189.-_~%!$&'()*+,;=:@".split('')),
      maxLength: 8,
    }),
  },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 3 }).map((s) => encodeURIComponent(s)) },
  {
    weight: 1,
    arbitrary: fc.string({ unit: 'grapheme', maxLength: 2 }).map((s) => s.replace(/[\r\n]/g, '')),
  },
);

const target = fc
  .tuple(
    fc.constantFrom('/', '/dce5/', '//', '/dce5', ''),
    fc.array(segment, { maxLength: 6 }),
    fc.option(fc.string({ unit: fc.constantFrom(...'ab=&/?.%2e#'.split('')), maxLength: 10 }), {
      nil: undefined,
    }),
  )
  .map(([start, segs, query]) => {
    const path = (start + segs.join('/')).replace(/[\r\n]/g, '') || '/';
    return query === undefined ? path : `${path}?${query}`;
  });

// --- header sets -------------------------------------------------------------------------------

/** An identity header name in some spelling: any case, `_` or `-` between words. */
const identityName = fc
  .tuple(
    fc.constantFrom(...IDENTITY_HEADERS),
    fc.array(fc.boolean(), { minLength: 40, maxLength: 40 }),
    fc.boolean(),
  )
  .map(([name, cases, underscores]) => {
    const spelled = [...name].map((c, i) => (cases[i] ? c.toUpperCase() : c.toLowerCase())).join('');
    return underscores ? spelled.replace(/-/g, () => (cases[0] ? '_' : '-')).replace(/-/, '_') : spelled;
  });

const spoofValue = fc
  .tuple(fc.constantFrom('', ' ', '\t', '  ', 'alice,'), fc.constantFrom('', ' ', '\t', ',alice'))
  .map(([pre, post]) => `${pre}${MARKER}${post}`);

const tokenName = fc.stringMatching(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,16}$/);
const OTHER_NAMES = [
  'X-Forwarded-For',
  'X-Forwarded-Host',
  'X-Forwarded-Proto',
  'X-Forwarded-Prefix',
  'X-Real-IP',
  'Forwarded',
  'Authorization',
  'Origin',
  'Accept',
  'Accept-Language',
  'X-Requested-With',
  'Sec-Fetch-Mode',
  'Connection',
  'Keep-Alive',
  'TE',
  'Proxy-Authorization',
  'X-Request-Id',
  'Via',
];
const otherValue = fc.oneof(
  fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 24 }),
  fc.constantFrom(
    'close',
    'keep-alive',
    'x-forwarded-user',
    'X-Forwarded-User, x_forwarded_email',
    'text/html',
    'Bearer x.y.z',
    '127.0.0.1',
    'https',
    'null',
    'a\x00b',
    '\x7f',
    'é',
  ),
);

const header = fc.oneof(
  { weight: 3, arbitrary: fc.tuple(identityName, spoofValue) },
  { weight: 2, arbitrary: fc.tuple(fc.constantFrom(...OTHER_NAMES), otherValue) },
  { weight: 2, arbitrary: fc.tuple(tokenName, otherValue) },
);

// Framing and routing headers are the test's to send: a random Content-Length would only make the
// gateway wait for a body that never comes.
const FRAMING = /^(?:content-length|transfer-encoding|host|expect|upgrade|cookie)$/i;

const request = fc.record({
  method: fc.constantFrom('GET', 'GET', 'POST', 'DELETE', 'OPTIONS', 'PUT'),
  target,
  headers: fc
    .array(header, { maxLength: 12 })
    .map((hs) => hs.filter(([n]) => !FRAMING.test(n) && !n.includes(MARKER))),
  signedIn: fc.boolean(),
  upgrade: fc.boolean(),
});

describe('fuzzing request targets and headers', () => {
  const s = twoRoutesSuite(
    {
      ai: 'auth: required, websocket: true, inject: { headers: true, jwt: true }',
      public: 'auth: optional, websocket: true, inject: { headers: true }',
    },
    { websocket: true },
  );

  it('never crashes, never forwards client identity, never lets an anonymous request through to /dce5/', async (tc) => {
    const host = new URL(s.gw.url).host;
    const statuses = new Map<number | string, number>();
    let runs = 0;
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        runs++;
        const before = { prot: s.prot.requests.length, pub: s.pub.requests.length };
        const bytes = requestBytes(r.method, r.target, [
          ['Host', host],
          ...r.headers,
          ...(r.signedIn ? [['Cookie', s.cookie] as const] : []),
          ...(r.upgrade ? WEBSOCKET_UPGRADE : [['Connection', 'close'] as const]),
          ...(r.upgrade ? [['Origin', s.publicUrl] as const] : []),
        ]);
        const x = await exchange(s.gw.url, bytes, { timeoutMs: 3000, settleMs: 0 });
        const status = x.responses[0]?.status;
        statuses.set(status ?? 'closed', (statuses.get(status ?? 'closed') ?? 0) + 1);
        assert.ok(status !== undefined || x.closed, `no answer and no close for ${JSON.stringify(r)}`);
        assert.ok(status === undefined || (status >= 101 && status < 600), `answered ${status}`);
        assert.notEqual(status, 500, `an internal error for ${JSON.stringify(r)}: ${x.raw.slice(0, 300)}`);
        if (status === 101) await upgradeRecorded(s, before, 100);
        const toProt = s.prot.requests.slice(before.prot);
        const toPub = s.pub.requests.slice(before.pub);
        if (!r.signedIn)
          assert.deepEqual(toProt, [], `reached /dce5/ without a session: ${JSON.stringify(r)}`);
        for (const got of [...toProt, ...toPub]) {
          const raw = got.rawHeaders.join('\n');
          assert.ok(
            !raw.includes(MARKER),
            `a client identity header reached an upstream: ${JSON.stringify(r)}`,
          );
          if (r.signedIn && got.headers['x-forwarded-user'] !== undefined)
            assert.equal(got.headers['x-forwarded-user'], 'alice');
        }
      }),
      { numRuns: 300, plugins: [fc.interruptAfterTimeLimit(15_000)] },
    );
    assert.ok(runs >= 50, `only ${runs} runs in the time limit`);
    // Still up and still routing.
    assert.equal((await send(s.gw.url, '/_portico/healthz')).status, 200);
    assert.equal((await send(s.gw.url, '/dce5/', { headers: { accept: 'application/json' } })).status, 401);
    assert.equal(
      (await send(s.gw.url, '/dce5/', { headers: { cookie: s.cookie, accept: 'application/json' } })).status,
      200,
    );
    assert.equal((await send(s.gw.url, '/home')).status, 200);
    tc.diagnostic(`${runs} runs; answers: ${JSON.stringify(Object.fromEntries(statuses))}`);
  });
});
