import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRemoteJWKSet, decodeJwt, generateKeyPair, jwtVerify, SignJWT } from 'jose';
import { type DceSetup, signIn, startDce } from '../helpers/dce.ts';

function api(setup: DceSetup, path: string, token?: string, init: RequestInit = {}) {
  return fetch(new URL(path, setup.ai.url), {
    ...init,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(init.headers as Record<string, string>),
    },
  });
}

/** A token shaped like the realm's, signed with `key`: for what Istio must refuse. */
async function realmLike(
  setup: DceSetup,
  o: { key?: CryptoKey; iss?: string; exp?: number; kid?: string } = {},
) {
  const realm = setup.ai.realm;
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ typ: 'Bearer', preferred_username: 'alice', sid: 'x', azp: 'ghippo' })
    .setProtectedHeader({ alg: 'RS256', kid: o.kid ?? realm.key.kid })
    .setIssuer(o.iss ?? realm.urls.issuer)
    .setSubject('someone')
    .setIssuedAt(now - 600)
    .setExpirationTime(o.exp ?? now + 300)
    .sign(o.key ?? realm.key.privateKey);
}

describe('the AI platform’s apis/… behind its Istio-style bearer check', () => {
  it('refuses a missing, forged, expired or wrong-issuer token, and identity headers mean nothing', async (t) => {
    const setup = await startDce(t);
    const path = 'apis/ghippo.io/v1alpha1/current-user';
    const other = await generateKeyPair('RS256');
    const cases: [string, string | undefined, RegExp][] = [
      ['missing', undefined, /Jwt is missing/],
      [
        'forged (another key, the realm’s kid)',
        await realmLike(setup, { key: other.privateKey }),
        /Jwt verification fails/,
      ],
      ['expired', await realmLike(setup, { exp: Math.floor(Date.now() / 1000) - 60 }), /Jwt is expired/],
      [
        'wrong issuer (a wrong global.reverseProxy)',
        await realmLike(setup, { iss: 'http://10.6.165.50/auth/realms/ghippo' }),
        /Jwt issuer is not configured/,
      ],
      ['not a JWT', 'abc', /Jwt is not in the form/],
    ];
    for (const [name, token, reason] of cases) {
      const res = await api(setup, path, token, {
        headers: {
          'x-forwarded-user': 'alice',
          'x-forwarded-groups': 'ai-users',
          'x-portico-assertion': 'x.y.z',
        },
      });
      assert.equal(res.status, 401, name);
      assert.match(
        res.headers.get('www-authenticate') ?? '',
        /^Bearer realm=".*\/auth\/realms\/ghippo", error="invalid_token"$/,
        name,
      );
      assert.match(await res.text(), reason, name);
    }
    assert.equal(
      (await api(setup, path, await realmLike(setup))).status,
      200,
      'the same shape signed by the realm passes',
    );
  });

  it('accepts the realm’s access token and answers with the user it names', async (t) => {
    const setup = await startDce(t);
    const { tokens } = await signIn(setup);
    const res = await api(setup, 'apis/ghippo.io/v1alpha1/current-user', tokens.access_token);
    assert.equal(res.status, 200);
    const me = (await res.json()) as Record<string, unknown>;
    assert.equal(me.username, 'alice');
    assert.equal(me.email, 'alice@example.com');
    assert.equal(me.issuer, setup.ai.realm.urls.issuer);
    assert.equal(me.authenticatedBy, 'session token');
    const clusters = (await (
      await api(setup, 'apis/baize.io/v1alpha1/clusters', tokens.access_token)
    ).json()) as { items: unknown[] };
    assert.equal(clusters.items.length, 4);
    assert.equal((await api(setup, 'apis/baize.io/v1alpha1/nothing', tokens.access_token)).status, 404);
  });

  it('creates a personal access key (RS256, iss ghippo.io) that a CI script then uses as its bearer', async (t) => {
    const setup = await startDce(t);
    const { tokens } = await signIn(setup);
    const created = await api(
      setup,
      'apis/ghippo.io/v1alpha1/current-user/accesstokens',
      tokens.access_token,
      {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'ci-pipeline' }),
      },
    );
    assert.equal(created.status, 201);
    const key = (await created.json()) as { token: string; name: string; id: string };
    assert.equal(key.name, 'ci-pipeline');

    // Istio's ghippo.io rule reads its keys from ghippo's certs endpoint, which needs no token.
    const certs = createRemoteJWKSet(new URL('apis/ghippo.io/v1alpha1/certs', setup.ai.url));
    const { payload, protectedHeader } = await jwtVerify(key.token, certs, { issuer: 'ghippo.io' });
    assert.equal(protectedHeader.alg, 'RS256');
    assert.equal(payload.sub, decodeJwt(tokens.access_token).sub);
    assert.equal(payload.jti, key.id);

    // The CI script: no browser, no session, only the key.
    const me = (await (await api(setup, 'apis/ghippo.io/v1alpha1/current-user', key.token)).json()) as Record<
      string,
      unknown
    >;
    assert.equal(me.username, 'alice');
    assert.equal(me.authenticatedBy, 'access key');
    const listed = (await (
      await api(setup, 'apis/ghippo.io/v1alpha1/current-user/accesstokens', key.token)
    ).json()) as {
      items: { name: string; token?: string }[];
    };
    assert.deepEqual(
      listed.items.map((k) => [k.name, k.token]),
      [['ci-pipeline', undefined]],
      'listed without the secret',
    );
    const fromKey = await api(setup, 'apis/ghippo.io/v1alpha1/current-user/accesstokens', key.token, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'more' }),
    });
    assert.equal(fromKey.status, 403, 'a key cannot mint keys');

    // A key signed by anyone else, with the right issuer, is refused.
    const { privateKey } = await generateKeyPair('RS256');
    const forged = await new SignJWT({ preferred_username: 'alice' })
      .setProtectedHeader({ alg: 'RS256', kid: setup.ai.accessKeys.key.kid })
      .setIssuer('ghippo.io')
      .setSubject(String(payload.sub))
      .setExpirationTime('1h')
      .sign(privateKey);
    assert.equal((await api(setup, 'apis/ghippo.io/v1alpha1/current-user', forged)).status, 401);
  });

  it('keeps working for an access token after logout until it expires, as a stateless Istio check does', async (t) => {
    const setup = await startDce(t);
    const { tokens } = await signIn(setup);
    setup.ai.realm.store.endSession(String(decodeJwt(tokens.access_token).sid));
    assert.equal((await api(setup, 'apis/baize.io/v1alpha1/jobs', tokens.access_token)).status, 200);
  });
});
