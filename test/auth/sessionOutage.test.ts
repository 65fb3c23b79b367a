// Sessions when the store stops answering part-way through an operation (Redis dropped, paused or
// cut off mid-request): whatever was not done must still be done by trying again once it is back.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { createSessions } from '../../gateway/auth/session/sessions.ts';
import { compileConfig } from '../../gateway/config/compile.ts';
import { GatewayError } from '../../gateway/errors.ts';
import { createEventBus } from '../../gateway/events.ts';
import type { KeyValueStore } from '../../gateway/store/keyValueStore.ts';
import { createMemoryStore } from '../../gateway/store/memoryStore.ts';
import { eventually } from '../helpers/eventually.ts';

const unavailable = () =>
  new GatewayError('PORTICO_ERR_UNAVAILABLE', { cause: new Error('connection lost') });

/** A store whose `get` of a session's data (and `publish`) fail while told so, as Redis would. */
function flakyStore(
  down: (key: string) => boolean,
  store: KeyValueStore = createMemoryStore(),
  publishDown: () => boolean = () => false,
): KeyValueStore {
  return {
    ...store,
    kind: 'redis',
    async get(key) {
      if (down(key)) throw unavailable();
      return store.get(key);
    },
    async publish(channel, message) {
      if (publishDown()) throw unavailable();
      return store.publish(channel, message);
    },
  };
}

const settingsOf = () =>
  compileConfig(
    {
      routes: [{ id: 'a', path: '/', upstream: 'http://127.0.0.1:9/' }],
      session: { secret: 'x'.repeat(32), cacheTtl: '1ms' },
    } as never,
    '',
    undefined,
    '/',
  ).session;

describe('sessions while the store drops mid-operation', () => {
  it('an admin revoke that failed half-way ends the sessions when asked again (the index is not lost first)', async (t) => {
    let failing = false;
    const store = flakyStore((key) => failing && key.startsWith('sess:'));
    const log = pino({ level: 'silent' });
    const settings = settingsOf();
    const sessions = createSessions({ settings, store, events: createEventBus(log), log });
    t.after(() => sessions.close());
    const identity = { idp: 'corp', sub: 's1', username: 'alice', groups: [] };
    const { setCookie } = await sessions.create({ identity }, false);
    const req = { headers: { cookie: setCookie.split(';')[0] } } as never;
    assert.ok(await sessions.load(req));

    // Redis goes away after the index was read: the revoke fails (503 to the admin)...
    failing = true;
    await assert.rejects(sessions.revoke({ username: 'alice' }), { code: 'PORTICO_ERR_UNAVAILABLE' });
    failing = false;
    // ...and once it is back, the admin's retry must end the session, not find an empty index.
    assert.equal(await sessions.revoke({ username: 'alice' }), 1);
    assert.equal(await sessions.load(req), undefined, 'the revoked session no longer signs in');
  });

  it('a session signed out while the store is down is refused here at once and ended in the store once it answers', async (t) => {
    let down = false;
    const shared = createMemoryStore();
    const store = flakyStore((key) => down && key.startsWith('sess:'), shared);
    const log = pino({ level: 'silent' });
    const events = createEventBus(log);
    const sessions = createSessions({ settings: settingsOf(), store, events, log });
    t.after(() => sessions.close());
    const ended: string[] = [];
    events.on('sessionEnded', (e) => ended.push(`${e.sessionId}:${e.local}`));
    const { id, setCookie } = await sessions.create(
      { identity: { idp: 'corp', sub: 's1', username: 'alice', groups: [] } },
      false,
    );
    const req = { headers: { cookie: setCookie.split(';')[0] } } as never;
    assert.ok(await sessions.load(req));

    down = true;
    assert.equal(await sessions.endEventually(id, 'logout'), 'pending');
    assert.equal(await sessions.load(req), undefined, 'this replica refuses it at once');
    assert.equal(await sessions.stands(id), false);
    assert.deepEqual(ended, [`${id}:true`], 'its terminals here close at once');
    assert.ok(await shared.get(`sess:${id}`), 'the store could not be told yet');

    down = false;
    await eventually(
      () => shared.get(`sess:${id}`),
      (v) => v === undefined,
      { timeoutMs: 6000, intervalMs: 50 },
    );
    assert.equal(await shared.get(`sess:${id}`), undefined, 'ended in the store once it answers');
    assert.equal(await sessions.load(req), undefined);
    // Announced again once the store took it: the other replicas and the OpenID Provider's
    // sessions bound to it learn of it now.
    assert.deepEqual(ended, [`${id}:true`, `${id}:true`]);
    assert.equal(await sessions.endEventually(id, 'logout'), 'ended', 'ending it again is no error');
  });

  it('holds at most 100,000 sign-outs through an outage, then answers 503 as before', async (t) => {
    const store = flakyStore((key) => key.startsWith('sess:'));
    const log = pino({ level: 'silent' });
    const sessions = createSessions({ settings: settingsOf(), store, events: createEventBus(log), log });
    t.after(() => sessions.close());
    for (let i = 0; i < 100_000; i++)
      assert.equal(await sessions.endEventually(`s${i}`, 'logout'), 'pending');
    await assert.rejects(sessions.endEventually('one-more', 'logout'), { code: 'PORTICO_ERR_UNAVAILABLE' });
    assert.equal(await sessions.endEventually('s7', 'logout'), 'pending', 'one already held is still taken');
  });

  it('a session ended while this replica could not publish is still announced to the others once it can', async (t) => {
    const shared = createMemoryStore();
    let cutOff = true;
    const log = pino({ level: 'silent' });
    // Replica A lost Redis just after deleting the session's keys; B's connection stayed up.
    const a = createSessions({
      settings: settingsOf(),
      store: flakyStore(
        () => false,
        shared,
        () => cutOff,
      ),
      events: createEventBus(log),
      log,
    });
    const bEvents = createEventBus(log);
    const b = createSessions({
      settings: settingsOf(),
      store: flakyStore(() => false, shared),
      events: bEvents,
      log,
    });
    t.after(() => Promise.all([a.close(), b.close()]));
    const heardByB: string[] = [];
    bEvents.on('sessionEnded', (e) => heardByB.push(e.sessionId));
    const { id } = await a.create(
      { identity: { idp: 'corp', sub: 's1', username: 'alice', groups: [] } },
      false,
    );
    await a.end(id, 'logout');
    assert.deepEqual(heardByB, []);
    cutOff = false;
    // B's open terminals for it close when B hears of it: it must, although B never lost Redis.
    await eventually(
      async () => heardByB.length,
      (n) => n > 0,
      { timeoutMs: 4000, intervalMs: 50 },
    );
    assert.deepEqual(heardByB, [id]);
  });
});
