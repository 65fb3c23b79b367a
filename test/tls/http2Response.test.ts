import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import { createSecureServer, Http2ServerResponse } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { describe, it, type TestContext } from 'node:test';
import { http2ResponseClass } from '../../gateway/listener/http2Response.ts';
import { http2Request } from '../helpers/http2.ts';
import { listenerCertificates } from '../helpers/tlsGateway.ts';

/** An HTTP/2 server whose answers are Portico's Http2Response, written by `write` as HTTP/1.1 code would. */
async function serverWriting(t: TestContext, write: (res: ServerResponse) => void) {
  const files = listenerCertificates(t);
  const server = createSecureServer(
    {
      cert: readFileSync(files.cert),
      key: readFileSync(files.key),
      Http2ServerResponse: http2ResponseClass(Http2ServerResponse),
    },
    (_req, res) => write(res as unknown as ServerResponse),
  );
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  return { url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`, ca: readFileSync(files.ca) };
}

const HOP = {
  Connection: 'keep-alive',
  'Keep-Alive': 'timeout=5',
  'Proxy-Connection': 'keep-alive',
  'Transfer-Encoding': 'chunked',
  Upgrade: 'websocket',
};

describe('answers written for HTTP/1.1, sent over HTTP/2', () => {
  const cases: [string, (res: ServerResponse) => void][] = [
    [
      'setHeader and appendHeader',
      (res) => {
        for (const [name, value] of Object.entries(HOP)) res.setHeader(name, value);
        res.appendHeader('Keep-Alive', 'max=5');
        res.setHeader('X-Kept', 'yes');
        res.end('body');
      },
    ],
    [
      'writeHead with an object and a status message',
      (res) => res.writeHead(200, 'OK', { ...HOP, 'X-Kept': 'yes' }).end('body'),
    ],
    [
      'writeHead with a flat list (the forwarding stage)',
      (res) => res.writeHead(200, 'OK', [...Object.entries(HOP).flat(), 'X-Kept', 'yes']).end('body'),
    ],
    [
      'writeHead with pairs',
      (res) =>
        res.writeHead(200, [...Object.entries(HOP), ['X-Kept', 'yes']] as unknown as string[]).end('body'),
    ],
    [
      'a status message set on the answer (express)',
      (res) => {
        res.statusMessage = 'Fine';
        res.setHeader('X-Kept', 'yes');
        res.end('body');
      },
    ],
  ];
  for (const [name, write] of cases)
    it(`drops connection headers and reason phrases: ${name}`, async (t) => {
      const server = await serverWriting(t, write);
      const r = await http2Request(server.url, '/', { ca: server.ca });
      assert.equal(r.status, 200);
      assert.equal(r.text, 'body');
      assert.equal(r.headers['x-kept'], 'yes');
      for (const header of Object.keys(HOP)) assert.equal(r.headers[header.toLowerCase()], undefined, header);
    });
});
