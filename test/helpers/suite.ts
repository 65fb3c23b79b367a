import { after, type TestContext } from 'node:test';

/**
 * A TestContext for a whole describe block: what its `after` is given runs, last first, when the
 * block ends. Lets a suite start its gateway and upstreams once (in `before`) with the same
 * helpers a single test uses.
 */
export function suiteContext(): TestContext {
  const closers: (() => unknown)[] = [];
  after(async () => {
    for (const close of closers.reverse()) await close();
  });
  return { after: (fn: () => unknown) => closers.push(fn) } as unknown as TestContext;
}
