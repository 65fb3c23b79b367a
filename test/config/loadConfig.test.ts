import assert from 'node:assert/strict';
import { ANY_ROUTE } from '../helpers/gateway.ts';
import { describe, it } from 'node:test';
import { ConfigError, loadConfigText } from '../../gateway/config/loadConfig.ts';
import { parseDuration } from '../../gateway/config/duration.ts';
import { AI_PLATFORM_ROUTE } from '../helpers/configs.ts';

const seed = `
listen: { host: 0.0.0.0, port: 80 }
routes:
${AI_PLATFORM_ROUTE}    timeouts: { connect: 5s, idle: 300s }
  - { id: customer, path: /, upstream: https://10.6.165.50:30443/ }
`;

function problemsOf(text: string, env: NodeJS.ProcessEnv = {}) {
  try {
    loadConfigText(text, { env });
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems;
  }
  assert.fail('the config was accepted');
}

describe('routes.yaml loading', () => {
  it('accepts the seed nginx set-up as a pure reverse proxy with no identity providers', () => {
    const c = loadConfigText(seed, { env: {} });
    assert.deepEqual(
      c.routes.map((r) => [r.id, r.prefix]),
      [
        ['ai-platform', '/dce5/'],
        ['customer', '/'],
      ],
    );
    const ai = c.routes[0]!;
    assert.equal(ai.idleTimeoutMs, 300_000);
    assert.equal(ai.connectTimeoutMs, 5_000);
    assert.equal(ai.websocket, true);
    assert.equal(ai.auth, 'none');
    assert.equal(ai.tls?.insecureSkipVerify, true);
  });

  it('freezes the loaded config so nothing can change it at run time', () => {
    const c = loadConfigText(seed, { env: {} });
    assert.ok(Object.isFrozen(c));
    assert.ok(Object.isFrozen(c.routes));
    assert.ok(Object.isFrozen(c.routes[0]));
    assert.ok(Object.isFrozen(c.raw.routes));
    assert.throws(() => {
      (c.routes as unknown as unknown[]).push({});
    });
  });

  it('interpolates ${ENV} anywhere and re-types a whole-variable number', () => {
    const c = loadConfigText(
      'listen: { port: ${PORT} }\nroutes:\n  - { id: a, path: /, upstream: "${UP}" }\n',
      {
        env: { PORT: '9090', UP: 'http://127.0.0.1:1/' },
      },
    );
    assert.equal(c.listen.port, 9090);
    assert.equal(c.routes[0]!.upstream!.href, 'http://127.0.0.1:1/');
  });

  it('supports ${VAR:-default} and reports a missing variable with its path and line', () => {
    const c = loadConfigText(`listen: { port: ${'$'}{PORT:-8181} }\n${ANY_ROUTE}`, { env: {} });
    assert.equal(c.listen.port, 8181);
    const problems = problemsOf('routes:\n  - id: a\n    path: /\n    upstream: ${MISSING_UPSTREAM}\n');
    assert.deepEqual(problems, [
      {
        path: 'routes[0].upstream',
        line: 4,
        column: 15,
        message: 'environment variable ${MISSING_UPSTREAM} is not set',
      },
    ]);
  });

  it('refuses a default that names another variable rather than taking its text as the value', () => {
    const problems = problemsOf(
      `session: { secret: "${'$'}{SESSION_SECRET:-${'$'}{SESSION_SECRET_FROM_VAULT}}" }\n${ANY_ROUTE}`,
    );
    assert.equal(problems.length, 1, JSON.stringify(problems));
    assert.equal(problems[0]!.path, 'session.secret');
    assert.match(problems[0]!.message, /\$\{SESSION_SECRET:-…\} names another variable/);
  });

  it('reports every schema error at once, each with its YAML path and line number', () => {
    const problems = problemsOf(`routes:
  - id: ai
    path: dce5/
    upstream: ftp://x
    timeouts: { connect: 5 parsecs }
    auth: maybe
    colour: blue
`);
    assert.deepEqual(
      problems.map((p) => [p.line, p.path]),
      [
        [3, 'routes[0].path'],
        [4, 'routes[0].upstream'],
        [5, 'routes[0].timeouts.connect'],
        [6, 'routes[0].auth'],
        [7, 'routes[0].colour'],
      ],
    );
    assert.match(problems[2]!.message, /duration such as 300s/);
    assert.match(problems[3]!.message, /required, optional, none/);
    assert.match(problems[4]!.message, /unknown key "colour"/);
  });

  it('reports YAML syntax errors with their line', () => {
    const problems = problemsOf('routes:\n  - id: a\n   path: /\n  bad: [\n');
    assert.ok(problems.length >= 1);
    assert.ok(problems[0]!.line! >= 2, JSON.stringify(problems));
  });

  it('names the key an under-indented line belongs to, at the line and column where it starts', () => {
    const problems = problemsOf(`routes:
  - id: ai
    path: /dce5/
    upstream: http://127.0.0.1:1/
    allow:
      groups: [a]
   inject: { jwt: true }
  - { id: web, path: /, upstream: http://127.0.0.1:2/ }
`);
    assert.deepEqual(
      problems.map((p) => [p.line, p.column, p.path]),
      [[7, 4, 'routes[0]']],
    );
    assert.match(problems[0]!.message, /check the indentation of this line/);
  });

  it('names the key an over-indented line runs on from, once', () => {
    const problems = problemsOf(`routes:
  - id: web
    path: /
     upstream: http://127.0.0.1:2/
`);
    assert.deepEqual(
      problems.map((p) => [p.line, p.column, p.path]),
      [[4, 6, 'routes[0].path']],
    );
  });

  it('points at the key an unclosed quote at the end of the file belongs to', () => {
    const problems = problemsOf('identityProviders:\n  - id: a\n    type: oidc\n    issuer: "https://idp\n');
    assert.equal(problems.length, 1);
    assert.equal(problems[0]!.path, 'identityProviders[0].issuer');
    assert.equal(problems[0]!.line, 4);
  });

  it('refuses duplicate route ids and paths, pointing at the second one', () => {
    const problems = problemsOf(`routes:
  - { id: a, path: /x/, upstream: http://127.0.0.1:1/ }
  - { id: a, path: /x/, upstream: http://127.0.0.1:2/ }
`);
    assert.deepEqual(
      problems.map((p) => [p.line, p.path]),
      [
        [3, 'routes[1].id'],
        [3, 'routes[1].path'],
      ],
    );
  });

  it('refuses an identity provider called "apikey", the namespace of Portico API keys', () => {
    const problems = problemsOf(`publicUrl: https://portal.example.com
session: { secret: x-secret-x-secret-x-secret-x-secret-x }
identityProviders:
  - { id: apikey, type: github, clientId: portico, clientSecret: x }
routes:
  - { id: a, path: /a/, upstream: http://127.0.0.1:1/, auth: required }
`);
    assert.deepEqual(
      problems.map((p) => [p.line, p.path]),
      [[4, 'identityProviders[0].id']],
    );
  });

  it('refuses provider ids that read as a URI scheme (https://app/roles would be a rule about it), and a terminalCheck a timer cannot keep', () => {
    const problems = problemsOf(`publicUrl: https://portal.example.com
session: { secret: x-secret-x-secret-x-secret-x-secret-x, terminalCheck: 30d }
identityProviders:
  - { id: https, type: github, clientId: portico, clientSecret: x }
  - { id: urn, type: github, clientId: portico, clientSecret: x }
routes:
  - { id: a, path: /a/, upstream: http://127.0.0.1:1/, auth: required }
`);
    assert.deepEqual(
      problems.map((p) => [p.line, p.path]),
      [
        [2, 'session.terminalCheck'],
        [4, 'identityProviders[0].id'],
        [5, 'identityProviders[1].id'],
      ],
    );
    const routes = 'routes: [{ id: a, path: /, upstream: "http://127.0.0.1:1/" }]\n';
    for (const ok of ['100ms', '60s', '24h'])
      assert.equal(
        loadConfigText(`session: { terminalCheck: ${ok} }\n${routes}`, { env: {} }).session.terminalCheckMs,
        parseDuration(ok),
      );
    for (const bad of ['0', '50ms', '25h'])
      assert.equal(problemsOf(`session: { terminalCheck: ${bad} }\n${routes}`).length, 1, bad);
  });

  it('refuses bearerProviders that name no provider, one that cannot check tokens, or a route that does not verify', () => {
    const problems = problemsOf(`publicUrl: https://portal.example.com
session: { secret: x-secret-x-secret-x-secret-x-secret-x }
identityProviders:
  - { id: corp, type: oidc, issuer: https://idp.example.com, clientId: portico }
  - { id: ad, type: ldap, url: "ldaps://ad.example.com", bindDn: "cn=svc,dc=corp", bindPassword: x, userBase: "ou=people,dc=corp" }
routes:
  - { id: a, path: /a/, upstream: http://127.0.0.1:1/, auth: required, bearer: verify, bearerProviders: [corp, nobody, ad] }
  - { id: b, path: /b/, upstream: http://127.0.0.1:1/, auth: required, bearerProviders: [corp] }
`);
    assert.deepEqual(
      problems.map((p) => [p.line, p.path]),
      [
        [7, 'routes[0].bearerProviders[1]'],
        [7, 'routes[0].bearerProviders[2]'],
        [8, 'routes[1].bearerProviders'],
      ],
    );
  });

  it('refuses a route that needs a login when no identity provider is configured', () => {
    const problems = problemsOf(
      'routes:\n  - { id: a, path: /, upstream: http://127.0.0.1:1/, auth: required }\n',
    );
    assert.equal(problems.length, 1);
    assert.match(problems[0]!.message, /needs a login, but no identityProviders/);
    assert.equal(problems[0]!.line, 2);
  });

  it('requires publicUrl and a long session secret once identity providers are configured', () => {
    const problems = problemsOf(`session: { secret: short }
identityProviders:
  - { id: corp, type: oidc, issuer: https://idp.example.com, clientId: portico }
routes:
  - { id: a, path: /, upstream: http://127.0.0.1:1/, auth: required }
`);
    // Every problem at once: the short secret (schema) and the missing publicUrl (semantics).
    assert.deepEqual(
      problems.map((p) => p.path),
      ['publicUrl', 'session.secret'],
    );
    const more = problemsOf(`${ANY_ROUTE}identityProviders:
  - { id: corp, type: oidc, issuer: https://idp.example.com, clientId: portico }
`);
    assert.deepEqual(more.map((p) => p.path).sort(), ['publicUrl', 'session']);
  });

  it('refuses trustProxy entries that are not addresses or CIDRs', () => {
    const problems = problemsOf(`trustProxy: [10.0.0.0/8, "::1", 300.1.1.1, 10.0.0.0/40]\n${ANY_ROUTE}`);
    assert.deepEqual(
      problems.map((p) => p.path),
      ['trustProxy[2]', 'trustProxy[3]'],
    );
  });

  it("names the session cookie __Host-portico_session behind an https publicUrl, portico_session on http, and a configured name as it is; both defaults stay Portico's own", () => {
    const named = (extra: string) => {
      const c = loadConfigText(`${extra}\n${seed}`, { env: {} });
      return { name: c.session.cookieName, own: c.ownCookies };
    };
    const https = named('publicUrl: https://portal.example.com');
    assert.equal(https.name, '__Host-portico_session');
    assert.equal(named('publicUrl: http://127.0.0.1:8080').name, 'portico_session');
    assert.equal(named('').name, 'portico_session');
    assert.equal(
      named('publicUrl: https://portal.example.com\nsession: { cookieName: portico_session }').name,
      'portico_session',
    );
    const custom = named('publicUrl: https://portal.example.com\nsession: { cookieName: corp_sso }');
    assert.equal(custom.name, 'corp_sso');
    // Kept from upstreams and refused in their Set-Cookie, whichever name is in use.
    for (const own of [https.own, custom.own])
      for (const name of ['__Host-portico_session', 'portico_session']) assert.ok(own.includes(name), name);
    assert.ok(custom.own.includes('corp_sso'));
  });

  it('sorts routes so the longest prefix is tried first', () => {
    const c = loadConfigText(
      'routes:\n  - { id: root, path: /, upstream: http://127.0.0.1:1/ }\n  - { id: deep, path: /a/b/, upstream: http://127.0.0.1:2/ }\n  - { id: mid, path: /a/, upstream: http://127.0.0.1:3/ }\n',
      { env: {} },
    );
    assert.deepEqual(
      c.routes.map((r) => r.id),
      ['deep', 'mid', 'root'],
    );
  });
});

describe('durations', () => {
  it('reads 300s, 5m, 8h, 250ms and bare numbers as seconds', () => {
    assert.equal(parseDuration('300s'), 300_000);
    assert.equal(parseDuration('5m'), 300_000);
    assert.equal(parseDuration('8h'), 28_800_000);
    assert.equal(parseDuration('250ms'), 250);
    assert.equal(parseDuration(2), 2000);
    assert.throws(() => parseDuration('5 parsecs'));
  });
});
