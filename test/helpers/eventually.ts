import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { send } from './http.ts';

/**
 * Asks `probe` until its answer satisfies `done` or `timeoutMs` passes, and returns the last answer,
 * so the test's own assertion reports what was seen. For changes that travel between replicas
 * (Redis pub/sub, cache expiry) whose delay depends on the machine's load, not on the code.
 */
export async function eventually<T>(
  probe: () => Promise<T>,
  done: (value: T) => boolean,
  { timeoutMs = 5000, intervalMs = 20 } = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await probe();
  while (!done(value) && Date.now() < deadline) {
    await sleep(intervalMs);
    value = await probe();
  }
  return value;
}

/**
 * Waits until `check` holds, asking every `intervalMs`, and fails the test naming `what` when
 * `timeoutMs` passes first. For a state with no event to wait on (a counter, a file, a log line).
 */
export async function until(
  check: () => boolean | Promise<boolean>,
  timeoutMs = 5000,
  what = 'condition',
  intervalMs = 20,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() >= deadline) assert.fail(`${what} not reached in ${timeoutMs} ms`);
    await sleep(intervalMs);
  }
}

/**
 * The status of `GET base+path` once it answers `expected` (0 while nothing listens), for a process
 * started outside the test whose readiness has no event; the caller asserts the status it got.
 */
export async function statusOnceUp(base: string, path: string, expected = 200, timeoutMs = 30_000) {
  return eventually(
    () =>
      send(base, path).then(
        (r) => r.status,
        () => 0,
      ),
    (s) => s === expected,
    { timeoutMs, intervalMs: 50 },
  );
}
