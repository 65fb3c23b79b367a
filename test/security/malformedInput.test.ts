// Input a client or an operator can send that no parser should choke on: a cookie with broken
// percent-encoding and a YAML alias bomb. Each answers a clear 4xx (or a config error with its
// line), never a 500 or a stack trace.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { api, keys, routesYaml, startAdminGateway } from '../admin/helpers.ts';
import { startGateway } from '../helpers/gateway.ts';
import { json, send } from '../helpers/http.ts';
import { SESSION_SECRET } from '../helpers/sso.ts';
import { startUpstream } from '../helpers/upstream.ts';

const TWO_PROVIDERS = `publicUrl: http://127.0.0.1:1
session: { secret: ${SESSION_SECRET} }
identityProviders:
  - { id: github, type: github, clientId: abc, clientSecret: def }
  - { id: gitlab, type: gitlab, baseUrl: "https://gitlab.example.com", clientId: abc, clientSecret: def }
routes:
  - { id: app, path: /, upstream: "http://127.0.0.1:9/", auth: required }
`;

/** Each `*b` expands nine `*a`, and so on: four levels are 9⁴ scalars from a few lines. */
const ALIAS_BOMB = `a: &a ["x","x","x","x","x","x","x","x","x"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
routes:
  - { id: app, path: /, upstream: "http://127.0.0.1:9/" }
`;

describe('cookies with broken percent-encoding', () => {
  it('shows the login chooser when portico_idp=%E0%A4%A is sent, as if the cookie were absent', async (t) => {
    const gw = await startGateway(t, TWO_PROVIDERS);
    for (const cookie of ['portico_idp=%E0%A4%A', 'a=%; portico_idp=%E0%A4%A; b=%zz', 'portico_idp=%']) {
      const r = await send(gw.url, '/_portico/login', { headers: { cookie } });
      assert.equal(r.status, 200, `${cookie}: ${r.status} ${r.text.slice(0, 200)}`);
      assert.match(r.text, /portico-login-github/, cookie);
    }
  });

  it('still honours a well-formed remembered provider next to broken cookies', async (t) => {
    const gw = await startGateway(t, TWO_PROVIDERS);
    const r = await send(gw.url, '/_portico/login', {
      headers: { cookie: 'x=%E0%A4%A; portico_idp=gitlab' },
    });
    assert.equal(r.status, 302);
    assert.equal(r.headers.location, '/_portico/login/gitlab');
  });
});

describe('cookies with broken percent-encoding, everywhere a cookie is read', () => {
  it('are read tolerantly by sessions, sign-ins and sign-out, and reach the upstream as sent', async (t) => {
    const up = await startUpstream();
    t.after(() => up.close());
    const gw = await startGateway(
      t,
      TWO_PROVIDERS.replace(
        /routes:[\s\S]*/,
        `routes:
  - { id: app, path: /app/, upstream: "${up.url}", auth: required }
  - { id: opt, path: /opt/, upstream: "${up.url}", auth: optional }
  - { id: open, path: /, upstream: "${up.url}" }
`,
      ),
    );
    const cookie = 'portico_session=%E0%A4%A; portico_login=%; theme=%zz';
    const status = async (path: string, method = 'GET') =>
      (await send(gw.url, path, { method, headers: { cookie, accept: 'application/json' } })).status;
    assert.equal(await status('/app/x'), 401, 'a required route: not signed in');
    assert.equal(await status('/opt/x'), 200, 'an optional route: anonymous');
    assert.equal(await status('/x'), 200, 'a public route');
    assert.equal(up.last().headers.cookie, 'theme=%zz', "the upstream's own cookie, byte for byte");
    assert.equal(await status('/_portico/me'), 401);
    assert.equal(await status('/_portico/login/github'), 302);
    assert.equal(await status('/_portico/callback/github?code=c&state=s'), 400);
    assert.ok((await status('/_portico/logout')) < 500);
  });
});

describe('a YAML alias bomb', () => {
  it('is refused by POST /_portico/admin/config/validate with 422 and the line of the first alias', async (t) => {
    const gw = await startAdminGateway(t, routesYaml('http://127.0.0.1:9/'));
    const r = await api(gw.url, 'POST', 'config/validate', {
      key: keys.reader.key,
      body: ALIAS_BOMB,
      headers: { 'content-type': 'application/yaml' },
    });
    assert.equal(r.status, 422, r.text);
    const body = json<{ error: string; problems: { line?: number; message: string }[] }>(r);
    assert.equal(body.error, 'PORTICO_ERR_INVALID_CONFIG');
    assert.equal(body.problems.length, 1);
    assert.equal(body.problems[0]!.line, 2);
    assert.match(body.problems[0]!.message, /alias/i);
  });

  it('is refused as an uploaded brand.yaml with 422, and nothing is written', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'portico-brand-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const gw = await startAdminGateway(t, routesYaml('http://127.0.0.1:9/'), { branding: { dir } });
    const r = await api(gw.url, 'PUT', 'branding/assets/brand.yaml', {
      key: keys.brand.key,
      body: ALIAS_BOMB.replace(/^routes:[\s\S]*/m, 'productName: Acme\n'),
      headers: { 'content-type': 'application/yaml' },
    });
    assert.equal(r.status, 422, r.text);
    assert.equal(json<{ problems: { line: number }[] }>(r).problems[0]!.line, 2);
    assert.deepEqual(readdirSync(dir), []);
  });

  it('makes `portico validate` print one config error with its line and exit 1, without a stack trace', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'portico-bomb-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'routes.yaml');
    writeFileSync(file, ALIAS_BOMB);
    const r = spawnSync(process.execPath, ['scripts/portico.js', 'validate', file], { encoding: 'utf8' });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /routes\.yaml: invalid, 1 error\n {2}\S*routes\.yaml:2:\d+ +b\[0\]: .*alias/);
    assert.doesNotMatch(r.stderr, /\n\s+at |ReferenceError/);
  });
});
