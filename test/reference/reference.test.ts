import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { Ajv } from 'ajv';
import { parseDocument, stringify } from 'yaml';
import { BRAND_DOCS } from '../../gateway/branding/brandDocs.ts';
import { brandSchema } from '../../gateway/branding/brandSchema.ts';
import { CONFIG_DOCS, type KeyDoc } from '../../gateway/config/configDocs.ts';
import { loadConfigText } from '../../gateway/config/loadConfig.ts';
import { RESTART_ONLY } from '../../gateway/config/reloadPolicy.ts';
import { configSchema } from '../../gateway/config/schema.ts';
import type { Config } from '../../gateway/config/types.ts';
import { configReference } from '../../scripts/reference/configReference.ts';
import { schemaFiles } from '../../scripts/reference/schemaFiles.ts';
import { type SchemaNode, schemaKeys } from '../../scripts/reference/schemaKeys.ts';

const root = join(import.meta.dirname, '..', '..');
const read = (path: string) => readFileSync(join(root, path), 'utf8');

/** The shipped config files an admin opens, and the schema each must name. */
const SHIPPED: Record<string, string> = {
  'routes.yaml': 'schemas/routes.schema.json',
  'deploy/compose/routes.compose.yaml': 'schemas/routes.schema.json',
  'branding/brand.yaml': 'schemas/brand.schema.json',
  ...Object.fromEntries(
    readdirSync(join(root, 'examples'))
      .filter((f) => f.endsWith('.yaml'))
      .map((f) => [`examples/${f}`, 'schemas/routes.schema.json']),
  ),
};

function editorValidator(schemaPath: string) {
  const ajv = new Ajv({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true });
  return ajv.compile(JSON.parse(read(schemaPath)) as object);
}

describe('published JSON Schemas and the configuration reference', () => {
  it('commits the JSON Schemas the code makes (npm run schemas)', () => {
    for (const [path, text] of Object.entries(schemaFiles()))
      assert.ok(read(path) === text, `${path} is stale: run npm run schemas`);
  });

  it('commits the configuration reference the schemas make (npm run docs:config)', () => {
    assert.ok(
      read('docs/configuration.md') === configReference(),
      'docs/configuration.md is stale: run npm run docs:config',
    );
  });

  it('describes every key of routes.yaml and brand.yaml, and describes no key that does not exist', () => {
    for (const [schema, docs] of [
      [configSchema, CONFIG_DOCS],
      [brandSchema, BRAND_DOCS],
    ] as [unknown, Record<string, KeyDoc>][]) {
      const keys = schemaKeys(schema as SchemaNode);
      const undocumented = keys.filter((k) => !docs[k.path] && !docs[k.generic]).map((k) => k.path);
      assert.deepEqual(
        undocumented,
        [],
        'add a description to gateway/config/configDocs.ts (or brandDocs.ts)',
      );
      const known = new Set(keys.flatMap((k) => [k.path, k.generic]));
      assert.deepEqual(
        Object.keys(docs).filter((p) => !known.has(p)),
        [],
        'these descriptions name no key of the schema',
      );
    }
  });

  it('says of every restart-only key that a change needs a restart', () => {
    for (const path of RESTART_ONLY) {
      const doc = CONFIG_DOCS[path.join('.')];
      assert.match(doc?.description ?? '', /restart|Read at start/, path.join('.'));
    }
  });

  it('documents as defaults exactly the values the config compiler applies', () => {
    // [key, a value other than the default]: the documented default must compile like the absent
    // key, and the other value must not (so each row can fail).
    const compiled: [string, unknown][] = [
      ['listen.host', '127.0.0.1'],
      ['listen.port', 9000],
      ['trustProxy', true],
      ['session.maxAge', '1h'],
      ['session.idleTimeout', '1h'],
      ['session.cookieName', 'other'],
      ['session.maxEntries', 5],
      ['session.cacheTtl', '5s'],
      ['identity.headers.user', 'X-User'],
      ['identity.headers.email', 'X-Email'],
      ['identity.headers.groups', 'X-Groups'],
      ['identity.headers.name', 'X-Name'],
      ['identity.jwt.header', 'X-Assertion'],
      ['identity.jwt.ttl', '5m'],
      ['routes[].websocket', true],
      ['routes[].preserveHost', false],
      ['routes[].timeouts.connect', '1s'],
      ['routes[].timeouts.idle', '300s'],
      ['routes[].bearer', 'verify'],
      ['routes[].inject.jwt', true],
      ['routes[].inject.accessToken', true],
      ['routes[].rewrite.location', false],
      ['routes[].rewrite.cookiePath', true],
      ['routes[].branding', true],
      ['logging.level', 'debug'],
      ['logging.accessLog', false],
      ['limits.headersTimeout', '5s'],
      ['limits.requestTimeout', '30s'],
      ['limits.maxHeaderSize', 8192],
      ['limits.maxUrlLength', 4096],
    ];
    const base = () => ({
      // A provider, so routes may say `bearer: verify` and `inject.accessToken`; a route with auth.
      publicUrl: 'https://portal.example.com',
      session: { secret: 's'.repeat(40) },
      identityProviders: [
        { id: 'corp', type: 'oidc', issuer: 'https://idp.example.com', clientId: 'portico' },
      ],
      routes: [{ id: 'a', path: '/', upstream: 'http://127.0.0.1:1/', auth: 'optional' }],
    });
    const compile = (raw: object) => comparable(loadConfigText(stringify(raw), { env: {} }));
    const plain = compile(base());
    for (const [path, other] of compiled) {
      const doc = CONFIG_DOCS[path];
      assert.ok(doc && 'default' in doc, `${path} has a documented default`);
      assert.equal(
        compile(withValue(base(), path, doc.default)),
        plain,
        `${path}: ${JSON.stringify(doc.default)} is not the default`,
      );
      assert.notEqual(compile(withValue(base(), path, other)), plain, `${path}: the compiler ignores it`);
    }
  });

  it('names its schema on the first line of every shipped config file, and editors find no error in it', () => {
    for (const [file, schemaPath] of Object.entries(SHIPPED)) {
      const text = read(file);
      const modeline = /^# yaml-language-server: \$schema=(\S+)\n/.exec(text);
      assert.ok(modeline, `${file} starts with # yaml-language-server: $schema=…`);
      const target = relative(root, resolve(dirname(join(root, file)), modeline[1]!));
      assert.equal(target, schemaPath, `${file} names ${schemaPath}, relative to itself`);
      const doc = parseDocument(text);
      assert.deepEqual(
        doc.errors.map((e) => e.message.split('\n')[0]),
        [],
        `${file} is plain YAML (write \${…} in quotes or in block style)`,
      );
      const validate = editorValidator(schemaPath);
      assert.ok(validate(doc.toJS()), `${file}: ${JSON.stringify(validate.errors?.slice(0, 3))}`);
    }
  });

  it('speaks only of documents a reader of the repository has', () => {
    const texts = [
      'README.md',
      ...readdirSync(join(root, 'docs')).map((f) => `docs/${f}`),
      ...Object.keys(SHIPPED),
    ];
    for (const file of texts)
      for (const [i, line] of read(file).split('\n').entries())
        assert.doesNotMatch(line, /\bthe seed\b|seed's|SPEC §|OEM OUT guide/i, `${file}:${i + 1}`);
  });

  it('refuses in an editor what Portico refuses, and takes ${VARS} wherever Portico does', () => {
    const validate = editorValidator('schemas/routes.schema.json');
    const route = { id: 'a', path: '/', upstream: 'http://127.0.0.1:1/' };
    assert.ok(validate({ routes: [route] }));
    assert.ok(!validate({ routes: [{ ...route, websockets: true }] }), 'a misspelt key');
    assert.ok(!validate({ routes: [{ ...route, upstream: 'ftp://x' }] }), 'a bad upstream');
    assert.ok(!validate({ routes: [{ ...route, auth: 'maybe' }] }), 'an unknown auth');
    assert.ok(!validate({}), 'no routes');
    assert.ok(
      !validate({
        routes: [route],
        identityProviders: [{ id: 'd', type: 'ldap', url: 'ldap://h', userBase: 'x', clientId: 'c' }],
      }),
      'a key of another kind of identity provider',
    );
    assert.ok(
      validate({
        listen: { port: '${PORT:-8080}' },
        session: { secret: '${SESSION_SECRET}', maxAge: '${MAX_AGE}' },
        routes: [{ ...route, upstream: '${DEMO_AI_URL:-http://127.0.0.1:18082/}apis/', websocket: '${WS}' }],
      }),
      JSON.stringify(validate.errors?.slice(0, 3)),
    );
    const brand = editorValidator('schemas/brand.schema.json');
    assert.ok(brand({ productName: 'X', colors: { primary: '#112233' } }));
    assert.ok(!brand({ productName: 'X', colors: { primary: 'red; }' } }));
  });
});

/** Sets `path` (`routes[].timeouts.connect`: the first route) to `value`, creating objects on the way. */
function withValue(raw: Record<string, unknown>, path: string, value: unknown): Record<string, unknown> {
  let target: Record<string, unknown> = raw;
  const parts = path.split('.');
  parts.forEach((part, i) => {
    const list = part.endsWith('[]');
    const key = list ? part.slice(0, -2) : part;
    if (i === parts.length - 1) {
      target[key] = value;
      return;
    }
    if (list) target = (target[key] as Record<string, unknown>[])[0]!;
    else target = (target[key] ??= {}) as Record<string, unknown>;
  });
  return raw;
}

/** The compiled config as text, without what depends on the file itself (its text, its time). */
function comparable(config: Config): string {
  const { raw: _raw, source: _source, sourceHash: _hash, loadedAt: _at, file: _file, ...rest } = config;
  return JSON.stringify(rest, (_key, value: unknown) => {
    if (value instanceof URL) return value.href;
    if (value instanceof Set) return [...value];
    if (value && typeof value === 'object' && value.constructor?.name === 'BlockList')
      return (value as { rules: string[] }).rules;
    return value;
  });
}
