import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { send } from '../helpers/http.ts';
import { startUpstream } from '../helpers/upstream.ts';
import { keys, routesYaml, startAdminGateway } from './helpers.ts';

const root = fileURLToPath(new URL('../..', import.meta.url));
const LOGO = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 8 8"><rect width="8" height="8"/></svg>';

/** A CI checkout: routes.yaml and branding/ in a folder of their own. */
function checkout(t: TestContext, yaml: string): { config: string; branding: string } {
  const dir = mkdtempSync(join(tmpdir(), 'portico-ci-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'routes.yaml'), yaml);
  mkdirSync(join(dir, 'branding'));
  writeFileSync(join(dir, 'branding', 'logo.svg'), LOGO);
  writeFileSync(join(dir, 'branding', 'brand.yaml'), 'productName: Acme Cloud\nlogo: logo.svg\n');
  writeFileSync(join(dir, 'branding', 'README.md'), 'not an asset');
  return { config: join(dir, 'routes.yaml'), branding: join(dir, 'branding') };
}

/** Runs scripts/deploy.sh as the CI files do (bash, curl, npx portico), without blocking the gateway. */
function deploy(
  command: string,
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      'bash',
      ['scripts/deploy.sh', command],
      {
        cwd: root,
        env: { ...process.env, PATH: `${dirname(process.execPath)}:${process.env.PATH}`, ...env },
        timeout: 30_000,
      },
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

async function setup(t: TestContext) {
  const one = await startUpstream({ handler: (_q, s) => s.end('one') });
  const two = await startUpstream({ handler: (_q, s) => s.end('two') });
  t.after(() => Promise.all([one.close(), two.close()]));
  const assets = mkdtempSync(join(tmpdir(), 'portico-brand-'));
  t.after(() => rmSync(assets, { recursive: true, force: true }));
  const gw = await startAdminGateway(t, routesYaml(one.url), { branding: { dir: assets } });
  return { one, two, gw, assets };
}

describe('scripts/deploy.sh, the deploy step of the CI examples', () => {
  it('deploys a changed routes.yaml and logo to a live Portico', async (t) => {
    const { two, gw, assets } = await setup(t);
    assert.equal((await send(gw.url, '/')).text, 'one');
    const repo = checkout(t, routesYaml(two.url));
    const r = await deploy('deploy', {
      PORTICO_URL: gw.url,
      PORTICO_API_KEY: keys.ci.key,
      PORTICO_CONFIG: repo.config,
      PORTICO_BRANDING_DIR: repo.branding,
    });
    // The ci key has no branding:write: the upload is refused, loudly, before the config changes.
    assert.equal(r.code, 1);
    assert.match(r.stderr, /branding\/assets\/logo\.svg answered 403/);
    assert.equal((await send(gw.url, '/')).text, 'one');

    gw.write(
      routesYaml(gw.gateway.config().routes[0]!.upstream!.href).replace(
        'scopes: [config:read, config:write]',
        'scopes: [config:read, config:write, branding:write]',
      ),
    );
    assert.equal(gw.gateway.reload().ok, true);
    const ok = await deploy('deploy', {
      PORTICO_URL: gw.url,
      PORTICO_API_KEY: keys.ci.key,
      PORTICO_CONFIG: repo.config,
      PORTICO_BRANDING_DIR: repo.branding,
    });
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /routes\.yaml: valid — 1 route/);
    assert.match(
      ok.stdout,
      /is live \(ETag "[0-9a-f]{64}" → "[0-9a-f]{64}"\), 2 branding asset\(s\) uploaded/,
    );
    assert.equal((await send(gw.url, '/')).text, 'two');
    assert.equal(readFileSync(join(assets, 'logo.svg'), 'utf8'), LOGO);
    assert.match(readFileSync(join(assets, 'brand.yaml'), 'utf8'), /Acme Cloud/);
    assert.ok(!ok.stdout.includes(keys.ci.key) && !ok.stderr.includes(keys.ci.key));
  });

  it('fails with the gateway’s answer when the API key is wrong, and changes nothing', async (t) => {
    const { two, gw } = await setup(t);
    const repo = checkout(t, routesYaml(two.url));
    const r = await deploy('deploy', {
      PORTICO_URL: gw.url,
      PORTICO_API_KEY: `${keys.ci.key}x`,
      PORTICO_CONFIG: repo.config,
      PORTICO_BRANDING_DIR: join(repo.branding, 'none'),
    });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /answered 401/);
    assert.match(r.stderr, /PORTICO_ERR_UNAUTHENTICATED/);
    assert.equal((await send(gw.url, '/')).text, 'one');
  });

  it('stops at validation with the line of the error, before calling the gateway', async (t) => {
    const { gw } = await setup(t);
    const repo = checkout(t, 'routes:\n  - id: app\n    path: app\n    upstream: http://127.0.0.1:9/\n');
    const before = gw.gateway.config();
    const r = await deploy('validate', { PORTICO_CONFIG: repo.config });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /routes\.yaml:3:\d+ +routes\[0\]\.path/);
    const d = await deploy('deploy', {
      PORTICO_URL: gw.url,
      PORTICO_API_KEY: keys.ci.key,
      PORTICO_CONFIG: repo.config,
    });
    assert.equal(d.code, 1);
    assert.equal(gw.gateway.config(), before);
  });
});

describe('the CI examples', () => {
  const read = (f: string) => readFileSync(join(root, f), 'utf8');

  it('GitHub Actions validates every push and pull request and deploys from main with the secret key', () => {
    const wf = parse(read('.github/workflows/portico-deploy.yml'));
    assert.ok('push' in wf.on && 'pull_request' in wf.on);
    assert.ok(wf.jobs.validate.steps.some((s: { run?: string }) => s.run === 'scripts/deploy.sh validate'));
    const deployJob = wf.jobs.deploy;
    assert.match(deployJob.if, /github\.ref == 'refs\/heads\/main'/);
    const step = deployJob.steps.find((s: { run?: string }) => s.run === 'scripts/deploy.sh deploy');
    assert.equal(step.env.PORTICO_API_KEY, '${{ secrets.PORTICO_API_KEY }}');
  });

  it('GitLab CI validates every pipeline and deploys from main', () => {
    const ci = parse(read('.gitlab-ci.yml'));
    assert.deepEqual(ci['validate-config'].script, ['scripts/deploy.sh validate']);
    assert.deepEqual(ci['deploy-config'].script, ['scripts/deploy.sh deploy']);
    assert.match(ci['deploy-config'].rules[0].if, /\$CI_COMMIT_BRANCH == "main"/);
  });

  it('the Jenkinsfile deploys only on main, with the key from Jenkins credentials', () => {
    const jf = read('Jenkinsfile');
    assert.match(jf, /sh 'scripts\/deploy\.sh validate'/);
    assert.match(
      jf,
      /when \{ branch 'main' \}[\s\S]*credentials\('portico-api-key'\)[\s\S]*sh 'scripts\/deploy\.sh deploy'/,
    );
  });
});
