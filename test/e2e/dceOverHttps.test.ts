// DCE 5 behind Portico as an OEM OUT install has it (docs/dce5.md): DCE's ingress on :30343 speaks
// HTTPS with its own, usually self-signed, certificate, which Portico verifies (`tls.ca`, and
// `tls.serverName` when the certificate does not list the address); DCE's APIs are Kubernetes-
// and gRPC-gateway-shaped paths with colons (`pods/<name>:<port>/proxy/…`, `jobs/<name>:cancel`)
// that Istio checks from DCE's own bearer tokens, passed through untouched; its web terminal is a
// WebSocket (ttyd's `tty` subprotocol). The stand-in (scripts/demo/aiPlatform.ts) serves all of it
// over TLS here; every request goes through the upstream connection pool's TLS connector.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it, type TestContext } from 'node:test';
import { WebSocket } from 'ws';
import { startAiPlatform } from '../../scripts/demo/aiPlatform.ts';
import { BEARER_SUBPROTOCOL_PREFIX } from '../../scripts/demo/dce/terminalCredentials.ts';
import { makeCertificates } from '../helpers/certs.ts';
import { startGateway } from '../helpers/gateway.ts';

describe('DCE 5 behind Portico over HTTPS', () => {
  const dir = mkdtempSync(join(tmpdir(), 'portico-dce-tls-'));
  // As an admin would fetch it: a certificate for DCE's own name, not for the address Portico dials.
  const certs = makeCertificates(dir, { cn: 'dce.internal', names: ['DNS:dce.internal'] });
  after(() => rmSync(dir, { recursive: true, force: true }));

  async function setup(t: TestContext) {
    const ai = await startAiPlatform({
      port: 0,
      tls: { key: readFileSync(certs.key), cert: readFileSync(certs.cert) },
    });
    t.after(() => ai.close());
    assert.match(ai.url, /^https:\/\//);
    const tls = `{ ca: "${certs.ca}", serverName: dce.internal }`;
    const gw = await startGateway(
      t,
      `routes:
  - { id: ai-platform-apis, path: /dce5/apis/, upstream: "${ai.url}apis/", tls: ${tls}, auth: none }
  - { id: ai-platform, path: /dce5/, upstream: "${ai.url}", tls: ${tls}, websocket: true, auth: none }
`,
    );
    // A personal access key (RS256, iss ghippo.io), used as a CI job would.
    const key = await ai.accessKeys.create(
      { sub: 'alice', username: 'alice', issuer: ai.realm.urls.issuer, claims: {} },
      'ci',
    );
    return { ai, gw, token: key.token };
  }

  it('passes its Kubernetes-style and custom-verb API paths, colons and all, with its own bearer token', async (t) => {
    const { gw, token } = await setup(t);
    const auth = { authorization: `Bearer ${token}`, accept: 'application/json' };
    const pods = '/dce5/apis/kpanda.io/v1alpha1/clusters/gpu-bj-train-01/namespaces/default/pods';
    for (const port of [':8080', '%3A8080', '%3a8080']) {
      const res = await fetch(`${gw.url}${pods}/web-0${port}/proxy/metrics?x=1`, { headers: auth });
      assert.equal(res.status, 200, port);
      assert.deepEqual(
        (await res.json()) as Record<string, unknown>,
        {
          cluster: 'gpu-bj-train-01',
          namespace: 'default',
          pod: 'web-0',
          port: '8080',
          path: '/metrics',
          method: 'GET',
          user: 'alice',
        },
        port,
      );
    }
    const proxied = await fetch(`${gw.url}${pods}/web-0/proxy/`, { method: 'POST', headers: auth });
    assert.equal(proxied.status, 200);
    assert.equal(((await proxied.json()) as { port: unknown }).port, null);

    const cancel = await fetch(`${gw.url}/dce5/apis/baize.io/v1alpha1/jobs/qwen2-7b-sft:cancel`, {
      method: 'POST',
      headers: auth,
    });
    assert.equal(cancel.status, 200);
    assert.deepEqual(
      [(await cancel.json()) as Record<string, unknown>].map((j) => [j.name, j.state, j.cancelledBy]),
      [['qwen2-7b-sft', 'Cancelled', 'alice']],
    );

    // DCE, not Portico, refuses a call without its token or with a forged one.
    const anonymous = await fetch(`${gw.url}/dce5/apis/baize.io/v1alpha1/jobs/qwen2-7b-sft:cancel`, {
      method: 'POST',
    });
    assert.equal(anonymous.status, 401);
    assert.equal(await anonymous.text(), 'Jwt is missing\n');
    const forged = await fetch(`${gw.url}${pods}/web-0:8080/proxy/`, {
      headers: { authorization: `Bearer ${token.slice(0, -4)}AAAA` },
    });
    assert.equal(forged.status, 401);
    assert.equal(await forged.text(), 'Jwt verification fails\n');
  });

  it('opens its web terminal over a WebSocket with its token in the tty subprotocol', async (t) => {
    const { gw, token } = await setup(t);
    const ws = new WebSocket(`${gw.url.replace(/^http/, 'ws')}/dce5/terminal/ws`, [
      'tty',
      BEARER_SUBPROTOCOL_PREFIX + Buffer.from(token).toString('base64url'),
    ]);
    t.after(() => ws.terminate());
    let screen = '';
    ws.on('message', (data) => {
      screen += data.toString().replace(/\x1b\[[0-9;]*m/g, '');
    });
    await once(ws, 'open');
    assert.equal(ws.protocol, 'tty');
    ws.send('whoami\r');
    for (let i = 0; i < 100 && !/authenticated by:\s+access key/.test(screen); i++)
      await new Promise((r) => setTimeout(r, 50));
    assert.match(screen, /user:\s+alice/);
    assert.match(screen, /authenticated by:\s+access key/);
  });
});
