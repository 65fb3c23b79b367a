// `portico validate`, `serve` and `explain` given a routes.yaml that is no regular file (a FIFO
// nobody writes to, a device such as /dev/zero): an error at once, never a process hung reading it.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';

const portico = (...args: string[]) =>
  spawnSync(process.execPath, ['scripts/portico.js', ...args], { encoding: 'utf8', timeout: 15_000 });

describe('a routes.yaml that is not a regular file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'portico-fifo-'));
  const fifo = join(dir, 'routes.yaml');
  assert.equal(spawnSync('mkfifo', [fifo]).status, 0);

  it('is refused by validate, serve and explain with exit 1, not read forever', (t) => {
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    for (const args of [
      ['validate', fifo],
      ['validate', '/dev/zero'],
      ['serve', '--config', fifo, '--port', '0'],
      ['serve', '--config', fifo, '--port', '0', '--workers', '2'],
      ['explain', '--config', fifo, 'GET', '/'],
    ]) {
      const r = portico(...args);
      assert.equal(r.signal, null, `${args.join(' ')} hung (killed after 15 s)`);
      assert.equal(r.status, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /not a regular file/, args.join(' '));
    }
  });
});
