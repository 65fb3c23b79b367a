import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { makeCertificates } from '../helpers/certs.ts';
import { startGateway } from '../helpers/gateway.ts';
import { json, send } from '../helpers/http.ts';

/** A CA and a server certificate for `dce.internal`, made as an admin would. */
function makeUpstreamCertificates() {
  const dir = mkdtempSync(join(tmpdir(), 'portico-tls-'));
  const files = makeCertificates(dir, { cn: 'dce.internal', names: ['DNS:dce.internal'] });
  return { dir, ca: files.ca, key: readFileSync(files.key), cert: readFileSync(files.cert) };
}

describe('HTTPS upstreams', () => {
  const certs = makeUpstreamCertificates();

  async function startTlsUpstream(t: import('node:test').TestContext) {
    const seen: { servername: string | false | null; host: string | undefined }[] = [];
    const server = createServer({ key: certs.key, cert: certs.cert }, (req, res) => {
      seen.push({
        servername: (req.socket as import('node:tls').TLSSocket).servername,
        host: req.headers.host,
      });
      res.end(JSON.stringify({ url: req.url }));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    t.after(() => {
      server.closeAllConnections();
      server.close();
    });
    return { port: (server.address() as AddressInfo).port, seen };
  }

  it('verifies the upstream with the route CA and the configured server name (SNI)', async (t) => {
    const up = await startTlsUpstream(t);
    const gw = await startGateway(
      t,
      `routes:\n  - { id: ai, path: /dce5/, upstream: "https://127.0.0.1:${up.port}/", tls: { ca: "${certs.ca}", serverName: dce.internal } }\n`,
    );
    const r = await send(gw.url, '/dce5/x?y=1', { headers: { host: 'portal.example.com' } });
    assert.equal(r.status, 200);
    assert.equal(json(r).url, '/x?y=1');
    assert.equal(up.seen[0]!.servername, 'dce.internal');
    assert.equal(up.seen[0]!.host, 'portal.example.com');
  });

  it('speaks HTTP/1.1 to a TLS upstream that would take HTTP/2 (h2 is never offered)', async (t) => {
    const { createSecureServer } = await import('node:http2');
    const versions: string[] = [];
    const server = createSecureServer({ key: certs.key, cert: certs.cert, allowHTTP1: true }, (req, res) => {
      versions.push(req.httpVersion);
      res.end('ok');
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    t.after(() => server.close());
    const port = (server.address() as AddressInfo).port;
    const gw = await startGateway(
      t,
      `routes:\n  - { id: ai, path: /, upstream: "https://127.0.0.1:${port}/", tls: { ca: "${certs.ca}", serverName: dce.internal } }\n`,
    );
    const r = await send(gw.url, '/x', { headers: { connection: 'close' } });
    assert.equal(r.status, 200);
    assert.deepEqual(versions, ['1.1']);
  });

  it('refuses an upstream certificate it cannot verify with a 502 (reason tls)', async (t) => {
    const up = await startTlsUpstream(t);
    const gw = await startGateway(
      t,
      `routes:\n  - { id: ai, path: /, upstream: "https://127.0.0.1:${up.port}/" }\n`,
    );
    const r = await send(gw.url, '/', { headers: { accept: 'application/json' } });
    assert.equal(r.status, 502);
    assert.equal(json(r).reason, 'tls');
  });

  it('accepts any certificate when the route says insecureSkipVerify, like the seed DCE install', async (t) => {
    const up = await startTlsUpstream(t);
    const gw = await startGateway(
      t,
      `routes:\n  - { id: ai, path: /, upstream: "https://127.0.0.1:${up.port}/", tls: { insecureSkipVerify: true } }\n`,
    );
    const r = await send(gw.url, '/ok');
    assert.equal(r.status, 200);
  });

  it('cleans up its certificates', () => {
    rmSync(certs.dir, { recursive: true, force: true });
  });
});
