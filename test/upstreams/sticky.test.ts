import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GatewayClient, login, startSso } from '../helpers/sso.ts';
import { startUpstream, type Upstream } from '../helpers/upstream.ts';

describe('several upstream servers: sticky sessions', () => {
  it('keeps a signed-in user on one server, moves them while it is out, and spreads the anonymous', async (t) => {
    const servers: Upstream[] = [];
    for (const name of ['a', 'b', 'c'])
      servers.push(await startUpstream({ handler: (_req, res) => res.end(name) }));
    t.after(() => Promise.all(servers.map((s) => s.close())));
    const setup = await startSso(
      t,
      `  - id: app
    path: /dce5/
    auth: optional
    upstreams: { servers: [${servers.map((s) => `"${s.url}"`).join(', ')}], sticky: session, failTimeout: 60s }
`,
    );
    const { client } = await login(setup, 'alice', '/_portico/login?rd=/dce5/');
    const answers = async (who: GatewayClient, n: number) => {
      const out = new Set<string>();
      for (let i = 0; i < n; i++) out.add((await who.request(`/dce5/${i}`)).text);
      return [...out];
    };
    const home = await answers(client, 6);
    assert.equal(home.length, 1, `alice stayed on one server (${home})`);
    // Nobody signed in: no session to stick to, so the servers take turns.
    assert.equal((await answers(new GatewayClient(setup.gw.url), 6)).length, 3);
    // Alice's server goes away: her next request fails over, and she stays on the new one.
    const gone = servers[['a', 'b', 'c'].indexOf(home[0]!)]!;
    await gone.close();
    const moved = await answers(client, 6);
    assert.equal(moved.length, 1, `alice moved to one other server (${moved})`);
    assert.notEqual(moved[0], home[0]);
  });
});
