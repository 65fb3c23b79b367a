import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { inflateRawSync } from 'node:zlib';
import { Redis } from 'ioredis';
import { WebSocket } from 'ws';
import { createSamlProvider, type SamlDefinition } from '../../gateway/auth/providers/saml.ts';
import type { LoginTransaction } from '../../gateway/auth/session/sessionData.ts';
import { loadConfigText } from '../../gateway/config/loadConfig.ts';
import type { GatewayError } from '../../gateway/errors.ts';
import { createMemoryStore } from '../../gateway/store/memoryStore.ts';
import { createRedisStore } from '../../gateway/store/redisStore.ts';
import { launchBrowser } from '../helpers/browser.ts';
import { nextEvent } from '../helpers/events.ts';
import { startGateway, type StartedGateway } from '../helpers/gateway.ts';
import type { RawResponse } from '../helpers/http.ts';
import { startRedis } from '../helpers/redis.ts';
import {
  type IdpLogoutRequest,
  type LogoutVariant,
  makeSigningKey,
  type SamlIdp,
  type SamlIdpOptions,
  type SamlVariant,
  startSamlIdp,
} from '../helpers/samlIdp.ts';
import { freePort, GatewayClient, logout as signOut, SESSION_SECRET } from '../helpers/sso.ts';
import { type Upstream, upstreamFor } from '../helpers/upstream.ts';

type Setup = { idp: SamlIdp; gw: StartedGateway; upstream: Upstream; publicUrl: string; def: SamlDefinition };

/** A test IdP and a gateway whose login method is that IdP, /dce5/ behind it. */
async function setup(
  t: TestContext,
  options: {
    provider?: Partial<SamlDefinition> | ((idp: SamlIdp) => Partial<SamlDefinition>);
    idp?: Partial<SamlIdpOptions>;
  } = {},
): Promise<Setup> {
  const port = await freePort();
  const publicUrl = `http://127.0.0.1:${port}`;
  const idp = await startSamlIdp(t, {
    spMetadataUrl: `${publicUrl}/_portico/saml/corp/metadata`,
    ...options.idp,
  });
  const upstream = await upstreamFor(t, { websocket: true });
  const def: SamlDefinition = {
    id: 'corp',
    type: 'saml',
    name: 'Corporate SSO',
    entryPoint: idp.ssoUrl,
    idpCert: idp.certFile,
    idpIssuer: idp.entityId,
    attributes: { username: 'uid', email: 'mail', name: 'displayName', groups: 'memberOf' },
    ...(typeof options.provider === 'function' ? options.provider(idp) : options.provider),
  };
  const yaml = `publicUrl: ${publicUrl}
session:
  secret: ${SESSION_SECRET}
identityProviders:
  - ${JSON.stringify(def)}
routes:
  - { id: ai, path: /dce5/, upstream: "${upstream.url}", auth: required, websocket: true, inject: { headers: true } }
`;
  const gw = await startGateway(t, yaml, { port });
  return { idp, gw, upstream, publicUrl, def };
}

/** Opens /dce5/ and follows the gateway to the IdP: the AuthnRequest URL. */
async function startLogin(s: Setup, client = new GatewayClient(s.gw.url)) {
  const first = await client.follow('/dce5/');
  const location = first.headers.location;
  assert.ok(
    location?.startsWith(s.idp.ssoUrl),
    `expected a redirect to the IdP, got ${first.status} ${location}`,
  );
  return { client, authorizeUrl: location! };
}

/**
 * The IdP's auto-post form submitted to the ACS, as a cross-site POST (no SameSite=Lax cookie on
 * it), then the browser following Portico's 303 with a top-level GET (which carries the cookie).
 */
async function post(
  client: GatewayClient,
  fields: { action: string; SAMLResponse: string; RelayState: string },
) {
  const cookies = new Map(client.cookies);
  client.cookies.clear();
  const posted = await client.request(new URL(fields.action).pathname, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'null' },
    body: new URLSearchParams({
      SAMLResponse: fields.SAMLResponse,
      RelayState: fields.RelayState,
    }).toString(),
  });
  for (const [name, value] of cookies) if (!client.cookies.has(name)) client.cookies.set(name, value);
  if (posted.status !== 303) return posted;
  assert.match(posted.headers.location ?? '', /^\/_portico\/callback\/[^/?]+\?resume=[A-Za-z0-9_-]{43}$/);
  return client.request(posted.headers.location!);
}

async function signIn(s: Setup, user: string, variant: SamlVariant = 'valid') {
  const { client, authorizeUrl } = await startLogin(s);
  const answer = await s.idp.answer(authorizeUrl, user, variant);
  const posted = await post(client, answer);
  return { client, posted, answer };
}

async function me(client: GatewayClient): Promise<RawResponse> {
  return client.request('/_portico/me', { headers: { accept: 'application/json' } });
}

describe('SAML 2.0 sign-in against a samlify IdP', () => {
  it('signs a user in through the IdP and passes the mapped attributes upstream', async (t) => {
    const s = await setup(t, { provider: { trustEmail: true } });
    const { client, posted } = await signIn(s, 'alice');
    assert.equal(posted.status, 302, posted.text);
    assert.equal(posted.headers.location, '/dce5/');
    assert.equal((await client.request('/dce5/')).status, 200);
    const h = s.upstream.last().headers;
    assert.equal(h['x-forwarded-user'], 'alice');
    assert.equal(h['x-forwarded-email'], 'alice@example.com', 'passed on with trustEmail: true');
    assert.equal(h['x-forwarded-groups'], 'ai-users,staff');
    const identity = JSON.parse((await me(client)).text);
    assert.equal(identity.idp, 'corp');
    assert.equal(identity.sub, 'alice-7f3a', 'sub is the NameID');
    assert.equal(identity.name, 'Alice Zhang');
    // The AuthnRequest went out by HTTP-Redirect, naming our ACS and entity id.
    const request = s.idp.requests.at(-1)!;
    assert.match(request.xml, /^(<\?xml[^>]*\?>)?<samlp:AuthnRequest /);
    assert.ok(request.xml.includes(`AssertionConsumerServiceURL="${s.publicUrl}/_portico/callback/corp"`));
    assert.ok(request.xml.includes(`>${s.publicUrl}/_portico/saml/corp</saml:Issuer>`));
    assert.ok(request.xml.includes(`Destination="${s.idp.ssoUrl}"`));
  });

  it('does not sign a browser in with the answer another browser’s sign-in received (login CSRF)', async (t) => {
    const s = await setup(t);
    // The attacker signs in as themselves and keeps the IdP's answer instead of posting it.
    const { authorizeUrl } = await startLogin(s);
    const answer = await s.idp.answer(authorizeUrl, 'alice', 'valid');
    // A page of theirs posts it from the victim's browser, which is itself in the middle of a sign-in.
    const victim = new GatewayClient(s.gw.url);
    await startLogin(s, victim);
    const r = await post(victim, answer);
    assert.equal(r.status, 400, r.text);
    assert.match(r.text, /expired or was already used/);
    assert.equal((await me(victim)).status, 401);
    assert.equal(victim.cookies.has('portico_session'), false);
    assert.equal(s.upstream.requests.length, 0);
  });

  it('signs a real browser in across sites: the IdP’s POST carries no Lax cookie, the 303’s GET does', async (t) => {
    // The IdP on another site than the gateway (localhost, the gateway on 127.0.0.1), signing alice in.
    const s = await setup(t, {
      provider: (idp) => ({ entryPoint: `${idp.ssoUrl.replace('127.0.0.1', 'localhost')}?login=alice` }),
    });
    const { context } = await launchBrowser(t);
    const page = await context.newPage();
    const callbacks: Promise<[string, boolean]>[] = [];
    page.on('request', (r) => {
      if (new URL(r.url()).pathname.startsWith('/_portico/callback/'))
        callbacks.push(r.allHeaders().then((h) => [r.method(), /portico_login=/.test(h.cookie ?? '')]));
    });
    await page.goto(`${s.publicUrl}/dce5/`);
    await page.waitForURL(`${s.publicUrl}/dce5/`);
    assert.equal(s.upstream.last().headers['x-forwarded-user'], 'alice');
    assert.deepEqual(await Promise.all(callbacks), [
      ['POST', false],
      ['GET', true],
    ]);
  });

  it('refuses a posted answer that names no sign-in in progress before keeping anything of it', async (t) => {
    const s = await setup(t);
    const client = new GatewayClient(s.gw.url);
    const r = await post(client, {
      action: `${s.publicUrl}/_portico/callback/corp`,
      SAMLResponse: 'x'.repeat(60_000),
      RelayState: 'no-such-sign-in',
    });
    assert.equal(r.status, 400);
    assert.match(r.text, /expired or was already used/);
  });

  it('refuses every broken or forged answer and creates no session', async (t) => {
    const s = await setup(t);
    const variants: SamlVariant[] = [
      'unsigned',
      'tampered',
      'foreignKey',
      'expired',
      'notYetValid',
      'wrongAudience',
      'wrongRecipient',
      'wrongDestination',
      'wrongIssuer',
      'wrongInResponseTo',
      'failedStatus',
    ];
    for (const variant of variants) {
      const { client, posted } = await signIn(s, 'alice', variant);
      assert.equal(posted.status, 400, `${variant} must be refused`);
      assert.match(posted.text, /The answer of the identity provider was not accepted/, variant);
      assert.equal((await me(client)).status, 401, `${variant} must not create a session`);
      assert.equal(client.cookies.has('portico_session'), false, variant);
    }
    assert.equal(s.upstream.requests.length, 0);
  });

  it('refuses each broken answer for its own reason (the user only sees a generic message)', async (t) => {
    const s = await setup(t);
    const provider = createSamlProvider(s.def, {
      store: createMemoryStore(),
      publicUrl: new URL(s.publicUrl),
    });
    const callbackUrl = new URL(`${s.publicUrl}/_portico/callback/corp`);
    const reasons: [SamlVariant, RegExp][] = [
      ['unsigned', /Invalid signature/],
      ['tampered', /Invalid signature/],
      ['foreignKey', /Invalid signature/],
      ['expired', /No valid subject confirmation/],
      ['notYetValid', /not yet valid/],
      ['wrongAudience', /audience mismatch/],
      ['wrongRecipient', /^Recipient https:\/\/elsewhere\.example\/acs is not/],
      ['wrongDestination', /^Destination https:\/\/elsewhere\.example\/acs is not/],
      ['wrongIssuer', /^Issuer https:\/\/rogue-idp\.example\/metadata is not/],
      ['wrongInResponseTo', /InResponseTo is not valid/],
      [
        'failedStatus',
        /^the Response's StatusCode is urn:oasis:names:tc:SAML:2\.0:status:Responder, not Success$/,
      ],
    ];
    for (const [variant, reason] of reasons) {
      const txn: LoginTransaction = { idp: 'corp', returnTo: '/', createdAt: Date.now() };
      const url = await provider.begin(txn, 'state', callbackUrl.href);
      const { SAMLResponse } = await s.idp.answer(url.href, 'alice', variant);
      await assert.rejects(
        provider.complete({} as IncomingMessage, {
          callbackUrl,
          txn,
          state: 'state',
          body: { SAMLResponse },
        }),
        (err: GatewayError) => {
          assert.equal(err.code, 'PORTICO_ERR_LOGIN', variant);
          assert.match((err.cause as Error).message, reason, variant);
          return true;
        },
      );
    }
  });

  it('accepts an answer only once: a replayed response signs nobody in', async (t) => {
    const s = await setup(t);
    const { posted, answer } = await signIn(s, 'bob');
    assert.equal(posted.status, 302);
    const attacker = new GatewayClient(s.gw.url);
    const replay = await post(attacker, answer);
    assert.equal(replay.status, 400);
    assert.equal((await me(attacker)).status, 401);
  });

  it("refuses an answer to another login's request (InResponseTo is bound to the transaction)", async (t) => {
    const s = await setup(t);
    const victim = await startLogin(s);
    const attacker = await startLogin(s);
    const forAttacker = await s.idp.answer(attacker.authorizeUrl, 'bob');
    const forVictim = await s.idp.answer(victim.authorizeUrl, 'alice');
    // Bob's assertion, delivered into Alice's login transaction.
    const swapped = await post(victim.client, { ...forAttacker, RelayState: forVictim.RelayState });
    assert.equal(swapped.status, 400);
    assert.equal((await me(victim.client)).status, 401);
  });

  it('remembers assertion IDs until they expire, in Redis across replicas', async (t) => {
    const s = await setup(t);
    const redisServer = await startRedis(t);
    const clients = [new Redis(redisServer.url), new Redis(redisServer.url)];
    // disconnect, not quit: quit rejects once the private server beside it has stopped first.
    t.after(() => {
      for (const c of clients) c.disconnect();
    });
    const publicUrl = new URL(s.publicUrl);
    const [a, b] = clients.map((redis) =>
      createSamlProvider(s.def, { store: createRedisStore(redis), publicUrl }),
    );
    const txn: LoginTransaction = { idp: 'corp', returnTo: '/', createdAt: Date.now() };
    const callbackUrl = new URL(`${s.publicUrl}/_portico/callback/corp`);
    const url = await a!.begin(txn, 'state-1', callbackUrl.href);
    const answer = await s.idp.answer(url.href, 'alice');
    const req = {} as IncomingMessage;
    const input = { callbackUrl, txn, state: 'state-1', body: { SAMLResponse: answer.SAMLResponse } };
    const first = await a!.complete(req, { ...input, txn: { ...txn } });
    assert.equal(first.identity.username, 'alice');
    assert.ok(first.idpSid?.startsWith('_session-'), 'the SessionIndex is kept for single logout');
    // Even with its transaction somehow available again, the same assertion is refused by any replica.
    const replayed = (err: GatewayError) =>
      err.code === 'PORTICO_ERR_LOGIN' && /already used/.test((err.cause as Error).message);
    await assert.rejects(b!.complete(req, { ...input, txn: { ...txn } }), replayed);
    await assert.rejects(a!.complete(req, { ...input, txn: { ...txn } }), replayed);
    const keys = await clients[0]!.keys('portico:saml:assertion:corp:*');
    assert.equal(keys.length, 1);
    const ttl = await clients[0]!.pttl(keys[0]!);
    assert.ok(ttl > 4 * 60_000 && ttl <= 5.5 * 60_000, `kept until NotOnOrAfter (+ skew), got ${ttl} ms`);
  });

  it('serves SP metadata with the entity id, the ACS URL and the logout endpoint', async (t) => {
    const s = await setup(t);
    const client = new GatewayClient(s.gw.url);
    const r = await client.request('/_portico/saml/corp/metadata', { headers: { accept: '*/*' } });
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /^application\/samlmetadata\+xml/);
    assert.ok(r.text.includes(`entityID="${s.publicUrl}/_portico/saml/corp"`));
    assert.match(
      r.text,
      new RegExp(
        `<AssertionConsumerService[^>]*Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"[^>]*Location="${s.publicUrl}/_portico/callback/corp"`,
      ),
    );
    assert.match(r.text, /WantAssertionsSigned="true"/);
    assert.ok(
      r.text.includes(
        `<SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="${s.publicUrl}/_portico/saml/corp/slo"`,
      ),
    );
    assert.ok(
      r.text.includes(
        `<SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="${s.publicUrl}/_portico/saml/corp/slo"`,
      ),
      'a LogoutRequest is taken by either binding',
    );
    assert.equal((await client.request('/_portico/saml/nope/metadata')).status, 404);
  });

  it('signs AuthnRequests with the configured key, and the IdP verifies them', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'portico-sp-key-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const sp = makeSigningKey(dir, 'sp');
    const s = await setup(t, {
      provider: { privateKey: join(dir, 'sp.key'), cert: sp.certFile },
      idp: { wantAuthnRequestsSigned: true },
    });
    const metadata = await new GatewayClient(s.gw.url).request('/_portico/saml/corp/metadata');
    assert.match(metadata.text, /<KeyDescriptor use="signing">/);
    assert.match(metadata.text, /AuthnRequestsSigned="true"/);
    const { posted } = await signIn(s, 'alice');
    assert.equal(posted.status, 302, posted.text);
    assert.equal(s.idp.requests.at(-1)!.signed, true);
  });

  it('requires a signed response when configured so, and still refuses an unsigned one', async (t) => {
    const s = await setup(t, {
      provider: { wantAuthnResponseSigned: true, wantAssertionsSigned: false },
      idp: { signResponse: true },
    });
    const ok = await signIn(s, 'bob');
    assert.equal(ok.posted.status, 302, ok.posted.text);
    assert.match(ok.answer.xml, /^<samlp:Response[^>]*>\s*<saml:Issuer>[^<]*<\/saml:Issuer>\s*<ds:Signature/);
    for (const variant of ['unsigned', 'tampered', 'wrongDestination', 'failedStatus'] as const) {
      const bad = await signIn(s, 'bob', variant);
      assert.equal(bad.posted.status, 400, variant);
    }
  });

  it('logs out of the IdP too: a LogoutRequest for the NameID, then back to the signed-out page', async (t) => {
    const s = await setup(t, { provider: (idp) => ({ logoutUrl: idp.sloUrl }) });
    const { client, posted } = await signIn(s, 'alice');
    assert.equal(posted.status, 302);
    const out = await signOut(client, s.publicUrl, '/dce5/');
    assert.equal(out.status, 303);
    const location = out.headers.location!;
    assert.ok(location.startsWith(`${s.idp.sloUrl}?SAMLRequest=`), location);
    assert.equal((await me(client)).status, 401, 'the Portico session ends first');
    const request = inflateRawSync(
      Buffer.from(new URL(location).searchParams.get('SAMLRequest')!, 'base64'),
    ).toString();
    assert.match(request, /<samlp:LogoutRequest /);
    // The browser goes to the IdP, which ends its session and sends it back to our SLO endpoint.
    const page = await fetch(location);
    const html = await page.text();
    assert.equal(page.status, 200, html);
    const logout = s.idp.logouts.at(-1)!;
    assert.equal(logout.nameId, 'alice-7f3a');
    assert.match(logout.xml, /SessionIndex[^>]*>_session-[0-9a-f]+</);
    assert.equal(logout.relayState, '/_portico/logged-out?rd=%2Fdce5%2F');
    const action = /action="([^"]+)"/.exec(html)![1]!;
    assert.equal(action, `${s.publicUrl}/_portico/saml/corp/slo`);
    const back = await client.request(new URL(action).pathname, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ RelayState: logout.relayState! }).toString(),
    });
    assert.equal(back.status, 303);
    assert.equal(back.headers.location, '/_portico/logged-out?rd=%2Fdce5%2F');
    // A RelayState pointing elsewhere is not followed.
    const offsite = await client.request(
      `/_portico/saml/corp/slo?RelayState=${encodeURIComponent('https://evil.example/')}`,
    );
    assert.equal(offsite.headers.location, '/_portico/logged-out');
  });

  it('does not send a LogoutRequest when the IdP has no logout URL', async (t) => {
    const s = await setup(t);
    const { client } = await signIn(s, 'alice');
    const out = await signOut(client, s.publicUrl);
    assert.equal(out.status, 303);
    assert.equal(out.headers.location, `${s.publicUrl}/_portico/logged-out`);
  });
});

/** The browser carrying the IdP's LogoutRequest to our SLO endpoint (a GET, or a cross-site POST). */
async function deliver(client: GatewayClient, request: IdpLogoutRequest): Promise<RawResponse> {
  const headers = { accept: 'application/json' };
  if (request.binding === 'redirect') return client.request(request.url, { headers });
  return client.request(new URL(request.action).pathname, {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded', origin: 'null' },
    body: new URLSearchParams({
      SAMLRequest: request.SAMLRequest,
      RelayState: request.RelayState,
    }).toString(),
  });
}

/** Portico's answer is a 303 to the IdP's SLO URL with a LogoutResponse to `request`. */
function assertLogoutResponse(s: Setup, answer: RawResponse, request: IdpLogoutRequest): URL {
  assert.equal(answer.status, 303, answer.text);
  const location = new URL(answer.headers.location ?? '');
  assert.equal(`${location.origin}${location.pathname}`, s.idp.sloUrl, location.href);
  const xml = inflateRawSync(
    Buffer.from(location.searchParams.get('SAMLResponse') ?? '', 'base64'),
  ).toString();
  assert.match(xml, /^(<\?xml[^>]*\?>)?<samlp:LogoutResponse /);
  assert.ok(xml.includes(`InResponseTo="${request.id}"`), xml);
  assert.ok(xml.includes('urn:oasis:names:tc:SAML:2.0:status:Success'), xml);
  return location;
}

describe('SAML single logout started at the IdP', () => {
  it('ends the Portico session, closes its WebSockets and answers the IdP with a signed LogoutResponse', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'portico-sp-key-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const sp = makeSigningKey(dir, 'sp');
    const s = await setup(t, {
      provider: (idp) => ({ logoutUrl: idp.sloUrl, privateKey: join(dir, 'sp.key'), cert: sp.certFile }),
    });
    const alice = await signIn(s, 'alice');
    const bob = await signIn(s, 'bob');
    assert.equal(alice.posted.status, 302, alice.posted.text);
    assert.equal((await me(alice.client)).status, 200);
    const ws = new WebSocket(`${s.gw.url.replace('http', 'ws')}/dce5/ws`, {
      headers: { cookie: alice.client.cookieHeader() },
      origin: s.publicUrl,
    });
    t.after(() => ws.terminate());
    await once(ws, 'open');
    const closed = once(ws, 'close');

    const ended = nextEvent(s.gw.gateway.events, 'sessionEnded', (e) => e.reason === 'saml-logout');
    const request = await s.idp.logoutRequest('alice', { relayState: 'idp-state-42' });
    // The IdP redirects the browser (a top-level GET: its Lax cookie comes along).
    const answer = await deliver(alice.client, request);
    const location = assertLogoutResponse(s, answer, request);
    assert.equal(location.searchParams.get('RelayState'), 'idp-state-42');
    assert.ok(location.searchParams.get('Signature'), 'signed with the SP key');
    assert.match(String(answer.headers['set-cookie']), /=;/, 'the ended session’s cookie is cleared');
    await ended;
    await closed;

    assert.equal((await me(alice.client)).status, 401);
    const page = await alice.client.request('/dce5/');
    assert.notEqual(page.status, 200);
    assert.match(page.headers.location ?? '', /^\/_portico\/login/);
    assert.equal((await me(bob.client)).status, 200, 'bob is still signed in');
    assert.equal((await bob.client.request('/dce5/')).status, 200);

    // The browser takes the LogoutResponse to the IdP, which checks it against the SP's metadata.
    const idpPage = await fetch(location);
    assert.equal(idpPage.status, 200, await idpPage.text());
    const received = s.idp.logoutResponses.at(-1)!;
    assert.equal(received.inResponseTo, request.id);
    assert.equal(received.status, 'urn:oasis:names:tc:SAML:2.0:status:Success');
    assert.equal(received.signed, true);
    assert.equal(received.relayState, 'idp-state-42');
  });

  it('finds the sessions by NameID and SessionIndex, without the browser’s cookie (HTTP-POST arrives cross-site)', async (t) => {
    const s = await setup(t, { provider: (idp) => ({ logoutUrl: idp.sloUrl }) });
    const laptop = await signIn(s, 'alice');
    const phone = await signIn(s, 'alice');
    const bob = await signIn(s, 'bob');
    const laptopIndex = s.idp.issued.filter((i) => i.user === 'alice').at(-2)!.sessionIndex;
    const cookieless = new GatewayClient(s.gw.url);

    // The IdP session of the laptop only: the phone's session (another SessionIndex) stays.
    const first = await s.idp.logoutRequest('alice', { binding: 'post', sessionIndex: laptopIndex });
    assertLogoutResponse(s, await deliver(cookieless, first), first);
    assert.equal((await me(laptop.client)).status, 401);
    assert.equal((await me(phone.client)).status, 200);

    // No SessionIndex: every session of the NameID (HTTP-Redirect, still without the cookie).
    const all = await s.idp.logoutRequest('alice', { sessionIndex: null });
    assert.doesNotMatch(all.xml, /SessionIndex/);
    assertLogoutResponse(s, await deliver(cookieless, all), all);
    assert.equal((await me(phone.client)).status, 401);
    assert.equal((await me(bob.client)).status, 200, 'bob is still signed in');
  });

  it('refuses a LogoutRequest that fails validation (400) and ends no session', async (t) => {
    const s = await setup(t, { provider: (idp) => ({ logoutUrl: idp.sloUrl }) });
    const alice = await signIn(s, 'alice');
    const cases: [LogoutVariant, 'redirect' | 'post'][] = [
      ['unsigned', 'redirect'],
      ['foreignKey', 'redirect'],
      ['tampered', 'redirect'],
      ['wrongIssuer', 'redirect'],
      ['wrongDestination', 'redirect'],
      ['expired', 'redirect'],
      ['stale', 'redirect'],
      ['unsigned', 'post'],
      ['foreignKey', 'post'],
      ['tampered', 'post'],
    ];
    for (const [variant, binding] of cases) {
      // With and without SessionIndex: neither alice's IdP session nor every session of hers.
      for (const sessionIndex of [undefined, null]) {
        const request = await s.idp.logoutRequest('alice', { variant, binding, sessionIndex });
        const r = await deliver(alice.client, request);
        assert.equal(r.status, 400, `${variant} ${binding}: ${r.status} ${r.headers.location}`);
        assert.equal(JSON.parse(r.text).error, 'PORTICO_ERR_BAD_REQUEST');
        assert.equal(r.headers['set-cookie'], undefined);
      }
    }
    assert.equal((await me(alice.client)).status, 200, 'alice is still signed in');
    assert.equal(s.idp.logoutResponses.length, 0);
  });

  it('accepts a LogoutRequest once: a replayed one ends nothing', async (t) => {
    const s = await setup(t, { provider: (idp) => ({ logoutUrl: idp.sloUrl }) });
    const before = await signIn(s, 'alice');
    const request = await s.idp.logoutRequest('alice', { sessionIndex: null });
    assertLogoutResponse(s, await deliver(new GatewayClient(s.gw.url), request), request);
    assert.equal((await me(before.client)).status, 401);
    const again = await signIn(s, 'alice');
    const replayed = await deliver(new GatewayClient(s.gw.url), request);
    assert.equal(replayed.status, 400);
    assert.equal((await me(again.client)).status, 200);
  });

  it('ends nothing for a SessionIndex that is another user’s', async (t) => {
    const s = await setup(t, { provider: (idp) => ({ logoutUrl: idp.sloUrl }) });
    const alice = await signIn(s, 'alice');
    const bob = await signIn(s, 'bob');
    const bobsIndex = s.idp.issued.findLast((i) => i.user === 'bob')!.sessionIndex;
    const request = await s.idp.logoutRequest('alice', { sessionIndex: bobsIndex });
    assertLogoutResponse(s, await deliver(new GatewayClient(s.gw.url), request), request);
    await sleep(50);
    assert.equal((await me(alice.client)).status, 200);
    assert.equal((await me(bob.client)).status, 200);
  });
});

describe('SAML configuration', () => {
  const base = `publicUrl: https://portal.example.com
session:
  secret: ${SESSION_SECRET}
routes:
  - { id: app, path: /, upstream: "http://127.0.0.1:9/" }
identityProviders:
`;
  it('refuses a provider that would accept unsigned answers', () => {
    assert.throws(
      () =>
        loadConfigText(
          `${base}  - { id: corp, type: saml, entryPoint: "https://idp.example.com/sso", idpCert: /x.pem, wantAssertionsSigned: false, wantAuthnResponseSigned: false }\n`,
        ),
      /identityProviders\[0\]/,
    );
  });

  it('accepts the documented SAML and LDAP options, and refuses misspelt ones', () => {
    const config = loadConfigText(
      `${base}  - { id: corp, type: saml, entryPoint: "https://idp.example.com/sso", idpCert: /x.pem, idpIssuer: "https://idp.example.com", wantAuthnResponseSigned: true, acceptedClockSkew: 30s, maxAssertionAge: 5m, logoutUrl: "https://idp.example.com/slo", attributes: { username: uid, groups: memberOf } }
  - { id: dir, type: ldap, url: "ldaps://dc.example.com:636", userBase: "dc=example,dc=com", activeDirectory: true, nestedGroups: true, timeout: 5s, throttle: { maxPerUser: 5, maxPerIp: 20, window: 15m } }
`,
    );
    assert.equal(config.raw.identityProviders?.length, 2);
    assert.throws(
      () =>
        loadConfigText(
          `${base}  - { id: dir, type: ldap, url: "ldap://dc:389", userBase: "dc=x", userFilter: "(uid=*)" }\n`,
        ),
      /userFilter/,
    );
    assert.throws(
      () =>
        loadConfigText(
          `${base}  - { id: dir, type: ldap, url: "ldap://dc:389", userBase: "dc=x", bindDN: "cn=x" }\n`,
        ),
      /bindDN/,
    );
  });
});
