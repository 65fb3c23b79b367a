import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { oidcProviderFeature } from '../../gateway/oidcProvider/oidcProviderFeature.ts';
import { type Http2Answer, http2Request } from '../helpers/http2.ts';
import { driveLogin } from '../helpers/idp.ts';
import { oidcProviderYaml, secretsEnv } from '../helpers/openidProvider.ts';
import { startTlsSso } from '../helpers/tlsGateway.ts';

const CLIENT = {
  id: 'grafana',
  secret: 'g'.repeat(32),
  redirectUris: ['https://grafana.example/login/generic_oauth'],
};

describe("Portico's OpenID Provider over HTTP/2", () => {
  it('signs a client in over h2: discovery, authorization, the portal sign-in, the code and the token, Secure cookies throughout', async (t) => {
    const { gw, idp } = await startTlsSso(
      t,
      'routes:\n  - { id: app, path: /, upstream: "http://127.0.0.1:9/" }\n',
      {
        extra: oidcProviderYaml([CLIENT]),
        features: [oidcProviderFeature],
        env: secretsEnv([CLIENT]),
      },
    );
    const jar = new Map<string, string>();
    /** A request over h2 with the jar's cookies; Set-Cookie kept (Secure checked on every one). */
    const get = async (
      target: string,
      o: { method?: string; headers?: Record<string, string>; body?: string } = {},
    ) => {
      const url = new URL(target, gw.url);
      const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
      const r: Http2Answer = await http2Request(gw.url, url.pathname + url.search, {
        ca: gw.ca,
        method: o.method,
        headers: { accept: 'text/html', ...(cookie ? { cookie } : {}), ...o.headers },
        body: o.body,
      });
      for (const line of ([] as string[]).concat(r.headers['set-cookie'] ?? [])) {
        const [pair] = line.split(';');
        const eq = pair!.indexOf('=');
        const [name, value] = [pair!.slice(0, eq), pair!.slice(eq + 1)];
        if (value === '' || /expires=Thu, 01 Jan 1970/i.test(line)) {
          jar.delete(name);
          continue;
        }
        assert.match(line, /;\s*secure/i, `Secure: ${line}`);
        jar.set(name, value);
      }
      return r;
    };

    const discovery = JSON.parse((await get('/_portico/oidc/.well-known/openid-configuration')).text);
    assert.equal(discovery.issuer, `${gw.url}/_portico/oidc`);
    const jwks = JSON.parse((await get(new URL(discovery.jwks_uri).pathname)).text);
    assert.ok(jwks.keys.length > 0);

    const verifier = randomBytes(32).toString('base64url');
    const challenge = createHash('sha256').update(verifier).digest('base64url');
    const auth = new URL(discovery.authorization_endpoint);
    auth.search = new URLSearchParams({
      client_id: CLIENT.id,
      response_type: 'code',
      scope: 'openid email',
      redirect_uri: CLIENT.redirectUris[0]!,
      state: 'state-1234',
      code_challenge: challenge,
      code_challenge_method: 'S256',
    }).toString();
    // Over h2 from here on: the provider, its interaction, Portico's own sign-in, back to the provider.
    let r = await get(auth.href);
    let idpLogin: string | undefined;
    for (let hop = 0; hop < 10 && r.status >= 300 && r.status < 400; hop++) {
      const next = new URL(String(r.headers.location), gw.url);
      if (next.origin === new URL(idp.issuer).origin) {
        idpLogin = next.href;
        const back = await driveLogin(idp, next, { username: 'alice', password: 'alice' });
        r = await get(back.location);
        continue;
      }
      if (next.origin !== gw.url) break;
      r = await get(next.href);
    }
    assert.ok(idpLogin, 'the portal sign-in went through the IdP');
    const callback = new URL(String(r.headers.location));
    assert.equal(callback.origin + callback.pathname, CLIENT.redirectUris[0]);
    assert.equal(callback.searchParams.get('state'), 'state-1234');
    const code = callback.searchParams.get('code');
    assert.ok(code, `a code: ${r.status} ${r.headers.location}`);

    const form = new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      redirect_uri: CLIENT.redirectUris[0]!,
      code_verifier: verifier,
    }).toString();
    // With its Content-Length, as OAuth clients send a form: the provider's body parser needs one.
    const token = await http2Request(gw.url, new URL(discovery.token_endpoint).pathname, {
      ca: gw.ca,
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'content-length': String(Buffer.byteLength(form)),
        authorization: `Basic ${Buffer.from(`${CLIENT.id}:${CLIENT.secret}`).toString('base64')}`,
      },
      body: form,
    });
    assert.equal(token.status, 200, token.text);
    const tokens = JSON.parse(token.text);
    assert.ok(tokens.id_token && tokens.access_token);
    const claims = JSON.parse(Buffer.from(tokens.id_token.split('.')[1], 'base64url').toString());
    assert.equal(claims.iss, discovery.issuer);
    assert.equal(claims.aud, CLIENT.id);
  });
});
