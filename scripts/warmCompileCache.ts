// Fills Node's compile cache with every module the gateway can load — its own TypeScript, stripped
// and compiled, and the packages it imports — so that a container starts from a warm cache the
// first time: the image build runs this (Dockerfile), and the image sets NODE_COMPILE_CACHE to
// the same folder. Without it, every new container (and every pod on a read-only root filesystem,
// where nothing can be written to the temp folder) strips and compiles everything again on start,
// and keeps the TypeScript stripper in memory (~20 MB).
// Usage: node scripts/warmCompileCache.ts [folder]   (default: $NODE_COMPILE_CACHE)
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import module from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const folder = process.argv[2] ?? process.env.NODE_COMPILE_CACHE;
if (!folder) {
  process.stderr.write('usage: node scripts/warmCompileCache.ts <folder> (or set NODE_COMPILE_CACHE)\n');
  process.exit(2);
}
const enabled = module.enableCompileCache(folder);
if (enabled.status === module.constants.compileCacheStatus.FAILED) {
  process.stderr.write(`cannot use ${folder} as the compile cache: ${enabled.message}\n`);
  process.exit(1);
}
const gateway = join(import.meta.dirname, '..', 'gateway');
// Every module, the lazily loaded ones too (express, the S3 SDK, SAML, LDAP…): a config that uses
// them must start as fast. navClient.js runs in the browser, not here.
const files = readdirSync(gateway, { recursive: true, encoding: 'utf8' })
  .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
  .sort();
const failed: string[] = [];
for (const file of files) {
  try {
    await import(pathToFileURL(join(gateway, file)).href);
  } catch (err) {
    failed.push(`${file}: ${(err as Error).message}`);
  }
}
// The packages the gateway loads on first use, the way it loads them: some with require() (which
// can pick other files than import() does: @aws-sdk's dist-cjs), some with import().
const root = join(import.meta.dirname, '..');
const require = module.createRequire(join(root, 'package.json'));
const { dependencies } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
};
for (const name of Object.keys(dependencies)) {
  const errors: string[] = [];
  await import(name).catch((err: Error) => errors.push(err.message));
  try {
    require(name);
  } catch (err) {
    errors.push((err as Error).message);
  }
  if (errors.length === 2) failed.push(`${name}: ${errors[0]}`);
}
// undici loads its HTTP parser when it opens its first connection.
for (const parser of ['undici/lib/llhttp/llhttp_simd-wasm.js', 'undici/lib/llhttp/llhttp-wasm.js']) {
  try {
    require(parser);
  } catch (err) {
    failed.push(`${parser}: ${(err as Error).message}`);
  }
}
module.flushCompileCache();
// The launcher runs before anything else: started once, as the image starts it (`help` does nothing else).
const launcher = spawnSync(process.execPath, [join(root, 'scripts/portico.js'), 'help'], {
  env: { ...process.env, NODE_COMPILE_CACHE: folder },
  stdio: 'ignore',
});
if (launcher.status !== 0) failed.push(`scripts/portico.js help exited with ${launcher.status}`);
if (failed.length > 0) {
  process.stderr.write(`could not load ${failed.length} module(s):\n${failed.join('\n')}\n`);
  process.exit(1);
}
process.stdout.write(
  `compile cache in ${enabled.directory ?? folder}: ${files.length} gateway modules, ${Object.keys(dependencies).length} packages\n`,
);
process.exit(0);
