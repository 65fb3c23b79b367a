import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { cachedBrandAssets, writableDiskAssets } from '../../gateway/storage/brandAssets.ts';
import { createObjectStore, type ObjectStore } from '../../gateway/storage/objectStore.ts';
import { type S3Server, startS3 } from '../helpers/s3.ts';

const LOGO = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><circle r="4"/></svg>');

function tempDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'portico-cache-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** One replica's view: its own S3 client and cache folder. */
function replica(t: TestContext, s3: S3Server, cacheDir: string, refreshMs = 60_000) {
  const store: ObjectStore = createObjectStore(s3.storage({ maxAttempts: 1 }));
  t.after(() => store.destroy());
  return cachedBrandAssets({ store: () => store, cacheDir, refreshMs });
}

describe('brand assets in object storage', () => {
  it('stores an upload in the bucket and serves it back', async (t) => {
    const s3 = await startS3(t);
    const assets = replica(t, s3, tempDir(t));
    const { etag } = await assets.put('logo.svg', LOGO);
    assert.match(etag, /^"[0-9a-f]+"$/);
    assert.ok((await s3.requests()).includes('PUT /portico/branding/logo.svg'));
    assert.deepEqual(await assets.get('logo.svg'), LOGO);
    assert.equal(await assets.get('brand.yaml'), undefined);
  });

  it('reads through the disk cache after a restart, revalidating with the ETag', async (t) => {
    const s3 = await startS3(t);
    const cacheDir = tempDir(t);
    await replica(t, s3, cacheDir).put('logo.svg', LOGO);
    // A new process: new client, new memory, the same cache folder.
    const restarted = replica(t, s3, cacheDir);
    assert.deepEqual(await restarted.get('logo.svg'), LOGO);
    assert.deepEqual(readFileSync(join(cacheDir, 'branding', 'logo.svg')), LOGO);
  });

  it('keeps serving the cached copy while the storage server is down', async (t) => {
    const s3 = await startS3(t);
    const cacheDir = tempDir(t);
    await replica(t, s3, cacheDir).put('logo.svg', LOGO);
    await s3.stop();
    const restarted = replica(t, s3, cacheDir, 0);
    assert.deepEqual(await restarted.get('logo.svg'), LOGO);
    assert.deepEqual(await restarted.get('logo.svg'), LOGO);
  });

  it('fails rather than answering "no logo" when storage is down and nothing is cached', async (t) => {
    const s3 = await startS3(t);
    await s3.stop();
    await assert.rejects(replica(t, s3, tempDir(t)).get('logo.svg'), /ECONNREFUSED|storage get/);
  });

  it('lets every replica see a file another replica uploaded, and tells its watcher', async (t) => {
    const s3 = await startS3(t);
    const a = replica(t, s3, tempDir(t), 100);
    const b = replica(t, s3, tempDir(t), 100);
    assert.equal(await b.get('logo.svg'), undefined);
    let changes = 0;
    let changed!: () => void;
    const firstChange = new Promise<void>((resolve) => (changed = resolve));
    const stop = b.watch!(() => {
      changes++;
      changed();
    });
    t.after(stop);
    await a.put('logo.svg', LOGO);
    await firstChange;
    assert.equal(changes, 1);
    assert.deepEqual(await b.get('logo.svg'), LOGO);
  });

  it("asks the bucket once about a visitor's name it does not have, and never again in the background", async (t) => {
    const s3 = await startS3(t);
    const assets = replica(t, s3, tempDir(t), 100);
    const stop = assets.watch!(() => {});
    t.after(stop);
    const before = (await s3.requests()).length;
    for (let i = 0; i < 20; i++)
      assert.equal(await assets.get(`nonexistent-${i}.png`, { visitor: true }), undefined);
    // Asked again at once: remembered as missing for a while.
    assert.equal(await assets.get('nonexistent-0.png', { visitor: true }), undefined);
    const asked = (await s3.requests()).length - before;
    assert.equal(asked, 20);
    // Five watch periods later nothing more was asked about them.
    await new Promise((r) => setTimeout(r, 600));
    assert.equal((await s3.requests()).length - before, 20);
  });

  it('watches a name the brand asked for even when a visitor asked for it at the same moment', async (t) => {
    const s3 = await startS3(t);
    const a = replica(t, s3, tempDir(t), 100);
    const b = replica(t, s3, tempDir(t), 100);
    const [visitor, brand] = await Promise.all([b.get('logo.svg', { visitor: true }), b.get('logo.svg')]);
    assert.deepEqual([visitor, brand], [undefined, undefined]);
    let changed!: () => void;
    const change = new Promise<void>((resolve) => (changed = resolve));
    t.after(b.watch!(() => changed()));
    await a.put('logo.svg', LOGO);
    await change;
    assert.deepEqual(await b.get('logo.svg'), LOGO);
  });

  it('refuses names that are not plain file names', async (t) => {
    const s3 = await startS3(t);
    await assert.rejects(replica(t, s3, tempDir(t)).get('../routes.yaml'), /not a plain file name/);
    const disk = writableDiskAssets(tempDir(t));
    await assert.rejects(disk.put('../evil.svg', LOGO), /not a plain file name/);
    await disk.put('theme.css', Buffer.from('body{}'));
    assert.equal((await disk.get('theme.css'))?.toString(), 'body{}');
  });
});
