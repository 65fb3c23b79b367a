import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
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

/**
 * A TCP relay in front of the S3 server that counts the connections made to it; while `down`, it
 * resets each at once (the bucket unreachable: each SDK attempt is one connection, counted).
 */
async function relayTo(t: TestContext, s3: S3Server) {
  const sockets = new Set<Socket>();
  const relay = {
    down: false,
    refused: 0,
    endpoint: '',
    /** Down, kept-alive connections included. */
    cut() {
      relay.down = true;
      for (const s of sockets) s.destroy();
    },
  };
  const server = createServer((client) => {
    sockets.add(client);
    client.on('close', () => sockets.delete(client));
    if (relay.down) {
      relay.refused++;
      client.resetAndDestroy();
      return;
    }
    const upstream = connect(s3.port, '127.0.0.1');
    sockets.add(upstream);
    upstream.on('close', () => sockets.delete(upstream));
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  relay.endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  t.after(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return relay;
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

  it("does not multiply bucket calls for visitors' names while the bucket is unreachable", async (t) => {
    const s3 = await startS3(t);
    const relay = await relayTo(t, s3);
    const store = createObjectStore(s3.storage({ endpoint: relay.endpoint, maxAttempts: 3 }));
    t.after(() => store.destroy());
    const assets = cachedBrandAssets({ store: () => store, cacheDir: tempDir(t), refreshMs: 100 });
    await assets.put('logo.svg', LOGO);
    relay.cut();
    // Anonymous requests for names anyone may type, one after the other and at once.
    await assert.rejects(assets.get('probe-first.png', { visitor: true }), /storage get/);
    const oneCycle = relay.refused;
    assert.ok(oneCycle >= 1 && oneCycle <= 3, `one retry cycle of the SDK, not ${oneCycle} calls`);
    for (let i = 0; i < 20; i++)
      await assert.rejects(assets.get(`probe-${i}.png`, { visitor: true }), /storage get/);
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        assert.rejects(assets.get(`probe-at-once-${i}.png`, { visitor: true }), /storage get/),
      ),
    );
    assert.equal(relay.refused, oneCycle, 'no bucket call while it is known to fail');
    // Once the pause is over, one request at a time asks again.
    await new Promise((r) => setTimeout(r, 1100));
    await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        assert.rejects(assets.get(`probe-later-${i}.png`, { visitor: true }), /storage get/),
      ),
    );
    const probed = relay.refused - oneCycle;
    assert.ok(probed >= 1 && probed <= 3, `one probe, not one per request: ${probed} calls`);
    // The bucket is back: the next probe finds it, and visitors are answered from it again.
    relay.down = false;
    await new Promise((r) => setTimeout(r, 1100));
    assert.equal(await assets.get('probe-back.png', { visitor: true }), undefined);
    assert.deepEqual(await assets.get('logo.svg', { visitor: true }), LOGO);
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
