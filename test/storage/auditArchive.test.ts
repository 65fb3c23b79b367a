import { pino } from 'pino';
import { createEventBus } from '../../gateway/events.ts';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
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
