// A branded route answers one URL two ways: a navigation gets the page with the brand injected, a
// script's fetch of it the upstream's own bytes (and a page without a lang of its own gets the
// footer in the reader's language). Each way is a variant a cache must keep apart: the answers say
// what they vary on, or a browser's cache or a shared one in front of Portico hands a navigation
// the unbranded copy a fetch stored, or a fetch the branded one.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startGateway } from '../helpers/gateway.ts';
import { upstreamFor } from '../helpers/upstream.ts';
import { brandedGateway } from './helpers.ts';

const PAGE = '<html lang="en"><head><title>x</title></head><body>hello</body></html>';
const NO_LANG_PAGE = '<html><head><title>x</title></head><body>hello</body></html>';

/** The answer's headers per path: `/<case>` picks one. */
const CASES: Record<string, { headers: Record<string, string>; body: string }> = {
  page: {
    headers: { 'content-type': 'text/html', 'cache-control': 'max-age=600', etag: '"p1"' },
    body: PAGE,
  },
  varyEncoding: {
    headers: { 'content-type': 'text/html; charset=utf-8', vary: 'Accept-Encoding' },
    body: PAGE,
  },
  varyAll: { headers: { 'content-type': 'text/html', vary: '*' }, body: PAGE },
  noLang: { headers: { 'content-type': 'text/html' }, body: NO_LANG_PAGE },
  noLangTagged: { headers: { 'content-type': 'text/html', etag: '"n1"' }, body: NO_LANG_PAGE },
  json: { headers: { 'content-type': 'application/json' }, body: '{"a":1}' },
  noTransform: { headers: { 'content-type': 'text/html', 'cache-control': 'no-transform' }, body: PAGE },
};

const NAVIGATION = {
  accept: 'text/html,application/xhtml+xml;q=0.9,*/*;q=0.8',
  'sec-fetch-dest': 'document',
};
const FETCH = { accept: '*/*', 'sec-fetch-dest': 'empty' };

async function brandedApp(t: Parameters<typeof upstreamFor>[0]) {
  return upstreamFor(t, {
    handler: (req, res) => {
      const c = CASES[req.url!.slice(1).split('?')[0]!]!;
      if (c.headers.etag !== undefined && req.headers['if-none-match'] === c.headers.etag) {
        res.writeHead(304, { etag: c.headers.etag });
        res.end();
        return;
      }
      res.writeHead(200, c.headers);
      res.end(c.body);
    },
  });
}

describe('branded pages and caches', () => {
  it('say they vary on what decides whether a page is branded, navigation and fetch alike', async (t) => {
    const app = await brandedApp(t);
    const gw = await brandedGateway(t, app.url);
    const get = async (path: string, headers: Record<string, string>) => {
      const r = await fetch(gw.url + path, { headers });
      const body = await r.text();
      return {
        vary: r.headers.get('vary'),
        etag: r.headers.get('etag'),
        branded: body.includes('portico-footer'),
      };
    };
    const nav = await get('/page', NAVIGATION);
    const script = await get('/page', FETCH);
    assert.equal(nav.branded, true);
    assert.equal(script.branded, false);
    assert.equal(nav.vary, 'Sec-Fetch-Dest, Accept');
    assert.equal(script.vary, 'Sec-Fetch-Dest, Accept');
    assert.notEqual(nav.etag, script.etag, 'two variants, two validators');
    // Without Sec-Fetch-Dest (older browsers), Accept decides.
    assert.equal((await get('/page', { accept: 'text/html' })).branded, true);
    assert.equal((await get('/page', { accept: '*/*' })).branded, false);

    assert.equal((await get('/varyEncoding', NAVIGATION)).vary, 'Accept-Encoding, Sec-Fetch-Dest, Accept');
    assert.equal((await get('/varyEncoding', FETCH)).vary, 'Accept-Encoding, Sec-Fetch-Dest, Accept');
    assert.equal((await get('/varyAll', NAVIGATION)).vary, '*');
    // A page without a lang of its own: the footer's language too.
    assert.equal((await get('/noLang', NAVIGATION)).vary, 'Sec-Fetch-Dest, Accept, Accept-Language');
    // What is never branded is left as the upstream sent it.
    assert.equal((await get('/json', NAVIGATION)).vary, null);
    assert.equal((await get('/noTransform', NAVIGATION)).vary, null);
  });

  it('tag each language of a page whose footer took the reader’s language apart', async (t) => {
    const app = await brandedApp(t);
    const gw = await brandedGateway(t, app.url);
    const get = async (headers: Record<string, string>) => {
      const r = await fetch(`${gw.url}/noLangTagged`, { headers: { ...NAVIGATION, ...headers } });
      const body = await r.text();
      return {
        status: r.status,
        etag: r.headers.get('etag'),
        lang: /class="portico-footer"[^>]* lang="([^"]+)"/.exec(body)?.[1],
        sent: app.last().headers['if-none-match'],
      };
    };
    const en = await get({ 'accept-language': 'en-US' });
    const zh = await get({ 'accept-language': 'zh-CN' });
    assert.equal(en.lang, 'en-US');
    assert.equal(zh.lang, 'zh-CN');
    assert.match(String(en.etag), /^W\/"n1-pbs[0-9a-f]{10}e"$/);
    assert.match(String(zh.etag), /^W\/"n1-pbs[0-9a-f]{10}z"$/);
    // A cache revalidating for a Chinese reader with the English copy's tag gets the Chinese page.
    const crossed = await get({ 'accept-language': 'zh-CN', 'if-none-match': en.etag! });
    assert.equal(crossed.sent, undefined, 'the other language’s tag is not passed on');
    assert.deepEqual([crossed.status, crossed.lang, crossed.etag], [200, 'zh-CN', zh.etag]);
    // The reader's own copy is still confirmed with a 304, tagged as it was.
    const same = await get({ 'accept-language': 'zh-CN', 'if-none-match': `${en.etag}, ${zh.etag}` });
    assert.equal(same.sent, '"n1"');
    assert.deepEqual([same.status, same.etag], [304, zh.etag]);
    // A 304 says what its 200 varied on (RFC 9110 §15.4.5): a cache updating its copy from it must
    // not lose the variants.
    const revalidated = await fetch(`${gw.url}/noLangTagged`, {
      headers: { ...NAVIGATION, 'accept-language': 'zh-CN', 'if-none-match': zh.etag! },
    });
    assert.equal(revalidated.status, 304);
    assert.equal(revalidated.headers.get('vary'), 'Sec-Fetch-Dest, Accept, Accept-Language');
    const page304 = await fetch(`${gw.url}/page`, { headers: { ...NAVIGATION } });
    await page304.text();
    const again = await fetch(`${gw.url}/page`, {
      headers: { ...NAVIGATION, 'if-none-match': page304.headers.get('etag')! },
    });
    assert.deepEqual([again.status, again.headers.get('vary')], [304, 'Sec-Fetch-Dest, Accept']);
    // ?lang= chooses like Accept-Language.
    const query = await fetch(`${gw.url}/noLangTagged?lang=en`, {
      headers: { ...NAVIGATION, 'if-none-match': en.etag! },
    });
    assert.deepEqual([query.status, query.headers.get('etag')], [304, en.etag]);
  });

  it('leave routes without branding alone', async (t) => {
    const app = await brandedApp(t);
    const gw = await startGateway(t, `routes:\n  - { id: app, path: /, upstream: "${app.url}" }\n`);
    const r = await fetch(`${gw.url}/page`, { headers: NAVIGATION });
    await r.text();
    assert.equal(r.headers.get('vary'), null);
  });
});
