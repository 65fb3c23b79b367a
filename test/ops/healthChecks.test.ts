// /_portico/healthz and /readyz are answered without express (a pure proxy never loads it), and
// must answer exactly as the own app does: compared here, variant by variant, with an express
// route of the same app answering the same JSON the way the health checks did.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import express from 'express';
import type { FeatureFactory } from '../../gateway/server.ts';
import { ANY_ROUTE, startGateway } from '../helpers/gateway.ts';
import { type RawResponse, send } from '../helpers/http.ts';

let ready = true;
/** `GET /_portico/echo`: the JSON of x-body, status x-status, as the health checks answered. */
const echo: FeatureFactory = () => {
  const router = express.Router();
  router.get('/echo', (req, res) => {
    res
      .status(Number(req.headers['x-status']))
      .set('cache-control', 'no-store')
      .json(JSON.parse(String(req.headers['x-body'])));
  });
  return { name: 'echo', routers: [router], readiness: async () => ({ ok: ready }) };
};

/** Status, headers in order (Date aside) and body. */
const shape = (r: RawResponse) => ({
  status: r.status,
  headers: r.rawHeaders.filter((_, i, all) => all[i - (i % 2)]!.toLowerCase() !== 'date'),
  body: r.text,
});

const VARIANTS: {
  name: string;
  method?: string;
  headers?: Record<string, string>;
  path?: (p: string) => string;
}[] = [
  { name: 'GET' },
  { name: 'HEAD', method: 'HEAD' },
  { name: 'a query string', path: (p) => `${p}?probe=1` },
  { name: 'a final slash, in capitals', path: (p) => `/_portico/${p.slice(10).toUpperCase()}/` },
  { name: 'If-Modified-Since alone', headers: { 'if-modified-since': new Date().toUTCString() } },
  { name: 'If-None-Match: *', headers: { 'if-none-match': '*' } },
  { name: 'If-None-Match: * with no-cache', headers: { 'if-none-match': '*', 'cache-control': 'no-cache' } },
];

describe('health checks without express', () => {
  for (const path of ['/_portico/healthz', '/_portico/readyz']) {
    it(`answers ${path} as the own app's express routes answer, whatever the request`, async (t) => {
      ready = true;
      const gw = await startGateway(t, ANY_ROUTE, { features: [echo] });
      const compare = async (name: string, o: (typeof VARIANTS)[number] & { etag?: string }) => {
        const headers = { ...o.headers, ...(o.etag ? { 'if-none-match': o.etag } : {}) };
        const own = await send(gw.url, o.path ? o.path(path) : path, { method: o.method, headers });
        const body = (await send(gw.url, path)).text;
        const viaExpress = await send(gw.url, '/_portico/echo', {
          method: o.method,
          headers: { ...headers, 'x-status': String(own.status === 304 ? 200 : own.status), 'x-body': body },
        });
        assert.deepEqual(shape(own), shape(viaExpress), name);
        return own;
      };
      for (const v of VARIANTS) await compare(v.name, v);
      const first = await compare('GET', { name: '' });
      const etag = String(first.headers.etag);
      assert.equal((await compare('If-None-Match', { name: '', etag })).status, 304);
      assert.equal((await compare('a list', { name: '', etag: `"x", ${etag.slice(2)}` })).status, 304);
      assert.equal((await compare('another ETag', { name: '', etag: 'W/"0-x"' })).status, 200);
      if (path.endsWith('readyz')) {
        ready = false;
        assert.equal((await compare('not ready', { name: '', etag: '*' })).status, 503);
      }
    });
  }

  it('leaves other methods to the own app', async (t) => {
    const gw = await startGateway(t, ANY_ROUTE);
    assert.equal((await send(gw.url, '/_portico/healthz', { method: 'POST' })).status, 404);
    assert.equal((await send(gw.url, '/_portico/healthzz')).status, 404);
  });
});
