import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { adminFeature } from '../../gateway/admin/adminFeature.ts';
import { createGateway } from '../../gateway/server.ts';
import { json, send } from '../helpers/http.ts';
import { startUpstream, upstreamFor } from '../helpers/upstream.ts';
import type { StartedGateway } from '../helpers/gateway.ts';
import { api, keys, routesYaml, startAdminGateway } from './helpers.ts';

const YAML = { 'content-type': 'application/yaml' };

async function upstreams(t: { after: (fn: () => unknown) => void }) {
  const one = await startUpstream({ handler: (_q, s) => s.end('one') });
  const two = await startUpstream({ handler: (_q, s) => s.end('two') });
  t.after(() => Promise.all([one.close(), two.close()]));
  return { one, two };
}

/** The audit events a gateway publishes, as they come. */
function auditEvents(gw: StartedGateway) {
  const seen: Record<string, unknown>[] = [];
  gw.gateway.events.on('audit', (m) => seen.push(m));
  return seen;
}

describe('admin API keys', () => {
  it('answers 401 with WWW-Authenticate: Bearer when no key is sent', async (t) => {
    const gw = await startAdminGateway(t, routesYaml('http://127.0.0.1:9/'));
    const r = await api(gw.url, 'GET', 'status');
    assert.equal(r.status, 401);
    assert.match(String(r.headers['www-authenticate']), /^Bearer /);
    assert.equal(json(r).error, 'PORTICO_ERR_UNAUTHENTICATED');
    assert.match(String(r.headers['content-type']), /application\/json/);
  });

  it('answers 401 for a wrong key, even one with a known id', async (t) => {
    const gw = await startAdminGateway(t, routesYaml('http://127.0.0.1:9/'));
    const forged = `${keys.ci.key.slice(0, -4)}AAAA`;
    for (const key of [forged, 'ptk_ci_nope', 'not-a-key']) {
      const r = await api(gw.url, 'GET', 'status', { key });
      assert.equal(r.status, 401, key);
      assert.match(String(r.headers['www-authenticate']), /error="invalid_token"/);
    }
  });

  it('answers 403 when the key lacks the scope the endpoint needs', async (t) => {
    const gw = await startAdminGateway(t, routesYaml('http://127.0.0.1:9/'));
    const r = await api(gw.url, 'PUT', 'config', {
      key: keys.reader.key,
      body: 'routes: []\n',
      headers: { ...YAML, 'if-match': '"x"' },
    });
    assert.equal(r.status, 403);
    assert.deepEqual([json(r).error, json(r).required], ['PORTICO_ERR_FORBIDDEN', 'config:write']);
    assert.equal((await api(gw.url, 'GET', 'config', { key: keys.brand.key })).status, 403);
  });

  it('checks keys against the live config, so a removed key stops working on reload', async (t) => {
    const gw = await startAdminGateway(t, routesYaml('http://127.0.0.1:9/'));
    assert.equal((await api(gw.url, 'GET', 'status', { key: keys.reader.key })).status, 200);
    gw.write(routesYaml('http://127.0.0.1:9/').replace(/^ {4}- \{ id: reader.*\n/m, ''));
    assert.equal(gw.gateway.reload().ok, true);
    assert.equal((await api(gw.url, 'GET', 'status', { key: keys.reader.key })).status, 401);
  });

  it('rate-limits each key with 429 and Retry-After', async (t) => {
    const gw = await startAdminGateway(
      t,
      routesYaml('http://127.0.0.1:9/', { admin: '  rateLimit: { perMinute: 3 }\n' }),
    );
    for (let i = 0; i < 3; i++)
      assert.equal((await api(gw.url, 'GET', 'status', { key: keys.ci.key })).status, 200);
    const r = await api(gw.url, 'GET', 'status', { key: keys.ci.key });
    assert.equal(r.status, 429);
    assert.ok(Number(r.headers['retry-after']) >= 1);
    assert.equal(json(r).error, 'PORTICO_ERR_TOO_MANY');
  });

  it('keeps serving a valid key while anyone behind the same load balancer sends wrong keys', async (t) => {
    // Without trustProxy every caller has the load balancer's address (here 127.0.0.1).
    const gw = await startAdminGateway(
      t,
      routesYaml('http://127.0.0.1:9/', {
        admin: '  rateLimit: { perMinute: 100, failedAuthPerMinute: 3 }\n',
      }),
    );
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++)
      statuses.push((await api(gw.url, 'GET', 'status', { key: `${keys.ci.key}x` })).status);
    assert.deepEqual(statuses, [401, 401, 401, 429, 429, 429, 429, 429, 429, 429]);
    for (const key of [keys.ci.key, keys.reader.key])
      assert.equal((await api(gw.url, 'GET', 'status', { key })).status, 200, key.slice(0, 10));
  });

  it('throttles wrong keys per presented key id, then all of them together, and never a valid key', async (t) => {
    const gw = await startAdminGateway(
      t,
      routesYaml('http://127.0.0.1:9/', {
        admin: '  rateLimit: { perMinute: 1000, failedAuthPerMinute: 2 }\n',
      }),
    );
    const wrong = (id: string) => `ptk_${id}_${'A'.repeat(43)}`;
    const status = async (key: string) => (await api(gw.url, 'GET', 'status', { key })).status;
    assert.deepEqual([await status(wrong('ci')), await status(wrong('ci'))], [401, 401]);
    const limited = await api(gw.url, 'GET', 'status', { key: wrong('ci') });
    assert.equal(limited.status, 429);
    assert.ok(Number(limited.headers['retry-after']) >= 1);
    // Another id is counted on its own ...
    assert.equal(await status(wrong('reader')), 401);
    // ... until failures of every id together reach ten times the per-id limit.
    const spray: number[] = [];
    for (let i = 0; i < 20; i++) spray.push(await status(wrong(`bot-${i}`)));
    assert.equal(spray.filter((s) => s === 401).length, 20 - 3, String(spray));
    assert.deepEqual(spray.slice(-3), [429, 429, 429]);
    assert.equal(await status('not-a-key'), 429);
    assert.equal(await status(keys.ci.key), 200);
  });
});

describe('reading and validating the config', () => {
  it('shows the live routes.yaml with every secret redacted and the comments kept', async (t) => {
    const secret = `s3-secret-${Math.random().toString(36).slice(2)}`;
    process.env.ADMIN_TEST_S3_SECRET = secret;
    t.after(() => delete process.env.ADMIN_TEST_S3_SECRET);
    const literal = 'a-literal-session-secret-of-more-than-32-chars';
    const yaml = routesYaml('http://127.0.0.1:9/', {
      extra: `session: { secret: "${literal}" }   # rotate yearly
storage:
  provider: minio
  endpoint: "http://minio:9000"
  bucket: portico
  accessKeyId: portico
  secretAccessKey: \${ADMIN_TEST_S3_SECRET}
notifications:
  - { type: slack, webhook: "https://hooks.slack.com/services/T0/B0/abcdefSECRET" }
`,
    });
    const gw = await startAdminGateway(t, yaml);
    const r = await api(gw.url, 'GET', 'config', { key: keys.reader.key });
    assert.equal(r.status, 200);
    const body = json<{ yaml: string; etag: string; hash: string }>(r);
    assert.equal(r.headers.etag, `"${gw.gateway.config().sourceHash}"`);
    assert.equal(body.etag, r.headers.etag);
    for (const value of [secret, literal, keys.ci.hash, keys.reader.hash, 'abcdefSECRET'])
      assert.ok(!r.text.includes(value), `the response contains ${value}`);
    assert.ok(!r.text.includes(keys.ci.hash.slice(7)));
    assert.match(body.yaml, /^# Portico routes — deployed by CI$/m);
    assert.match(body.yaml, /session: \{ secret: "\[redacted\]" \} {3}# rotate yearly/);
    assert.match(body.yaml, /secretAccessKey: "\[redacted\]"/);
    assert.match(body.yaml, /accessKeyId: portico/);
    const asYaml = await api(gw.url, 'GET', 'config', {
      key: keys.reader.key,
      headers: { accept: 'application/yaml' },
    });
    assert.equal(asYaml.text, body.yaml);
  });

  it('validates a candidate without applying it: 200 with a summary, 422 with line numbers', async (t) => {
    const gw = await startAdminGateway(t, routesYaml('http://127.0.0.1:9/'));
    const good = await api(gw.url, 'POST', 'config/validate', {
      key: keys.reader.key,
      body: 'routes:\n  - { id: ai, path: /dce5/, upstream: "http://10.0.0.1/", websocket: true }\n',
      headers: YAML,
    });
    assert.equal(good.status, 200);
    assert.equal(json(good).valid, true);
    assert.match(
      (json(good).summary as { text: string }).text,
      /^routes\.yaml: valid — 1 route \(\/dce5\/\), 0 identity providers, 1 with WebSockets, pure reverse proxy$/,
    );
    const bad = await api(gw.url, 'POST', 'config/validate', {
      key: keys.reader.key,
      body: 'routes:\n  - id: ai\n    path: dce5/\n    upstream: ftp://x\n',
      headers: YAML,
    });
    assert.equal(bad.status, 422);
    const b = json<{
      valid: boolean;
      problems: { path: string; line: number; column: number; message: string }[];
      text: string;
    }>(bad);
    assert.equal(b.valid, false);
    assert.deepEqual(
      b.problems.map((p) => [p.line, p.path]),
      [
        [3, 'routes[0].path'],
        [4, 'routes[0].upstream'],
      ],
    );
    assert.match(b.text, /routes\.yaml:3:11 +routes\[0\]\.path: "dce5\/" must be a path starting with "\/"/);
    assert.equal(gw.gateway.config().routes[0]!.upstream!.href, 'http://127.0.0.1:9/');
    const wrongType = await api(gw.url, 'POST', 'config/validate', {
      key: keys.reader.key,
      body: '{}',
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(wrongType.status, 415);
  });
  it('validates without the gateway’s environment and files: a reader never gets a secret or a file’s existence back', async (t) => {
    const gw = await startAdminGateway(t, routesYaml('http://127.0.0.1:9/'));
    process.env.PORTICO_TEST_VALIDATE_SECRET = 'TopSecret-session-key-0123456789abcdef';
    t.after(() => delete process.env.PORTICO_TEST_VALIDATE_SECRET);
    const r = await api(gw.url, 'POST', 'config/validate', {
      key: keys.reader.key,
      body: 'routes:\n  - { id: app, path: /, upstream: "http://127.0.0.1:9/${PORTICO_TEST_VALIDATE_SECRET}" }\n',
      headers: YAML,
    });
    assert.equal(r.status, 200, r.text);
    assert.doesNotMatch(r.text, /TopSecret/);
    const body = json<{
      summary: { routes: { upstream: string }[] };
      placeholders: { path: string; message: string }[];
    }>(r);
    assert.match(body.summary.routes[0]!.upstream, /unset\.invalid\/PORTICO_TEST_VALIDATE_SECRET/);
    assert.deepEqual(
      body.placeholders.map((p) => p.path),
      ['routes[0].upstream'],
    );
    // A file the gateway can read and one that does not exist get the same answer.
    const answers = [];
    for (const file of [import.meta.filename, '/nonexistent/portico-key.pem']) {
      const v = await api(gw.url, 'POST', 'config/validate', {
        key: keys.reader.key,
        body: `listen: { port: 8443, tls: { cert: "${file}", key: "${file}" } }\nroutes:\n  - { id: app, path: /, upstream: "http://127.0.0.1:9/" }\n`,
        headers: YAML,
      });
      answers.push([v.status, json<{ valid: boolean }>(v).valid]);
    }
    assert.deepEqual(answers, [
      [200, true],
      [200, true],
    ]);
  });
});

describe('deploying a config', () => {
  it('lets only one of two deploys with the same ETag win, even from two gateways sharing the file', async (t) => {
    const { one, two } = await upstreams(t);
    const a = await startAdminGateway(t, routesYaml(one.url));
    // A second gateway (or --workers sibling) on the same routes.yaml, with its own memory.
    const b = createGateway({
      configFile: a.file,
      port: 0,
      host: '127.0.0.1',
      watch: false,
      features: [adminFeature()],
      logger: pino({ level: 'silent' }),
    });
    await b.listen();
    t.after(() => b.close(200));
    const etag = (await api(a.url, 'GET', 'config', { key: keys.ci.key })).headers.etag!;
    const deploy = (url: string, upstream: string) =>
      api(url, 'PUT', 'config', {
        key: keys.ci.key,
        body: routesYaml(upstream),
        headers: { ...YAML, 'if-match': etag },
      });
    const results = await Promise.all([
      deploy(a.url, one.url.replace(/\/$/, '/x/')),
      deploy(b.url(), two.url),
    ]);
    const statuses = results.map((r) => r.status).sort();
    assert.equal(statuses.filter((s) => s === 200).length, 1, JSON.stringify(statuses));
    assert.ok(
      statuses.every((s) => s === 200 || s === 409 || s === 412),
      JSON.stringify(statuses),
    );
    // And a deploy after the winner's, still naming the old ETag, is refused by either gateway.
    for (const url of [a.url, b.url()]) assert.equal((await deploy(url, two.url)).status, 412);
  });

  it('replaces routes.yaml with the current ETag, reloads, and the new routes serve', async (t) => {
    const { one, two } = await upstreams(t);
    const gw = await startAdminGateway(t, routesYaml(one.url));
    assert.equal((await send(gw.url, '/')).text, 'one');
    const etag = (await api(gw.url, 'GET', 'config', { key: keys.ci.key })).headers.etag!;
    const next = routesYaml(two.url);
    const r = await api(gw.url, 'PUT', 'config', {
      key: keys.ci.key,
      body: next,
      headers: { ...YAML, 'if-match': etag },
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(readFileSync(gw.file, 'utf8'), next);
    assert.equal(r.headers.etag, `"${gw.gateway.config().sourceHash}"`);
    assert.notEqual(r.headers.etag, etag);
    assert.equal((await send(gw.url, '/')).text, 'two');
  });

  it('says which changed keys only a restart applies, and keeps their running values', async (t) => {
    const { one } = await upstreams(t);
    const gw = await startAdminGateway(t, routesYaml(one.url));
    const etag = (await api(gw.url, 'GET', 'config', { key: keys.ci.key })).headers.etag!;
    const r = await api(gw.url, 'PUT', 'config', {
      key: keys.ci.key,
      body: routesYaml(one.url, { extra: 'limits: { maxHeaderSize: 8192 }\n' }),
      headers: { ...YAML, 'if-match': etag },
    });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(json(r).restartNeeded, ['limits.maxHeaderSize']);
    assert.equal(gw.gateway.config().limits.maxHeaderSize, 16384);
  });

  it('requires If-Match (428) and refuses a stale ETag (412)', async (t) => {
    const { one, two } = await upstreams(t);
    const gw = await startAdminGateway(t, routesYaml(one.url));
    const put = (headers: Record<string, string>) =>
      api(gw.url, 'PUT', 'config', {
        key: keys.ci.key,
        body: routesYaml(two.url),
        headers: { ...YAML, ...headers },
      });
    const missing = await put({});
    assert.equal(missing.status, 428);
    assert.equal(json(missing).error, 'PORTICO_ERR_PRECONDITION_REQUIRED');
    assert.equal((await put({ 'if-match': '*' })).status, 428);
    const stale = await put({ 'if-match': '"0000"' });
    assert.equal(stale.status, 412);
    assert.equal(json(stale).error, 'PORTICO_ERR_PRECONDITION_FAILED');
    assert.equal(stale.headers.etag, `"${gw.gateway.config().sourceHash}"`);
    assert.equal((await send(gw.url, '/')).text, 'one');
  });

  it('refuses a bad config with line numbers and changes nothing on disk or in memory', async (t) => {
    const { one } = await upstreams(t);
    const gw = await startAdminGateway(t, routesYaml(one.url));
    const before = readFileSync(gw.file);
    const config = gw.gateway.config();
    const etag = `"${config.sourceHash}"`;
    const bad = routesYaml(one.url)
      .replace('path: /,', 'path: app,')
      .replace('scopes: [config:read]', 'scopes: [everything]');
    const r = await api(gw.url, 'PUT', 'config', {
      key: keys.ci.key,
      body: bad,
      headers: { ...YAML, 'if-match': etag },
    });
    assert.equal(r.status, 422);
    assert.deepEqual(
      json<{ problems: { line: number; path: string }[] }>(r).problems.map((p) => [p.line, p.path]),
      [
        [3, 'routes[0].path'],
        [7, 'admin.apiKeys[1].scopes[0]'],
      ],
    );
    assert.deepEqual(readFileSync(gw.file), before);
    assert.deepEqual(readdirSync(dirname(gw.file)), ['routes.yaml']);
    assert.equal(gw.gateway.config(), config);
    assert.equal((await send(gw.url, '/')).text, 'one');
  });

  it('refuses a config without routes (a truncated upload): 422, nothing written, the keys still work', async (t) => {
    const { one } = await upstreams(t);
    const gw = await startAdminGateway(t, routesYaml(one.url));
    const before = readFileSync(gw.file);
    const etag = `"${gw.gateway.config().sourceHash}"`;
    for (const body of ['# truncated save\n', 'routes: []\n']) {
      const validated = await api(gw.url, 'POST', 'config/validate', {
        key: keys.reader.key,
        body,
        headers: YAML,
      });
      assert.equal(validated.status, 422, body);
      const r = await api(gw.url, 'PUT', 'config', {
        key: keys.ci.key,
        body,
        headers: { ...YAML, 'if-match': etag },
      });
      assert.equal(r.status, 422, body);
    }
    assert.deepEqual(readFileSync(gw.file), before);
    assert.equal((await send(gw.url, '/')).text, 'one');
    assert.equal((await api(gw.url, 'GET', 'config', { key: keys.reader.key })).status, 200);
  });

  it('lets exactly one of two concurrent deploys with the same ETag win; the other gets 412', async (t) => {
    const { one, two } = await upstreams(t);
    const three = await upstreamFor(t, { handler: (_q, s) => s.end('three') });
    const gw = await startAdminGateway(t, routesYaml(one.url));
    const etag = `"${gw.gateway.config().sourceHash}"`;
    const results = await Promise.all(
      [two.url, three.url].map((u) =>
        api(gw.url, 'PUT', 'config', {
          key: keys.ci.key,
          body: routesYaml(u),
          headers: { ...YAML, 'if-match': etag },
        }),
      ),
    );
    assert.deepEqual(results.map((r) => r.status).sort(), [200, 412]);
    const winner = results.find((r) => r.status === 200)!;
    assert.equal(winner.headers.etag, `"${gw.gateway.config().sourceHash}"`);
    assert.ok(['two', 'three'].includes((await send(gw.url, '/')).text));
  });

  it('keeps a backup of each replaced file, the last five', async (t) => {
    const { one, two } = await upstreams(t);
    const gw = await startAdminGateway(t, routesYaml(one.url));
    const versions: string[] = [readFileSync(gw.file, 'utf8')];
    for (let i = 0; i < 7; i++) {
      const etag = `"${gw.gateway.config().sourceHash}"`;
      const next = `${routesYaml(i % 2 ? one.url : two.url)}# deploy ${i}\n`;
      const r = await api(gw.url, 'PUT', 'config', {
        key: keys.ci.key,
        body: next,
        headers: { ...YAML, 'if-match': etag },
      });
      assert.equal(r.status, 200, r.text);
      assert.match(String(json(r).backup), /^routes\.yaml\.bak-\d{4}-\d\d-\d\dT/);
      versions.push(next);
    }
    const backups = readdirSync(dirname(gw.file))
      .filter((n) => n.startsWith('routes.yaml.bak-'))
      .sort();
    assert.equal(backups.length, 5);
    assert.deepEqual(
      backups.map((n) => readFileSync(join(dirname(gw.file), n), 'utf8')),
      versions.slice(2, 7),
    );
  });

  it('publishes every change to the audit channel with the key id and IP', async (t) => {
    const { one, two } = await upstreams(t);
    const gw = await startAdminGateway(t, routesYaml(one.url));
    const seen = auditEvents(gw);
    const before = gw.gateway.config().sourceHash;
    await api(gw.url, 'PUT', 'config', {
      key: keys.ci.key,
      body: routesYaml(two.url),
      headers: { ...YAML, 'if-match': `"${before}"` },
    });
    const change = seen.find((e) => e.type === 'admin.change');
    assert.ok(change, JSON.stringify(seen));
    assert.equal(change.actor, 'ci');
    assert.equal(change.ip, '127.0.0.1');
    assert.deepEqual(
      { ...(change.detail as object), backup: undefined },
      {
        action: 'config.replace',
        file: 'routes.yaml',
        from: before,
        to: gw.gateway.config().sourceHash,
        backup: undefined,
      },
    );
    await api(gw.url, 'GET', 'status', { key: 'ptk_ci_wrongwrongwrongwrongwrong' });
    assert.ok(seen.some((e) => e.type === 'admin.auth_failure' && e.ip === '127.0.0.1'));
  });

  it('audits a refused deploy too: its errors can echo what the serving environment holds', async (t) => {
    const { one } = await upstreams(t);
    const gw = await startAdminGateway(t, routesYaml(one.url));
    const seen = auditEvents(gw);
    const etag = `"${gw.gateway.config().sourceHash}"`;
    const probe = await api(gw.url, 'PUT', 'config', {
      key: keys.ci.key,
      body: `${routesYaml(one.url)}\nsession: { secret: "\${PORTICO_NO_SUCH_VARIABLE_FOR_THIS_TEST}" }\n`,
      headers: { ...YAML, 'if-match': etag },
    });
    assert.equal(probe.status, 422);
    const stale = await api(gw.url, 'PUT', 'config', {
      key: keys.ci.key,
      body: routesYaml(one.url),
      headers: { ...YAML, 'if-match': '"not-the-etag"' },
    });
    assert.equal(stale.status, 412);
    const refused = seen.filter((e) => e.type === 'admin.change').map((e) => e.detail);
    assert.deepEqual(refused, [
      { action: 'config.refused', file: 'routes.yaml', code: 'PORTICO_ERR_INVALID_CONFIG' },
      { action: 'config.refused', file: 'routes.yaml', code: 'PORTICO_ERR_PRECONDITION_FAILED' },
    ]);
    assert.equal(gw.gateway.config().sourceHash, etag.slice(1, -1), 'nothing was replaced');
  });
});

describe('brand assets', () => {
  it('stores an uploaded logo in the branding folder and audits it', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'portico-brand-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const gw = await startAdminGateway(t, routesYaml('http://127.0.0.1:9/'), { branding: { dir } });
    const seen = auditEvents(gw);
    const svg = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 8 8"><circle r="4"/></svg>';
    const r = await api(gw.url, 'PUT', 'branding/assets/logo.svg', {
      key: keys.brand.key,
      body: svg,
      headers: { 'content-type': 'image/svg+xml' },
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(json(r).contentType, 'image/svg+xml');
    assert.equal(readFileSync(join(dir, 'logo.svg'), 'utf8'), svg);
    assert.ok(
      seen.some((e) => e.type === 'admin.change' && (e.detail as { name: string }).name === 'logo.svg'),
    );
  });

  it('refuses other file kinds, scripts in SVG, a broken brand.yaml, files over 2 MB and keys without branding:write', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'portico-brand-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const gw = await startAdminGateway(t, routesYaml('http://127.0.0.1:9/'), { branding: { dir } });
    const put = (name: string, body: string | Buffer, key = keys.brand.key) =>
      api(gw.url, 'PUT', `branding/assets/${name}`, {
        key,
        body,
        headers: { 'content-type': 'application/octet-stream' },
      });
    assert.equal((await put('page.html', '<html>')).status, 422);
    assert.equal((await put('logo.png', 'not a png')).status, 422);
    for (const svg of [
      '<svg onload="alert(1)"/>',
      '<svg xmlns="http://www.w3.org/2000/svg"><x:script xmlns:x="http://www.w3.org/2000/svg">alert(1)</x:script></svg>',
      '<!DOCTYPE svg [<!ENTITY s "&#60;script">]><svg>&s;</svg>',
      '<svg><a href="&#106;avascript:alert(1)"><text>x</text></a></svg>',
      '<svg><a href="&#x6A;avascript:alert(1)"><text>x</text></a></svg>',
      '<svg><a href="java&#9;script:alert(1)"><text>x</text></a></svg>',
      '<svg><a href="java\tscript:alert(1)"><text>x</text></a></svg>',
      '<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "x" [<!ELEMENT svg ANY>]><svg/>',
      '<!DOCTYPE svg SYSTEM "a>b" [<!ATTLIST svg onload CDATA "alert(1)">]><svg xmlns="http://www.w3.org/2000/svg"/>',
      '<!DOCTYPE svg SYSTEM "a>b" [ ]><svg xmlns="http://www.w3.org/2000/svg"/>',
      '<svg><a><set attributeName="href" to="javascript:alert(1)"/><text>x</text></a></svg>',
      '<svg><svg:foreignObject xmlns:svg="http://www.w3.org/2000/svg"/></svg>',
    ])
      assert.equal((await put('logo.svg', svg)).status, 422, svg);
    // What design tools write is fine: a plain DOCTYPE, character references for text.
    for (const svg of [
      '<?xml version="1.0"?><!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd"><svg xmlns="http://www.w3.org/2000/svg"><text>Acme</text></svg>',
      '<svg xmlns="http://www.w3.org/2000/svg"><text>AI&#160;&#x7B97;&#x529B;</text></svg>',
    ])
      assert.equal((await put('logo.svg', svg)).status, 200, svg);
    rmSync(join(dir, 'logo.svg'), { force: true });
    const big = Buffer.concat([
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
      Buffer.alloc(2 * 1024 * 1024),
    ]);
    const tooBig = await put('logo.png', big);
    assert.equal(tooBig.status, 413);
    assert.equal(json(tooBig).error, 'PORTICO_ERR_TOO_LARGE');
    assert.equal((await put('logo.svg', '<svg/>', keys.ci.key)).status, 403);
    const brand = await put('brand.yaml', 'productName: Acme\ncolors: { primary: 12 }\n');
    assert.equal(brand.status, 422);
    assert.deepEqual(
      json<{ problems: { line: number; path: string }[] }>(brand).problems.map((p) => [p.line, p.path]),
      [[2, 'colors.primary']],
    );
    assert.deepEqual(readdirSync(dir), []);
  });
});

describe('sessions and status', () => {
  it('revokes a user’s sessions through the session store and reports how many', async (t) => {
    const calls: unknown[] = [];
    const gw = await startAdminGateway(
      t,
      routesYaml('http://127.0.0.1:9/', {
        extra: `publicUrl: http://127.0.0.1:9
session: { secret: "${'s'.repeat(32)}" }
identity: { primaryProvider: corp }
identityProviders:
  - { id: corp, type: oidc, issuer: "http://127.0.0.1:9/realms/corp", clientId: portico, clientSecret: x }
  - { id: partner, type: oidc, issuer: "http://127.0.0.1:9/realms/partner", clientId: portico, clientSecret: x }
`,
      }),
      {
        revokeUserSessions: async (q) => {
          calls.push(q);
          return 2;
        },
      },
    );
    const seen = auditEvents(gw);
    const r = await api(gw.url, 'POST', 'sessions/revoke', {
      key: keys.support.key,
      body: JSON.stringify({ idp: 'corp', username: 'alice' }),
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(json(r), { revoked: 2 });
    assert.deepEqual(calls, [{ idp: 'corp', username: 'alice' }]);
    // The partner's alice is partner:alice to Portico: naming the partner never ends corp's alice.
    await api(gw.url, 'POST', 'sessions/revoke', {
      key: keys.support.key,
      body: JSON.stringify({ idp: 'partner', username: 'alice' }),
      headers: { 'content-type': 'application/json' },
    });
    assert.deepEqual(calls.at(-1), { idp: 'partner', username: 'partner:alice' });
    const subAlone = await api(gw.url, 'POST', 'sessions/revoke', {
      key: keys.support.key,
      body: JSON.stringify({ sub: 'alice-7f3a' }),
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(subAlone.status, 400, 'a subject is unique only within its provider');
    assert.ok(
      seen.some(
        (e) => (e.detail as { action?: string })?.action === 'sessions.revoke' && e.actor === 'support',
      ),
    );
    const noUser = await api(gw.url, 'POST', 'sessions/revoke', {
      key: keys.support.key,
      body: JSON.stringify({ idp: 'corp' }),
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(noUser.status, 400);
  });

  it('reports version, config hash, load time, node version and uptime to any valid key', async (t) => {
    const gw = await startAdminGateway(t, routesYaml('http://127.0.0.1:9/'));
    const r = await api(gw.url, 'GET', 'status', { key: keys.brand.key });
    assert.equal(r.status, 200);
    const s = json<{
      version: string;
      node: string;
      config: { hash: string; loadedAt: string };
      replicas: unknown;
      uptimeSeconds: number;
    }>(r);
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
    assert.equal(s.version, pkg.version);
    assert.equal(s.node, process.version);
    assert.equal(s.config.hash, gw.gateway.config().sourceHash);
    assert.equal(s.config.loadedAt, gw.gateway.config().loadedAt.toISOString());
    assert.equal(s.replicas, 'unknown');
    assert.equal(typeof s.uptimeSeconds, 'number');
    assert.equal((await api(gw.url, 'GET', 'nothing-here', { key: keys.brand.key })).status, 404);
  });
});

describe('admin listener', () => {
  it('with admin.listen serves the API only on its own loopback listener and 404s it on the main port', async (t) => {
    let listening!: (url: string) => void;
    const adminUrl = new Promise<string>((resolve) => (listening = resolve));
    const gw = await startAdminGateway(
      t,
      routesYaml('http://127.0.0.1:9/', { admin: '  listen: { port: 0 }\n' }),
      { onListening: (url) => listening(url) },
    );
    const url = await adminUrl;
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal((await api(url, 'GET', 'status', { key: keys.ci.key })).status, 200);
    const onMain = await api(gw.url, 'GET', 'status', { key: keys.ci.key });
    assert.equal(onMain.status, 404);
    assert.equal(json(onMain).error, 'PORTICO_ERR_NOT_FOUND');
    assert.equal((await send(url, '/other')).status, 404);
  });
});
