// Paths two routes (or a route and its public paths) could disagree on once a backend reads them
// its own way, with both routes on one upstream, the way a product's admin area and the rest of it
// often are:
// - a Windows backend (IIS, http.sys, Kestrel on NTFS) drops trailing dots and spaces from path
//   segments and reads `name::$INDEX_ALLOCATION` / `name::$DATA` as `name`, so `/dce5/admin./x`
//   is the admin area to it while Portico judged it by the broader route;
// - a backend that decodes twice reads `%252e%252e` as `..`, so a login-free route's path can
//   climb to a protected one.
// Either is refused (400) before anything reaches the upstream; what Portico forwards otherwise
// is read the same by such backends.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfigText } from '../../gateway/config/loadConfig.ts';
import { explainRequest } from '../../gateway/explain/explainRequest.ts';
import { explainYaml } from '../helpers/configs.ts';
import { send } from '../helpers/http.ts';
import { startSso } from '../helpers/sso.ts';
import { upstreamFor } from '../helpers/upstream.ts';

const API = { accept: 'application/json' };

/** The targets not answered 400 before reaching the upstream, each with what happened instead. */
async function notRefused(
  base: string,
  app: { requests: { url?: string }[] },
  targets: string[],
): Promise<string[]> {
  const problems: string[] = [];
  for (const target of targets) {
    const before = app.requests.length;
    const r = await send(base, target, { headers: API });
    const reached = app.requests.slice(before).map((q) => q.url);
    if (r.status !== 400 || reached.length > 0)
      problems.push(`${target}: ${r.status}, the upstream received ${JSON.stringify(reached)}`);
  }
  return problems;
}

describe('paths a Windows backend reads as another route', () => {
  it('never reach a stricter route’s upstream path through a broader route', async (t) => {
    const app = await upstreamFor(t);
    // One Windows upstream: /dce5/admin/ (a login and the admins group) is its /admin/, /dce5/
    // (anonymous) all of it.
    const s = await startSso(
      t,
      `  - { id: admin, path: /dce5/admin/, upstream: "${app.url}admin/", auth: required, allow: { groups: [admins] } }
  - { id: dce5, path: /dce5/, upstream: "${app.url}", auth: none }
`,
    );
    assert.deepEqual(
      await notRefused(s.gw.url, app, [
        '/dce5/admin./x',
        '/dce5/admin../x',
        '/dce5/admin%2e/x',
        '/dce5/admin%20/x',
        '/dce5/admin.%20./x',
        '/dce5/admin::$INDEX_ALLOCATION/x',
        '/dce5/admin::$DATA/x',
        '/dce5/admin:$I30:$INDEX_ALLOCATION/x',
        '/dce5/ADMIN./x',
        '/dce5/Admin%20/x',
        '/dce5/admin.',
        '/dce5/admin%20',
        // A segment left as dots only: `..` to some readers.
        '/dce5/x/.../admin/',
        '/dce5/x/..%20/admin/',
        '/dce5/x/..::$INDEX_ALLOCATION/admin/',
      ]),
      [],
    );
    // Control: the admin area itself asks for a login; the rest, dotted names included, is open.
    assert.equal((await send(s.gw.url, '/dce5/admin/x', { headers: API })).status, 401);
    for (const [target, upstream] of [
      ['/dce5/admin.html', '/admin.html'],
      ['/dce5/administrator/x', '/administrator/x'],
      ['/dce5/v1.2/x', '/v1.2/x'],
      ['/dce5/apis/pod:8080/x', '/apis/pod:8080/x'],
      // A colon without an NTFS stream type is no way into the folder (Kubernetes ports,
      // Google-style custom methods): routed as sent.
      ['/dce5/admin:batchGet', '/admin:batchGet'],
      ['/dce5/admin:x/y', '/admin:x/y'],
      ['/dce5/docs/a.b.', '/docs/a.b.'],
    ]) {
      const r = await send(s.gw.url, target!, { headers: API });
      assert.equal(r.status, 200, target);
      assert.equal(app.last().url, upstream, target);
    }
  });

  it('never makes a path public that a Windows backend reads as outside the public one', async (t) => {
    const ai = await upstreamFor(t);
    const s = await startSso(
      t,
      `  - { id: ai, path: /dce5/, upstream: "${ai.url}", auth: required, public: [{ path: /dce5/auth/ }] }\n`,
    );
    // `..` to some Windows readers: not public (a login is asked), whichever way it is read.
    for (const target of ['/dce5/auth/.../apis/', '/dce5/auth/..%20/apis/', '/dce5/auth/..::$DATA/apis/']) {
      const before = ai.requests.length;
      const r = await send(s.gw.url, target, { headers: API });
      assert.equal(r.status, 401, target);
      assert.equal(ai.requests.length, before, target);
    }
    assert.equal(ai.requests.length, 0, 'nothing reached the upstream');
    assert.equal((await send(s.gw.url, '/dce5/auth./x', { headers: API })).status, 401);
    assert.equal((await send(s.gw.url, '/dce5/auth/x.', { headers: API })).status, 200);
  });
});

describe('paths a backend that decodes twice reads as another route', () => {
  it('never climb from a login-free route to a protected one', async (t) => {
    const app = await upstreamFor(t);
    // One upstream: /dce5/pub/ (no login) is its /pub/, /dce5/ (a login) all of it.
    const s = await startSso(
      t,
      `  - { id: pub, path: /dce5/pub/, upstream: "${app.url}pub/", auth: none }
  - { id: dce5, path: /dce5/, upstream: "${app.url}", auth: required }
`,
    );
    assert.deepEqual(
      await notRefused(s.gw.url, app, [
        '/dce5/pub/%252e%252e/apis/jobs',
        '/dce5/pub/%252E%252E/apis/jobs',
        '/dce5/pub/..%252fapis/jobs',
        '/dce5/pub/%252e%252e%252fapis/jobs',
        '/dce5/pub/..%255capis/jobs',
        '/dce5/pub/x/%252e%252e/%252e%252e/apis/jobs',
        '/dce5/pub/x%252f%252e%252e%252f%252e%252e%252fapis/jobs',
        // `..` beside a byte that is no UTF-8 once decoded twice (a decoder that drops it).
        '/dce5/pub/%252e%252e%252f%25ff%252e%252e%252fapis/jobs',
        '/dce5/pub/%252e%25ff%252e/apis/jobs',
        // A stricter route's prefix spelt with escapes a second decode resolves.
        '/dce5/pub/%252e%252e%252F',
      ]),
      [],
    );
    // Control: escapes that stay inside the login-free route, literal % signs included.
    for (const [target, upstream] of [
      ['/dce5/pub/50%25off.png', '/pub/50%25off.png'],
      ['/dce5/pub/100%25%20sure.pdf', '/pub/100%25%20sure.pdf'],
      ['/dce5/pub/a%2520b', '/pub/a%2520b'],
      ['/dce5/pub/x/%252e%252e/y', '/pub/x/%252e%252e/y'],
      ['/dce5/pub/%25ff', '/pub/%25ff'],
    ]) {
      const r = await send(s.gw.url, target!, { headers: API });
      assert.equal(r.status, 200, target);
      assert.equal(app.last().url, upstream, target);
    }
    assert.equal((await send(s.gw.url, '/dce5/apis/jobs', { headers: API })).status, 401);
  });
});

describe('portico explain on such paths', () => {
  it('says which backend reads the path as which route', () => {
    const config = loadConfigText(explainYaml({ session: 's'.repeat(40), oidc: 'x' }), { env: {} });
    const explain = (target: string) => explainRequest(config, { method: 'GET', target }).outcome;
    assert.match(explain('/dce5./x').summary, /a Windows backend reads it as \/dce5\/x \(ai-platform\)/);
    assert.match(
      explain('/x/%252e%252e/dce5/').summary,
      /a backend that decodes twice reads it as \/dce5\/ \(ai-platform\)/,
    );
    assert.match(explain('/DCE5/x').summary, /reads it as \/dce5\/x \(ai-platform\)/);
    const dots = explain('/x/.../dce5/');
    assert.equal(dots.status, 400);
    assert.match(dots.summary, /a Windows backend reads it as \/dce5\/ \(ai-platform\)/);
  });
});
