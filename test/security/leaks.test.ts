// No stack traces, file paths, secrets or internal addresses in any error page (HTML or JSON), and
// no stack traces or secret values in the logs. Pages are read from an in-process gateway; logs
// from `portico serve` run as a child process, so its real logger (createLogger) is what is judged.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { hashApiKey } from '../../gateway/auth/apiKeys.ts';
import { type RawResponse, send } from '../helpers/http.ts';
import { startTestIdp } from '../helpers/idp.ts';
import { exchange, requestBytes, WEBSOCKET_UPGRADE } from '../helpers/rawSocket.ts';
import { startRedis } from '../helpers/redis.ts';
import {
  freePort,
  type GatewayClient,
  login,
  SESSION_SECRET,
  type SsoSetup,
  startSso,
} from '../helpers/sso.ts';
import { startUpstream, type Upstream, upstreamFor } from '../helpers/upstream.ts';
import { suiteContext } from '../helpers/suite.ts';
import { deadPort } from '../helpers/ports.ts';
import { until } from '../helpers/eventually.ts';

const CLIENT_SECRET = 'portico-secret'; // what startSso registers
const API_KEY = 'ptk_deploy_leakcheckLEAKCHECKleakcheck0123456789abcdefg';
const JUNK_BEARER = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJtYWxsb3J5In0.leakcheck-signature-value';

/** Everything that must never be shown to a client: each found pattern is a problem. */
function leaks(text: string, secrets: string[], internal: string[]): string[] {
  const found: string[] = [];
  const patterns: [string, RegExp][] = [
    ['a stack frame', /\n\s+at \S|\bat (?:async )?[\w$.<>]+ \(|\bat (?:file|node):/],
    ['a source location', /\.(?:ts|js|mjs|cjs):\d+/],
    ['a file path', /\/work\/|\/home\/|\/tmp\/|node_modules|node:internal/],
    ['an error class', /\b(?:TypeError|ReferenceError|SyntaxError|RangeError|GatewayError)\b/],
    ['a socket error', /\bE(?:CONNREFUSED|CONNRESET|TIMEDOUT|HOSTUNREACH|PIPE)\b|socket hang up/],
  ];
  for (const [what, re] of patterns) {
    const m = re.exec(text);
    if (m) found.push(`${what}: ${JSON.stringify(text.slice(Math.max(0, m.index - 40), m.index + 60))}`);
  }
  for (const s of secrets) if (s && text.includes(s)) found.push(`a secret: ${s.slice(0, 12)}…`);
  for (const s of internal) if (text.includes(s)) found.push(`an internal address: ${s}`);
  return found;
}

function whole(r: RawResponse): string {
  const headers: string[] = [];
  for (let i = 0; i < r.rawHeaders.length; i += 2) headers.push(`${r.rawHeaders[i]}: ${r.rawHeaders[i + 1]}`);
  return `${headers.join('\n')}\n\n${r.text}`;
}

describe('error pages show no internals', () => {
  const t = suiteContext();
  let sso: SsoSetup;
  let ai: Upstream;
  let slow: Upstream;
  let dead: number;
  let alice: GatewayClient;
  let bob: GatewayClient;
  let secrets: string[];
  let internal: string[];

  before(async () => {
    ai = await startUpstream();
    slow = await startUpstream({ handler: () => {} });
    t.after(() => Promise.all([ai.close(), slow.close()]));
    dead = await deadPort();
    sso = await startSso(
      t,
      `  - { id: ai, path: /dce5/, upstream: "${ai.url}", auth: required, allow: { groups: [ai-users] }, websocket: true }
  - { id: dead, path: /dead/, upstream: "http://127.0.0.1:${dead}/", websocket: true }
  - { id: slow, path: /slow/, upstream: "${slow.url}", timeouts: { idle: 300ms } }
  - { id: home, path: /, upstream: "${ai.url}", auth: optional }
`,
      { extra: `apiKeys:\n  - { id: deploy, hash: "${hashApiKey(API_KEY)}", groups: [staff] }\n` },
    );
    alice = (await login(sso, 'alice')).client;
    bob = (await login(sso, 'bob', '/dce5/')).client;
    const sid = decodeURIComponent(alice.cookies.get('portico_session')!);
    secrets = [SESSION_SECRET, CLIENT_SECRET, API_KEY, JUNK_BEARER, sid, sid.slice(2, sid.indexOf('.'))];
    internal = [`127.0.0.1:${dead}`, `127.0.0.1:${slow.port}`, `127.0.0.1:${ai.port}`, sso.idp.issuer];
  });

  const HTML = { accept: 'text/html,application/xhtml+xml', 'accept-language': 'en-US' };
  const JSON_ = { accept: 'application/json' };
  const FORM = { 'content-type': 'application/x-www-form-urlencoded' };

  /** status → how to make the gateway answer it. */
  const PAGES: [string, number, () => Promise<RawResponse>][] = [
    ['a refused path (HTML)', 400, () => send(sso.gw.url, '/dce5/..%2fadmin', { headers: HTML })],
    ['a refused path (JSON)', 400, () => send(sso.gw.url, '/dce5/..%2fadmin', { headers: JSON_ })],
    [
      'a forged sign-in callback',
      400,
      () => send(sso.gw.url, '/_portico/callback/corp?state=forged&code=x', { headers: HTML }),
    ],
    [
      'a forged back-channel logout token',
      400,
      () =>
        send(sso.gw.url, '/_portico/backchannel-logout/corp', {
          method: 'POST',
          headers: FORM,
          body: `logout_token=${JUNK_BEARER}`,
        }),
    ],
    ['a protected API call without a session', 401, () => send(sso.gw.url, '/dce5/api', { headers: JSON_ })],
    [
      'a protected form post without a session (HTML)',
      401,
      () => send(sso.gw.url, '/dce5/form', { method: 'POST', headers: HTML, body: 'x=1' }),
    ],
    [
      'a junk bearer token',
      401,
      () => send(sso.gw.url, '/dce5/api', { headers: { ...HTML, authorization: `Bearer ${JUNK_BEARER}` } }),
    ],
    [
      'a wrong API key',
      401,
      () =>
        send(sso.gw.url, '/dce5/api', {
          headers: { ...JSON_, authorization: `Bearer ${API_KEY.slice(0, -3)}xyz` },
        }),
    ],
    ['a user the allow rules refuse (HTML)', 403, () => bob.request('/dce5/', { headers: HTML })],
    ['a user the allow rules refuse (JSON)', 403, () => bob.request('/dce5/', { headers: JSON_ })],
    [
      'an API key the allow rules refuse',
      403,
      () => send(sso.gw.url, '/dce5/api', { headers: { ...JSON_, authorization: `Bearer ${API_KEY}` } }),
    ],
    [
      'a cross-site logout',
      403,
      () =>
        alice.request('/_portico/logout', {
          method: 'POST',
          headers: { ...HTML, ...FORM, origin: 'https://evil.example' },
          body: 'rd=%2F',
        }),
    ],
    ['an unknown gateway page (HTML)', 404, () => send(sso.gw.url, '/_portico/nope', { headers: HTML })],
    ['an unknown gateway page (JSON)', 404, () => send(sso.gw.url, '/_portico/nope', { headers: JSON_ })],
    ['an unknown identity provider', 404, () => send(sso.gw.url, '/_portico/login/nope', { headers: HTML })],
    [
      'a wrong method',
      405,
      () => send(sso.gw.url, '/_portico/login/corp', { method: 'POST', headers: HTML }),
    ],
    [
      'a malformed escape in a gateway URL',
      400,
      () => send(sso.gw.url, '/_portico/login/%E0%A4%A', { headers: HTML }),
    ],
    [
      'an oversized logout form',
      413,
      () =>
        alice.request('/_portico/logout', {
          method: 'POST',
          headers: { ...JSON_, ...FORM, origin: sso.publicUrl },
          body: `rd=${'a'.repeat(70_000)}`,
        }),
    ],
    ['a dead upstream (HTML)', 502, () => send(sso.gw.url, '/dead/x', { headers: HTML })],
    ['a dead upstream (JSON)', 502, () => send(sso.gw.url, '/dead/x', { headers: JSON_ })],
    ['a silent upstream (HTML)', 504, () => send(sso.gw.url, '/slow/x', { headers: HTML })],
    ['a silent upstream (JSON)', 504, () => send(sso.gw.url, '/slow/x', { headers: JSON_ })],
  ];

  for (const [what, status, make] of PAGES) {
    it(`answers ${status} for ${what} without internals`, async () => {
      const r = await make();
      // 4xx/5xx where Portico may legitimately pick a neighbouring code (500 for a body-parser 413).
      assert.equal(r.status, status, r.text.slice(0, 200));
      assert.deepEqual(leaks(whole(r), secrets, internal), []);
      assert.equal(r.headers['x-powered-by'], undefined);
    });
  }

  for (const [what, target, headers, status] of [
    ['an anonymous upgrade of a protected route', '/dce5/ws', [], 401],
    ['an upgrade by a user the allow rules refuse', '/dce5/ws', ['cookie'], 403],
    ['an upgrade from a foreign Origin', '/dead/ws', [['Origin', 'https://evil.example']], 403],
    ['an upgrade of a route without websocket: true', '/ws', [], 400],
    ['an upgrade whose upstream is dead', '/dead/ws', [], 502],
    ['a malformed request', '/x y', [], 400],
  ] as const) {
    it(`answers ${status} for ${what} without internals`, async () => {
      const list = (headers as readonly (string | readonly [string, string])[]).map((h) =>
        h === 'cookie' ? (['Cookie', bob.cookieHeader()] as const) : (h as readonly [string, string]),
      );
      const r = await exchange(
        sso.gw.url,
        requestBytes('GET', target, [['Host', new URL(sso.gw.url).host], ...WEBSOCKET_UPGRADE, ...list]),
      );
      assert.equal(r.responses[0]?.status, status, r.raw.slice(0, 200));
      assert.deepEqual(leaks(r.raw, secrets, internal), []);
    });
  }

  it('answers 503 while the session store is down without internals', async (t) => {
    const redis = await startRedis(t);
    const up = await upstreamFor(t);
    const s = await startSso(t, `  - { id: ai, path: /dce5/, upstream: "${up.url}", auth: required }\n`, {
      store: 'redis',
      redisUrl: redis.url,
    });
    const { client } = await login(s, 'alice');
    await redis.stop();
    // The point: wait out the in-process session cache (1 s), so the next request must ask Redis.
    await sleep(1100);
    for (const headers of [HTML, JSON_]) {
      const r = await client.request('/dce5/', { headers });
      assert.equal(r.status, 503, r.text.slice(0, 200));
      assert.deepEqual(
        leaks(whole(r), [...secrets, client.cookieHeader()], [redis.url, `127.0.0.1:${redis.port}`]),
        [],
      );
    }
    // The readiness page is public too: it may say Redis is down, not where Redis lives.
    const ready = await send(s.gw.url, '/_portico/readyz');
    assert.equal(ready.status, 503);
    assert.deepEqual(leaks(whole(ready), secrets, [redis.url, `127.0.0.1:${redis.port}`]), []);
  });
});

describe('logs carry no stack traces or secrets', () => {
  it('keeps `portico serve` logs free of stack traces, cookies, tokens and secrets through sign-in, errors and sign-out', async (t) => {
    const port = await freePort();
    const publicUrl = `http://127.0.0.1:${port}`;
    const clientSecret = 'log-leak-check-client-secret-0123456789';
    const sessionSecret = 'log-leak-check-session-secret-0123456789abcdef';
    const idp = await startTestIdp(t, {
      clients: [
        {
          clientId: 'portico',
          clientSecret,
          redirectUris: [`${publicUrl}/_portico/callback/corp`],
          postLogoutRedirectUris: [`${publicUrl}/_portico/logged-out`],
        },
      ],
      logErrors: false,
    });
    const ai = await startUpstream();
    const slow = await startUpstream({ handler: () => {} });
    t.after(() => Promise.all([ai.close(), slow.close()]));
    const dead = await deadPort();
    const dir = mkdtempSync(join(tmpdir(), 'portico-leaks-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'routes.yaml');
    writeFileSync(
      file,
      `publicUrl: ${publicUrl}
logging: { level: debug }
session: { secret: ${sessionSecret}, store: memory }
identityProviders:
  - { id: corp, type: oidc, issuer: "${idp.issuer}", clientId: portico, clientSecret: ${clientSecret}, scopes: [openid, profile, email, groups] }
apiKeys:
  - { id: deploy, hash: "${hashApiKey(API_KEY)}", groups: [ai-users] }
routes:
  - { id: ai, path: /dce5/, upstream: "${ai.url}", auth: required, allow: { groups: [ai-users] }, websocket: true, inject: { headers: true, jwt: true } }
  - { id: dead, path: /dead/, upstream: "http://127.0.0.1:${dead}/" }
  - { id: slow, path: /slow/, upstream: "${slow.url}", timeouts: { idle: 300ms } }
  - { id: home, path: /, upstream: "${ai.url}", auth: optional }
`,
    );
    const child: ChildProcess = spawn(
      process.execPath,
      ['scripts/portico.js', 'serve', '--config', file, '--port', String(port), '--host', '127.0.0.1'],
      { cwd: new URL('../..', import.meta.url).pathname, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    const exited = once(child, 'exit');
    t.after(() => {
      if (child.exitCode === null) child.kill('SIGKILL');
    });
    // Wait for the announcement itself, however long the machine takes to start a Node process.
    await Promise.race([
      (async () => {
        while (!stdout.includes('portico is listening')) await once(child.stdout!, 'data');
      })(),
      exited,
    ]);
    assert.match(stdout, /portico is listening/, stderr);

    const base = publicUrl;
    const setup = { idp, gw: { url: base }, port, publicUrl, yaml: '' } as unknown as SsoSetup;
    const { client: alice } = await login(setup, 'alice');
    const { client: bob } = await login(setup, 'bob');
    const sid = decodeURIComponent(alice.cookies.get('portico_session')!);
    const tokens = [JUNK_BEARER, API_KEY, `${API_KEY.slice(0, -3)}xyz`];
    const jsonH = { accept: 'application/json' };
    const work = await alice.request('/dce5/work', { headers: { ...jsonH, 'x-forwarded-user': 'mallory' } });
    assert.equal(work.status, 200, 'a signed-in, proxied request is part of what gets logged');
    // The code Portico's OpenID Provider hands DCE 5's Keycloak travels through the proxy.
    const broker = '/dce5/auth/realms/ghippo/broker/portico/endpoint';
    const oauthCode = 'oauth-code-for-an-upstream-0123456789';
    await alice.request(`${broker}?code=${oauthCode}&state=st-0123456789&kept=1`, { headers: jsonH });
    assert.equal((await bob.request('/dce5/', { headers: jsonH })).status, 403);
    await send(base, '/dce5/', { headers: jsonH });
    await send(base, '/dce5/..%2fadmin', { headers: jsonH });
    await send(base, '/_portico/nope', { headers: { ...jsonH, cookie: alice.cookieHeader() } });
    await send(base, '/_portico/login/%E0%A4%A', { headers: jsonH });
    await send(base, '/_portico/callback/corp?state=forged&code=x', { headers: jsonH });
    for (const token of tokens)
      await send(base, '/dce5/api', { headers: { ...jsonH, authorization: `Bearer ${token}` } });
    await send(base, '/dead/x', {
      headers: { ...jsonH, cookie: alice.cookieHeader(), authorization: `Bearer ${JUNK_BEARER}` },
    });
    await send(base, '/slow/x', { headers: { ...jsonH, cookie: alice.cookieHeader() } });
    await exchange(
      base,
      requestBytes('GET', '/dce5/ws', [['Host', `127.0.0.1:${port}`], ...WEBSOCKET_UPGRADE]),
    );
    await exchange(base, 'GET /x y HTTP/1.1\r\nHost: x\r\n\r\n');
    await send(base, '/_portico/backchannel-logout/corp', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `logout_token=${JUNK_BEARER}`,
    });
    const confirm = await alice.request('/_portico/logout');
    const csrf = /name="csrf" value="([^"]*)"/.exec(confirm.text)?.[1] ?? '';
    await alice.request('/_portico/logout', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: publicUrl },
      body: `rd=%2F&csrf=${encodeURIComponent(csrf)}`,
    });
    // The sign-out's own access line is the last thing to be logged before the stop.
    await until(() => /"method":"POST","url":"\/_portico\/logout/.test(stdout), 5000, 'the sign-out logged');
    child.kill('SIGTERM');
    await exited;

    const lines = stdout.split('\n').filter(Boolean);
    assert.ok(lines.length > 10, `the gateway logged (${lines.length} lines)`);
    const notJson = lines.filter((l) => {
      try {
        JSON.parse(l);
        return false;
      } catch {
        return true;
      }
    });
    assert.deepEqual(notJson, [], 'every stdout line is a JSON log record');
    assert.ok(
      lines.some((l) => l.includes('"upstream failed"')),
      'the upstream failure was logged',
    );
    assert.ok(
      lines.some((l) => l.includes('"request completed"')),
      'requests were logged',
    );
    const all = `${stdout}\n${stderr}`;
    const problems = leaks(
      all,
      [
        sessionSecret,
        clientSecret,
        sid,
        sid.slice(2, sid.indexOf('.')),
        oauthCode,
        'st-0123456789',
        ...tokens,
      ],
      [],
    );
    // Logs may name files (the config path) and socket errors; they must not carry stacks or secrets.
    const relevant = problems.filter((p) => !p.startsWith('a file path') && !p.startsWith('a socket error'));
    assert.deepEqual(relevant, []);
    assert.doesNotMatch(all, /"stack"\s*:/, 'no serialized stack');
    assert.doesNotMatch(all, /Bearer [A-Za-z0-9]/, 'no Authorization value');
    assert.doesNotMatch(all, /portico_session=/, 'no Cookie value');
    assert.ok(
      all.includes(`${broker}?code=[redacted]&state=[redacted]&kept=1`),
      'a proxied URL is logged with the credentials in its query left out',
    );
  });
});
