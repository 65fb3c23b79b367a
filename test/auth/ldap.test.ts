import assert from 'node:assert/strict';
import { type Logger, pino } from 'pino';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { type AddressInfo, connect, createServer } from 'node:net';
import { after, before, describe, it, type TestContext } from 'node:test';
import {
  groupSearchFilter,
  IN_CHAIN_RULE,
  type LdapDefinition,
  userSearchFilter,
} from '../../gateway/auth/providers/ldap.ts';
import { formatGuid, rdnValue, underBase } from '../../gateway/auth/providers/ldap/directory.ts';
import { startGateway } from '../helpers/gateway.ts';
import type { RawResponse } from '../helpers/http.ts';
import { startRedis } from '../helpers/redis.ts';
import {
  BASE_DN,
  GROUPS,
  PEOPLE,
  SERVICE_DN,
  SERVICE_PASSWORD,
  type Slapd,
  startSlapd,
  USERS,
} from '../helpers/slapd.ts';
import { freePort, GatewayClient, SESSION_SECRET } from '../helpers/sso.ts';
import { type Upstream, upstreamFor } from '../helpers/upstream.ts';
import { deadPort } from '../helpers/ports.ts';

type Setup = { client: GatewayClient; upstream: Upstream; url: string };

/** A gateway whose only login method is the directory, with /dce5/ behind it. */
async function gateway(
  t: TestContext,
  ldap: Pick<Slapd, 'url'> | string,
  options: {
    provider?: string;
    session?: string;
    name?: string;
    logger?: Logger;
    /** The service account's password (the right one unless given). */
    bindPassword?: string;
  } = {},
): Promise<Setup> {
  const upstream = await upstreamFor(t);
  const url = typeof ldap === 'string' ? ldap : ldap.url;
  const port = await freePort();
  const yaml = `publicUrl: http://127.0.0.1:${port}
session:
  secret: ${SESSION_SECRET}
${options.session ?? ''}trustProxy: [127.0.0.1]
identityProviders:
  - id: corp
    type: ldap
    name: ${options.name ?? 'Corporate directory'}
    url: "${url}"
    bindDn: "${SERVICE_DN}"
    bindPassword: \${LDAP_BIND_PASSWORD}
    userBase: "${PEOPLE}"
    groupBase: "${GROUPS}"
    timeout: 2s
${options.provider ?? '    throttle: { maxPerUser: 100, maxPerIp: 100 }\n'}routes:
  - { id: ai, path: /dce5/, upstream: "${upstream.url}", auth: required, inject: { headers: true } }
`;
  const gw = await startGateway(t, yaml, {
    port,
    env: { LDAP_BIND_PASSWORD: options.bindPassword ?? SERVICE_PASSWORD },
    logger: options.logger,
  });
  return { client: new GatewayClient(gw.url), upstream, url: gw.url };
}

async function openForm(client: GatewayClient, lang = 'en-US') {
  const r = await client.request('/_portico/login/corp?rd=%2Fdce5%2F', {
    headers: { 'accept-language': lang },
  });
  assert.equal(r.status, 200, r.text);
  const csrf = /name="csrf" value="([^"]+)"/.exec(r.text)?.[1];
  assert.ok(csrf, 'the form carries a CSRF token');
  return { csrf, html: r.text };
}

async function submit(
  client: GatewayClient,
  fields: { username: string; password: string; csrf?: string; rd?: string },
  headers: Record<string, string> = {},
): Promise<RawResponse> {
  const csrf = fields.csrf ?? (await openForm(client)).csrf;
  const body = new URLSearchParams({ rd: '/dce5/', ...fields, csrf }).toString();
  return client.request('/_portico/login/corp', {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body,
  });
}

/** Signs in through the form and opens /dce5/: the identity headers the upstream received. */
async function signIn(s: Setup, username: string, password: string) {
  const r = await submit(s.client, { username, password });
  assert.equal(r.status, 303, `expected a redirect after login, got ${r.status}: ${alertOf(r)}`);
  assert.equal(r.headers.location, '/dce5/');
  const page = await s.client.request('/dce5/');
  assert.equal(page.status, 200);
  return s.upstream.last().headers;
}

function alertOf(r: RawResponse): string | undefined {
  return /role="alert">([^<]*)</.exec(r.text)?.[1];
}

async function signedIn(client: GatewayClient): Promise<boolean> {
  const me = await client.request('/_portico/me', { headers: { accept: 'application/json' } });
  return me.status === 200;
}

/**
 * A TCP relay in front of slapd that counts the connections binding as `dn`: Portico checks a
 * password on a connection of its own, so this is how many guesses reached the directory.
 */
async function bindCounter(t: TestContext, ldap: Pick<Slapd, 'url'>, dn: string) {
  const target = new URL(ldap.url);
  let binds = 0;
  const server = createServer((client) => {
    const upstream = connect(Number(target.port), target.hostname);
    let seen = '';
    client.on('data', (chunk: Buffer) => {
      if (seen !== 'counted' && (seen += chunk.toString('latin1')).includes(dn)) {
        binds++;
        seen = 'counted';
      }
    });
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => new Promise((resolve) => server.close(resolve)));
  const { port } = server.address() as AddressInfo;
  return { url: `ldap://127.0.0.1:${port}`, binds: () => binds };
}

describe('LDAP / Active Directory sign-in against a real OpenLDAP slapd', () => {
  const cleanups: (() => unknown)[] = [];
  let ldap: Slapd;
  before(async () => {
    ldap = await startSlapd({ after: (fn) => cleanups.push(fn) }, { tls: true });
  });
  after(async () => {
    for (const fn of cleanups.reverse()) await fn();
  });

  it('signs a directory user in with the form and passes name, email and groups upstream', async (t) => {
    const s = await gateway(t, ldap, {
      provider: '    throttle: { maxPerUser: 100, maxPerIp: 100 }\n    trustEmail: true\n',
    });
    const h = await signIn(s, 'alice', USERS.alice.password);
    assert.equal(h['x-forwarded-user'], 'alice');
    assert.equal(h['x-forwarded-email'], 'alice@example.com');
    assert.equal(h['x-forwarded-groups'], 'ai-users,staff');
    const me = JSON.parse(
      (await s.client.request('/_portico/me', { headers: { accept: 'application/json' } })).text,
    );
    assert.equal(me.idp, 'corp');
    assert.equal(me.name, 'Alice Zhang');
    assert.match(
      me.sub,
      /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
      'sub is the entryUUID',
    );
  });

  it('renders an accessible sign-in form in English and in Chinese, without any script', async (t) => {
    const s = await gateway(t, ldap);
    const { html } = await openForm(s.client);
    assert.match(html, /<html lang="en-US">/);
    assert.match(html, /<label for="portico-username">User name<\/label>/);
    assert.match(html, /id="portico-username" name="username" type="text" autocomplete="username"/);
    assert.match(html, /<label for="portico-password">Password<\/label>/);
    assert.match(
      html,
      /id="portico-password" name="password" type="password" autocomplete="current-password"/,
    );
    assert.match(html, /<input type="hidden" name="rd" value="\/dce5\/">/);
    assert.match(html, /role="alert"><\/div>/);
    assert.match(html, /Corporate directory/);
    assert.doesNotMatch(html, /<script/i);
    const zh = await openForm(s.client, 'zh-CN');
    assert.match(zh.html, /<html lang="zh-CN">/);
    assert.match(zh.html, />用户名<\/label>/);
    assert.match(zh.html, />密码<\/label>/);
  });

  it('gives the same status and message for a wrong password and an unknown user', async (t) => {
    const s = await gateway(t, ldap);
    const wrong = await submit(s.client, { username: 'alice', password: 'not-her-password' });
    const unknown = await submit(s.client, { username: 'mallory', password: 'whatever' });
    assert.equal(wrong.status, 401);
    assert.equal(unknown.status, 401);
    assert.equal(alertOf(wrong), 'The user name or password is incorrect.');
    assert.equal(alertOf(unknown), alertOf(wrong));
    assert.match(wrong.text, /value="alice"/, 'the typed user name is kept');
    assert.match(wrong.text, /aria-invalid="true"/);
    assert.equal(await signedIn(s.client), false);
    const zh = await submit(s.client, { username: 'alice', password: 'x' }, { 'accept-language': 'zh-CN' });
    assert.equal(alertOf(zh), '用户名或密码错误。');
  });

  it('never signs anyone in with LDAP filter metacharacters in the user name', async (t) => {
    const s = await gateway(t, ldap);
    const attempts = ['*', 'alice)(uid=*', '*)(|(uid=*', '\\2a', 'al*', 'alice)', '(uid=alice)', 'alice\0'];
    for (const username of attempts) {
      for (const password of [USERS.alice.password, USERS['a*'].password, '*']) {
        const r = await submit(s.client, { username, password });
        assert.equal(r.status, 401, `${JSON.stringify(username)} / ${password} must be refused`);
        assert.equal(alertOf(r), 'The user name or password is incorrect.');
      }
    }
    assert.equal(await signedIn(s.client), false);
    // `a*` is a real user: escaping makes it match exactly that entry, never alice.
    const wildcardAlice = await submit(s.client, { username: 'a*', password: USERS.alice.password });
    assert.equal(wildcardAlice.status, 401);
    const h = await signIn(s, 'a*', USERS['a*'].password);
    assert.equal(h['x-forwarded-user'], 'a*');
  });

  it("passes a directory user's address upstream only with trustEmail: users may edit their own mail", async (t) => {
    const s = await gateway(t, ldap);
    const h = await signIn(s, 'alice', USERS.alice.password);
    assert.equal(h['x-forwarded-user'], 'alice');
    assert.equal(h['x-forwarded-email'], undefined);
  });

  it('refuses an empty password without asking the directory (an empty bind would succeed)', async (t) => {
    const s = await gateway(t, ldap);
    const r = await submit(s.client, { username: 'alice', password: '' });
    assert.equal(r.status, 401);
    assert.equal(alertOf(r), 'Enter your user name and password.');
    assert.equal(await signedIn(s.client), false);
    // With the directory gone, an empty password still never gets as far as LDAP.
    const down = await gateway(t, `ldap://127.0.0.1:${await deadPort()}`);
    assert.equal((await submit(down.client, { username: 'alice', password: '' })).status, 401);
  });

  it('shows a clear error page when the directory cannot be reached', async (t) => {
    const s = await gateway(t, `ldap://127.0.0.1:${await deadPort()}`);
    const r = await submit(s.client, { username: 'alice', password: USERS.alice.password });
    assert.equal(r.status, 502);
    assert.match(r.text, /Sign-in is unavailable/);
    assert.match(r.text, /The identity provider cannot be reached right now/);
    assert.equal(await signedIn(s.client), false);
  });

  it('throttles failures per user name across client addresses, and a success resets the count', async (t) => {
    const s = await gateway(t, ldap, {
      provider: '    throttle: { maxPerUser: 3, maxPerIp: 100, window: 15m }\n',
    });
    const from = (ip: string) => ({ 'x-forwarded-for': ip });
    // Two failures, then a success: the count starts again.
    for (const ip of ['10.0.0.1', '10.0.0.2'])
      assert.equal((await submit(s.client, { username: 'alice', password: 'bad' }, from(ip))).status, 401);
    assert.equal((await submit(s.client, { username: 'alice', password: USERS.alice.password })).status, 303);
    const other = new GatewayClient(s.url);
    for (const ip of ['10.0.0.3', '10.0.0.4', '10.0.0.5'])
      assert.equal((await submit(other, { username: 'Alice', password: 'bad' }, from(ip))).status, 401);
    // Three failures from three addresses: even the right password is refused now.
    const locked = await submit(
      other,
      { username: 'alice', password: USERS.alice.password },
      from('10.0.0.6'),
    );
    assert.equal(locked.status, 429);
    assert.equal(alertOf(locked), 'Too many failed sign-in attempts. Wait a few minutes and try again.');
    assert.equal(await signedIn(other), false);
    // Other users are not affected.
    assert.equal(
      (await submit(other, { username: 'bob', password: USERS.bob.password }, from('10.0.0.6'))).status,
      303,
    );
  });

  it('counts the spellings a directory takes for one user as that user: fullwidth, mathematical and invisible characters share one budget', async (t) => {
    const s = await gateway(t, ldap, { provider: '    throttle: { maxPerUser: 3, maxPerIp: 100 }\n' });
    // Each is alice to OpenLDAP's uid matching; 𝔞𝔩𝔦𝔠𝔢 is folded by no simple lower-casing.
    const spellings = ['ａｌｉｃｅ', '𝐚𝐥𝐢𝐜𝐞', 'al\u200bice', 'ⓐⓛⓘⓒⓔ', '𝔞𝔩𝔦𝔠𝔢'];
    let n = 0;
    for (const username of spellings) {
      const r = await submit(
        s.client,
        { username, password: 'guess' },
        { 'x-forwarded-for': `10.1.0.${++n}` },
      );
      assert.ok(r.status === 401 || r.status === 429, `${username}: ${r.status}`);
    }
    for (const username of ['alice', '𝔞𝔩𝔦𝔠𝔢', 'alİce']) {
      const r = await submit(
        s.client,
        { username, password: USERS.alice.password },
        { 'x-forwarded-for': '10.1.1.1' },
      );
      assert.equal(r.status, 429, username);
    }
    // And a name nobody has answers the same way once over its budget: no sign of who exists.
    for (let i = 0; i < 3; i++)
      await submit(s.client, { username: 'irina', password: 'guess' }, { 'x-forwarded-for': '10.1.2.1' });
    const nobody = await submit(
      s.client,
      { username: 'İrina', password: 'guess' },
      { 'x-forwarded-for': '10.1.2.2' },
    );
    assert.equal(nobody.status, 429);
  });

  it("counts an IPv6 client by its address and by its /64, whose budget is eight addresses' worth: rotating addresses buys no more guesses, a neighbour is not locked out", async (t) => {
    const s = await gateway(t, ldap, { provider: '    throttle: { maxPerUser: 1000, maxPerIp: 2 }\n' });
    const from = (n: number) => ({ 'x-forwarded-for': `2001:db8:1:1::${n.toString(16)}` });
    // Two failures lock one address; its neighbour still signs in.
    for (let i = 0; i < 2; i++) await submit(s.client, { username: 'alice', password: 'guess' }, from(1));
    assert.equal(
      (await submit(s.client, { username: 'bob', password: USERS.bob.password }, from(1))).status,
      429,
    );
    assert.equal(
      (await submit(s.client, { username: 'bob', password: USERS.bob.password }, from(2))).status,
      303,
    );
    // Fresh addresses of the same /64 share sixteen failures (2 × 8) in all, then none may guess.
    let refused = 0;
    for (let n = 3; n < 20; n++) {
      const r = await submit(s.client, { username: 'alice', password: 'guess' }, from(n));
      if (r.status === 429) refused++;
    }
    assert.ok(refused >= 2, `refused ${refused}`);
    assert.equal(
      (await submit(s.client, { username: 'bob', password: USERS.bob.password }, from(99))).status,
      429,
    );
  });

  it('throttles failures per client address across user names', async (t) => {
    const s = await gateway(t, ldap, { provider: '    throttle: { maxPerUser: 100, maxPerIp: 4 }\n' });
    const attacker = { 'x-forwarded-for': '192.0.2.7' };
    for (const username of ['alice', 'bob', 'carol', 'nobody'])
      assert.equal((await submit(s.client, { username, password: 'guess' }, attacker)).status, 401);
    const r = await submit(s.client, { username: 'bob', password: USERS.bob.password }, attacker);
    assert.equal(r.status, 429);
    const elsewhere = await submit(
      s.client,
      { username: 'bob', password: USERS.bob.password },
      {
        'x-forwarded-for': '198.51.100.1',
      },
    );
    assert.equal(elsewhere.status, 303);
  });

  it('counts failures in Redis, so every replica sees them', async (t) => {
    const redis = await startRedis(t);
    const session = `  store: redis\n  redis: { url: "${redis.url}", keyPrefix: "ldap-throttle:" }\n`;
    const provider = '    throttle: { maxPerUser: 3, maxPerIp: 100 }\n';
    const a = await gateway(t, ldap, { session, provider });
    const b = await gateway(t, ldap, { session, provider });
    assert.equal((await submit(a.client, { username: 'bob', password: 'bad' })).status, 401);
    assert.equal((await submit(b.client, { username: 'bob', password: 'bad' })).status, 401);
    assert.equal((await submit(a.client, { username: 'bob', password: 'bad' })).status, 401);
    assert.equal((await submit(b.client, { username: 'bob', password: USERS.bob.password })).status, 429);
  });

  for (const store of ['memory', 'redis'] as const)
    it(`counts a guess before the directory is asked, so parallel guesses get no more tries than sequential ones (${store} store)`, async (t) => {
      const relay = await bindCounter(t, ldap, `uid=alice,${PEOPLE}`);
      const redis = store === 'redis' ? await startRedis(t) : undefined;
      const s = await gateway(t, relay.url, {
        provider: '    throttle: { maxPerUser: 3, maxPerIp: 1000 }\n',
        session: redis ? `  store: redis\n  redis: { url: "${redis.url}", keyPrefix: "ldap-race:" }\n` : '',
      });
      const { csrf } = await openForm(s.client);
      const results = await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          submit(s.client, { username: 'alice', password: `guess-${i}`, csrf }),
        ),
      );
      const statuses = results.map((r) => r.status).sort();
      assert.deepEqual(statuses, [...Array(3).fill(401), ...Array(9).fill(429)]);
      assert.equal(relay.binds(), 3, 'three guesses reached the directory');
      // The budget is spent: the right password is refused too, and nobody is signed in.
      const right = await submit(s.client, { username: 'alice', password: USERS.alice.password });
      assert.equal(right.status, 429);
      assert.equal(await signedIn(s.client), false);
      assert.equal(relay.binds(), 3);
    });

  it("counts a guess against the account found before its password is tried: parallel guesses under two names of one entry get the account's budget, not more", async (t) => {
    const relay = await bindCounter(t, ldap, `uid=alice,${PEOPLE}`);
    // alice and alice@example.com are two budgets by name, one entry: the account's budget holds.
    const s = await gateway(t, relay.url, {
      provider:
        '    userFilter: "(|(uid={username})(mail={username}))"\n    throttle: { maxPerUser: 3, maxPerIp: 1000 }\n',
    });
    const { csrf } = await openForm(s.client);
    const names = ['alice', USERS.alice.mail];
    const results = await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        submit(s.client, { username: names[i % 2]!, password: `guess-${i}`, csrf }),
      ),
    );
    // One answer for all of them (an account over its budget answers as a wrong password does).
    assert.deepEqual(
      results.map((r) => r.status),
      Array(6).fill(401),
    );
    assert.equal(relay.binds(), 3, 'three guesses reached the directory');
    assert.equal((await submit(s.client, { username: 'alice', password: USERS.alice.password })).status, 429);
    assert.equal(relay.binds(), 3);
  });

  it('refuses a login post whose CSRF token is missing, wrong, or from another browser', async (t) => {
    const s = await gateway(t, ldap);
    const { csrf } = await openForm(s.client);
    const post = (client: GatewayClient, body: Record<string, string>) =>
      client.request('/_portico/login/corp', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(body).toString(),
      });
    const creds = { username: 'alice', password: USERS.alice.password, rd: '/dce5/' };
    const missing = await post(s.client, creds);
    const wrong = await post(s.client, { ...creds, csrf: `${csrf.slice(0, -2)}xx` });
    const crossSite = await post(new GatewayClient(s.url), { ...creds, csrf });
    for (const r of [missing, wrong, crossSite]) {
      assert.equal(r.status, 400);
      assert.match(r.text, /The form expired/);
    }
    assert.equal(await signedIn(s.client), false);
    assert.equal((await post(s.client, { ...creds, csrf })).status, 303);
  });

  it('expands nested groups on OpenLDAP by following membership level by level', async (t) => {
    const flat = await gateway(t, ldap);
    assert.equal((await signIn(flat, 'carol', USERS.carol.password))['x-forwarded-groups'], 'gpu-admins');
    const nested = await gateway(t, ldap, { provider: '    nestedGroups: true\n' });
    assert.equal(
      (await signIn(nested, 'carol', USERS.carol.password))['x-forwarded-groups'],
      'ai-users,gpu-admins',
    );
    const shallow = await gateway(t, ldap, {
      provider: '    nestedGroups: recursive\n    nestedGroupsDepth: 1\n',
    });
    assert.equal((await signIn(shallow, 'carol', USERS.carol.password))['x-forwarded-groups'], 'gpu-admins');
  });

  it("reads groups from the memberof overlay's memberOf attribute, nested ones included", async (t) => {
    assert.ok(ldap.memberOf, 'the memberof overlay is loaded');
    const direct = await gateway(t, ldap, { provider: '    memberOf: true\n' });
    assert.equal(
      (await signIn(direct, 'alice', USERS.alice.password))['x-forwarded-groups'],
      'ai-users,staff',
    );
    const nested = await gateway(t, ldap, { provider: '    memberOf: true\n    nestedGroups: true\n' });
    assert.equal(
      (await signIn(nested, 'carol', USERS.carol.password))['x-forwarded-groups'],
      'ai-users,gpu-admins',
    );
  });

  it('counts only memberOf groups below an explicit groupBase: a group made in another OU names nothing allow rules trust', async (t) => {
    // Whoever may create groups somewhere else in the tree (a delegated OU) makes one with bob in it.
    const add = spawnSync('ldapadd', ['-x', '-H', ldap.url, '-D', ldap.rootDn, '-w', ldap.rootPassword], {
      input: `dn: cn=platform-admins,ou=services,${BASE_DN}\nobjectClass: groupOfNames\ncn: platform-admins\nmember: uid=bob,${PEOPLE}\n`,
      encoding: 'utf8',
    });
    assert.equal(add.status, 0, add.stderr);
    t.after(() =>
      spawnSync('ldapdelete', [
        '-x',
        '-H',
        ldap.url,
        '-D',
        ldap.rootDn,
        '-w',
        ldap.rootPassword,
        `cn=platform-admins,ou=services,${BASE_DN}`,
      ]),
    );
    const s = await gateway(t, ldap, { provider: '    memberOf: true\n' });
    assert.equal((await signIn(s, 'bob', USERS.bob.password))['x-forwarded-groups'], 'staff');
  });

  it('connects over LDAPS and StartTLS, trusting only the configured CA', async (t) => {
    const ca = `    tls: { ca: "${ldap.caFile}" }\n`;
    const ldaps = await gateway(t, ldap.ldapsUrl!, { provider: ca });
    assert.equal((await signIn(ldaps, 'bob', USERS.bob.password))['x-forwarded-user'], 'bob');
    const startTls = await gateway(t, ldap, {
      provider: `    startTls: true\n    tls: { ca: "${ldap.caFile}", serverName: ldap.test }\n`,
    });
    assert.equal((await signIn(startTls, 'bob', USERS.bob.password))['x-forwarded-user'], 'bob');
    const untrusted = await gateway(t, ldap.ldapsUrl!);
    assert.equal(
      (await submit(untrusted.client, { username: 'bob', password: USERS.bob.password })).status,
      502,
    );
    const wrongName = await gateway(t, ldap, {
      provider: `    startTls: true\n    tls: { ca: "${ldap.caFile}", serverName: other.test }\n`,
    });
    assert.equal(
      (await submit(wrongName.client, { username: 'bob', password: USERS.bob.password })).status,
      502,
    );
  });

  it('reports the directory in readiness: ready while slapd answers', async (t) => {
    const s = await gateway(t, ldap);
    const ready = await s.client.request('/_portico/readyz', { headers: { accept: 'application/json' } });
    assert.equal(ready.status, 200, ready.text);
    const lines: { msg?: string; idp?: string; err?: string }[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
    const down = await gateway(t, `ldap://127.0.0.1:${await deadPort()}`, { logger });
    const notReady = await down.client.request('/_portico/readyz', {
      headers: { accept: 'application/json' },
    });
    assert.equal(notReady.status, 503);
    await down.client.request('/_portico/readyz');
    // The reason goes to the log, once while it lasts.
    const said = lines.filter((l) => l.msg === 'identity provider not ready');
    assert.equal(said.length, 1);
    assert.match(String(said[0]!.err), /ECONNREFUSED|connect/i);
    // readyz is public: the directory's address and its error stay in the log.
    const checks = JSON.parse(notReady.text).checks;
    assert.equal(checks.identityProviders.corp, 'unreachable');
    assert.doesNotMatch(notReady.text, /127\.0\.0\.1|ECONNREFUSED/);
    assert.doesNotMatch(notReady.text, /"source":"\//, 'no folder path');
  });

  it('asks a directory that has not answered yet once for concurrent /readyz, and again only after a while: 5 s, 30 s after a refused service password', async (t) => {
    // slapd refusing the service password: each check would be a failed bind of the service account.
    const relay = await bindCounter(t, ldap, SERVICE_DN);
    const refused = await gateway(t, relay.url, { bindPassword: 'rotated-elsewhere' });
    // A directory that takes connections and drops them.
    let connections = 0;
    const dropper = createServer((socket) => {
      connections++;
      socket.on('data', () => socket.destroy()).on('error', () => undefined);
    });
    dropper.listen(0, '127.0.0.1');
    await once(dropper, 'listening');
    t.after(() => new Promise((resolve) => dropper.close(resolve)));
    const dropping = await gateway(t, `ldap://127.0.0.1:${(dropper.address() as AddressInfo).port}`);
    const probe = async (s: Setup, n = 1) => {
      const rs = await Promise.all(Array.from({ length: n }, () => s.client.request('/_portico/readyz')));
      for (const r of rs) assert.equal(r.status, 503);
    };

    await Promise.all([probe(refused, 50), probe(dropping, 50)]);
    assert.equal(relay.binds(), 1, 'one service bind for 50 concurrent probes');
    assert.equal(connections, 1, 'one connection for 50 concurrent probes');
    await Promise.all([probe(refused), probe(dropping)]);
    assert.deepEqual([relay.binds(), connections], [1, 1], 'a failure holds for the next probe');

    await new Promise((resolve) => setTimeout(resolve, 5200));
    await Promise.all([probe(refused), probe(dropping)]);
    assert.equal(connections, 2, 'asked again after 5 s');
    assert.equal(relay.binds(), 1, 'a refused service password holds for 30 s');
  });
});

describe('LDAP filters and names', () => {
  const def = (extra: Partial<LdapDefinition>): LdapDefinition => ({
    id: 'ad',
    type: 'ldap',
    url: 'ldaps://dc.corp.example:636',
    userBase: 'DC=corp,DC=example',
    ...extra,
  });

  it('escapes the user name with RFC 4515 escapes in the user filter', () => {
    assert.equal(userSearchFilter(def({}), '*)(|(uid=*'), '(uid=\\2a\\29\\28|\\28uid=\\2a)');
    assert.equal(userSearchFilter(def({}), 'a\\2a\0'), '(uid=a\\5c2a\\00)');
    assert.equal(
      userSearchFilter(def({ activeDirectory: true }), 'jdoe'),
      '(sAMAccountName=jdoe)',
      'Active Directory looks users up by sAMAccountName',
    );
    assert.equal(
      userSearchFilter(
        def({ userFilter: '(&(objectClass=person)(|(uid={username})(mail={username})))' }),
        'a*',
      ),
      '(&(objectClass=person)(|(uid=a\\2a)(mail=a\\2a)))',
    );
  });

  it("builds Active Directory's in-chain group filter with the DN escaped", () => {
    const dn = 'CN=Smith\\, John (IT),OU=Users,DC=corp,DC=example';
    assert.equal(IN_CHAIN_RULE, '1.2.840.113556.1.4.1941');
    assert.equal(
      groupSearchFilter(def({ activeDirectory: true, nestedGroups: true }), dn),
      '(member:1.2.840.113556.1.4.1941:=CN=Smith\\5c, John \\28IT\\29,OU=Users,DC=corp,DC=example)',
    );
    assert.equal(
      groupSearchFilter(def({ nestedGroups: 'in-chain' }), 'CN=a*,DC=x'),
      '(member:1.2.840.113556.1.4.1941:=CN=a\\2a,DC=x)',
    );
    assert.equal(groupSearchFilter(def({ activeDirectory: true }), 'CN=x,DC=y'), '(member=CN=x,DC=y)');
    assert.equal(groupSearchFilter(def({ nestedGroups: true }), 'cn=x,dc=y'), '(member=cn=x,dc=y)');
    assert.equal(
      groupSearchFilter(
        def({ groupFilter: '(&(objectClass=posixGroup)(memberUid={username}))' }),
        'cn=x',
        'a)(',
      ),
      '(&(objectClass=posixGroup)(memberUid=a\\29\\28))',
    );
  });

  it('tells whether a DN is below a base RDN by RDN: an escaped comma is part of a value', () => {
    const base = 'OU=Groups,DC=corp,DC=example';
    assert.equal(underBase('CN=Admins,OU=Groups,DC=corp,DC=example', base), true);
    assert.equal(underBase('cn=admins, ou=groups , dc=CORP,dc=example', base), true);
    assert.equal(underBase(base, base), true);
    assert.equal(underBase('CN=Admins\\,OU=Groups,DC=corp,DC=example', base), false, 'AD escaping');
    assert.equal(underBase('CN=Admins\\2COU=Groups,DC=corp,DC=example', base), false, 'OpenLDAP escaping');
    assert.equal(underBase('CN=x,OU=Groups2,DC=corp,DC=example', base), false);
    assert.equal(underBase('CN=x,DC=corp,DC=example', base), false);
  });

  it('reads group names from DNs and formats objectGUIDs as AD shows them', () => {
    assert.equal(rdnValue(`cn=gpu-admins,${GROUPS}`), 'gpu-admins');
    assert.equal(rdnValue('CN=Smith\\, John,OU=x', 'cn'), 'Smith, John');
    assert.equal(rdnValue('cn=caf\\C3\\A9 \\2B more,dc=x'), 'café + more');
    assert.equal(rdnValue('ou=groups,dc=x', 'cn'), undefined);
    assert.equal(rdnValue(`dc=example,${BASE_DN}`), 'example');
    const guid = Buffer.from('3f2504e04f8941d39a0c0305e82c3301', 'hex');
    assert.equal(formatGuid(guid), 'e004253f-894f-d341-9a0c-0305e82c3301');
  });
});
