// The one collection after the start waits until no request has ended for a second.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { createEventBus } from '../../gateway/events.ts';
import { releaseStartMemory } from '../../gateway/observe/releaseStartMemory.ts';
import type { HttpContext } from '../../gateway/context.ts';

describe('releasing the memory of the start', () => {
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
