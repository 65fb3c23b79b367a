// A rejected value is quoted in the problem's message, which reaches the log, the
// `config.rejected` notification and the audit log: a secret from the environment must not be.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfigText } from '../../gateway/config/loadConfig.ts';

const text = `session: { store: redis, redis: { url: "\${REDIS_URL}" } }
notifications:
  - { type: slack, webhook: "\${SLACK_WEBHOOK}" }
sentry: { dsn: "\${SENTRY_DSN}" }
routes:
  - { id: a, path: /, upstream: "http://127.0.0.1:9/" }
`;

function rejection(env: NodeJS.ProcessEnv): ConfigError {
  try {
    loadConfigText(text, { env });
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err;
  }
  assert.fail('the config was accepted');
}

const byPath = (err: ConfigError) => Object.fromEntries(err.problems.map((p) => [p.path, p.message]));

describe('schema errors and secrets', () => {
  it('does not quote a password or a secret URL from the env, and still says what is wrong', () => {
    const err = rejection({
      REDIS_URL: 'redis//:hunter2@redis:6379', // scheme mistyped
      SLACK_WEBHOOK: 'hooks.slack.com/services/T0/B0/SECRETPATH', // scheme missing
      SENTRY_DSN: ' https://abcdef123456@o1.ingest.sentry.io/1', // leading space
    });
    const everything = `${err.message}\n${JSON.stringify(err.problems)}`;
    for (const secret of ['hunter2', 'SECRETPATH', 'abcdef123456'])
      assert.ok(!everything.includes(secret), `${secret} in ${everything}`);
    const messages = byPath(err);
    assert.deepEqual(Object.keys(messages).sort(), [
      'notifications[0].webhook',
      'sentry.dsn',
      'session.redis.url',
    ]);
    // The redis URL is not under a secret key: quoted, with its password masked.
    assert.match(messages['session.redis.url']!, /^"redis\/\/:\[redacted\]@redis:6379" must be redis:\/\//);
    assert.match(
      messages['notifications[0].webhook']!,
      /^must be an http:\/\/ or https:\/\/ URL \(the value is not shown/,
    );
    assert.match(messages['sentry.dsn']!, /^must be a Sentry DSN/);
  });

  it('masks the password of a URL with or without a scheme, and quotes a value without one', () => {
    let messages = byPath(rejection({ REDIS_URL: ' redis://default:hunter2@redis:6379', SENTRY_DSN: '' }));
    assert.match(messages['session.redis.url']!, /^" redis:\/\/default:\[redacted\]@redis:6379" must be/);
    messages = byPath(rejection({ REDIS_URL: 'default:hunter2@redis:6379', SENTRY_DSN: '' }));
    assert.match(messages['session.redis.url']!, /^"default:\[redacted\]@redis:6379" must be/);
    messages = byPath(rejection({ REDIS_URL: 'redis//redis:6379', SENTRY_DSN: '' }));
    assert.match(messages['session.redis.url']!, /^"redis\/\/redis:6379" must be redis:\/\//);
  });

  it("masks a URL password in any problem that quotes the value it refused, not only the schema's", () => {
    let err: unknown;
    try {
      loadConfigText('routes:\n  - { id: a, path: /, upstream: "http://svc:hunter2@[not-a-host/" }\n', {
        env: {},
      });
    } catch (e) {
      err = e;
    }
    assert.ok(err instanceof ConfigError, String(err));
    const everything = `${err.message}\n${JSON.stringify(err.problems)}`;
    assert.ok(!everything.includes('hunter2'), everything);
    assert.match(byPath(err)['routes[0].upstream'] ?? '', /not a valid URL/);
  });
});
