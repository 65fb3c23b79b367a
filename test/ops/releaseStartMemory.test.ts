// Once the started gateway is idle, one collection gives back what the start grew: it waits until
// no request has ended for a second, shrinks the young generation, and prints nothing.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { getHeapSpaceStatistics } from 'node:v8';
import { pino } from 'pino';
import type { HttpContext } from '../../gateway/context.ts';
import { createEventBus } from '../../gateway/events.ts';
import { releaseStartMemory } from '../../gateway/observe/releaseStartMemory.ts';

const youngGeneration = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')!.space_size;

describe('releasing the memory of the start', () => {
  // First: Node says an experimental notice once per process, so only the first call can show it.
  it('shrinks the young generation a start grew, without a warning on stderr', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error) => warnings.push(w);
    process.on('warning', onWarning);
    // What loading modules does: many objects that survive, so V8 grows the young generation.
    const kept: unknown[] = [];
    for (let i = 0; i < 300_000; i++) kept.push({ i, s: `x${i}` });
    const grown = youngGeneration();
    kept.length = 0;
    const events = createEventBus(pino({ level: 'silent' }));
    let done!: () => void;
    const collected = new Promise<void>((resolve) => {
      done = resolve;
    });
    releaseStartMemory(events, { debug: () => done() });
    await collected;
    const after = youngGeneration();
    await sleep(10); // warnings are emitted on the next tick
    process.off('warning', onWarning);
    assert.ok(after < grown, `young generation ${grown / 2 ** 20} MB → ${after / 2 ** 20} MB`);
    assert.deepEqual(
      warnings.map((w) => w.message),
      [],
    );
  });

  it('collects once the gateway has been idle for a second, not while requests keep ending', async () => {
    const events = createEventBus(pino({ level: 'silent' }));
    const released: number[] = [];
    releaseStartMemory(events, { debug: (o) => released.push((o as { ms: number }).ms) });
    const ended = () =>
      events.emit('request', {
        ctx: {} as HttpContext,
        kind: 'http',
        routeId: 'app',
        own: false,
        method: 'GET',
        status: 200,
        durationMs: 1,
        aborted: false,
      });
    for (let i = 0; i < 12; i++) {
      ended();
      await sleep(200);
    }
    assert.deepEqual(released, [], 'not while requests end');
    assert.ok(events.has('request'), 'still watching');
    await sleep(2300);
    assert.equal(released.length, 1);
    assert.ok(!events.has('request'), 'stops watching the requests once done');
  });
});
