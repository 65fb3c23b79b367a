// A routes.yaml rewritten in place (scp, an editor without atomic save) is not reloaded until it
// stops changing: half a file once went live and an `auth: required` route answered without login.
import assert from 'node:assert/strict';
import { closeSync, openSync, writeSync } from 'node:fs';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { startGateway } from '../helpers/gateway.ts';
import { send } from '../helpers/http.ts';
import { upstreamFor } from '../helpers/upstream.ts';
import { until } from '../helpers/eventually.ts';

const config = (upstream: string, newUpstream?: string) => `publicUrl: http://localhost:8080
session: { secret: "0123456789abcdef0123456789abcdef0123456789" }
identityProviders:
  - { id: corp, type: oidc, issuer: "http://127.0.0.1:9/", clientId: portico, clientSecret: "abcdefabcdefabcdef" }
routes:
${newUpstream ? `  - id: new\n    path: /new/\n    upstream: "${newUpstream}"\n` : ''}  - id: admin
    path: /admin/
    upstream: "${upstream}"
    auth: required
  - id: site
    path: /
    upstream: "${upstream}"
`;

describe('hot reload of a file written in place', () => {
  it('waits until the file stops changing: the half-written states are never served', async (t) => {
    const up = await upstreamFor(t, { handler: (q, s) => s.end(`upstream saw ${q.url}`) });
    const other = await upstreamFor(t, { handler: (_q, s) => s.end('new route') });
    const gw = await startGateway(t, config(up.url), { watch: true });
    const reloads: { ok: boolean }[] = [];
    gw.gateway.events.on('configReload', (e) => reloads.push(e));
    const admin = () => send(gw.url, '/admin/secret', { headers: { accept: 'application/json' } });
    assert.notEqual((await admin()).status, 200);

    // Poll the protected route for the whole write and until the new file is live.
    let writing = true;
    const seen: number[] = [];
    const poller = (async () => {
      while (writing) {
        seen.push((await admin()).status);
        await sleep(20);
      }
    })();

    // Three parts, each pause longer than the old 150 ms debounce: after the first the file has
    // only the new route (every other route gone), after the second the admin route lacks
    // `auth: required` — both valid configs, neither may go live.
    const full = config(up.url, other.url);
    const cuts = [0, full.indexOf('  - id: admin'), full.indexOf('    auth: required'), full.length];
    const fd = openSync(gw.file, 'w');
    for (let i = 0; i < cuts.length - 1; i++) {
      if (i > 0) await sleep(350);
      writeSync(fd, full.slice(cuts[i], cuts[i + 1]));
    }
    closeSync(fd);

    await until(async () => (await send(gw.url, '/new/x')).text === 'new route');
    writing = false;
    await poller;
    assert.ok(seen.length > 20, `polled ${seen.length} times`);
    assert.deepEqual(
      seen.filter((s) => s === 200 || s === 404),
      [],
      'the protected route answered without login, or was gone, while the file was written',
    );
    assert.deepEqual(reloads, [reloads[0]]);
    assert.equal(reloads[0]?.ok, true);
    assert.notEqual((await admin()).status, 200);
    assert.equal((await send(gw.url, '/x')).text, 'upstream saw /x');
  });
});
