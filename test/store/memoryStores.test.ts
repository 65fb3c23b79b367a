// A single instance keeps what anonymous clients can create apart from what protects everyone:
// a flood of OpenID Provider interactions must not push out the counters that stop password guessing.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createLoginThrottle } from '../../gateway/auth/throttle.ts';
import { memoryStores } from '../../gateway/store/memoryStores.ts';

describe('the stores of a single instance', () => {
  it('keep login throttles and signing keys when the OpenID Provider’s store overflows', async () => {
    const s = memoryStores(100, { oidcStore: 50, throttleStore: 50, store: 50 });
    const throttle = createLoginThrottle({
      store: s.throttleStore,
      scope: 'dir',
      maxPerUser: 3,
      maxPerIp: 100,
    });
    // Three attempts that were never given back: three failures.
    for (let i = 0; i < 3; i++) await throttle.attempt('alice', '203.0.113.7');
    await s.store.set('keys:current', 'signing key');
    // An anonymous client opening /_portico/oidc/auth over and over: one interaction each.
    for (let i = 0; i < 5_000; i++) await s.oidcStore.set(`oidc:Interaction:${i}`, '{}', 600_000);
    await assert.rejects(throttle.attempt('alice', '198.51.100.1'), /too many|PORTICO_ERR/i);
    assert.equal(await s.store.get('keys:current'), 'signing key');
  });
});

describe('the login throttle counters of a single instance', () => {
  /** A throttle of 3 failures per name on a single instance's counter store of `entries`. */
  const throttleOf = (entries: number, maxPerIp: number) =>
    createLoginThrottle({
      store: memoryStores(100, { throttleStore: entries }).throttleStore,
      scope: 'dir',
      maxPerUser: 3,
      maxPerIp,
    });
  const lockOut = async (throttle: ReturnType<typeof createLoginThrottle>) => {
    for (let i = 0; i < 3; i++) await throttle.attempt('alice', `198.51.100.${i + 1}`);
    await assert.rejects(throttle.attempt('alice', '198.51.100.9'), { code: 'PORTICO_ERR_TOO_MANY' });
  };

  it('are not pushed out by one address trying name after name past its own budget', async () => {
    const throttle = throttleOf(50, 5);
    await lockOut(throttle);
    // Refused attempts are given back; they once left a zero count behind for every name tried.
    for (let i = 0; i < 500; i++) await throttle.attempt(`name-${i}`, '203.0.113.66').catch(() => {});
    await assert.rejects(throttle.attempt('alice', '192.0.2.1'), { code: 'PORTICO_ERR_TOO_MANY' });
  });

  it('are not pushed out by many addresses each within budget: a full store lets go of single attempts only', async () => {
    const throttle = throttleOf(50, 5);
    await lockOut(throttle);
    let refused = 0;
    for (let i = 0; i < 500; i++)
      await throttle.attempt(`name-${i}`, `10.${i >> 8}.${i & 255}.1`).catch(() => refused++);
    // The flood's own single-attempt counters make room for the next ones: nobody is refused for
    // a full store (which let ~100,000 attempts under new names lock every sign-in out, review)…
    assert.equal(refused, 0);
    // …and the locked-out account, counted more than once, is still counted.
    await assert.rejects(throttle.attempt('alice', '192.0.2.1'), { code: 'PORTICO_ERR_TOO_MANY' });
    // A user with no failures yet still gets to try.
    await throttle.attempt('bob', '192.0.2.7');
  });

  it('refuses new counters only once the store holds nothing but repeated failures', async () => {
    const throttle = throttleOf(30, 50);
    // Two failures under each name, each from an address of its own: every counter holds two.
    for (let i = 0; i < 40; i++)
      for (let n = 0; n < 2; n++) await throttle.attempt(`name-${i}`, `10.1.${i}.1`).catch(() => {});
    await assert.rejects(throttle.attempt('carol', '198.51.100.4'), { code: 'PORTICO_ERR_TOO_MANY' });
  });
});
