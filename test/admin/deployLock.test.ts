// The lock beside routes.yaml that keeps two deploys (workers of --workers, gateways sharing a file)
// from both replacing it: a stale lock left by a dead process is taken over by exactly one deploy.
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { withDeployLock } from '../../gateway/admin/deployLock.ts';

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ticks = (n: number) =>
  new Promise<void>((resolve) => {
    const turn = (left: number) => (left === 0 ? resolve() : setImmediate(() => turn(left - 1)));
    turn(n);
  });

async function folder(t: { after: (fn: () => Promise<void>) => void }) {
  const dir = await mkdtemp(join(tmpdir(), 'portico-lock-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'routes.yaml');
  await writeFile(file, 'routes: []\n');
  return { dir, file, lock: join(dir, '.routes.yaml.lock') };
}

const old = new Date(Date.now() - 10 * 60_000);

describe('the deploy lock', () => {
  it('lets exactly one of many deploys take over a stale lock at a time', async (t) => {
    const { dir, file, lock } = await folder(t);
    const crowded: number[] = [];
    for (let round = 0; round < 150; round++) {
      // A lock left by a process that died mid-deploy ten minutes ago.
      await writeFile(lock, 'dead');
      await utimes(lock, old, old);
      let inside = 0;
      let most = 0;
      let ran = 0;
      await Promise.allSettled(
        Array.from({ length: 6 }, (_, i) =>
          // Arriving a few turns of the event loop apart, as requests do: one may find the lock
          // another has just taken over.
          ticks(i * (round % 5)).then(() =>
            withDeployLock(file, async () => {
              inside++;
              ran++;
              most = Math.max(most, inside);
              await pause(5);
              inside--;
            }),
          ),
        ),
      );
      assert.ok(ran >= 1, 'someone took the stale lock over');
      if (most > 1) crowded.push(round);
    }
    assert.deepEqual(crowded, [], 'rounds in which two deploys held the lock at once');
    assert.deepEqual(
      (await readdir(dir)).filter((n) => n !== 'routes.yaml'),
      [],
      'nothing is left behind',
    );
  });

  it('a deploy whose lock was taken over does not release the new holder’s lock', async (t) => {
    const { file, lock } = await folder(t);
    let secondInside = false;
    let second: Promise<void> | undefined;
    await withDeployLock(file, async () => {
      // Seen as stale (a deploy stuck for longer than the stale age): the second takes it over.
      await utimes(lock, old, old);
      second = withDeployLock(file, async () => {
        secondInside = true;
        await pause(300);
        secondInside = false;
      });
      await pause(50);
    });
    // The first has finished while the second holds the lock: what the first released was its own.
    const third = await withDeployLock(file, async () => secondInside).catch((err: Error) => err);
    await second;
    assert.ok(third instanceof Error, `the third deploy ran (while the second held the lock: ${third})`);
    assert.match(third.message, /Another deploy/);
  });
});
