// What `portico serve` writes on stdout: JSON with ISO times for machines, readable lines for a
// person (a terminal, or `logging.format: pretty`). The real CLI runs as a child process.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { send } from '../helpers/http.ts';
import { listeningUrl } from '../helpers/porticoProcess.ts';

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

function configFile(t: TestContext, logging: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'portico-logs-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'routes.yaml');
  writeFileSync(file, `${logging}routes:\n  - { id: app, path: /, upstream: "http://127.0.0.1:9/" }\n`);
  return file;
}

/** Starts the child, waits for "portico is listening", sends one request, stops it; its stdout. */
async function run(t: TestContext, child: ChildProcess): Promise<string> {
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout!.on('data', (c: Buffer) => {
    out += c;
  });
  const exited = once(child, 'exit');
  const base = await listeningUrl(child);
  assert.equal((await send(base, '/dce5/x?q=1')).status, 502);
  // The access line is written when the response is done: wait for it, then stop.
  while (!/\/dce5\/x/.test(out)) await once(child.stdout!, 'data');
  child.kill('SIGTERM');
  await exited;
  return out.replace(/\r/g, '');
}

const serveArgs = (file: string) => [
  'scripts/portico.js',
  'serve',
  '--config',
  file,
  '--port',
  '0',
  '--host',
  '127.0.0.1',
];

describe('log output', () => {
  it('is one JSON object per line with ISO times when stdout is a pipe', async (t) => {
    const file = configFile(t, '');
    const out = await run(t, spawn(process.execPath, serveArgs(file), { stdio: ['ignore', 'pipe', 'pipe'] }));
    const lines = out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.ok(lines.length >= 3, out);
    for (const l of lines) assert.match(String(l.time), ISO, JSON.stringify(l));
    const access = lines.find((l) => l.url === '/dce5/x?q=1');
    assert.ok(access, out);
    assert.deepEqual([access.status, access.msg], [502, 'request failed']);
  });

  it('is readable lines with ISO times when logging.format is pretty', async (t) => {
    const file = configFile(t, 'logging: { format: pretty }\n');
    const out = await run(t, spawn(process.execPath, serveArgs(file), { stdio: ['ignore', 'pipe', 'pipe'] }));
    assert.doesNotMatch(out, /^\{/m);
    assert.doesNotMatch(out, /\u001b\[/, 'no colours into a pipe');
    assert.match(
      out,
      /^\[\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z\] INFO: portico is listening \{"url":"http/m,
    );
    assert.match(
      out,
      /^\[[^\]]+\] WARN: GET \/dce5\/x\?q=1 → 502 in \d+ ms \{"reqId":"[^"]+","remote":"127\.0\.0\.1","route":"app"\}$/m,
    );
  });

  it('is readable, coloured lines when stdout is a terminal', async (t) => {
    if (spawnSync('sh', ['-c', 'command -v script']).status !== 0)
      return t.skip('no `script` to give a terminal');
    const file = configFile(t, '');
    // util-linux `script` runs the command on a pseudo-terminal and copies what it writes.
    const command = [process.execPath, ...serveArgs(file)].map((a) => `'${a}'`).join(' ');
    const child = spawn('script', ['-qfec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out = await run(t, child);
    assert.doesNotMatch(out, /^\{"level"/m);
    assert.match(out, /^\[\d{4}-\d{2}-\d{2}T[\d:.]+Z\] \u001b\[32mINFO\u001b\[39m: .*portico is listening/m);
    assert.match(out, /GET \/dce5\/x\?q=1 → 502 in \d+ ms/);
  });

  it('refuses an unknown logging.format with its line', () => {
    const dir = mkdtempSync(join(tmpdir(), 'portico-logs-'));
    try {
      const file = join(dir, 'routes.yaml');
      writeFileSync(
        file,
        'logging: { format: text }\nroutes:\n  - { id: app, path: /, upstream: "http://127.0.0.1:9/" }\n',
      );
      const r = spawnSync(process.execPath, ['scripts/portico.js', 'validate', file], { encoding: 'utf8' });
      assert.equal(r.status, 1);
      assert.match(r.stderr, /routes\.yaml:1:\d+ +logging\.format: /);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
