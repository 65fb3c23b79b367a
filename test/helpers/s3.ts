// A real S3-compatible server for the storage tests: s3rver (npm) in a child process, on port 0,
// with a temporary data folder. s3rver checks that an access key id exists but does not check
// SigV4 signatures ("Signature version 4 calculation is unimplemented" in its
// middleware/authentication.js), so the child puts a SigV4 verifier in front of its routes: a
// request signed with a wrong secret gets 403 SignatureDoesNotMatch, as from AWS or MinIO.
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { RawStorageConfig } from '../../gateway/config/adminSchema.ts';

export type S3Server = {
  endpoint: string;
  port: number;
  bucket: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** `storage:` settings for this server (provider minio: path-style on a custom endpoint). */
  storage(extra?: Partial<RawStorageConfig>): RawStorageConfig;
  /** Stops the server process (the data folder stays): storage is down. */
  stop(): Promise<void>;
  /** Starts it again on the same port with the same data. */
  start(): Promise<void>;
  /** Requests that reached the server since it (last) started, as "METHOD /path". */
  requests(): Promise<string[]>;
};

type ChildOptions = {
  dir: string;
  port: number;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
};

export async function startS3(t: TestContext, options: { bucket?: string } = {}): Promise<S3Server> {
  const dir = mkdtempSync(join(tmpdir(), 'portico-s3-'));
  const opts: ChildOptions = {
    dir,
    port: 0,
    bucket: options.bucket ?? 'portico',
    accessKeyId: 'PORTICOTEST',
    secretAccessKey: 'portico-test-secret-key',
  };
  let child: ChildProcess | undefined;
  let lines: AsyncIterator<string> | undefined;

  const ask = async (command: string): Promise<string> => {
    child!.stdin!.write(`${command}\n`);
    const r = await lines!.next();
    if (r.done) throw new Error('s3 server exited');
    return r.value;
  };

  const start = async () => {
    child = spawn(process.execPath, [fileURLToPath(import.meta.url), JSON.stringify(opts)], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
    const first = await lines.next();
    if (first.done) throw new Error('s3 server did not start');
    opts.port = JSON.parse(first.value).port;
  };
  const stop = async () => {
    if (!child || child.exitCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
    child = undefined;
  };

  await start();
  t.after(async () => {
    await stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const endpoint = `http://127.0.0.1:${opts.port}`;
  return {
    endpoint,
    port: opts.port,
    bucket: opts.bucket,
    region: 'us-east-1',
    accessKeyId: opts.accessKeyId,
    secretAccessKey: opts.secretAccessKey,
    storage: (extra = {}) => ({
      provider: 'minio',
      endpoint,
      region: 'us-east-1',
      bucket: opts.bucket,
      accessKeyId: opts.accessKeyId,
      secretAccessKey: opts.secretAccessKey,
      maxAttempts: 2,
      ...extra,
    }),
    stop,
    start,
    requests: async () => JSON.parse(await ask('requests')) as string[],
  };
}

// ---- SigV4 verification (https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html)

const AUTH_RE =
  /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, ?SignedHeaders=([a-z0-9;-]+), ?Signature=([0-9a-f]{64})$/;

const rfc3986 = (s: string) =>
  encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const hmac = (key: string | Buffer, s: string) => createHmac('sha256', key).update(s).digest();

/** Answers an S3 error code when the request's SigV4 signature is missing or wrong. */
export function checkSigV4(req: IncomingMessage, secrets: Map<string, string>): string | undefined {
  const m = AUTH_RE.exec(req.headers.authorization ?? '');
  if (!m) return 'AccessDenied';
  const [, keyId, date, region, service, signedHeaders, signature] = m as unknown as string[];
  const secret = secrets.get(keyId!);
  if (!secret) return 'InvalidAccessKeyId';
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const query = q < 0 ? '' : url.slice(q + 1);
  const canonicalQuery = query
    .split('&')
    .filter(Boolean)
    .map((p) => {
      const i = p.indexOf('=');
      const k = decodeURIComponent(i < 0 ? p : p.slice(0, i));
      const v = decodeURIComponent(i < 0 ? '' : p.slice(i + 1));
      return `${rfc3986(k)}=${rfc3986(v)}`;
    })
    .sort()
    .join('&');
  const names = signedHeaders!.split(';');
  const canonicalHeaders = names
    .map(
      (h) =>
        `${h}:${String(req.headers[h] ?? '')
          .trim()
          .replace(/\s+/g, ' ')}\n`,
    )
    .join('');
  const canonicalRequest = [
    req.method,
    path,
    canonicalQuery,
    canonicalHeaders,
    signedHeaders,
    req.headers['x-amz-content-sha256'] ?? 'UNSIGNED-PAYLOAD',
  ].join('\n');
  const scope = `${date}/${region}/${service}/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', req.headers['x-amz-date'], scope, sha256(canonicalRequest)].join('\n');
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, date!), region!), service!), 'aws4_request');
  const expected = Buffer.from(hmac(key, toSign).toString('hex'));
  const given = Buffer.from(signature!);
  return expected.length === given.length && timingSafeEqual(expected, given)
    ? undefined
    : 'SignatureDoesNotMatch';
}

// ---- the child process

async function child(o: ChildOptions): Promise<void> {
  const require = createRequire(import.meta.url);
  const S3rver = require('s3rver');
  const S3Error = require('s3rver/lib/models/error');
  const { DUMMY_ACCOUNT } = require('s3rver/lib/models/account');
  DUMMY_ACCOUNT.createKeyPair(o.accessKeyId, o.secretAccessKey);
  const secrets = new Map([[o.accessKeyId, o.secretAccessKey]]);
  const server = new S3rver({
    address: '127.0.0.1',
    port: o.port,
    silent: true,
    directory: o.dir,
    allowMismatchedSignatures: false,
    vhostBuckets: false,
    configureBuckets: [{ name: o.bucket }],
  });
  const seen: string[] = [];
  // Koa composes its middleware when it starts listening: this check runs before every route.
  server.middleware.unshift(async (kctx: { req: IncomingMessage }, next: () => Promise<void>) => {
    seen.push(`${kctx.req.method} ${kctx.req.url!.split('?')[0]}`);
    const problem = checkSigV4(kctx.req, secrets);
    if (problem) throw new S3Error(problem, `SigV4 check failed: ${problem}`);
    await next();
  });
  const address = await server.run();
  process.stdout.write(`${JSON.stringify({ port: address.port })}\n`);
  for await (const line of createInterface({ input: process.stdin })) {
    if (line === 'requests') process.stdout.write(`${JSON.stringify(seen)}\n`);
  }
  process.exit(0);
}

if (import.meta.main) await child(JSON.parse(process.argv[2]!) as ChildOptions);
