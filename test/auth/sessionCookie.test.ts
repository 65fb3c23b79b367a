// Signed session cookies accept only what Portico signed as a session: a form token is no
// signature, and a value signed for anything but a session id is no session.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { formToken, signCookie, unsignCookie } from '../../gateway/auth/session/sessionCookie.ts';
import { createSessions } from '../../gateway/auth/session/sessions.ts';
import { compileConfig } from '../../gateway/config/compile.ts';
import { createEventBus } from '../../gateway/events.ts';
import { createMemoryStore } from '../../gateway/store/memoryStore.ts';

const SECRET = 'x'.repeat(32);

describe('signed session cookies', () => {
  it('never take a form token for a signature: a client can have one made for a value it chooses', () => {
    const value = 'logout\0chosen-by-the-client';
    // cookie-signature writes the same HMAC in base64 without padding.
    const asSignature = formToken(SECRET, 'logout', 'chosen-by-the-client')
      .replaceAll('-', '+')
      .replaceAll('_', '/');
    assert.equal(unsignCookie(`s:${value}.${asSignature}`, [SECRET]), undefined);
    assert.equal(unsignCookie(signCookie('abc', SECRET), [SECRET]), 'abc', 'a real signature still is one');
  });

  it('carry only ids shaped as sessions are made, whatever else was signed', async (t) => {
    const settings = compileConfig(
      {
        routes: [{ id: 'a', path: '/', upstream: 'http://127.0.0.1:9/' }],
        session: { secret: SECRET },
      } as never,
      '',
      undefined,
      '/',
    ).session;
    const log = pino({ level: 'silent' });
    const sessions = createSessions({
      settings,
      store: createMemoryStore(),
      events: createEventBus(log),
      log,
    });
    t.after(() => sessions.close());
    const { id, setCookie } = await sessions.create(
      { identity: { idp: 'corp', sub: 's1', username: 'alice', groups: [] } },
      false,
    );
    const real = setCookie.split(';')[0]!;
    const other = `portico_session=${encodeURIComponent(signCookie('login-form\0abc', SECRET))}`;
    const req = (cookie: string) => ({ headers: { cookie } }) as never;
    assert.deepEqual(sessions.idsOf(req(`${other}; ${real}`)), [id]);
    assert.equal(sessions.idOf(req(other)), undefined);
    assert.equal(await sessions.load(req(other)), undefined);
    assert.equal((await sessions.load(req(real)))?.id, id);
  });
});
