import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { adminFeature } from '../../gateway/admin/adminFeature.ts';
import { brandingFeature } from '../../gateway/branding/brandingFeature.ts';
import { createObjectStore } from '../../gateway/storage/objectStore.ts';
import { operations } from '../../gateway/ops/operations.ts';
import { storageFeature } from '../../gateway/storage/storageFeature.ts';
import { api, keys, routesYaml } from '../admin/helpers.ts';
import { startGateway } from '../helpers/gateway.ts';
import { json, send } from '../helpers/http.ts';
import { startS3 } from '../helpers/s3.ts';
import { eventually } from '../helpers/eventually.ts';

describe('storage feature in a running gateway', () => {
  it('puts a logo uploaded through the admin API into the bucket and archives the change', async (t) => {
    const s3 = await startS3(t);
    process.env.STORAGE_TEST_SECRET = s3.secretAccessKey;
    t.after(() => delete process.env.STORAGE_TEST_SECRET);
    const yaml = routesYaml('http://127.0.0.1:9/', {
      extra: `storage:
  provider: minio
  endpoint: "${s3.endpoint}"
  bucket: ${s3.bucket}
  accessKeyId: ${s3.accessKeyId}
  secretAccessKey: \${STORAGE_TEST_SECRET}
  auditArchive: { interval: 60s }
`,
    });
    const storage = storageFeature();
    const gw = await startGateway(t, yaml, {
      features: [
        storage.feature,
        brandingFeature({ dir: 'unused', source: storage.brandAssets }),
        adminFeature({ branding: { dir: 'unused', source: storage.brandAssets } }),
      ],
    });
    const upload = (name: string, body: string) =>
      api(gw.url, 'PUT', `branding/assets/${name}`, {
        key: keys.brand.key,
        body,
        headers: { 'content-type': 'application/octet-stream' },
      });
    const svg = '<svg xmlns="http://www.w3.org/2000/svg"><path d="M0 0h8v8z"/></svg>';
    assert.equal((await upload('logo.svg', svg)).status, 200);
    const r = await upload('brand.yaml', 'productName: Acme Cloud\nlogo: logo.svg\n');
    assert.equal(r.status, 200, r.text);
    assert.equal((await storage.brandAssets.get('logo.svg'))?.toString(), svg);
    // The branding module reloads from the bucket and serves the new logo.
    const served = await eventually(
      () => send(gw.url, '/_portico/branding/logo.svg'),
      (r) => r.status === 200,
      { timeoutMs: 2000 },
    );
    assert.equal(served.status, 200);
    assert.equal(served.text, svg);

    const ready = json<{ checks: { storage: { ok: boolean; provider: string } } }>(
      await send(gw.url, '/_portico/readyz'),
    );
    assert.deepEqual([ready.checks.storage.ok, ready.checks.storage.provider], [true, 'minio']);

    await gw.gateway.close(100);
    const store = createObjectStore(s3.storage());
    t.after(() => store.destroy());
    assert.equal((await store.get('branding/logo.svg'))?.body.toString(), svg);
    const batches = await store.list('audit/');
    assert.equal(batches.length, 1);
    const events = gunzipSync((await store.get(batches[0]!.key))!.body)
      .toString()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.ok(
      events.some((e) => e.type === 'admin.change' && e.actor === 'brand' && e.detail.name === 'brand.yaml'),
      JSON.stringify(events),
    );
  });

  it('answers 503 to an asset upload while storage is down, and keeps serving the cached logo', async (t) => {
    const s3 = await startS3(t);
    const yaml = routesYaml('http://127.0.0.1:9/', {
      extra: `storage: { provider: minio, endpoint: "${s3.endpoint}", bucket: ${s3.bucket}, accessKeyId: ${s3.accessKeyId}, secretAccessKey: ${s3.secretAccessKey}, maxAttempts: 1 }\n`,
    });
    const storage = storageFeature();
    const gw = await startGateway(t, yaml, {
      features: [storage.feature, adminFeature({ branding: { dir: 'unused', source: storage.brandAssets } })],
    });
    const upload = (body: string) =>
      api(gw.url, 'PUT', 'branding/assets/logo.svg', {
        key: keys.brand.key,
        body,
        headers: { 'content-type': 'image/svg+xml' },
      });
    const svg = '<svg xmlns="http://www.w3.org/2000/svg"/>';
    assert.equal((await upload(svg)).status, 200);
    await s3.stop();
    const r = await upload('<svg xmlns="http://www.w3.org/2000/svg"><g/></svg>');
    assert.equal(r.status, 503);
    assert.equal(json(r).error, 'PORTICO_ERR_UNAVAILABLE');
    assert.equal((await storage.brandAssets.get('logo.svg'))?.toString(), svg);
  });

  it("says on the public readyz that the audit archive is failing, without the store's error text", async (t) => {
    const yaml = `routes:
  - { id: app, path: /, upstream: "http://127.0.0.1:9/" }
storage:
  provider: minio
  endpoint: "http://127.0.0.1:1"
  bucket: internal-audit-bucket
  accessKeyId: AKIAEXAMPLE
  secretAccessKey: verysecret
  maxAttempts: 1
  auditArchive: { interval: 1s }
`;
    const storage = storageFeature();
    const gw = await startGateway(t, yaml, { features: [storage.feature] });
    gw.gateway.events.emit('login', { idp: 'corp', result: 'failure', ip: '192.0.2.7' } as never);
    const ready = await eventually(
      () => send(gw.url, '/_portico/readyz'),
      (r) =>
        json<{ checks: { storage: { auditArchive: { failing: boolean } } } }>(r).checks.storage.auditArchive
          .failing,
      { timeoutMs: 5000 },
    );
    assert.doesNotMatch(ready.text, /127\.0\.0\.1:1|ECONNREFUSED|internal-audit-bucket|lastError/);
  });

  it('bounds the audit spool by storage.auditArchive.maxSpoolSize and says so on readyz, still ready', async (t) => {
    const s3 = await startS3(t);
    await s3.stop();
    const yaml = `routes:
  - { id: app, path: /, upstream: "http://127.0.0.1:9/" }
storage:
  provider: minio
  endpoint: "${s3.endpoint}"
  bucket: ${s3.bucket}
  accessKeyId: ${s3.accessKeyId}
  secretAccessKey: ${s3.secretAccessKey}
  maxAttempts: 1
  auditArchive: { interval: 60s, maxSpoolSize: 16k }
`;
    const storage = storageFeature();
    const gw = await startGateway(t, yaml, { features: [storage.feature, operations] });
    for (let i = 0; i < 500; i++)
      gw.gateway.events.emit('login', { idp: 'corp', result: 'failure', user: `u${i}`, ip: '192.0.2.7' });
    const r = await send(gw.url, '/_portico/readyz');
    assert.equal(r.status, 200, 'a full spool does not make the gateway unready');
    const archive = json<{
      checks: {
        storage: {
          ok: boolean;
          auditArchive: { spoolFull: boolean; dropped: number; spoolBytes: number; maxSpoolBytes: number };
        };
      };
    }>(r).checks.storage;
    assert.equal(archive.ok, true);
    assert.equal(archive.auditArchive.spoolFull, true);
    assert.equal(archive.auditArchive.maxSpoolBytes, 16 * 1024);
    assert.ok(archive.auditArchive.spoolBytes <= 16 * 1024, JSON.stringify(archive));
    assert.ok(archive.auditArchive.dropped > 0, JSON.stringify(archive));
    // And on the metrics, for an alert rule: the spool's size, and what was dropped.
    const metrics = (await send(gw.url, '/_portico/metrics')).text;
    const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)?.[1]);
    assert.ok(value('portico_audit_spool_bytes') > 0, metrics.slice(0, 200));
    assert.ok(value('portico_audit_events_dropped_total') > 0, 'dropped events counted');
  });

  it('asks the bucket once about a name only a visitor requested, never again in the background', async (t) => {
    const s3 = await startS3(t);
    process.env.STORAGE_TEST_SECRET = s3.secretAccessKey;
    t.after(() => delete process.env.STORAGE_TEST_SECRET);
    const store = createObjectStore(s3.storage());
    t.after(() => store.destroy());
    await store.put('branding/brand.yaml', Buffer.from('productName: Acme Cloud\n'));
    const yaml = routesYaml('http://127.0.0.1:9/', {
      extra: `storage:
  provider: minio
  endpoint: "${s3.endpoint}"
  bucket: ${s3.bucket}
  accessKeyId: ${s3.accessKeyId}
  secretAccessKey: \${STORAGE_TEST_SECRET}
  branding: { refresh: 200ms }
  auditArchive: { enabled: false }
`,
    });
    const storage = storageFeature();
    const gw = await startGateway(t, yaml, {
      features: [storage.feature, brandingFeature({ dir: 'unused', source: storage.brandAssets })],
    });
    const asked = async () => (await s3.requests()).filter((r) => r.includes('/probe-')).length;
    await eventually(
      () => send(gw.url, '/_portico/branding/theme.css'),
      (r) => r.status === 200,
      { timeoutMs: 5000 },
    );
    // Anonymous requests for names the bucket does not have (any name anyone types).
    for (let i = 0; i < 20; i++)
      assert.equal((await send(gw.url, `/_portico/branding/probe-${i}.png`)).status, 404);
    assert.equal(await asked(), 20);
    // Several refresh periods later they were not asked about again (they were, every period,
    // and kept in memory for good: the gateway's wrapper dropped the visitor flag).
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(await asked(), 20);
  });
});
