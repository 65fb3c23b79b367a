// PUT /_portico/admin/config when routes.yaml is not a plain file: a symlink (an admin's link to a
// checkout), a Kubernetes ConfigMap mount (`routes.yaml -> ..data/routes.yaml`, read-only) or a FIFO.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { constants } from 'node:fs';
import { lstat, mkdir, mkdtemp, open, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { pino } from 'pino';
import { adminFeature } from '../../gateway/admin/adminFeature.ts';
import { createGateway } from '../../gateway/server.ts';
import { eventually } from '../helpers/eventually.ts';
import { json } from '../helpers/http.ts';
import { api, keys, routesYaml } from './helpers.ts';

const YAML = { 'content-type': 'application/yaml' };
const before = routesYaml('http://127.0.0.1:9/');
const after = routesYaml('http://127.0.0.1:10/');

async function start(t: TestContext, configFile: string, watch = false) {
  const gateway = createGateway({
    configFile,
    port: 0,
    host: '127.0.0.1',
    watch,
    features: [adminFeature()],
    logger: pino({ level: 'silent' }),
  });
  await gateway.listen();
  t.after(() => gateway.close(500));
  return { url: gateway.url(), gateway };
}

async function folder(t: TestContext) {
  const dir = await mkdtemp(join(tmpdir(), 'portico-kinds-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function deploy(url: string, text: string, signal?: AbortSignal) {
  const etag = String((await api(url, 'GET', 'config', { key: keys.ci.key })).headers.etag);
  const put = api(url, 'PUT', 'config', {
    key: keys.ci.key,
    body: text,
    headers: { ...YAML, 'if-match': etag },
  });
  if (!signal) return put;
  return Promise.race([
    put,
    new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(new Error('no answer')))),
  ]);
}

describe('replacing a routes.yaml that is not a plain file', () => {
  it('writes a symlinked routes.yaml through to its target, atomically, keeping the link', async (t) => {
    const dir = await folder(t);
    await mkdir(join(dir, 'checkout'));
    await mkdir(join(dir, 'etc'));
    const target = join(dir, 'checkout', 'portico.yaml');
    const link = join(dir, 'etc', 'routes.yaml');
    await writeFile(target, before);
    await symlink('../checkout/portico.yaml', link);
    const { url } = await start(t, link);
    // Another worker of --workers (or gateway) on the same file, learning of deploys by watching it.
    const { gateway: other } = await start(t, link, true);
    const was = other.config().sourceHash;
    const r = await deploy(url, after);
    assert.equal(r.status, 200, r.body.toString());
    assert.ok((await lstat(link)).isSymbolicLink(), 'routes.yaml is still the link the admin made');
    assert.equal(await readFile(target, 'utf8'), after, 'the target holds the new config');
    assert.deepEqual(
      (await readdir(join(dir, 'checkout'))).filter((n) => !n.includes('.bak-')),
      ['portico.yaml'],
      'no temporary file is left beside the target',
    );
    // The target's folder is not the one watched: the deploy touches the link so watchers reload.
    const seen = await eventually(
      async () => other.config().sourceHash,
      (h) => h !== was,
    );
    assert.equal(seen, json(r).hash, 'the other worker serves the new config too');
  });

  it('refuses with 409 a routes.yaml mounted from a Kubernetes ConfigMap, changing nothing', async (t) => {
    const dir = await folder(t);
    // What the kubelet's atomic writer makes: a timestamped folder, `..data` pointing at it, and
    // each key a link through `..data`.
    await mkdir(join(dir, '..2026_12_01_10_00_00.123456789'));
    await writeFile(join(dir, '..2026_12_01_10_00_00.123456789', 'routes.yaml'), before);
    await symlink('..2026_12_01_10_00_00.123456789', join(dir, '..data'));
    await symlink('..data/routes.yaml', join(dir, 'routes.yaml'));
    const listing = (await readdir(dir)).sort();
    const { url } = await start(t, join(dir, 'routes.yaml'));
    const r = await deploy(url, after);
    assert.equal(r.status, 409, r.body.toString());
    assert.equal(json(r).error, 'PORTICO_ERR_CONFLICT');
    assert.match(String(json(r).message), /ConfigMap/);
    assert.ok((await lstat(join(dir, 'routes.yaml'))).isSymbolicLink());
    assert.equal(await readFile(join(dir, 'routes.yaml'), 'utf8'), before);
    assert.deepEqual((await readdir(dir)).sort(), listing, 'no lock, backup or temporary file left');
  });

  it('refuses with 409, promptly, a routes.yaml that became a FIFO', async (t) => {
    const dir = await folder(t);
    const file = join(dir, 'routes.yaml');
    await writeFile(file, before);
    const { url } = await start(t, file);
    await rm(file);
    assert.equal(spawnSync('mkfifo', [file]).status, 0);
    // A read left waiting for a writer (the bug) is released when the test ends.
    t.after(async () => {
      const w = await open(file, constants.O_WRONLY | constants.O_NONBLOCK).catch(() => undefined);
      await w?.close();
    });
    const r = await deploy(url, after, AbortSignal.timeout(3000));
    assert.equal(r.status, 409, r.body.toString());
    assert.match(String(json(r).message), /not a regular file/);
  });
});
