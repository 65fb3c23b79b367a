import assert from 'node:assert/strict';
import { request } from 'node:http';
import { describe, it } from 'node:test';
import { startGateway } from '../helpers/gateway.ts';
import { send } from '../helpers/http.ts';
import { startUpstream, upstreamFor } from '../helpers/upstream.ts';
import { until } from '../helpers/eventually.ts';

const routesTo = (a: string, b: string) =>
  `routes:\n  - { id: ai, path: /dce5/, upstream: "${a}" }\n  - { id: customer, path: /, upstream: "${b}" }\n`;

describe('hot reload', () => {
  it('picks up a changed routes.yaml without a restart', async (t) => {
    const one = await startUpstream({ handler: (_q, s) => s.end('one') });
    const two = await startUpstream({ handler: (_q, s) => s.end('two') });
    t.after(() => Promise.all([one.close(), two.close()]));
    const gw = await startGateway(t, routesTo(one.url, one.url), { watch: true });
    assert.equal((await send(gw.url, '/dce5/')).text, 'one');
    gw.write(routesTo(two.url, one.url));
    await until(async () => (await send(gw.url, '/dce5/')).text === 'two');
    assert.equal((await send(gw.url, '/')).text, 'one');
  });

  it('rejects a broken file with its errors and keeps serving the last good config', async (t) => {
    const one = await upstreamFor(t, { handler: (_q, s) => s.end('one') });
    const gw = await startGateway(t, routesTo(one.url, one.url), { watch: false });
    const before = gw.gateway.config();
    gw.write('routes:\n  - { id: ai, path: dce5, upstream: nope }\n');
    const result = gw.gateway.reload();
    assert.equal(result.ok, false);
    if (!result.ok) {
      assert.deepEqual(
        result.error.problems.map((p) => [p.line, p.path]),
        [
          [2, 'routes[0].path'],
          [2, 'routes[0].upstream'],
        ],
      );
    }
    assert.equal(gw.gateway.config(), before);
    assert.equal((await send(gw.url, '/dce5/')).text, 'one');
  });

  it('serves concurrent traffic through twenty reloads with zero failed requests', async (t) => {
    const one = await startUpstream({ handler: (_q, s) => s.end('one') });
    const two = await startUpstream({ handler: (_q, s) => s.end('two') });
    t.after(() => Promise.all([one.close(), two.close()]));
    const gw = await startGateway(t, routesTo(one.url, one.url), { watch: false });
    let stop = false;
    let ok = 0;
    const failures: string[] = [];
    const url = new URL(gw.url);
    const worker = async () => {
      while (!stop) {
        await new Promise<void>((resolve) => {
          const req = request({ hostname: url.hostname, port: url.port, path: '/dce5/x' }, (res) => {
            res.resume();
            res.on('end', () => {
              if (res.statusCode === 200) ok++;
              else failures.push(String(res.statusCode));
              resolve();
            });
          });
          req.on('error', (e) => {
            failures.push(e.message);
            resolve();
          });
          req.end();
        });
      }
    };
    const workers = Array.from({ length: 8 }, worker);
    for (let i = 0; i < 20; i++) {
      // Reloads spread over the traffic: each waits for a few more requests to complete, however
      // fast the machine serves them.
      const served = ok;
      await until(() => ok >= served + 6, 10_000, 'requests between reloads', 5);
      gw.write(routesTo(i % 2 ? one.url : two.url, one.url));
      const r = gw.gateway.reload();
      assert.equal(r.ok, true);
      if (i === 10) {
        gw.write('routes: [ broken');
        assert.equal(gw.gateway.reload().ok, false);
      }
    }
    stop = true;
    await Promise.all(workers);
    assert.deepEqual(failures, []);
    assert.ok(ok > 100, `only ${ok} requests completed`);
  });
});
