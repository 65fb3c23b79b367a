import { ANY_ROUTE } from '../helpers/gateway.ts';
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { RawStorageConfig } from '../../gateway/config/adminSchema.ts';
import { type ConfigError, loadConfigText } from '../../gateway/config/loadConfig.ts';
import { clientConfigFor, createObjectStore, StorageError } from '../../gateway/storage/objectStore.ts';
import { startS3 } from '../helpers/s3.ts';

/** The URL the SDK would call, captured after signing; nothing goes on the network. */
async function requestUrl(storage: RawStorageConfig, key = 'branding/logo.svg'): Promise<URL> {
  const store = createObjectStore({ accessKeyId: 'AKID', secretAccessKey: 'secret', ...storage });
  let url: URL | undefined;
  store.client.middlewareStack.add(
    (_next) => async (args) => {
      const r = args.request as { protocol: string; hostname: string; port?: number; path: string };
      url = new URL(`${r.protocol}//${r.hostname}${r.port ? `:${r.port}` : ''}${r.path}`);
      return { output: { $metadata: {} } as never, response: {} };
    },
    { step: 'finalizeRequest', priority: 'low', name: 'captureUrl' },
  );
  await store.put(key, Buffer.from('<svg/>'), { contentType: 'image/svg+xml' });
  store.destroy();
  return url!;
}

describe('provider defaults', () => {
  it('sends Alibaba OSS requests virtual-hosted to its S3-compatible regional endpoint', async () => {
    const url = await requestUrl({ provider: 'oss', region: 'cn-hangzhou', bucket: 'brand' });
    assert.equal(url.href, 'https://brand.s3.oss-cn-hangzhou.aliyuncs.com/branding/logo.svg');
    assert.equal(
      (await requestUrl({ provider: 'oss', region: 'oss-cn-beijing', bucket: 'brand-b' })).hostname,
      'brand-b.s3.oss-cn-beijing.aliyuncs.com',
    );
  });

  it('sends Tencent COS requests virtual-hosted to cos.<region>.myqcloud.com', async () => {
    const url = await requestUrl({ provider: 'cos', region: 'ap-guangzhou', bucket: 'brand-1250000000' });
    assert.equal(url.href, 'https://brand-1250000000.cos.ap-guangzhou.myqcloud.com/branding/logo.svg');
  });

  it('sends MinIO requests path-style to the configured endpoint', async () => {
    const url = await requestUrl({
      provider: 'minio',
      endpoint: 'http://minio:9000',
      bucket: 'portico',
      prefix: 'gw/',
    });
    assert.equal(url.href, 'http://minio:9000/portico/gw/branding/logo.svg');
  });

  it('uses the AWS default virtual-hosted endpoint for S3', async () => {
    const url = await requestUrl({ provider: 's3', region: 'eu-west-1', bucket: 'portico-brand' });
    assert.equal(url.href, 'https://portico-brand.s3.eu-west-1.amazonaws.com/branding/logo.svg');
  });

  it('asks non-AWS services for checksums only where the API requires them', () => {
    const c = clientConfigFor({ provider: 'cos', region: 'ap-shanghai', bucket: 'b' });
    assert.equal(c.requestChecksumCalculation, 'WHEN_REQUIRED');
    assert.equal(clientConfigFor({ provider: 's3', bucket: 'b' }).requestChecksumCalculation, undefined);
  });

  it('refuses path-style for OSS and COS and a MinIO without an endpoint, with line numbers', () => {
    const text = `storage:\n  provider: oss\n  region: cn-hangzhou\n  bucket: brand\n  forcePathStyle: true\n${ANY_ROUTE}`;
    assert.throws(
      () => loadConfigText(text),
      (err: ConfigError) => {
        assert.deepEqual(
          err.problems.map((p) => [p.line, p.path, p.message]),
          [[5, 'storage.forcePathStyle', 'must be one of false']],
        );
        return true;
      },
    );
    assert.throws(
      () => loadConfigText('storage: { provider: minio, bucket: brand }\n'),
      (err: ConfigError) =>
        err.problems.some((p) => p.message === 'missing required key "endpoint"' && p.line === 1),
    );
    assert.throws(() => clientConfigFor({ provider: 'cos', region: 'r', bucket: 'b', forcePathStyle: true }));
  });
});

describe('object store against a real S3-compatible server', () => {
  it('puts, gets, lists and deletes objects under the configured prefix', async (t) => {
    const s3 = await startS3(t);
    const store = createObjectStore(s3.storage({ prefix: 'gw/' }));
    t.after(() => store.destroy());
    await store.put('a/one.txt', Buffer.from('one'), { contentType: 'text/plain' });
    await store.put('a/two.txt', Buffer.from('two'));
    const got = await store.get('a/one.txt');
    assert.equal(got?.body.toString(), 'one');
    assert.equal(got?.contentType, 'text/plain');
    assert.deepEqual(
      (await store.list('a/')).map((o) => o.key),
      ['a/one.txt', 'a/two.txt'],
    );
    assert.equal(await store.getIfChanged('a/one.txt', got?.etag), 'unchanged');
    await store.delete('a/one.txt');
    assert.equal(await store.get('a/one.txt'), undefined);
    assert.ok((await s3.requests()).includes('PUT /portico/gw/a/one.txt'));
  });

  it('is refused with SignatureDoesNotMatch when signed with a wrong secret key', async (t) => {
    const s3 = await startS3(t);
    const wrong = createObjectStore(s3.storage({ secretAccessKey: 'not-the-secret' }));
    t.after(() => wrong.destroy());
    await assert.rejects(wrong.put('x.txt', Buffer.from('x')), (err: StorageError) => {
      assert.equal(err.code, 'SignatureDoesNotMatch');
      assert.equal(err.status, 403);
      return true;
    });
    // The same request, signed by the SDK with the right secret, goes through.
    const client = new S3Client({
      region: s3.region,
      endpoint: s3.endpoint,
      forcePathStyle: true,
      credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
    });
    t.after(() => client.destroy());
    await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: 'x.txt', Body: 'x' }));
  });

  it('reports an unreachable server as a StorageError after the SDK retries', async (t) => {
    const s3 = await startS3(t);
    await s3.stop();
    const store = createObjectStore(s3.storage({ maxAttempts: 2 }));
    t.after(() => store.destroy());
    await assert.rejects(
      store.get('x'),
      (err: StorageError) => err instanceof StorageError && /ECONNREFUSED/.test(err.message + err.code),
    );
  });
});
