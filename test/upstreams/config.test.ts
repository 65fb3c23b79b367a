import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfigText } from '../../gateway/config/loadConfig.ts';
import { startGateway } from '../helpers/gateway.ts';
import { send } from '../helpers/http.ts';
import { startUpstream } from '../helpers/upstream.ts';

function problemsOf(text: string) {
  try {
    loadConfigText(text, { env: {} });
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  assert.fail('the config was accepted');
}

describe('several upstream servers: configuration', () => {
  it('refuses what cannot work, each problem at its line', () => {
    const problems = problemsOf(`routes:
  - id: both
    path: /both/
    upstream: http://10.0.0.1/
    upstreams: { servers: [http://10.0.0.2/] }
  - id: paths
    path: /paths/
    upstreams:
      servers:
        - http://10.0.0.1:8080/app/
        - http://10.0.0.2:8080/other/
        - { url: "https://10.0.0.3:8443/app/" }
        - http://10.0.0.1:8080/app/
  - id: backups
    path: /backups/
    upstreams: { servers: [{ url: http://10.0.0.1/, backup: true }] }
  - id: sticky
    path: /sticky/
    upstreams: { servers: [http://10.0.0.1/], sticky: session }
  - id: shape
    path: /shape/
    upstreams:
      servers: [ftp://10.0.0.1/, { url: http://10.0.0.2/, weight: 0 }]
      balance: random
      failTimeout: soon
`);
    assert.deepEqual(
      problems.map((p) => [p.line, p.path]).sort((a, b) => Number(a[0]) - Number(b[0])),
      [
        [4, 'routes[0].upstream'],
        [11, 'routes[1].upstreams.servers[1]'],
        [12, 'routes[1].upstreams.servers[2].url'],
        [13, 'routes[1].upstreams.servers[3]'],
        [16, 'routes[2].upstreams.servers'],
        [19, 'routes[3].upstreams.sticky'],
        [23, 'routes[4].upstreams.servers[0]'],
        [23, 'routes[4].upstreams.servers[1].weight'],
        [24, 'routes[4].upstreams.balance'],
        [25, 'routes[4].upstreams.failTimeout'],
      ],
    );
    const message = (path: string) => problems.find((p) => p.path === path)?.message ?? '';
    assert.match(message('routes[0].upstream'), /either upstream \(one server\) or upstreams \(several\)/);
    assert.match(message('routes[1].upstreams.servers[1]'), /same scheme and path.*\/other\/.*servers\[0\]/);
    assert.match(message('routes[1].upstreams.servers[2].url'), /same scheme and path.*https:/);
    assert.match(message('routes[1].upstreams.servers[3]'), /listed twice \(also servers\[0\]\)/);
    assert.match(message('routes[2].upstreams.servers'), /at least one server that is not a backup/);
    assert.match(message('routes[3].upstreams.sticky'), /no login/);
    assert.match(message('routes[4].upstreams.balance'), /round-robin/);
    assert.match(
      message('routes[4].upstreams.servers[0]'),
      /"ftp:\/\/10\.0\.0\.1\/" must be an http:\/\/ or https:\/\/ URL/,
    );
  });

  it('compiles the servers with nginx defaults, and a route with one upstream has no server list', () => {
    const config = loadConfigText(
      `routes:
  - id: one
    path: /one/
    upstream: http://10.0.0.9/
  - id: app
    path: /app/
    upstreams: { servers: [http://10.0.0.1/base/, { url: "http://10.0.0.2:81/base/", weight: 3, backup: true }] }
`,
      { env: {} },
    );
    const one = config.routes.find((r) => r.id === 'one')!;
    const app = config.routes.find((r) => r.id === 'app')!;
    assert.equal(one.servers, undefined);
    assert.equal(app.upstreamBasePath, '/base/');
    assert.deepEqual(
      app.servers?.list.map((s) => [s.origin, s.host, s.weight, s.backup]),
      [
        ['http://10.0.0.1', '10.0.0.1', 1, false],
        ['http://10.0.0.2:81', '10.0.0.2:81', 3, true],
      ],
    );
    assert.deepEqual(
      [app.servers?.balance, app.servers?.maxFails, app.servers?.failTimeoutMs, app.servers?.sticky],
      ['round-robin', 1, 10_000, false],
    );
    // Location headers naming any of the servers are rewritten under the prefix.
    assert.ok(app.upstreamOrigins.includes('http://10.0.0.2:81'));
    assert.ok(app.upstreamOrigins.includes('http://10.0.0.1:80'));
  });

  it('applies a changed server list on reload, and one upstream again', async (t) => {
    const a = await startUpstream({ handler: (_q, s) => s.end('a') });
    const b = await startUpstream({ handler: (_q, s) => s.end('b') });
    t.after(() => Promise.all([a.close(), b.close()]));
    const gw = await startGateway(
      t,
      `routes:\n  - { id: app, path: /, upstreams: { servers: ["${a.url}"] } }\n`,
    );
    const answers = async (n: number) => {
      const out: string[] = [];
      for (let i = 0; i < n; i++) out.push((await send(gw.url, '/')).text);
      return out.sort().join('');
    };
    assert.equal(await answers(2), 'aa');
    gw.write(`routes:\n  - { id: app, path: /, upstreams: { servers: ["${a.url}", "${b.url}"] } }\n`);
    assert.equal(gw.gateway.reload().ok, true);
    assert.equal(await answers(4), 'aabb');
    gw.write(`routes:\n  - { id: app, path: /, upstream: "${b.url}" }\n`);
    assert.equal(gw.gateway.reload().ok, true);
    assert.equal(await answers(2), 'bb');
  });
});
