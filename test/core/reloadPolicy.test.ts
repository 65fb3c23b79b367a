// Which keys a reload applies and which need a restart (gateway/config/reloadPolicy.ts): a
// reload that changes a restart-only key says so by name and keeps the running value.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startGateway } from '../helpers/gateway.ts';
import { json, send } from '../helpers/http.ts';
import { login, SESSION_SECRET, startSso } from '../helpers/sso.ts';
import { startUpstream, upstreamFor } from '../helpers/upstream.ts';

describe('reload policy', () => {
  it('names a changed session secret, keeps the running one, and applies the rest of the file', async (t) => {
    const one = await startUpstream({ handler: (_q, r) => r.end('one') });
    const two = await startUpstream({ handler: (_q, r) => r.end('two') });
    t.after(() => Promise.all([one.close(), two.close()]));
    const s = await startSso(t, `  - { id: app, path: /, upstream: "${one.url}", auth: required }\n`);
    const { client } = await login(s, 'alice', '/');
    const events: { ok: boolean; restartNeeded?: string[] }[] = [];
    s.gw.gateway.events.on('configReload', (e) => events.push(e));

    s.gw.write(
      s.yaml.replace(SESSION_SECRET, `${SESSION_SECRET}-rotated-without-a-restart`).replace(one.url, two.url),
    );
    const r = s.gw.gateway.reload();
    assert.equal(r.ok, true);
    assert.deepEqual(r.ok && r.restartNeeded, ['session']);
    assert.deepEqual(events.at(-1)?.restartNeeded, ['session']);
    // The running secret is kept (the session still works) and the new upstream is used.
    const page = await client.request('/', { headers: { accept: 'application/json' } });
    assert.equal(page.status, 200);
    assert.equal(page.text, 'two');
    assert.deepEqual(s.gw.gateway.config().session.secrets, [SESSION_SECRET]);
    const ready = json<{ checks: { config: { restartNeeded?: string[] } } }>(
      await send(s.gw.url, '/_portico/readyz'),
    );
    assert.deepEqual(ready.checks.config.restartNeeded, ['session']);
  });

  it('keeps listening where it listens when listen changes, and says so', async (t) => {
    const up = await upstreamFor(t);
    const gw = await startGateway(t, `routes:\n  - { id: app, path: /, upstream: "${up.url}" }\n`);
    gw.write(
      `listen: { port: 1 }\nlimits: { maxHeaderSize: 4096, maxUrlLength: 300 }\nroutes:\n  - { id: app, path: /, upstream: "${up.url}" }\n`,
    );
    const r = gw.gateway.reload();
    assert.equal(r.ok, true);
    assert.deepEqual(r.ok && r.restartNeeded.sort(), ['limits.maxHeaderSize', 'listen']);
    assert.equal((await send(gw.url, '/')).status, 200, 'still answering on the old port');
    assert.equal(gw.gateway.config().limits.maxHeaderSize, 16384, 'the server keeps its running limits');
    assert.equal(gw.gateway.config().limits.maxUrlLength, 300, 'a limit read per request applies at once');
  });

  it('names a changed logging.format, which the logger made at start keeps', async (t) => {
    const up = await upstreamFor(t);
    const routes = `routes:\n  - { id: app, path: /, upstream: "${up.url}" }\n`;
    const gw = await startGateway(t, `logging: { format: json }\n${routes}`);
    gw.write(`logging: { format: pretty }\n${routes}`);
    const r = gw.gateway.reload();
    assert.equal(r.ok, true);
    assert.deepEqual(r.ok && r.restartNeeded, ['logging.format']);
  });

  it('refuses a reload that only works with values it cannot apply without a restart', async (t) => {
    const up = await upstreamFor(t);
    const gw = await startGateway(t, `routes:\n  - { id: app, path: /, upstream: "${up.url}" }\n`);
    // Sign-in needs a session secret, and session settings only change with a restart.
    gw.write(`publicUrl: http://127.0.0.1:1
session: { secret: ${SESSION_SECRET} }
identityProviders:
  - { id: corp, type: oidc, issuer: "http://127.0.0.1:1", clientId: portico }
routes:
  - { id: app, path: /, upstream: "${up.url}", auth: required }
`);
    const r = gw.gateway.reload();
    assert.equal(r.ok, false);
    if (!r.ok)
      assert.match(
        r.error.message,
        /session\.secret is required.*with the running session: it needs a restart/s,
      );
    assert.equal((await send(gw.url, '/')).status, 200, 'the last good config keeps serving');
  });

  it('says when a file is good again after a rejected edit, even when nothing changed', async (t) => {
    const up = await upstreamFor(t);
    const yaml = `routes:\n  - { id: app, path: /, upstream: "${up.url}" }\n`;
    const gw = await startGateway(t, yaml);
    const events: { ok: boolean; recovered?: boolean }[] = [];
    gw.gateway.events.on('configReload', (e) => events.push(e));
    gw.write('routes: [ broken');
    assert.equal(gw.gateway.reload().ok, false);
    gw.write(yaml);
    assert.equal(gw.gateway.reload().ok, true);
    assert.deepEqual(
      events.map((e) => [e.ok, e.recovered ?? false]),
      [
        [false, false],
        [true, true],
      ],
    );
  });
});
