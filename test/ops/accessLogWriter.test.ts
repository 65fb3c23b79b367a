// The access log's JSON line is the one pino would write, and lines are held and written in
// batches of whole lines (at most 4096 bytes each) every `logging.accessLogFlush`, on close and
// on exit: none is lost, none is split; on stdout they are written without holding the event loop
// (to a pipe, off the event loop; to a file, 64 KB at once).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { Writable } from 'node:stream';
import { describe, it, type TestContext } from 'node:test';
import { pino } from 'pino';
import { type AccessFields, createAccessLog, jsonLine } from '../../gateway/observe/accessLogWriter.ts';
import { until } from '../helpers/eventually.ts';

const fields = (over: Partial<AccessFields> = {}): AccessFields => ({
  reqId: 'r-1',
  method: 'GET',
  url: '/dce5/x?q=1',
  remote: '203.0.113.9',
  route: 'dce5',
  upstream: undefined,
  status: 200,
  user: 'alice',
  ms: 3,
  aborted: undefined,
  ws: undefined,
  h2: undefined,
  ...over,
});

/** What pino itself writes for `info`/`warn(fields, msg)` with the access log's options. */
function pinoLine(f: AccessFields): string {
  let out = '';
  const sink = new Writable({
    write(chunk, _enc, done) {
      out += chunk;
      done();
    },
  });
  const logger = pino({ base: { service: 'portico' }, timestamp: pino.stdTimeFunctions.isoTime }, sink);
  if (f.status >= 500) logger.warn(f, 'request failed');
  else logger.info(f, 'request completed');
  return out;
}

/** A destination that records each write. */
function recorder() {
  const writes: string[] = [];
  return { writes, write: (s: string) => writes.push(s) };
}

describe('the access line', () => {
  const cases: [string, AccessFields][] = [
    ['a plain request', fields()],
    ['a failed one, at warn', fields({ status: 502, upstream: 'http://10.0.0.2:8080', user: undefined })],
    ['an aborted WebSocket over HTTP/2', fields({ aborted: true, ws: true, h2: true, status: 101 })],
    [
      'quotes, backslashes, control and non-ASCII characters',
      fields({ url: '/a"b\\c\u0001d/é/中文?x=\u2028', user: 'o"neil' }),
    ],
    [
      'no route, no user, no method',
      fields({ route: undefined, user: undefined, method: undefined, remote: undefined }),
    ],
  ];
  for (const [name, f] of cases)
    it(`is pino's line for ${name}`, () => {
      const ours = JSON.parse(jsonLine(f)) as Record<string, unknown>;
      const theirs = JSON.parse(pinoLine(f)) as Record<string, unknown>;
      // Times differ by the microseconds between the two calls; everything else, keys in order, is equal.
      assert.match(String(ours.time), /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
      ours.time = theirs.time;
      assert.deepEqual(Object.keys(ours), Object.keys(theirs));
      assert.deepEqual(ours, theirs);
      assert.ok(jsonLine(f).endsWith('}\n'));
    });
});

describe('the buffered access log', () => {
  it('holds lines until the flush interval, then writes them in one batch', async () => {
    const dest = recorder();
    const log = createAccessLog('info', 'json', 50, dest);
    log.write(fields({ reqId: 'a' }));
    log.write(fields({ reqId: 'b' }));
    assert.equal(dest.writes.length, 0, 'nothing is written at once');
    await until(() => dest.writes.length > 0, 5000, 'the timed flush');
    assert.equal(dest.writes.length, 1);
    assert.deepEqual(
      dest.writes[0]!.trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { reqId: string }).reqId),
      ['a', 'b'],
    );
    log.close();
  });

  it('writes batches of whole lines of at most 4096 bytes, and what is left on close', () => {
    const dest = recorder();
    const log = createAccessLog('info', 'json', 60_000, dest);
    for (let i = 0; i < 200; i++)
      log.write(fields({ reqId: `req-${i}`, url: `/dce5/${'x'.repeat(i % 50)}` }));
    assert.ok(dest.writes.length >= 5, `${dest.writes.length} batches before close`);
    log.close();
    const ids: string[] = [];
    for (const w of dest.writes) {
      assert.ok(Buffer.byteLength(w) <= 4096, `a batch of ${Buffer.byteLength(w)} bytes`);
      assert.ok(w.endsWith('\n'));
      for (const l of w.trim().split('\n')) ids.push((JSON.parse(l) as { reqId: string }).reqId);
    }
    assert.deepEqual(
      ids,
      Array.from({ length: 200 }, (_, i) => `req-${i}`),
    );
  });

  it('writes each line at once with accessLogFlush: 0s, and nothing below the info level', () => {
    const dest = recorder();
    const log = createAccessLog('info', 'json', 0, dest);
    log.write(fields());
    assert.equal(dest.writes.length, 1);
    assert.equal(createAccessLog('warn', 'json', 0, recorder()).enabled, false);
  });

  it('writes the lines it holds when the process crashes', () => {
    const script = `
      import { createAccessLog } from './gateway/observe/accessLogWriter.ts';
      const log = createAccessLog('info', 'json', 60_000);
      log.write({ reqId: 'before-crash', url: '/x', status: 200, ms: 1 });
      setTimeout(() => { throw new Error('boom'); }, 10);
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /boom/);
    assert.equal((JSON.parse(r.stdout) as { reqId: string }).reqId, 'before-crash');
  });

  it('writes the lines it holds when the process exits', () => {
    const script = `
      import { createAccessLog } from './gateway/observe/accessLogWriter.ts';
      const log = createAccessLog('info', 'json', 60_000);
      for (let i = 0; i < 3; i++) log.write({ reqId: 'exit-' + i, url: '/x', status: 200, ms: 1 });
      process.exitCode = 0;
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as { reqId: string }).reqId),
      ['exit-0', 'exit-1', 'exit-2'],
    );
  });

  it('keeps the event loop free while nobody reads stdout, and writes every line once the reader is back', async (t) => {
    // 20,000 lines (~3 MB) into a pipe of 64 KB that the parent does not read yet: a synchronous
    // writer would block inside write() and never reach the line on stderr.
    const run = await writeWhileStdoutUnread(t, 20_000, '/x');
    assert.match(run.stderr, /event loop free/, 'the child answered while its stdout was full');
    const { code, stdout, stderr } = await run.finish();
    assert.equal(code, 0, stderr);
    const ids = stdout
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { reqId: string }).reqId);
    assert.equal(ids.length, 20_000);
    assert.equal(new Set(ids).size, 20_000, 'no line written twice');
  });

  it('drops lines once 32 MB wait unread, and says so on stderr', async (t) => {
    // ~250,000 lines (~40 MB) while nobody reads stdout: the first 32 MB are kept, the rest dropped.
    const run = await writeWhileStdoutUnread(t, 250_000, `/dce5/${'x'.repeat(100)}`);
    const report = run.stderr.split('\n').find((l) => l.includes('"dropped"'));
    assert.ok(report, `a report of dropped lines on stderr: ${run.stderr}`);
    const { dropped, level } = JSON.parse(report) as { dropped: number; level: number };
    assert.equal(level, 40);
    const { code, stdout, stderr } = await run.finish();
    assert.equal(code, 0, stderr);
    const lines = stdout.split('\n').length - 1;
    assert.ok(lines > 100_000 && lines < 250_000, `${lines} lines written`);
    assert.ok(dropped > 0 && dropped <= 250_000 - lines, `${dropped} reported dropped of ${250_000 - lines}`);
  });
});

describe('the access log on a stdout that is a file', () => {
  /**
   * Runs `script` (a module in the repository's root) with stdout on `target`, and stderr too with
   * `stderrThere`; returns its exit status and stderr (empty when it went to `target`).
   */
  const runWithStdout = (script: string, target: string, stderrThere = false) => {
    const out = openSync(target, 'a');
    try {
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
        stdio: ['ignore', out, stderrThere ? out : 'pipe'],
        timeout: 30_000,
        encoding: 'utf8',
      });
      return { status: r.status, stderr: r.stderr ?? '' };
    } finally {
      closeSync(out);
    }
  };

  it('writes batches of 64 KB to a file and /dev/null, 4 KB to a pipe', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'portico-access-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const script = `
      import { stdoutDestination } from './gateway/observe/accessLogWriter.ts';
      process.stderr.write(String(stdoutDestination().batchBytes ?? 4096));
    `;
    assert.equal(runWithStdout(script, join(dir, 'access.log')).stderr, '65536');
    assert.equal(runWithStdout(script, '/dev/null').stderr, '65536');
    const piped = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    assert.equal(piped.stderr, '4096');
  });

  it('writes every line once and in order, whole, while the event loop keeps turning', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'portico-access-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'access.log');
    const script = `
      import { createAccessLog } from './gateway/observe/accessLogWriter.ts';
      const log = createAccessLog('info', 'json', 60_000);
      let turns = 0;
      const tick = setInterval(() => turns++, 0);
      let i = 0;
      const more = () => {
        for (const end = i + 1000; i < end; i++) log.write({ reqId: 'r' + i, url: '/dce5/' + 'x'.repeat(i % 300), status: 200, ms: 1 });
        if (i < 50_000) setImmediate(more);
        else { clearInterval(tick); process.stderr.write(String(turns)); }
      };
      more();
    `;
    const r = runWithStdout(script, file);
    assert.equal(r.status, 0, r.stderr);
    assert.ok(Number(r.stderr) > 10, `the event loop turned ${r.stderr} times while the lines were written`);
    const lines = readFileSync(file, 'utf8').split('\n');
    assert.equal(lines.pop(), '', 'the file ends with a whole line');
    assert.deepEqual(
      lines.map((l) => (JSON.parse(l) as { reqId: string }).reqId),
      Array.from({ length: 50_000 }, (_, i) => `r${i}`),
    );
  });

  it('drops what a full disk refuses, says so on stderr, and goes on', () => {
    // /dev/full: every write fails with ENOSPC, as on a full disk.
    const script = `
      import { createAccessLog } from './gateway/observe/accessLogWriter.ts';
      const log = createAccessLog('info', 'json', 10);
      for (let i = 0; i < 3; i++) log.write({ reqId: 'r' + i, url: '/x', status: 200, ms: 1 });
      setTimeout(() => process.stderr.write('still running\\n'), 100);
    `;
    const r = runWithStdout(script, '/dev/full');
    assert.equal(r.status, 0, r.stderr);
    const report = r.stderr.split('\n').find((l) => l.includes('"dropped"'));
    assert.ok(report, `a report of dropped lines: ${r.stderr}`);
    const { dropped, msg } = JSON.parse(report) as { dropped: number; msg: string };
    assert.equal(dropped, 3);
    assert.match(msg, /disk full/);
    assert.match(r.stderr, /still running/);
  });

  it('goes on when stderr is the same full disk (`>> access.log 2>&1`)', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'portico-access-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const marker = join(dir, 'done');
    const script = `
      import { writeFileSync } from 'node:fs';
      import { createAccessLog } from './gateway/observe/accessLogWriter.ts';
      const log = createAccessLog('info', 'json', 10);
      for (let i = 0; i < 3; i++) log.write({ reqId: 'r' + i, url: '/x', status: 200, ms: 1 });
      setTimeout(() => writeFileSync(${JSON.stringify(marker)}, 'ran on'), 100);
    `;
    const r = runWithStdout(script, '/dev/full', true);
    assert.equal(r.status, 0, 'the process did not end on the failed report');
    assert.equal(readFileSync(marker, 'utf8'), 'ran on');
  });
});

/**
 * A child that writes `count` access lines while nobody reads its stdout, then says on stderr that
 * its event loop is free; `finish()` reads its stdout and waits for it to end.
 */
async function writeWhileStdoutUnread(t: TestContext, count: number, url: string) {
  const script = `
    import { createAccessLog } from './gateway/observe/accessLogWriter.ts';
    const log = createAccessLog('info', 'json', 60_000);
    for (let i = 0; i < ${count}; i++) log.write({ reqId: 'r' + i, url: ${JSON.stringify(url)}, status: 200, ms: 1 });
    setImmediate(() => process.stderr.write('event loop free\\n'));
    setTimeout(() => {}, 200);
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: 'pipe' });
  t.after(() => child.kill('SIGKILL'));
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => (stderr += d));
  await until(
    () => stderr.includes('event loop free') || child.exitCode !== null,
    30_000,
    'the child’s stderr',
  );
  return {
    stderr,
    async finish() {
      const chunks: Buffer[] = [];
      child.stdout.on('data', (c: Buffer) => chunks.push(c));
      const [code] = (await once(child, 'close')) as [number];
      return { code, stdout: Buffer.concat(chunks).toString('utf8'), stderr };
    },
  };
}
