// A routes.yaml that turns into something no reader should open (a FIFO nobody writes to) while
// the gateway runs: the watcher and a reload refuse it at once and the last good config keeps
// serving; the event loop is never held by a read that cannot end.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { describe, it } from 'node:test';
import { startGateway } from '../helpers/gateway.ts';
import { send } from '../helpers/http.ts';
import { upstreamFor } from '../helpers/upstream.ts';

describe('a routes.yaml replaced by a FIFO while serving', () => {
  it('is refused by the watcher and by a reload, and the gateway keeps answering', async (t) => {
    const up = await upstreamFor(t, { handler: (_q, s) => s.end('still served') });
    const gw = await startGateway(t, `routes:\n  - { id: site, path: /, upstream: "${up.url}" }\n`, {
      watch: true,
    });
    const reloads: { ok: boolean }[] = [];
    gw.gateway.events.on('configReload', (e) => reloads.push(e));
    const watcherJudged = new Promise<void>((resolve) =>
      gw.gateway.events.on('configReload', (e: { ok: boolean }) => {
        if (!e.ok) resolve();
      }),
    );
    rmSync(gw.file);
    assert.equal(spawnSync('mkfifo', [gw.file]).status, 0);
    // The watcher refuses it (a blocked read would stop every answer after it, and this event).
    await watcherJudged;
    assert.equal((await send(gw.url, '/x')).text, 'still served');
    const result = gw.gateway.reload();
    assert.equal(result.ok, false);
    assert.match(JSON.stringify(result), /not a regular file/);
    assert.equal((await send(gw.url, '/y')).text, 'still served');
    assert.ok(
      reloads.every((r) => !r.ok),
      'no reload applied a FIFO',
    );
  });
});
