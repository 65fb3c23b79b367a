import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseDocument } from 'yaml';
import { redactConfigSource } from '../../gateway/admin/redactConfig.ts';

describe('redactConfigSource', () => {
  it('replaces secret values in block, flow and list form and keeps everything else byte for byte', () => {
    const source = `# top comment
listen: { host: 0.0.0.0, port: \${PORT:-8080} }   # env default kept
session:
  secret:
    - first-secret-value-that-is-long-enough-0001
    - second-secret-value-that-is-long-enough-002
identityProviders:
  - { id: corp, type: oidc, issuer: "https://idp.example.com", clientId: portal, clientSecret: 'abc"def' }
identity:
  jwt:
    keys:
      private: |
        -----BEGIN PRIVATE KEY-----
        MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQ
        -----END PRIVATE KEY-----
storage: { provider: s3, bucket: portico, secretAccessKey: \${S3_SECRET} }
price: "$\${literal}"
`;
    const out = redactConfigSource(source);
    assert.equal(
      out,
      `# top comment
listen: { host: 0.0.0.0, port: \${PORT:-8080} }   # env default kept
session:
  secret:
    - "[redacted]"
    - "[redacted]"
identityProviders:
  - { id: corp, type: oidc, issuer: "https://idp.example.com", clientId: portal, clientSecret: "[redacted]" }
identity:
  jwt:
    keys:
      private: "[redacted]"
storage: { provider: s3, bucket: portico, secretAccessKey: "[redacted]" }
price: "$\${literal}"
`,
    );
  });

  it('redacts a block-scalar secret whose header carries a comment that looks secret, leaving no tail of it', () => {
    for (const note of [
      '#token:1',
      '# the signing token: rotate yearly, see the runbook on the wiki page for details',
    ]) {
      const source = `session:\n  secret: | ${note}\n    abcdefghijklmnopqrstuvwxyz-0123456789-TOPSECRET\nlisten: { port: 8080 }\n`;
      const out = redactConfigSource(source);
      assert.ok(!out.includes('SECRET'), out);
      assert.ok(!/[a-z]{5,}-\d/.test(out), out);
      const doc = parseDocument(out);
      assert.deepEqual(doc.errors, [], out);
      assert.equal(doc.getIn(['session', 'secret']), '[redacted]', out);
      assert.equal(doc.getIn(['listen', 'port']), 8080, out);
    }
  });

  it('removes passwords and tokens from URLs under any key', () => {
    const out = redactConfigSource(
      'session:\n  redis: { url: "redis://:hunter2@redis:6379/0" }\nnotifications:\n  - { type: dingtalk, url: "https://oapi.dingtalk.com/robot/send?access_token=abc123&x=1" }\n',
    );
    assert.ok(!out.includes('hunter2') && !out.includes('abc123'), out);
    assert.match(out, /redis:\/\/:\[redacted\]@redis:6379\/0/);
    assert.match(out, /access_token=\[redacted\]&x=1/);
  });

  it('takes credentials out of the defaults of ${NAME:-…}, in values and in commented-out lines, and keeps harmless defaults', () => {
    const out = redactConfigSource(
      [
        'listen: { port: ${PORT:-8080} }',
        'session:',
        '  redis: { url: "${PORTICO_REDIS_URL:-redis://default:hunter2@127.0.0.1:6379}" }',
        '  # old: url: ${R:-redis://:oldpass@old-redis:6379}',
        'notifications:',
        '  - { type: dingtalk, url: "${HOOK:-https://oapi.dingtalk.com/robot/send?access_token=deadbeef}" }',
        'storage: { endpoint: "${S3:-https://AKIAxx:wJalrSECRET@minio:9000}" }',
        'routes:',
        '  - { id: a, path: /, upstream: "http://a", headers: { request: { set: { X-Forwarded-Stuff: "${X:-Bearer sekret}" } } } }',
        '  - { id: b, path: /b/, upstream: "http://b", headers: { request: { set: { X-Upstream: "${SCHEME:-Bearer} ${TOKEN:-splitsecret}" } } } }',
        '',
      ].join('\n'),
    );
    for (const secret of ['hunter2', 'oldpass', 'deadbeef', 'wJalrSECRET', 'sekret', 'splitsecret'])
      assert.ok(!out.includes(secret), `${secret} shown:\n${out}`);
    assert.match(out, /\$\{PORT:-8080\}/);
    assert.match(out, /\$\{PORTICO_REDIS_URL:-redis:\/\/default:\[redacted\]@127\.0\.0\.1:6379\}/);
    assert.match(out, /\$\{HOOK:-https:\/\/oapi\.dingtalk\.com\/robot\/send\?access_token=\[redacted\]\}/);
    assert.match(out, /\$\{X:-\[redacted\]\}/);
    assert.match(out, /# \[redacted\]/);
  });

  it('redacts comments only where YAML has comments: never a # inside a quoted value or a block scalar', () => {
    const source = `routes:
  - id: app
    path: /
    upstream: http://app:8080/
    headers: { request: { set: { X-Note: "see runbook # token: rotate monthly" } } }
    respond:
      status: 200
      body: |
        # Password: is what the form asks for
notifications:
  # webhook: https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc123
  # redis: { url: "redis://:hunter2@redis:6379" }
  - { type: slack, url: "\${SLACK_URL}" }   # sink:\twebhook: https://hooks.slack.com/services/T0/B0/xyz
`;
    const out = redactConfigSource(source);
    assert.equal(parseDocument(out).errors.length, 0, out);
    assert.match(out, /"see runbook # token: rotate monthly"/);
    assert.match(out, /# Password: is what the form asks for/);
    for (const secret of ['abc123', 'hunter2', 'T0/B0/xyz'])
      assert.ok(!out.includes(secret), `${secret} in\n${out}`);
  });

  it('removes credentials in header values, push URLs and commented-out secrets', () => {
    const out = redactConfigSource(`session:
  # secret: old-session-secret-value-0123456789abcdef
  secret: \${SESSION_SECRET}   # password: hunter2
  # the token comes from the environment
ops:
  uptimeKuma: { pushUrl: "https://kuma.example.com/api/push/Kx9pUsHtOkEn42" }
routes:
  - id: erp
    path: /erp/
    upstream: http://erp:8080/
    headers:
      request:
        set: { Authorization: "Basic ZXJwLXN2YzpQQHNzdzByZCE=", Cookie: "JSESSIONID=abc", X-Team: ai }
`);
    for (const secret of ['old-session-secret', 'hunter2', 'Kx9pUsHtOkEn42', 'ZXJwLXN2Yz', 'JSESSIONID'])
      assert.ok(!out.includes(secret), `${secret} in\n${out}`);
    assert.match(out, /X-Team: ai/);
    assert.match(out, /# the token comes from the environment/, 'prose comments stay');
    assert.match(out, / {2}secret: "\[redacted\]" {3}# \[redacted\]/);
  });
  it('redacts private keys given as PEM text under any key, and keeps certificates and key file paths', () => {
    const pem = (label: string) =>
      `-----BEGIN ${label}-----\n        MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQTOPSECRET\n        -----END ${label}-----`;
    const source = `listen:
  port: 8443
  tls:
    cert: |
      ${pem('CERTIFICATE').replaceAll('        ', '      ')}
    key: |
      ${pem('PRIVATE KEY').replaceAll('        ', '      ')}
routes:
  - id: mtls
    path: /m/
    upstream: https://10.0.0.5/
    tls: { cert: /etc/portico/client.crt, key: "${pem('ENCRYPTED PRIVATE KEY').replaceAll('\n        ', '\\n')}" }
  - id: files
    path: /f/
    upstream: https://10.0.0.6/
    tls: { cert: /etc/portico/client.crt, key: /etc/portico/client.key }
  - id: ec
    path: /e/
    upstream: https://10.0.0.7/
    tls:
      key: |
        ${pem('EC PRIVATE KEY')}
`;
    const out = redactConfigSource(source);
    const doc = parseDocument(out);
    assert.deepEqual(doc.errors, [], out);
    assert.equal(doc.getIn(['listen', 'tls', 'key']), '[redacted]');
    assert.match(String(doc.getIn(['listen', 'tls', 'cert'])), /BEGIN CERTIFICATE/);
    assert.equal(doc.getIn(['routes', 0, 'tls', 'key']), '[redacted]');
    assert.equal(doc.getIn(['routes', 1, 'tls', 'key']), '/etc/portico/client.key');
    assert.equal(doc.getIn(['routes', 2, 'tls', 'key']), '[redacted]');
    assert.equal((out.match(/TOPSECRET/g) ?? []).length, 1, 'only the certificate keeps its body');
  });

  it('redacts the headers Portico sets when their name or value says they carry a credential', () => {
    const source = `routes:
  - id: dce5
    path: /dce5/
    upstream: http://dce5:80/
    headers:
      request:
        set:
          X-Upstream-Auth: "Basic dXNlcjpodW50ZXIy"
          X-Access-Key: AKIA-SECRET-1
          X-Api-Token: abc123
          X-Tenant: ai-lab
          X-Forwarded-Service: "Bearer-less value"
        remove: [X-Debug]
      response:
        set:
          X-Frame-Options: DENY
          X-Internal: "Bearer eyJhbGciOi.secret.sig"
`;
    const doc = parseDocument(redactConfigSource(source));
    const set = (dir: string, name: string) => doc.getIn(['routes', 0, 'headers', dir, 'set', name]);
    assert.equal(set('request', 'X-Upstream-Auth'), '[redacted]');
    assert.equal(set('request', 'X-Access-Key'), '[redacted]');
    assert.equal(set('request', 'X-Api-Token'), '[redacted]');
    assert.equal(set('response', 'X-Internal'), '[redacted]');
    assert.equal(set('request', 'X-Tenant'), 'ai-lab');
    assert.equal(set('request', 'X-Forwarded-Service'), 'Bearer-less value');
    assert.equal(set('response', 'X-Frame-Options'), 'DENY');
    assert.equal(doc.getIn(['routes', 0, 'headers', 'request', 'remove', 0]), 'X-Debug');
  });
});
