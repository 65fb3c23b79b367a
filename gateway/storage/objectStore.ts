import { createRequire } from 'node:module';
import type { S3Client, S3ClientConfig, S3ServiceException } from '@aws-sdk/client-s3';
import type { RawStorageConfig } from '../config/adminSchema.ts';
import { parseDuration } from '../config/duration.ts';

export type StoredObject = {
  key: string;
  body: Buffer;
  contentType: string | undefined;
  etag: string | undefined;
  lastModified: Date | undefined;
};

export type ListedObject = {
  key: string;
  size: number;
  etag: string | undefined;
  lastModified: Date | undefined;
};

/**
 * One bucket (and key prefix) of an S3-compatible service. Keys given to and returned by these
 * methods are relative to `storage.prefix`. Retries are the SDK's own (`maxAttempts`).
 */
export type ObjectStore = {
  readonly provider: RawStorageConfig['provider'];
  readonly bucket: string;
  readonly prefix: string;
  readonly client: S3Client;
  /** The object, or undefined when there is none. */
  get(key: string): Promise<StoredObject | undefined>;
  /** Like get, but answers 'unchanged' (no body transferred) while the object still has `etag`. */
  getIfChanged(key: string, etag: string | undefined): Promise<StoredObject | 'unchanged' | undefined>;
  put(key: string, body: Buffer, options?: { contentType?: string }): Promise<{ etag: string | undefined }>;
  list(prefix?: string): Promise<ListedObject[]>;
  delete(key: string): Promise<void>;
  destroy(): void;
};

/** A storage call that failed after the SDK's retries; `cause` is the SDK error. */
export class StorageError extends Error {
  readonly code: string;
  readonly status: number | undefined;
  constructor(operation: string, key: string, cause: unknown) {
    const e = cause as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
    const code = e?.name && e.name !== 'Error' ? e.name : ((cause as NodeJS.ErrnoException)?.code ?? 'Error');
    super(`storage ${operation} ${key}: ${code}${e?.message ? ` (${e.message})` : ''}`, { cause });
    this.name = 'StorageError';
    this.code = code;
    this.status = e?.$metadata?.httpStatusCode;
  }
}

/**
 * SDK settings per provider. AWS S3 keeps the SDK defaults. Alibaba OSS and Tencent COS only
 * accept virtual-hosted-style requests (`https://<bucket>.<endpoint>/<key>`) on their regional
 * endpoints; MinIO is addressed path-style on the endpoint you run it at. The non-AWS services
 * get checksums only where the API requires them: the SDK's default CRC32 headers (added in
 * 3.729) are not understood by every S3-compatible service.
 */
export function clientConfigFor(c: RawStorageConfig): S3ClientConfig {
  const region = c.region ?? 'us-east-1';
  const common: S3ClientConfig = {
    region,
    maxAttempts: c.maxAttempts ?? 3,
    requestHandler: { connectionTimeout: 3000, requestTimeout: parseDuration(c.timeout ?? '15s') },
    credentials:
      c.accessKeyId && c.secretAccessKey
        ? { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey, sessionToken: c.sessionToken }
        : undefined,
  };
  const thirdParty: S3ClientConfig = {
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  };
  switch (c.provider) {
    case 's3':
      return { ...common, endpoint: c.endpoint, forcePathStyle: c.forcePathStyle ?? false };
    case 'oss': {
      if (c.forcePathStyle) throw new Error('Alibaba OSS does not accept path-style requests');
      // Region ids are cn-hangzhou style; the SDK-facing endpoint is OSS's S3-compatible one.
      const id = region.replace(/^oss-/, '');
      return {
        ...common,
        ...thirdParty,
        region: id,
        endpoint: c.endpoint ?? `https://s3.oss-${id}.aliyuncs.com`,
        forcePathStyle: false,
      };
    }
    case 'cos':
      if (c.forcePathStyle) throw new Error('Tencent COS does not accept path-style requests');
      return {
        ...common,
        ...thirdParty,
        endpoint: c.endpoint ?? `https://cos.${region}.myqcloud.com`,
        forcePathStyle: false,
      };
    case 'minio':
      if (!c.endpoint) throw new Error('MinIO needs storage.endpoint');
      return { ...common, ...thirdParty, endpoint: c.endpoint, forcePathStyle: c.forcePathStyle ?? true };
  }
}

type Sdk = typeof import('@aws-sdk/client-s3');
let sdk: Sdk | undefined;
/**
 * The S3 SDK is loaded when a store is made, not when Portico starts: it costs ~36 MB and ~90 ms
 * of start-up (measured), which a config without `storage:` should never pay. It has a CommonJS
 * build, so it loads synchronously here.
 */
function loadSdk(): Sdk {
  sdk ??= createRequire(import.meta.url)('@aws-sdk/client-s3') as Sdk;
  return sdk;
}

export function createObjectStore(c: RawStorageConfig): ObjectStore {
  const {
    S3Client,
    S3ServiceException,
    GetObjectCommand,
    PutObjectCommand,
    ListObjectsV2Command,
    DeleteObjectCommand,
  } = loadSdk();
  const isMissing = (err: unknown) =>
    err instanceof S3ServiceException && (err.name === 'NoSuchKey' || err.$metadata.httpStatusCode === 404);
  const client = new S3Client(clientConfigFor(c));
  const prefix = c.prefix ?? '';
  const Bucket = c.bucket;
  const full = (key: string) => prefix + key;

  const read = async (key: string, ifNoneMatch: string | undefined) => {
    try {
      const r = await client.send(new GetObjectCommand({ Bucket, Key: full(key), IfNoneMatch: ifNoneMatch }));
      const object: StoredObject = {
        key,
        body: Buffer.from(await r.Body!.transformToByteArray()),
        contentType: r.ContentType,
        etag: r.ETag,
        lastModified: r.LastModified,
      };
      return object;
    } catch (err) {
      if (isMissing(err)) return undefined;
      if (ifNoneMatch && (err as S3ServiceException).$metadata?.httpStatusCode === 304) return 'unchanged';
      throw new StorageError('get', full(key), err);
    }
  };

  return {
    provider: c.provider,
    bucket: Bucket,
    prefix,
    client,
    get: (key) => read(key, undefined) as Promise<StoredObject | undefined>,
    getIfChanged: (key, etag) => read(key, etag),
    async put(key, body, options = {}) {
      try {
        const r = await client.send(
          new PutObjectCommand({ Bucket, Key: full(key), Body: body, ContentType: options.contentType }),
        );
        return { etag: r.ETag };
      } catch (err) {
        throw new StorageError('put', full(key), err);
      }
    },
    async list(under = '') {
      const out: ListedObject[] = [];
      let token: string | undefined;
      try {
        do {
          const r = await client.send(
            new ListObjectsV2Command({ Bucket, Prefix: full(under), ContinuationToken: token }),
          );
          for (const o of r.Contents ?? [])
            out.push({
              key: o.Key!.slice(prefix.length),
              size: o.Size ?? 0,
              etag: o.ETag,
              lastModified: o.LastModified,
            });
          token = r.IsTruncated ? r.NextContinuationToken : undefined;
        } while (token);
      } catch (err) {
        throw new StorageError('list', full(under), err);
      }
      return out;
    },
    async delete(key) {
      try {
        await client.send(new DeleteObjectCommand({ Bucket, Key: full(key) }));
      } catch (err) {
        if (!isMissing(err)) throw new StorageError('delete', full(key), err);
      }
    },
    destroy: () => client.destroy(),
  };
}
