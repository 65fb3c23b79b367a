import { pino } from 'pino';
import { createEventBus } from '../../gateway/events.ts';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { startAuditArchive } from '../../gateway/storage/auditArchive.ts';
import { createObjectStore } from '../../gateway/storage/objectStore.ts';
import { type S3Server, startS3 } from '../helpers/s3.ts';
import { until } from '../helpers/eventually.ts';

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'portico-spool-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Every archived event, in key order (keys sort by time). */
async function archived(
  t: TestContext,
  s3: S3Server,
): Promise<{ keys: string[]; events: Record<string, unknown>[] }> {
  const store = createObjectStore(s3.storage());
  t.after(() => store.destroy());
  const keys = (await store.list('audit/')).map((o) => o.key).sort();
  const events: Record<string, unknown>[] = [];
  for (const key of keys) {
    const object = await store.get(key);
    for (const line of gunzipSync(object!.body).toString().split('\n').filter(Boolean))
      events.push(JSON.parse(line));
  }
  return { keys, events };
}

// The events a gateway would publish; the archive listens to them.
const events = createEventBus(pino({ level: 'silent' }));

const publish = (n: number, from = 0) => {
  for (let i = from; i < from + n; i++)
    events.emit('audit', { type: 'admin.change', actor: 'ci', detail: { n: i } });
};

describe('audit archive', () => {
  it('archives audit and login events as gzip JSON-lines batches under audit/YYYY/MM/DD/', async (t) => {
    const s3 = await startS3(t);
    const store = createObjectStore(s3.storage());
    t.after(() => store.destroy());
    const archive = startAuditArchive({
      events,
      store: () => store,
      spoolDir: tempDir(t),
      intervalMs: 60_000,
      maxEvents: 3,
    });
    publish(5);
    events.emit('login', { idp: 'corp', result: 'failure', reason: 'bad password', ip: '10.0.0.9' });
    events.emit('login', { idp: 'corp', result: 'success', user: 'alice' });
    await archive.close();
    const { keys, events: stored } = await archived(t, s3);
    const today = new Date().toISOString().slice(0, 10).replace(/-/g, '/');
    assert.ok(keys.length >= 3, `expected a batch per 3 events, got ${keys.join(', ')}`);
    for (const key of keys)
      assert.match(key, new RegExp(`^audit/${today}/\\d{8}T\\d{9}Z-[0-9a-f]{8}\\.jsonl\\.gz$`));
    assert.deepEqual(
      stored.map((e) => (e.channel === 'audit' ? (e.detail as { n: number }).n : e.result)),
      [0, 1, 2, 3, 4, 'failure', 'success'],
    );
    assert.equal(stored[5]!.idp, 'corp');
    assert.match(String(stored[0]!.time), /^\d{4}-\d\d-\d\dT/);
  });

  it('spools batches while storage is down and delivers them when it is back, losing nothing', async (t) => {
    const s3 = await startS3(t);
    const store = createObjectStore(s3.storage({ maxAttempts: 1 }));
    t.after(() => store.destroy());
    const spoolDir = tempDir(t);
    await s3.stop();
    const archive = startAuditArchive({
      events,
      store: () => store,
      spoolDir,
      intervalMs: 100,
      maxEvents: 4,
    });
    t.after(() => archive.close());
    publish(10);
    await until(async () => archive.stats().spooled >= 2 && archive.stats().lastError !== undefined);
    assert.ok(readdirSync(spoolDir).some((n) => n.endsWith('.jsonl.gz')));
    publish(3, 10);
    await s3.start();
    await until(async () => (await archived(t, s3)).events.length === 13);
    await until(async () => archive.stats().spooled === 0 && archive.stats().buffered === 0);
    const { events: stored } = await archived(t, s3);
    assert.deepEqual(
      stored.map((e) => (e.detail as { n: number }).n),
      Array.from({ length: 13 }, (_, i) => i),
    );
  });

  it('keeps what it could not upload at shutdown and sends it on the next start', async (t) => {
    const s3 = await startS3(t);
    const store = createObjectStore(s3.storage({ maxAttempts: 1 }));
    t.after(() => store.destroy());
    const spoolDir = tempDir(t);
    await s3.stop();
    const first = startAuditArchive({ events, store: () => store, spoolDir, intervalMs: 60_000 });
    publish(4);
    await first.close();
    assert.equal(first.stats().spooled, 1);
    await s3.start();
    const second = startAuditArchive({ events, store: () => store, spoolDir, intervalMs: 60_000 });
    await second.flush();
    await second.close();
    assert.deepEqual(readdirSync(spoolDir), []);
    assert.equal((await archived(t, s3)).events.length, 4);
  });
});

/** Bytes on disk in the spool folder. */
const spoolSize = (dir: string) => readdirSync(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0);

describe('audit archive with the bucket down for long', () => {
  it('bounds its spool: drops the newest events, keeps the spooled ones, says so, recovers', async (t) => {
    const s3 = await startS3(t);
    const store = createObjectStore(s3.storage({ maxAttempts: 1 }));
    t.after(() => store.destroy());
    const spoolDir = tempDir(t);
    const logs: { level: number; msg: string; dropped?: number; count?: number }[] = [];
    const log = pino({ level: 'warn' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
    await s3.stop();
    const limit = 64 * 1024;
    const archive = startAuditArchive({
      events,
      store: () => store,
      spoolDir,
      intervalMs: 100,
      maxSpoolBytes: limit,
      log,
    });
    t.after(() => archive.close());
    events.emit('audit', { type: 'admin.change', actor: 'ci', detail: { n: 'before' } });
    // A password spray while the bucket is down: anyone can add these lines.
    const spray = 6000;
    const failure = (user: string) =>
      events.emit('login', {
        idp: 'corp',
        result: 'failure',
        reason: 'bad password',
        user,
        ip: '203.0.113.9',
      });
    for (let round = 0; round < 10; round++) {
      for (let i = 0; i < spray / 10; i++) failure(randomBytes(24).toString('base64url'));
      await new Promise((r) => setTimeout(r, 120));
    }
    assert.ok(spoolSize(spoolDir) <= limit, `the spool holds ${spoolSize(spoolDir)} bytes, over ${limit}`);
    const full = archive.stats();
    assert.equal(full.spoolFull, true);
    assert.ok(full.dropped > 0 && full.spoolBytes <= limit, JSON.stringify(full));
    assert.ok(
      logs.some((l) => l.level === 50 && /audit spool full/.test(l.msg)),
      'said loudly, at once',
    );
    // Failed sign-ins are refused first: an admin change still finds room.
    events.emit('audit', { type: 'admin.change', actor: 'ci', detail: { n: 'during' } });
    assert.equal(archive.stats().dropped, full.dropped);

    // The bucket is back: the spool empties by itself (at the next retry), and events are taken again.
    await s3.start();
    await until(async () => archive.stats().spooled === 0 && archive.stats().buffered === 0, 15_000);
    failure('after');
    await archive.flush();
    assert.equal(archive.stats().spoolFull, false);
    assert.ok(logs.some((l) => l.level === 40 && /room again/.test(l.msg)));

    const { events: stored } = await archived(t, s3);
    const admin = stored.filter((e) => e.type === 'admin.change').map((e) => (e.detail as { n: string }).n);
    assert.deepEqual(admin, ['before', 'during'], 'the oldest kept, nothing spooled dropped');
    assert.equal(stored.at(-1)!.user, 'after');
    const gaps = stored.filter((e) => e.type === 'audit.events_dropped');
    assert.ok(gaps.length >= 1);
    for (const g of gaps) assert.match(String(g.from), /^\d{4}-/);
    const archivedFailures = stored.filter((e) => e.channel === 'login' && e.user !== 'after').length;
    assert.equal(
      archivedFailures + gaps.reduce((n, g) => n + Number(g.count), 0),
      spray,
      'every failure archived or counted in a gap',
    );
    assert.equal(archive.stats().dropped, spray - archivedFailures);
  });
});

describe('audit archive after a crash', () => {
  it('uploads events journaled by a process that was killed before it could flush', async (t) => {
    const s3 = await startS3(t);
    const spoolDir = tempDir(t);
    const script = `
      import { pino } from 'pino';
      import { createEventBus } from '${new URL('../../gateway/events.ts', import.meta.url).pathname}';
      import { startAuditArchive } from '${new URL('../../gateway/storage/auditArchive.ts', import.meta.url).pathname}';
      const bus = createEventBus(pino({ level: 'silent' }));
      startAuditArchive({ events: bus, store: () => { throw new Error('unused'); }, spoolDir: ${JSON.stringify(spoolDir)}, intervalMs: 60000 });
      for (let n = 0; n < 3; n++) bus.emit('audit', { type: 'admin.change', actor: 'ci', detail: { n } });
      process.kill(process.pid, 'SIGKILL');
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script]);
    assert.equal(r.signal, 'SIGKILL', r.stderr.toString());
    const store = createObjectStore(s3.storage());
    t.after(() => store.destroy());
    const next = startAuditArchive({ events, store: () => store, spoolDir, intervalMs: 60_000 });
    await next.close();
    assert.deepEqual(
      (await archived(t, s3)).events.map((e) => (e.detail as { n: number }).n),
      [0, 1, 2],
    );
  });
});
