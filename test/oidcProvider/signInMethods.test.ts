// Whatever way a user signed in to Portico — a directory (real OpenLDAP slapd) or an OIDC IdP — a
// declared client gets them with no page at all, and the same name at two IdPs is two subjects
// (and two names: only the primary provider's users keep bare ones).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  authorizationRequest,
  followToClient,
  type OpClient,
  relyingParty,
  startOp,
} from '../helpers/openidProvider.ts';
import {
  GROUPS,
  PEOPLE,
  SERVICE_DN,
  SERVICE_PASSWORD,
  type Slapd,
  startSlapd,
  USERS,
} from '../helpers/slapd.ts';
import { GatewayClient, login } from '../helpers/sso.ts';
import { deadPort } from '../helpers/ports.ts';

describe('every sign-in method reaches a client of the OpenID Provider with no page', () => {
  const cleanups: (() => unknown)[] = [];
  let ldap: Slapd;
  before(async () => {
    ldap = await startSlapd({ after: (fn) => cleanups.push(fn) });
  });
  after(async () => {
    for (const fn of cleanups.reverse()) await fn();
  });

  it('serves a user signed in through LDAP and one signed in through OIDC, each straight back to the client', async (t) => {
    const client: OpClient = {
      id: 'dce5-ghippo',
      secret: 'ghippo-secret-0123456789abcdefghijklmnopqrstuvwxyz',
      redirectUris: [`http://127.0.0.1:${await deadPort()}/dce5/auth/realms/ghippo/broker/portico/endpoint`],
      // The directory is not the primary provider: its users and groups are qualified `dir:…`.
      allow: '{ groups: [ai-users, "dir:ai-users"] }',
    };
    const s = await startOp(t, [client], {
      extra: 'identity: { primaryProvider: corp }\n',
      extraIdps: `  - { id: dir, type: ldap, name: Directory, url: "${ldap.url}", bindDn: "${SERVICE_DN}", bindPassword: "${SERVICE_PASSWORD}", userBase: "${PEOPLE}", groupBase: "${GROUPS}", throttle: { maxPerUser: 100, maxPerIp: 100 } }\n`,
    });
    const config = await relyingParty(s.issuer, client);

    const directory = new GatewayClient(s.gw.url);
    const form = await directory.request('/_portico/login/dir?rd=%2Fapp%2F');
    const csrf = /name="csrf" value="([^"]+)"/.exec(form.text)?.[1];
    assert.ok(csrf, form.text);
    const signIn = await directory.request('/_portico/login/dir', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        username: 'alice',
        password: USERS.alice.password,
        csrf,
        rd: '/app/',
      }).toString(),
    });
    assert.equal(signIn.status, 303);

    const { client: oidc } = await login(s, 'alice', '/_portico/login/corp');

    const subjects: string[] = [];
    for (const [browser, idp] of [
      [directory, 'dir'],
      [oidc, 'corp'],
    ] as const) {
      const req = await authorizationRequest(config, client);
      const { location, hops } = await followToClient(browser, req.url);
      assert.ok(location.href.startsWith(`${client.redirectUris[0]}?`), `${idp}: ${location.href}`);
      assert.ok(location.searchParams.get('code'), idp);
      assert.ok(
        hops.every((h) => h.status === 303 || h.status === 302),
        `${idp}: only redirects, ${JSON.stringify(hops)}`,
      );
      const claims = (await req.redeem(location)).claims()!;
      const name = idp === 'dir' ? 'dir:alice' : 'alice';
      assert.equal(claims.preferred_username, name, idp);
      assert.equal(claims.email, 'alice@example.com', idp);
      // The IdP says it verified alice's address; the directory says nothing (and has no trustEmail).
      assert.equal(claims.email_verified, idp === 'corp', idp);
      assert.ok((claims.groups as string[]).includes(idp === 'dir' ? 'dir:ai-users' : 'ai-users'), idp);
      subjects.push(claims.sub);
    }
    assert.notEqual(subjects[0], subjects[1], 'alice of the directory and alice of the IdP are two subjects');
  });
});
