// A pure reverse proxy (one route, no sign-in, no session store, no storage) must not pay for what
// it does not use: started as users start it, it loads none of the libraries of sign-in, tokens,
// storage, the OpenID Provider, Sentry or Redis, no schema compiler and no fetch implementation;
// nor express (Portico's own endpoints, made on their first request; health checks do without)
// or the HTML sanitiser (the brand's footer, sanitised when a page first shows it).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { eventually, statusOnceUp } from '../helpers/eventually.ts';
import { send } from '../helpers/http.ts';
import { pureProxyConfigFile } from '../helpers/porticoProcess.ts';

const ROOT = resolve(import.meta.dirname, '..', '..');

/** What only a config that asks for it may load. */
const UNUSED_PACKAGES = [
  '@aws-sdk/client-s3',
  '@sentry/node',
  '@node-saml/node-saml',
  '@xmldom/xmldom',
  'ldapts',
  'oidc-provider',
  'openid-client',
  'jose',
  'ioredis',
  'express',
  'helmet',
  'sanitize-html',
  // The metrics library: loaded by the first scrape (or a backlog of 1,000 updates).
  'prom-client',
  '@opentelemetry/api',
];

/** Portico's own modules for what is asked for rarely, loaded by the first request or command that needs them. */
const UNUSED_MODULES = [
  'gateway/admin/adminRouter.ts',
  'gateway/admin/hashKeyCommand.ts',
  'gateway/auth/loginRouter.ts',
  'gateway/auth/providers/saml/metadataRouter.ts',
  'gateway/explain/explainCommand.ts',
  'gateway/notify/sinkWorker.ts',
  'gateway/notify/sinks/index.ts',
];

function packageOf(url: string): string | undefined {
  return /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url)?.[1];
}

describe('portico serve with a pure-proxy config', () => {
  it('answers through its route having loaded none of the libraries the config does not use', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'portico-footprint-'));
    const { file, port } = await pureProxyConfigFile(t, dir);
    const loaded = join(dir, 'loaded.json');
    const child = spawn(
      process.execPath,
      [
        '--import',
        join(ROOT, 'test/helpers/recordModules.ts'),
        'scripts/portico.js',
        'serve',
        '--config',
        file,
      ],
      { cwd: ROOT, env: { ...process.env, PORTICO_LOADED_MODULES: loaded }, stdio: 'ignore' },
    );
    const exited = once(child, 'exit');
    t.after(() => child.exitCode === null && child.kill('SIGKILL'));

    const status = await statusOnceUp(`http://127.0.0.1:${port}`, '/app/x');
    assert.equal(status, 200);
    // Probes do not count as a use of Portico's own endpoints: they are answered without express.
    for (const probe of ['/_portico/healthz', '/_portico/readyz'])
      assert.equal((await send(`http://127.0.0.1:${port}`, probe)).status, 200, probe);
    child.kill('SIGTERM');
    await exited;

    const { files, internal } = JSON.parse(readFileSync(loaded, 'utf8')) as {
      files: string[];
      internal: string[];
    };
    assert.ok(
      files.some((f) => f.endsWith('/gateway/server.ts')),
      'the record covers the gateway',
    );
    const packages = new Set(files.map(packageOf));
    assert.deepEqual(
      UNUSED_PACKAGES.filter((p) => packages.has(p)),
      [],
    );
    assert.deepEqual(
      UNUSED_MODULES.filter((m) => files.some((f) => f.endsWith(`/${m}`))),
      [],
    );
    assert.deepEqual(
      files.filter((f) => /\/ajv\/dist\/(core|compile)\b/.test(f)),
      [],
      'the config schema is validated by the code `npm run schemas` generates, not compiled at start',
    );
    assert.deepEqual(
      files.filter((f) => /\/undici\/lib\/web\//.test(f)),
      [],
      'only the undici dispatchers the proxy forwards with are loaded',
    );
    assert.ok(
      !internal.some((m) => m.includes('internal/deps/undici')),
      "Node's bundled fetch (undici) is not loaded",
    );
    // Plain HTTP both ways: no TLS state (3.2 MB of idle RSS with node:http2, which undici's
    // client would load at once).
    assert.deepEqual(
      internal.filter((m) => /^NativeModule (tls|https|http2|zlib)$/.test(m)),
      [],
      'node:tls, node:https, node:http2 and node:zlib are loaded only by a config that uses them',
    );
  });

  it('gives back the memory its start used once it is first idle, and says so once', async (t) => {
    const { file, port } = await pureProxyConfigFile(t, mkdtempSync(join(tmpdir(), 'portico-footprint-')));
    const child = spawn(process.execPath, ['scripts/portico.js', 'serve', '--config', file], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = once(child, 'exit');
    t.after(() => child.exitCode === null && child.kill('SIGKILL'));
    const lines: Record<string, unknown>[] = [];
    createInterface({ input: child.stdout! }).on('line', (line) => lines.push(JSON.parse(line)));
    assert.equal(await statusOnceUp(`http://127.0.0.1:${port}`, '/app/x'), 200);
    const released = await eventually(
      async () => lines.find((l) => l.msg === 'start memory released'),
      (l) => l !== undefined,
      // V8's memory reducer looks ~8 s after the start, and again 8 s later.
      { timeoutMs: 30_000 },
    );
    const { rssBeforeMb, rssAfterMb } = released as { rssBeforeMb: number; rssAfterMb: number };
    assert.ok(rssAfterMb < rssBeforeMb - 2, `RSS ${rssBeforeMb} → ${rssAfterMb} MB`);
    // The gateway answers as before, and it does nothing more when it falls idle again.
    assert.equal((await send(`http://127.0.0.1:${port}`, '/app/y')).status, 200);
    await sleep(3000);
    child.kill('SIGTERM');
    await exited;
    assert.equal(lines.filter((l) => l.msg === 'start memory released').length, 1);
  });
});
