import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfigText } from '../../gateway/config/loadConfig.ts';
import { splitTarget } from '../../gateway/routing/checkPath.ts';
import { matchRoute, upstreamPath } from '../../gateway/routing/matchRoute.ts';

const config = loadConfigText(
  `routes:
  - { id: ai, path: /dce5/, upstream: http://127.0.0.1:1/ }
  - { id: api, path: /api, upstream: http://127.0.0.1:2/v1 }
  - { id: sub, path: /sub/, upstream: http://127.0.0.1:3/base/ }
  - { id: root, path: /, upstream: http://127.0.0.1:4/ }
`,
  { env: {} },
);

function route(path: string) {
  const m = matchRoute(config.routes, path);
  return m && (m.redirect ? `redirect:${m.route.id}` : `${m.route.id} ${upstreamPath(m.route, path)}`);
}

describe('route matching', () => {
  it('strips the prefix as nginx proxy_pass with a URI does', () => {
    assert.equal(route('/dce5/a/b'), 'ai /a/b');
    assert.equal(route('/dce5/'), 'ai /');
    assert.equal(route('/sub/x'), 'sub /base/x');
    assert.equal(route('/anything'), 'root /anything');
  });

  it('asks for a redirect on the bare prefix', () => {
    assert.equal(route('/dce5'), 'redirect:ai');
  });

  it('matches a prefix without a trailing slash on segment boundaries only', () => {
    assert.equal(route('/api'), 'api /v1');
    assert.equal(route('/api/users'), 'api /v1/users');
    assert.equal(route('/apix'), 'root /apix');
  });

  it('is case-sensitive like nginx, so /DCE5/ is not the AI platform', () => {
    assert.equal(route('/DCE5/x'), 'root /DCE5/x');
  });
});

describe('request target checks', () => {
  it('keeps the query and percent-encoding byte for byte', () => {
    assert.deepEqual(splitTarget('/dce5/a%2Fb%20c?q=%41&x', 8192), {
      path: '/dce5/a%2Fb%20c',
      query: '?q=%41&x',
    });
  });

  it('merges repeated slashes so //dce5/ is routed, and forwarded, as /dce5/', () => {
    assert.deepEqual(splitTarget('//dce5//x?a=//b', 8192), { path: '/dce5/x', query: '?a=//b' });
  });

  for (const bad of [
    '/dce5/../admin',
    '/dce5/..%2fadmin',
    '/dce5/%2e%2e/admin',
    '/dce5/%2E%2e/',
    '/dce5/./x',
    '/a\\b',
    '/a%5cb',
    '/a%00b',
    '/dce5/.%2e',
  ]) {
    it(`refuses the ambiguous path ${JSON.stringify(bad)}`, () => {
      assert.throws(() => splitTarget(bad, 8192), { code: 'PORTICO_ERR_BAD_PATH' });
    });
  }

  it('allows dots that are not whole segments', () => {
    assert.equal(splitTarget('/dce5/a..b/.well-known/x.json', 8192).path, '/dce5/a..b/.well-known/x.json');
  });

  it('refuses over-long URLs and absolute-form targets', () => {
    assert.throws(() => splitTarget(`/${'a'.repeat(100)}`, 50), { code: 'PORTICO_ERR_BAD_PATH' });
    assert.throws(() => splitTarget('http://evil/', 8192), { code: 'PORTICO_ERR_BAD_PATH' });
  });
});
