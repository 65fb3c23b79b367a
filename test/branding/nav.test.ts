import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { brandingFeature } from '../../gateway/branding/brandingFeature.ts';
import { buildNav } from '../../gateway/branding/nav.ts';
import { loadConfigText } from '../../gateway/config/loadConfig.ts';
import type { Identity } from '../../gateway/context.ts';
import { startGateway } from '../helpers/gateway.ts';
import { send } from '../helpers/http.ts';
import { brandDir } from './helpers.ts';

const SSO = `publicUrl: https://portal.example.com
session: { secret: "0123456789abcdef0123456789abcdef" }
identityProviders:
  - { id: corp, type: oidc, issuer: "https://idp.example.com", clientId: portico }
`;
const UP = 'http://127.0.0.1:9/';
const config = loadConfigText(`${SSO}routes:
  - { id: ai, path: /dce5/, upstream: "${UP}", auth: required, allow: { groups: [ai-users] }, nav: { title: { zh-CN: AI 算力中心, en-US: AI Compute Center }, order: 10 } }
  - { id: docs, path: /docs/, upstream: "${UP}", auth: none, nav: { title: Docs, order: 20, icon: "📘" } }
  - { id: ops, path: /ops/, upstream: "${UP}", auth: required, nav: { title: Ops, order: 10, path: dashboard } }
  - { id: home, path: /, upstream: "${UP}", auth: optional, nav: { title: { en-US: Home } } }
  - { id: hidden, path: /hidden/, upstream: "${UP}" }
`);

const alice: Identity = { idp: 'corp', sub: '1', username: 'alice', groups: ['ai-users'] };
const bob: Identity = { idp: 'corp', sub: '2', username: 'bob', groups: ['staff'] };
const ids = (identity: Identity | undefined) => buildNav(config, identity, 'en-US').items.map((i) => i.id);

describe('the navigation entries', () => {
  it('show a user only the routes their allow rules let them open', () => {
    assert.deepEqual(ids(alice), ['home', 'ai', 'ops', 'docs']);
    assert.deepEqual(ids(bob), ['home', 'ops', 'docs']);
  });

  it('show anonymous visitors only routes that need no login', () => {
    assert.deepEqual(ids(undefined), ['home', 'docs']);
  });

  it('are ordered by order then id, localised, with absolute URLs from publicUrl', () => {
    assert.deepEqual(buildNav(config, alice, 'zh-CN').items, [
      { id: 'home', title: 'Home', url: 'https://portal.example.com/', order: 0 },
      { id: 'ai', title: 'AI 算力中心', url: 'https://portal.example.com/dce5/', order: 10 },
      { id: 'ops', title: 'Ops', url: 'https://portal.example.com/ops/dashboard', order: 10 },
      { id: 'docs', title: 'Docs', url: 'https://portal.example.com/docs/', icon: '📘', order: 20 },
    ]);
    assert.equal(buildNav(config, alice, 'en-US').items[1]!.title, 'AI Compute Center');
  });

  it('use site-relative URLs when publicUrl is not set', () => {
    const plain = loadConfigText(
      `routes:\n  - { id: ai, path: /dce5/, upstream: "${UP}", nav: { title: AI } }\n`,
    );
    assert.equal(buildNav(plain, undefined, 'en-US').items[0]!.url, '/dce5/');
  });
});

describe('/_portico/nav.json and /_portico/nav.js', () => {
  async function gateway(t: import('node:test').TestContext) {
    const { dir } = brandDir(t);
    const seen: (string | undefined)[] = [];
    const getIdentity = async (req: import('node:http').IncomingMessage) => {
      const user = req.headers['x-test-user'];
      seen.push(typeof user === 'string' ? user : undefined);
      return typeof user === 'string' ? { ...alice, username: user } : undefined;
    };
    const gw = await startGateway(
      t,
      `nav: { allowedOrigins: ["https://customer.example.com"] }
routes:
  - { id: ai, path: /dce5/, upstream: "${UP}", branding: true, nav: { title: { zh-CN: AI 算力中心, en-US: AI Compute Center }, order: 10 } }
  - { id: customer, path: /, upstream: "${UP}" }
`,
      { features: [brandingFeature({ dir, watch: false, getIdentity })] },
    );
    return { ...gw, seen };
  }

  it('answer with the entries of the asking user, private and varying by cookie and language', async (t) => {
    const gw = await gateway(t);
    const r = await send(gw.url, '/_portico/nav.json', {
      headers: { 'accept-language': 'zh-CN,zh;q=0.9', 'x-test-user': 'carol' },
    });
    assert.equal(r.status, 200);
    assert.equal(r.headers['cache-control'], 'private, no-cache');
    assert.equal(r.headers.vary, 'Cookie, Accept-Language, Origin');
    assert.deepEqual(gw.seen, ['carol']);
    const body = JSON.parse(r.text);
    assert.equal(body.lang, 'zh-CN');
    assert.equal(body.signedIn, true);
    assert.deepEqual(body.items, [{ id: 'ai', title: 'AI 算力中心', url: '/dce5/', order: 10 }]);
    assert.equal(body.brand.productName, '测试品牌');
    assert.equal(body.brand.primaryColor, '#ff6600');
    const en = JSON.parse((await send(gw.url, '/_portico/nav.json?lang=en-US')).text);
    assert.equal(en.items[0].title, 'AI Compute Center');
    assert.equal(en.signedIn, false);
  });

  it('allow credentialed CORS only for the configured customer origins, never with *', async (t) => {
    const gw = await gateway(t);
    const ok = await send(gw.url, '/_portico/nav.json', {
      headers: { origin: 'https://customer.example.com' },
    });
    assert.equal(ok.headers['access-control-allow-origin'], 'https://customer.example.com');
    assert.equal(ok.headers['access-control-allow-credentials'], 'true');
    assert.match(String(ok.headers.vary), /Origin/);
    const evil = await send(gw.url, '/_portico/nav.json', {
      headers: { origin: 'https://evil.example.net' },
    });
    assert.equal(evil.headers['access-control-allow-origin'], undefined);
    assert.equal(evil.headers['access-control-allow-credentials'], undefined);
    const preflight = await send(gw.url, '/_portico/nav.json', {
      method: 'OPTIONS',
      headers: { origin: 'https://customer.example.com', 'access-control-request-method': 'GET' },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers['access-control-allow-origin'], 'https://customer.example.com');
    assert.match(String(preflight.headers['access-control-allow-methods']), /GET/);
  });

  it('serve one static script that defines <portico-nav>, revalidated with an ETag', async (t) => {
    const gw = await gateway(t);
    const r = await send(gw.url, '/_portico/nav.js');
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'text/javascript; charset=utf-8');
    assert.equal(r.headers['cache-control'], 'no-cache');
    assert.equal(r.headers['cross-origin-resource-policy'], 'cross-origin');
    assert.match(r.text, /customElements\.define\('portico-nav'/);
    assert.match(r.text, /credentials: 'include'/);
    const again = await send(gw.url, '/_portico/nav.js', {
      headers: { 'if-none-match': String(r.headers.etag) },
    });
    assert.equal(again.status, 304);
  });
});
