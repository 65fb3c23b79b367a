import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Explanation } from '../../gateway/explain/explainRequest.ts';
import { explainYaml } from '../helpers/configs.ts';

const dir = mkdtempSync(join(tmpdir(), 'portico-explain-'));
const file = join(dir, 'routes.yaml');
// Secrets are unset: explain reads the file as validate does, with placeholders.
writeFileSync(
  file,
  explainYaml({ session: '${EXPLAIN_TEST_SESSION_SECRET}', oidc: '${EXPLAIN_TEST_OIDC_SECRET}' }),
);

function explain(...args: string[]) {
  const env = { ...process.env };
  delete env.EXPLAIN_TEST_SESSION_SECRET;
  delete env.EXPLAIN_TEST_OIDC_SECRET;
  return spawnSync(process.execPath, ['scripts/portico.js', 'explain', '--config', file, ...args], {
    encoding: 'utf8',
    env,
  });
}
function explained(...args: string[]): { status: number | null; e: Explanation } {
  const r = explain('--json', ...args);
  assert.notEqual(r.status, 1, r.stderr);
  return { status: r.status, e: JSON.parse(r.stdout) as Explanation };
}

describe('portico explain', () => {
  it('names the route, the rule that admits alice and every header the AI platform gets, exit 0', () => {
    const r = explain(
      '--user',
      'alice',
      '--groups',
      'ai-users,staff',
      '--email',
      'alice@example.com',
      'GET',
      '/dce5/x',
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^GET \/dce5\/x {2}from alice \(groups ai-users, staff\) of corp\n/);
    assert.match(r.stdout, /^route +ai-platform +\/dce5\/ → https:\/\/10\.6\.8\.2:30343\//m);
    assert.match(r.stdout, /^allow +admitted by groups: ai-users/m);
    assert.match(r.stdout, /^upstream request: GET https:\/\/10\.6\.8\.2:30343\/x$/m);
    assert.match(r.stdout, /^ {2}x-forwarded-user: +alice {2}\(set by Portico\)$/m);
    assert.match(r.stdout, /^ {2}host: +portal\.example\.com$/m);
    assert.match(r.stdout, /^removed from the client's request: cookie __Host-portico_session$/m);
    const { e } = explained('--user', 'alice', '--groups', 'ai-users', 'GET', '/dce5/x');
    assert.equal(e.route?.id, 'ai-platform');
    assert.deepEqual(e.allow?.matchedBy, ['groups: ai-users']);
    assert.equal(e.upstream?.headers['x-forwarded-prefix'], '/dce5');
    assert.equal(e.upstream?.assertion?.header, 'X-Portico-Assertion');
    assert.equal(e.upstream?.assertion?.claims.aud, 'ai-platform');
    assert.equal(e.upstream?.authorization, 'absent');
  });

  it('refuses bob with 403, says no rule matches, exit 2', () => {
    const r = explain('--user', 'bob', '--groups', 'staff', 'GET', '/dce5/');
    assert.equal(r.status, 2);
    assert.match(r.stdout, /^allow +refused: no rule matches \(rules \{"groups":\["ai-users"\]\}\)$/m);
    assert.match(r.stdout, /^outcome +403: /m);
    assert.doesNotMatch(r.stdout, /upstream request/);
  });

  it('exits 1 with the usage for an unknown identity provider or a missing path', () => {
    const idp = explain('--idp', 'nope', '--user', 'alice', 'GET', '/');
    assert.equal(idp.status, 1);
    assert.match(idp.stderr, /--idp "nope" is not an identity provider .*\(corp, partner\)/);
    assert.equal(explain('GET').status, 1);
  });

  it('explains the shipped routes.yaml without its secrets', () => {
    const env = { ...process.env };
    for (const name of ['SESSION_SECRET', 'OIDC_CLIENT_SECRET', 'GHIPPO_CLIENT_SECRET']) delete env[name];
    const r = spawnSync(
      process.execPath,
      ['scripts/portico.js', 'explain', '--user', 'alice', '--groups', 'ai-users', 'GET', '/dce5/x'],
      { encoding: 'utf8', env },
    );
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /allow +admitted by groups: ai-users/);
  });
});
