import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { defaultFeatures } from '../../gateway/features.ts';
import { startGateway } from '../helpers/gateway.ts';
import { json } from '../helpers/http.ts';
import { api, keys, routesYaml } from './helpers.ts';

const INSTALL_BRANDING = join(import.meta.dirname, '..', '..', 'branding');
const SVG = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 8 8"><rect width="8" height="8"/></svg>';

/** Portico's own logo, put back if a broken build overwrites it, so the checkout survives the test. */
function guardInstallLogo(t: TestContext): () => string {
  const file = join(INSTALL_BRANDING, 'logo.svg');
  const before = readFileSync(file, 'utf8');
  t.after(() => {
    if (readFileSync(file, 'utf8') !== before) writeFileSync(file, before);
  });
  return () => readFileSync(file, 'utf8');
}

/** A gateway wired as `portico serve` wires it, with `prepare` run on the config folder first. */
async function serveLike(t: TestContext, prepare: (dir: string) => void = () => {}) {
  return startGateway(t, routesYaml('http://127.0.0.1:9/'), {
    features: (file) => {
      prepare(dirname(file));
      return defaultFeatures({ configFile: file, hasStorage: false });
    },
  });
}

const upload = (url: string) =>
  api(url, 'PUT', 'branding/assets/logo.svg', {
    key: keys.brand.key,
    body: SVG,
    headers: { 'content-type': 'image/svg+xml' },
  });

describe('brand asset uploads without object storage', () => {
  it("refuse with 409 when no branding/ sits beside routes.yaml, and leave Portico's own logo alone", async (t) => {
    const installLogo = guardInstallLogo(t);
    const before = installLogo();
    const gw = await serveLike(t);
    const r = await upload(gw.url);
    assert.equal(r.status, 409, r.text);
    assert.equal(json(r).error, 'PORTICO_ERR_CONFLICT');
    assert.match(json<{ message: string }>(r).message, /beside routes\.yaml.*--branding.*storage:/);
    assert.equal(installLogo(), before);
  });

  it("refuse when the branding/ beside routes.yaml is a link to Portico's own (as in the Docker image)", async (t) => {
    const installLogo = guardInstallLogo(t);
    const before = installLogo();
    const gw = await serveLike(t, (dir) => symlinkSync(INSTALL_BRANDING, join(dir, 'branding')));
    const r = await upload(gw.url);
    assert.equal(r.status, 409, r.text);
    assert.equal(installLogo(), before);
  });

  it('write into the branding/ folder beside routes.yaml', async (t) => {
    const installLogo = guardInstallLogo(t);
    const before = installLogo();
    let brandingDir = '';
    const gw = await serveLike(t, (dir) => {
      brandingDir = join(dir, 'branding');
      mkdirSync(brandingDir);
      writeFileSync(join(brandingDir, 'brand.yaml'), 'productName: Acme\n');
    });
    const r = await upload(gw.url);
    assert.equal(r.status, 200, r.text);
    assert.equal(readFileSync(join(brandingDir, 'logo.svg'), 'utf8'), SVG);
    assert.equal(installLogo(), before);
  });
});
