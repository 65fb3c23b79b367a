/**
 * nginx parity of several upstream servers: nginx's `upstream { server … max_fails=1
 * fail_timeout=10s; … }` with the default `proxy_next_upstream error timeout`, and Portico's
 * `upstreams: { servers, maxFails: 1, failTimeout: 10s }`, each in front of its own pair of servers
 * (one that resets every connection, one that answers), get the same requests and must agree on
 * what the client gets and on which server saw what. `deliberate differences` asserts both
 * behaviours where Portico differs on purpose.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { deadPort, type ResettingServer, startResettingServer } from '../helpers/failingServers.ts';
import { startGateway } from '../helpers/gateway.ts';
import { send } from '../helpers/http.ts';
import { startNginx } from '../helpers/nginx.ts';
import { startUpstream, type Upstream } from '../helpers/upstream.ts';

type Side = { name: string; url: string; failing: ResettingServer; live: Upstream };

const hostPort = (url: string) => new URL(url).host;

/** nginx and Portico, each before a failing server (listed first) and a live one. */
async function sides(t: TestContext, failingUrl?: (s: ResettingServer) => Promise<string>): Promise<Side[]> {
  const out: Side[] = [];
  for (const name of ['nginx', 'portico']) {
    const failing = await startResettingServer();
    const live = await startUpstream();
    t.after(() => Promise.all([failing.close(), live.close()]));
    const first = failingUrl ? await failingUrl(failing) : failing.url;
    const servers = [first, live.url];
    const url =
      name === 'nginx'
        ? (
            await startNginx(t, {
              httpDirectives: [
                `upstream pool { ${servers.map((s) => `server ${hostPort(s)} max_fails=1 fail_timeout=10s;`).join(' ')} }`,
              ],
              routes: [
                { path: '/', upstream: 'http://pool/', directives: ['proxy_next_upstream error timeout;'] },
              ],
            })
          ).url
        : (
            await startGateway(
              t,
              `routes:
  - id: app
    path: /
    upstreams: { servers: [${servers.map((s) => `"${s}"`).join(', ')}], maxFails: 1, failTimeout: 10s }
`,
            )
          ).url;
    out.push({ name, url, failing, live });
  }
  return out;
}

const body = { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'order #1' } as const;

describe('nginx parity of several upstream servers', () => {
  it('send a GET reset by the first server on to the second, then leave the first out (max_fails=1)', async (t) => {
    for (const s of await sides(t)) {
      const statuses: number[] = [];
      for (let i = 0; i < 5; i++) statuses.push((await send(s.url, `/get/${i}`)).status);
      assert.deepEqual(statuses, [200, 200, 200, 200, 200], s.name);
      assert.equal(s.failing.connections, 1, `${s.name}: the failing server was tried once`);
      assert.deepEqual(
        s.live.requests.map((r) => r.url),
        ['/get/0', '/get/1', '/get/2', '/get/3', '/get/4'],
        s.name,
      );
    }
  });

  it('answer 502 to a POST the first server reset after it was sent, and send the next POST to the second', async (t) => {
    for (const s of await sides(t)) {
      assert.equal((await send(s.url, '/post/1', body)).status, 502, s.name);
      assert.equal(s.failing.connections, 1, s.name);
      assert.equal(s.live.requests.length, 0, `${s.name}: the POST was not sent twice`);
      assert.equal((await send(s.url, '/post/2', body)).status, 200, s.name);
      assert.deepEqual(
        s.live.requests.map((r) => `${r.method} ${r.url} ${r.body}`),
        ['POST /post/2 order #1'],
        s.name,
      );
    }
  });

  it('send a POST without a body on to the second server when the first refuses the connection', async (t) => {
    const [nginx, portico] = await sides(t, async () => `http://127.0.0.1:${await deadPort()}/`);
    for (const s of [nginx!, portico!]) {
      assert.equal((await send(s.url, '/empty', { method: 'POST' })).status, 200, s.name);
      assert.deepEqual(
        s.live.requests.map((r) => `${r.method} ${r.url}`),
        ['POST /empty'],
        s.name,
      );
    }
  });

  describe('deliberate differences from nginx', () => {
    it('answers 502 to a POST with a body whose connection was refused, where nginx sends the body to the next server', async (t) => {
      // nginx buffers a request body before it connects, so it can send it again; Portico streams it
      // to the upstream as it arrives and never holds a copy, so a body is sent once or not at all.
      const [nginx, portico] = await sides(t, async () => `http://127.0.0.1:${await deadPort()}/`);
      assert.equal((await send(nginx!.url, '/refused', body)).status, 200);
      assert.equal(nginx!.live.requests.length, 1);
      assert.equal((await send(portico!.url, '/refused', body)).status, 502);
      assert.equal(portico!.live.requests.length, 0);
    });

    it('tries the servers again when every one is out, where nginx answers 502 "no live upstreams" without trying', async (t) => {
      // Both servers reset: after the first request both are out for fail_timeout. nginx then refuses
      // at once; Portico sends the request anyway, so a server that has come back is found at once.
      const [nginx, portico] = await sides(t);
      for (const s of [nginx!, portico!]) {
        await s.live.close();
        assert.equal((await send(s.url, '/down/1')).status, 502, s.name);
        assert.equal(s.failing.connections, 1, s.name);
      }
      assert.equal((await send(nginx!.url, '/down/2')).status, 502);
      assert.equal(nginx!.failing.connections, 1, 'nginx did not try again');
      assert.equal((await send(portico!.url, '/down/2')).status, 502);
      assert.equal(portico!.failing.connections, 2, 'Portico tried again');
    });
  });
});
