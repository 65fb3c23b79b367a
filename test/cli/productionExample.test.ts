import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadConfigFile } from '../../gateway/config/loadConfig.ts';
import { explainRequest } from '../../gateway/explain/explainRequest.ts';
import { makeCertificates } from '../helpers/certs.ts';

const FILE = 'examples/routes.production.yaml';
const SECRETS = [
  'SESSION_SECRET',
  'REDIS_URL',
  'OIDC_CLIENT_SECRET',
  'GHIPPO_CLIENT_SECRET',
  'DCE_CA',
  'METRICS_TOKEN',
  'PORTICO_CI_KEY_HASH',
];

function validate(env: NodeJS.ProcessEnv, ...flags: string[]) {
  return spawnSync(process.execPath, ['scripts/portico.js', 'validate', ...flags, FILE], {
    encoding: 'utf8',
    env,
  });
}
const withoutSecrets = () => {
  const env = { ...process.env };
  for (const name of [...SECRETS, 'SENTRY_DSN']) delete env[name];
  return env;
};

/** What an operator sets at serve time; DCE_CA as a file path, as a mounted certificate would be. */
function servingEnv(): NodeJS.ProcessEnv {
  const dir = mkdtempSync(join(tmpdir(), 'portico-prod-'));
  const { ca } = makeCertificates(dir, { cn: 'dce.example.internal', names: ['IP:10.6.8.2'] });
  return {
    SESSION_SECRET: 'a'.repeat(64),
    REDIS_URL: 'redis://:pw@redis:6379/0',
    OIDC_CLIENT_SECRET: 'oidc-client-secret',
    GHIPPO_CLIENT_SECRET: 'g'.repeat(44),
    DCE_CA: ca,
    METRICS_TOKEN: 'm'.repeat(32),
    PORTICO_CI_KEY_HASH: `sha256:${'ab'.repeat(32)}`,
  };
}

describe('examples/routes.production.yaml', () => {
  it('validates without its secrets: exit 0, and a warning with its line for each variable to set', () => {
    const r = validate(withoutSecrets());
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /valid — 4 routes .*1 identity provider, 2 with WebSockets\n$/);
    assert.match(r.stderr, /9 warnings \(--strict-env makes them errors\)/);
    for (const name of SECRETS)
      assert.match(
        r.stderr,
        new RegExp(`routes\\.production\\.yaml:\\d+:\\d+ +\\S+: ${name} is not set here`),
        name,
      );
    assert.equal(validate(withoutSecrets(), '--strict-env').status, 1);
  });

  it('validates with no warning once the serving environment is set', () => {
    const r = validate({ ...withoutSecrets(), ...servingEnv() }, '--strict-env');
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');
  });

  it('signs users in once and lets DCE check its own tokens: what each route does with a request', () => {
    const config = loadConfigFile(FILE, { ...servingEnv() });
    assert.equal(config.session.store, 'redis');
    assert.equal(config.primaryIdp, 'corp');
    assert.ok(config.raw.admin?.listen, 'the admin API on a listener of its own');
    const ask = (target: string, input: Partial<Parameters<typeof explainRequest>[1]> = {}) =>
      explainRequest(config, { method: 'GET', target, ...input });

    const alice = ask('/dce5/', { user: 'alice', groups: ['ai-users'] });
    assert.equal(alice.outcome.status, 200);
    assert.equal(alice.route?.id, 'ai-platform');
    assert.equal(ask('/dce5/', { user: 'bob', groups: ['staff'] }).outcome.status, 403);
    assert.equal(ask('/dce5/').outcome.status, 302);
    const signIn = ask('/dce5/auth/realms/ghippo/protocol/openid-connect/auth?client_id=ghippo', {
      user: 'alice',
      groups: ['ai-users'],
    });
    assert.match(signIn.upstream?.url ?? '', /[?&]kc_idp_hint=portico$/);

    const script = ask('/dce5/apis/ghippo.io/v1alpha1/users', { bearer: 'foreign', api: true });
    assert.equal(script.outcome.status, 200);
    assert.equal(script.upstream?.authorization, 'forwarded');
    const logoutToken = ask('/dce5/auth/realms/ghippo/protocol/openid-connect/logout/backchannel-logout', {
      method: 'POST',
      api: true,
    });
    assert.equal(logoutToken.outcome.status, 200, 'Portico posts logout tokens with no session');
    assert.equal(logoutToken.route?.id, 'ai-platform-backchannel');

    const home = ask('/', { user: 'alice', groups: ['ai-users'] });
    assert.equal(home.upstream?.headers['x-forwarded-user'], 'alice');
    assert.ok(home.upstream?.assertion);
    assert.equal(ask('/').upstream?.headers['x-forwarded-user'], undefined);
  });
});
