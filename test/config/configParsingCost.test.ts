import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { protectVariables } from '../../gateway/config/interpolate.ts';
import { ConfigError, loadConfigText, MAX_PROBLEMS } from '../../gateway/config/loadConfig.ts';
import { ANY_ROUTE } from '../helpers/gateway.ts';

// The admin API's validate endpoint parses bodies of up to 1 MB for a config:read key, and every
// reload parses the file: neither may cost the square of the input. Each bound is several times
// what the fix needs on a loaded 2-core machine and a fraction of what the quadratic code took.

function problemsOf(text: string, options: Parameters<typeof loadConfigText>[1] = { env: {} }) {
  try {
    loadConfigText(text, options);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems;
  }
  assert.fail('the config was accepted');
}

function timed<T>(f: () => T): { value: T; ms: number } {
  const t0 = performance.now();
  const value = f();
  return { value, ms: performance.now() - t0 };
}

const ref = (s: string) => s.replaceAll('%', '$');

describe('config parsing cost', () => {
  it('reads a 200 KB line of unclosed ${A:- in linear time, leaving them as text', () => {
    // Before: each `${A:-` was scanned on to the end of the line (15 s for this body).
    const text = `${ANY_ROUTE}x: "${ref('%{A:-').repeat(40_000)}"\n`;
    assert.ok(text.length > 200_000);
    const { value: problems, ms } = timed(() => problemsOf(text));
    assert.ok(ms < 2000, `took ${Math.round(ms)} ms`);
    assert.deepEqual(
      problems.map((p) => [p.line, p.path]),
      [[3, 'x']],
    );
    const { value, ms: protectMs } = timed(() => protectVariables(`${ref('%{A:-').repeat(40_000)}\n`));
    assert.ok(protectMs < 2000, `took ${Math.round(protectMs)} ms`);
    assert.equal(value.variables.size, 0);
  });

  it('reads ${NAME}, ${NAME:-default} and $${ as before, a default ending at its line or first }', () => {
    const { text, variables } = protectVariables(
      ref('a: %{A:-x %{B:-y}\nb: %{C:-z\nc: %%{D} %{E}} %{F:-} %{9X} %{G:-{h}}\n'),
    );
    assert.equal(
      text,
      'a: __portico_env_0__\nb: %{C:-z\nc: __portico_env_1__D} __portico_env_2__} __portico_env_3__ %{9X} __portico_env_4__}\n'.replaceAll(
        '%',
        '$',
      ),
    );
    assert.deepEqual(
      [...variables.values()],
      [
        { name: 'A', fallback: ref('x %{B:-y') },
        { literal: '${' },
        { name: 'E', fallback: undefined },
        { name: 'F', fallback: '' },
        { name: 'G', fallback: '{h' },
      ],
    );
  });

  it('refuses the default of a closed ${A:-${A:-… chain as naming another variable, quickly', () => {
    const text = `${ANY_ROUTE}session: { secret: "${ref('%{A:-').repeat(40_000)}}" }\n`;
    const { value: problems, ms } = timed(() => problemsOf(text));
    assert.ok(ms < 2000, `took ${Math.round(ms)} ms`);
    assert.equal(problems.length, 1, JSON.stringify(problems).slice(0, 500));
    assert.equal(problems[0]!.path, 'session.secret');
    assert.match(problems[0]!.message, /names another variable/);
  });

  it('reads a map of 50,000 keys in linear time', () => {
    // Before: yaml's uniqueKeys check compared each key with every earlier one (18 s here). The
    // parse alone takes ~0.5 s: the bound is wider than for the lines above.
    const text = `${ANY_ROUTE}x: {${Array.from({ length: 50_000 }, (_, i) => `k${i}: 1`).join(', ')}}\n`;
    for (const unsetEnv of [undefined, []]) {
      const { value: problems, ms } = timed(() => problemsOf(text, { env: {}, unsetEnv, readFiles: false }));
      assert.ok(ms < 5000, `took ${Math.round(ms)} ms`);
      assert.deepEqual(
        problems.map((p) => [p.line, p.path]),
        [[3, 'x']],
      );
    }
  });

  it('checks a file of 20,000 unset variables without the serving environment in linear time', () => {
    // Before: every schema problem was compared with every unset variable's path (23 s here, on a loaded 2-core machine).
    const text = `routes:\n  - {id: a, path: /, upstream: "http://x/", ${Array.from({ length: 20_000 }, (_, i) => ref(`k${i}: %{A}`)).join(', ')}}\n`;
    const unsetEnv: unknown[] = [];
    const { ms } = timed(() => {
      try {
        loadConfigText(text, { env: {}, unsetEnv: unsetEnv as [], readFiles: false });
      } catch (err) {
        assert.ok(err instanceof ConfigError, String(err));
      }
    });
    assert.ok(ms < 5000, `took ${Math.round(ms)} ms`);
    assert.equal(unsetEnv.length, 20_000);
  });

  it('reports a repeated key at the repeat, with its line and column, in block and flow maps', () => {
    const problems = problemsOf(`routes:
  - id: a
    path: /
    path: /b
    upstream: http://127.0.0.1:1/
    headers: { x-a: "1", x-b: "2", x-a: "3" }
listen: { port: 1 }
listen: { port: 2 }
`);
    assert.deepEqual(problems, [
      { path: 'routes[0].path', line: 4, column: 5, message: 'Map keys must be unique' },
      { path: 'routes[0].headers.x-a', line: 6, column: 36, message: 'Map keys must be unique' },
      { path: 'listen', line: 8, column: 1, message: 'Map keys must be unique' },
    ]);
  });

  it('calls keys the same as YAML does: ~ and null are one key, 1 and "1" are two', () => {
    assert.deepEqual(
      problemsOf(`${ANY_ROUTE}~: 1\nnull: 2\n`).map((p) => [p.line, p.path, p.message]),
      [[4, 'null', 'Map keys must be unique']],
    );
    // Two keys, both unknown: reported once, as the schema sees the data, not as a repeat.
    assert.deepEqual(
      problemsOf(`${ANY_ROUTE}1: a\n"1": b\n`).map((p) => [p.line, p.path, p.message]),
      [[4, '1', 'unknown key "1"']],
    );
  });

  it(`lists at most ${MAX_PROBLEMS} problems, and says there were more, quickly`, () => {
    const dupes = `${ANY_ROUTE}${Array.from({ length: 50_000 }, () => 'k: 1\n').join('')}`;
    const unknown = `routes:\n  - {id: a, path: /, upstream: "http://x/", ${Array.from({ length: 50_000 }, (_, i) => `k${i}: 1`).join(', ')}}\n`;
    for (const [text, line] of [
      [dupes, 4],
      [unknown, 2],
    ] as const) {
      const { value: problems, ms } = timed(() => problemsOf(text));
      assert.ok(ms < 5000, `took ${Math.round(ms)} ms`);
      assert.equal(problems.length, MAX_PROBLEMS + 1);
      assert.match(problems[0]!.message, new RegExp(`more than ${MAX_PROBLEMS} problems`));
      assert.equal(problems[1]!.line, line);
    }
  });
});
