// The OpenID Provider's own cookies: under /_portico/oidc only, HttpOnly, SameSite=Lax, signed, and
// Secure when publicUrl is https — also behind a TLS-terminating load balancer, where the
// connection to Portico is plain HTTP and the request's Host is the balancer's business.
import assert from 'node:assert/strict';
import { ANY_ROUTE } from '../helpers/gateway.ts';
import { describe, it } from 'node:test';
import { oidcProviderFeature } from '../../gateway/oidcProvider/oidcProviderFeature.ts';
import { startGateway } from '../helpers/gateway.ts';
import { json, send } from '../helpers/http.ts';
import {
  authorizationRequest,
  followToClient,
  oidcProviderYaml,
  type OpClient,
  relyingParty,
  secretsEnv,
  startOp,
} from '../helpers/openidProvider.ts';
import { login, SESSION_SECRET } from '../helpers/sso.ts';
import { deadPort } from '../helpers/ports.ts';

const client: OpClient = {
  id: 'grafana',
  secret: 'grafana-secret-0123456789abcdefghijklmnopqrstuvwxyz',
  redirectUris: ['https://grafana.example.com/login/generic_oauth'],
};

function attributes(line: string) {
  const [pair, ...attrs] = line.split(';').map((p) => p.trim());
  return { name: pair!.slice(0, pair!.indexOf('=')), attrs: attrs.map((a) => a.toLowerCase()) };
}

describe("the OpenID Provider's cookies", () => {
  it('are Secure, HttpOnly, SameSite=Lax and scoped to /_portico/oidc behind a TLS-terminating load balancer', async (t) => {
    const gw = await startGateway(
      t,
      `publicUrl: https://portal.example.com
session: { secret: ${SESSION_SECRET} }
identityProviders:
  - { id: corp, type: oidc, issuer: "http://127.0.0.1:9", clientId: portico, clientSecret: s }
${oidcProviderYaml([client])}${ANY_ROUTE}`,
      { features: [oidcProviderFeature], env: secretsEnv([client]) },
    );
    const discovery = json(
      await send(gw.url, '/_portico/oidc/.well-known/openid-configuration', {
        headers: { host: 'lb.internal:8080' },
      }),
    );
    assert.equal(discovery.authorization_endpoint, 'https://portal.example.com/_portico/oidc/auth');
    const q = new URLSearchParams({
      client_id: client.id,
      redirect_uri: client.redirectUris[0]!,
      response_type: 'code',
      scope: 'openid',
      state: 'st',
    });
    const r = await send(gw.url, `/_portico/oidc/auth?${q}`, { headers: { host: 'lb.internal:8080' } });
    assert.equal(r.status, 303, r.text);
    assert.match(r.headers.location!, /^\/_portico\/oidc\/interaction\/[A-Za-z0-9_-]+$/);
    const cookies = ([] as string[]).concat(r.headers['set-cookie'] ?? []).map(attributes);
    assert.deepEqual(cookies.map((c) => c.name).sort(), [
      'portico_op_interaction',
      'portico_op_interaction.sig',
      'portico_op_resume',
      'portico_op_resume.sig',
    ]);
    for (const c of cookies) {
      assert.ok(c.attrs.includes('secure'), `${c.name} is Secure`);
      assert.ok(c.attrs.includes('httponly'), `${c.name} is HttpOnly`);
      assert.ok(c.attrs.includes('samesite=lax'), `${c.name} is SameSite=Lax`);
      const path = c.attrs.find((a) => a.startsWith('path='))!.slice(5);
      assert.ok(path.startsWith('/_portico/oidc/'), `${c.name} path ${path}`);
    }
  });

  it('keep the OP session cookie under /_portico/oidc, HttpOnly and SameSite=Lax on a plain-http site', async (t) => {
    const local: OpClient = { ...client, redirectUris: [`http://127.0.0.1:${await deadPort()}/cb`] };
    const s = await startOp(t, [local]);
    const { client: browser } = await login(s, 'alice', '/app/');
    const req = await authorizationRequest(await relyingParty(s.issuer, local), local);
    const { hops } = await followToClient(browser, req.url);
    const session = hops
      .flatMap((h) => h.setCookie)
      .map(attributes)
      .find((c) => c.name === 'portico_op_session');
    assert.ok(session, JSON.stringify(hops));
    assert.ok(session.attrs.includes('path=/_portico/oidc'));
    assert.ok(session.attrs.includes('httponly'));
    assert.ok(session.attrs.includes('samesite=lax'));
    assert.ok(!session.attrs.includes('secure'));
    assert.ok(
      hops.flatMap((h) => h.setCookie).some((c) => c.startsWith('portico_op_session.sig=')),
      'signed',
    );
  });
});
