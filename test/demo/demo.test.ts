import assert from 'node:assert/strict';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { type DemoIdentity, readIdentity } from '../../scripts/demo/common.ts';
import { startCustomerSystem } from '../../scripts/demo/customerSystem.ts';
import { BEARER_SUBPROTOCOL_PREFIX } from '../../scripts/demo/dce/terminalCredentials.ts';
import { createShell, type TerminalUser } from '../../scripts/demo/shell.ts';
import { aiPlatformFromEnv, startUpstreams } from '../../scripts/demo/upstreams.ts';
import { type DceSetup, signIn, startDce } from '../helpers/dce.ts';
import { startTestIdp } from '../helpers/idp.ts';

const ANSI = /\x1b\[[0-9;?]*[A-Za-z]/g;

/** A terminal client: everything the server printed (ANSI stripped) and a way to wait for text. */
function terminalUrl(base: string): string {
  return new URL('terminal/ws', base).href.replace(/^http/, 'ws');
}

async function openTerminal(url: string, token: string) {
  const ws = new WebSocket(terminalUrl(url), [
    'tty',
    BEARER_SUBPROTOCOL_PREFIX + Buffer.from(token).toString('base64url'),
  ]);
  let screen = '';
  const waiters = new Set<() => void>();
  ws.on('message', (data) => {
    screen += data.toString().replace(ANSI, '');
    for (const w of waiters) w();
  });
  await once(ws, 'open');
  return {
    ws,
    get screen() {
      return screen;
    },
    /** Resolves with the text printed since `from` once it matches. */
    waitFor(pattern: RegExp, from = 0, timeoutMs = 5000): Promise<string> {
      return new Promise((resolve, reject) => {
        const check = () => {
          const text = screen.slice(from);
          if (!pattern.test(text)) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(text);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out waiting for ${pattern}; screen was:\n${screen}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    /** Types a command line and returns its output up to the next prompt. */
    async run(line: string, prompt: RegExp): Promise<string> {
      const from = screen.length;
      ws.send(line + '\r');
      const text = await this.waitFor(
        new RegExp(`${line.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\r\\n[\\s\\S]*${prompt.source}$`),
        from,
      );
      return text;
    },
  };
}

describe('the demo customer system', () => {
  it('serves a portal home page with the Portico nav placeholder and a link to the AI platform', async (t) => {
    const app = await startCustomerSystem({ port: 0 });
    t.after(() => app.close());
    const res = await fetch(app.url);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const html = await res.text();
    assert.match(html, /云管平台 Yiyun/);
    assert.match(html, /<portico-nav><\/portico-nav>/);
    assert.match(html, /<script src="\/_portico\/nav\.js" defer><\/script>/);
    assert.match(html, /href="\/dce5\/"/);
    assert.match(html, /anonymous/);
  });

  it('shows the identity headers it received, HTML-escaped', async (t) => {
    const app = await startCustomerSystem({ port: 0 });
    t.after(() => app.close());
    const html = await (
      await fetch(app.url, {
        headers: {
          'x-forwarded-user': 'alice',
          'x-forwarded-email': 'alice@example.com',
          'x-forwarded-groups': 'ai-users,<admins>',
          'x-forwarded-preferred-username': 'Alice "<b>" Liu',
        },
      })
    ).text();
    assert.match(html, /X-Forwarded-User<\/code><\/th><td>alice</);
    assert.match(html, /alice@example\.com/);
    assert.match(html, /&lt;admins&gt;/);
    assert.match(html, /Alice &quot;&lt;b&gt;&quot; Liu/);
    assert.doesNotMatch(html, /<admins>|"<b>"/);
  });

  it('answers /api/whoami with the identity as JSON, and anonymous without headers', async (t) => {
    const app = await startCustomerSystem({ port: 0 });
    t.after(() => app.close());
    const who = (await (
      await fetch(new URL('api/whoami', app.url), {
        headers: { 'x-forwarded-user': 'bob', 'x-forwarded-groups': 'a, b' },
      })
    ).json()) as DemoIdentity;
    assert.equal(who.anonymous, false);
    assert.equal(who.user, 'bob');
    assert.deepEqual(who.groups, ['a', 'b']);
    const anon = (await (await fetch(new URL('api/whoami', app.url))).json()) as DemoIdentity;
    assert.equal(anon.anonymous, true);
    assert.equal(anon.user, null);
  });

  it('decodes a UTF-8 name that arrives as raw header bytes', async () => {
    const latin1 = Buffer.from('张三', 'utf8').toString('latin1');
    assert.equal(readIdentity({ 'x-forwarded-preferred-username': latin1 }).preferredUsername, '张三');
  });
});

describe('the demo AI platform', () => {
  // One platform (and IdP) for the whole suite, closed in reverse order of starting.
  const closers: (() => unknown)[] = [];
  let setup: DceSetup;
  let bearer: string;
  before(async () => {
    setup = await startDce({ after: (close: () => unknown) => void closers.push(close) });
    bearer = (await signIn(setup)).tokens.access_token;
  });
  after(async () => {
    for (const close of closers.reverse()) await close();
  });
  const app = () => setup.ai;
  const spoofed = {
    'x-forwarded-user': 'mallory',
    'x-forwarded-email': 'mallory@example.com',
    'x-forwarded-groups': 'ai-users',
    'x-forwarded-preferred-username': 'Mallory',
  };

  it('serves a DCE-shaped page shell (ghippo header, dao-nav, #app, footer) that holds no identity', async () => {
    const res = await fetch(app().url, { headers: spoofed });
    assert.equal(res.status, 200);
    const html = await res.text();
    assert.match(
      html,
      /<header class="ghippo-header"><a class="ghippo-header-logo" href="\.\/"><img src="static\/logo\.svg" alt=""><span class="ghippo-header-logo-name">AI 算力中心<\/span><\/a><nav class="ghippo-header-nav-main">/,
    );
    assert.match(html, /<aside class="dao-nav"/);
    assert.match(html, /<main id="app"/);
    assert.match(html, /<footer class="footer-content"><span class="footer-item">/);
    assert.match(
      html,
      /<script type="application\/json" id="dce-config">\{"clientId":"ghippo","realm":"ghippo","sessionCheckMs":\d+\}<\/script>/,
    );
    assert.doesNotMatch(html, /mallory|Mallory/, 'identity headers are never read');
  });

  it('uses only relative links and asset paths, so it works under the /dce5/ prefix', async () => {
    for (const path of ['', 'terminal', 'access-keys', 'no/such/page']) {
      const html = await (await fetch(new URL(path, app().url))).text();
      const refs = [...html.matchAll(/\s(?:href|src|action)\s*=\s*["']?([^"'\s>]*)/gi)].map((m) => m[1]!);
      assert.ok(refs.length > 3, `expected links on /${path}`);
      const absolute = refs.filter((r) => r.startsWith('/') || /^[a-z][a-z0-9+.-]*:/i.test(r));
      assert.deepEqual(absolute, [], `absolute links on /${path}`);
    }
  });

  it('serves the terminal page with xterm.js, the UI script and its own script from static/', async () => {
    const html = await (await fetch(new URL('terminal', app().url))).text();
    assert.match(html, /<div id="terminal"/);
    for (const asset of [
      'static/app.js',
      'static/xterm/xterm.js',
      'static/xterm/addon-fit.js',
      'static/terminal.js',
      'static/xterm/xterm.css',
    ]) {
      assert.ok(html.includes(`"${asset}"`), asset);
      const res = await fetch(new URL(asset, app().url));
      assert.equal(res.status, 200, asset);
      assert.ok((await res.arrayBuffer()).byteLength > 100, asset);
    }
    const js = await (await fetch(new URL('static/terminal.js', app().url))).text();
    assert.match(js, /new URL\('terminal\/ws', location\.href\)/);
  });

  it('answers 404 to unknown pages and 405 to other methods', async () => {
    assert.equal((await fetch(new URL('nope', app().url))).status, 404);
    assert.equal((await fetch(app().url, { method: 'POST' })).status, 405);
  });

  it('opens a terminal for the user of the realm token offered as a subprotocol, answering only "tty"', async (t) => {
    const term = await openTerminal(app().url, bearer);
    t.after(() => term.ws.terminate());
    assert.equal(term.ws.protocol, 'tty');
    await term.waitFor(/alice@dce5:~\$ $/);
    const out = await term.run('whoami', /alice@dce5:~\$ /);
    assert.match(out, /user:\s+alice\r\n/);
    assert.match(out, /email:\s+alice@example\.com/);
    assert.match(
      out,
      new RegExp(`issuer:\\s+${setup.ai.realm.urls.issuer.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`),
    );
    assert.match(out, /authenticated by:\s+session token/);
  });

  it('opens a terminal for a personal access key too', async (t) => {
    const res = await fetch(new URL('apis/ghippo.io/v1alpha1/current-user/accesstokens', app().url), {
      method: 'POST',
      headers: { authorization: `Bearer ${bearer}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'terminal-test' }),
    });
    const key = ((await res.json()) as { token: string }).token;
    const term = await openTerminal(app().url, key);
    t.after(() => term.ws.terminate());
    const out = await term.run('whoami', /alice@dce5:~\$ /);
    assert.match(out, /issuer:\s+ghippo\.io/);
    assert.match(out, /authenticated by:\s+access key/);
  });

  it('refuses an upgrade without DCE credentials, with a forged token, or with identity headers only', async () => {
    const [header, payload] = bearer.split('.');
    const forged = `${header}.${payload}.${Buffer.from('not the signature').toString('base64url')}`;
    for (const [token, headers] of [
      [undefined, {}],
      [undefined, spoofed],
      [forged, {}],
    ] as const) {
      const ws = new WebSocket(
        terminalUrl(app().url),
        token ? ['tty', BEARER_SUBPROTOCOL_PREFIX + Buffer.from(token).toString('base64url')] : 'tty',
        { headers },
      );
      ws.on('error', () => {});
      const [, res] = await once(ws, 'unexpected-response');
      assert.equal(res.statusCode, 401);
      ws.terminate();
    }
  });

  it('prints a GPU table for nvidia-smi', async (t) => {
    const term = await openTerminal(app().url, bearer);
    t.after(() => term.ws.terminate());
    await term.waitFor(/\$ $/);
    const out = await term.run('nvidia-smi', /alice@dce5:~\$ /);
    assert.match(out, /NVIDIA-SMI .* CUDA Version: 12\.4/);
    assert.equal(out.match(/NVIDIA A800-SXM4-80GB/g)?.length, 4);
    assert.match(out, /\+-{20,}/);
  });

  it('says "command not found" for anything it does not know', async (t) => {
    const term = await openTerminal(app().url, bearer);
    t.after(() => term.ws.terminate());
    await term.waitFor(/alice@dce5:~\$ $/);
    const out = await term.run('rm -rf /', /alice@dce5:~\$ /);
    assert.match(out, /rm: command not found/);
  });

  it('edits the line with backspace and echoes what was typed', async (t) => {
    const term = await openTerminal(app().url, bearer);
    t.after(() => term.ws.terminate());
    await term.waitFor(/\$ $/);
    const from = term.screen.length;
    term.ws.send('echo hellx');
    term.ws.send('\x7fo   "big   world"\r');
    const out = await term.waitFor(/alice@dce5:~\$ $/, from);
    assert.match(out, /\r\nhello big {3}world\r\n/);
  });

  it('refuses upgrades without the tty subprotocol or on other paths', async () => {
    const wsUrl = app().url.replace(/^http/, 'ws');
    for (const [url, protocols, status] of [
      [`${wsUrl}terminal/ws`, [], 400],
      [`${wsUrl}terminal/ws`, ['chat'], 400],
      [`${wsUrl}elsewhere`, ['tty'], 404],
    ] as const) {
      const ws = new WebSocket(url, [...protocols]);
      ws.on('error', () => {});
      const [, res] = await once(ws, 'unexpected-response');
      assert.equal(res.statusCode, status, url);
      ws.terminate();
    }
  });

  it('refuses a browser upgrade from another origin', async () => {
    const ws = new WebSocket(
      terminalUrl(app().url),
      ['tty', BEARER_SUBPROTOCOL_PREFIX + Buffer.from(bearer).toString('base64url')],
      {
        origin: 'https://evil.example',
      },
    );
    ws.on('error', () => {});
    const [, res] = await once(ws, 'unexpected-response');
    assert.equal(res.statusCode, 403);
    ws.terminate();
  });
});

describe('the demo shell', () => {
  const alice: TerminalUser = {
    username: 'alice',
    email: 'alice@example.com',
    issuer: 'http://localhost:8080/dce5/auth/realms/ghippo',
    authenticatedBy: 'session token',
  };
  const run = (input: string, who: TerminalUser = alice) => {
    let out = '';
    let closed = false;
    const shell = createShell(who, {
      write: (s) => {
        out += s;
      },
      close: () => {
        closed = true;
      },
    });
    shell.start();
    shell.input(input);
    return { out: out.replace(ANSI, ''), closed };
  };

  it('lists its commands for help', () => {
    const { out } = run('help\r');
    for (const c of ['help', 'whoami', 'date', 'echo', 'nvidia-smi', 'ls', 'clear'])
      assert.match(out, new RegExp(`\\b${c}\\b`));
  });

  it('strips control characters from token claims before printing them', () => {
    const { out } = run('whoami\r', { ...alice, username: 'eve\x1b]0;pwned\x07', name: 'Eve\x1b[2J' });
    assert.doesNotMatch(out, /\x1b\]|\x07/);
    assert.match(out, /eve\]0;pwned@dce5/);
  });

  it('ignores arrow-key escape sequences and recalls history with the up arrow', () => {
    const { out } = run('date\r\x1b[D\x1b[A\r');
    assert.equal(out.match(/ UTC \d{4}/g)?.length, 2);
  });

  it('closes the session on exit', () => {
    const r = run('exit\r');
    assert.ok(r.closed);
    assert.match(r.out, /logout/);
  });

  it('does not grow the line without bound', () => {
    const { out } = run('echo ' + 'x'.repeat(10_000) + '\r');
    assert.ok((out.match(/x{100,}/g) ?? []).every((s) => s.length <= 256));
  });
});

describe('the demo IdP', () => {
  it('answers /favicon.ico with its badge instead of a 404', async (t) => {
    const idp = await startTestIdp(t, { logErrors: false });
    const res = await fetch(new URL('favicon.ico', idp.url));
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'image/svg+xml');
    assert.match(await res.text(), /^<svg /);
  });
});

describe('scripts/demo/upstreams.ts for compose and Kubernetes', () => {
  it('reads the AI platform’s identity provider from DEMO_AI_* variables, and refuses one without a secret', () => {
    assert.deepEqual(aiPlatformFromEnv({}), { reverseProxy: undefined, identityProviders: [] });
    assert.deepEqual(
      aiPlatformFromEnv({
        DEMO_AI_REVERSE_PROXY: 'https://portal.example.com/dce5',
        DEMO_AI_IDP_ISSUER: 'https://portal.example.com/_portico/oidc',
        DEMO_AI_IDP_CLIENT_SECRET: 's3cret',
      }),
      {
        reverseProxy: 'https://portal.example.com/dce5',
        identityProviders: [
          {
            alias: 'portico',
            issuer: 'https://portal.example.com/_portico/oidc',
            clientId: 'dce5-ghippo',
            clientSecret: 's3cret',
            clientAuthMethod: 'client_secret_post',
          },
        ],
      },
    );
    assert.throws(
      () => aiPlatformFromEnv({ DEMO_AI_IDP_ISSUER: 'https://idp.example.com' }),
      /CLIENT_SECRET/,
    );
    assert.throws(() => aiPlatformFromEnv({ DEMO_AI_IDP_AUTH_METHOD: 'private_key_jwt' }), /AUTH_METHOD/);
  });

  it('starts the AI platform with that provider behind kc_idp_hint', async (t) => {
    const idp = await startTestIdp(t, { logErrors: false });
    const up = await startUpstreams({
      only: 'ai',
      aiPort: 0,
      ai: aiPlatformFromEnv({ DEMO_AI_IDP_ISSUER: idp.issuer, DEMO_AI_IDP_CLIENT_SECRET: 'x' }),
    });
    t.after(() => up.close());
    const auth = await fetch(
      new URL(
        'auth/realms/ghippo/protocol/openid-connect/auth?client_id=ghippo&response_type=code&kc_idp_hint=portico' +
          `&code_challenge=${'a'.repeat(43)}&code_challenge_method=S256&redirect_uri=${encodeURIComponent(up.ai!.url)}`,
        up.ai!.url,
      ),
      { redirect: 'manual' },
    );
    assert.equal(auth.status, 302);
    assert.ok(
      auth.headers.get('location')!.startsWith(idp.endpoints.authorization),
      auth.headers.get('location')!,
    );
  });
});
