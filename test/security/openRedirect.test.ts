// `rd=` return paths (SPEC §6) must stay on the site: after signing in, after signing out, and in
// every link Portico renders from them. A browser strips tabs and newlines from URLs, reads `\` as
// `/`, and follows `//host` off-site; the checks below judge a Location the way a browser would.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { CookieJar, driveLogin } from '../helpers/idp.ts';
import { exchange, requestBytes, type WireHeaders, type WireResponse } from '../helpers/rawSocket.ts';
import type { SsoSetup } from '../helpers/sso.ts';
import { suiteContext } from '../helpers/suite.ts';
import { startProtectedAndPublic } from '../helpers/twoRoutes.ts';

/**
 * Return paths an attacker would put in a link. `{origin}` is the gateway's own origin (look-alike
 * hosts built on it). Raw control characters are sent as they are where the wire allows it.
 */
const RD = [
  '//evil.example',
  '/\\evil.example',
  '/%09/evil.example',
  '/%0a/evil.example',
  '/%0d%0a/evil.example',
  '/\t/evil.example',
  '/\n/evil.example',
  'https:evil.example',
  'https://evil.example',
  'https:/\\evil.example',
  'http:/\\evil.example',
  '\\\\evil.example',
  '//evil.example%2f..',
  '/%2f%2fevil.example',
  '/%5c%5cevil.example',
  '%2f%2fevil.example',
  '/%252f%252fevil.example',
  '/.evil.example',
  'https://portal.example.com.evil.io',
  '{origin}.evil.io',
  '{origin}@evil.example',
  '／／evil.example',
  '/／evil.example',
  '/\u2215\u2215evil.example',
  '@evil.example',
  '/@evil.example',
  '//@evil.example',
  '//user:pass@evil.example/',
  ' //evil.example',
  'javascript:alert(document.domain)',
  'data:text/html,<script>alert(1)</script>',
  '/.//evil.example',
  '/x/..//evil.example',
  '/%2e%2e//evil.example',
  '/./%2fevil.example',
];

// Every case the suite found vulnerable has been fixed; a new finding is listed here as a todo.
const VULNERABLE: Record<string, string> = {};

/**
 * Why a browser at `site` would leave the site for `location` (a Location or an href), or
 * undefined when it stays. Also refuses a path that one more decoding would make protocol-relative.
 */
function offSite(location: string, site: URL): string | undefined {
  let url: URL;
  try {
    url = new URL(location, site); // the WHATWG parser strips tab/CR/LF and reads `\` as `/`, as browsers do
  } catch {
    return undefined; // a browser does not navigate to what it cannot parse
  }
  if (url.origin !== site.origin) return `${JSON.stringify(location)} leaves for ${url.origin}`;
  let decoded = url.pathname;
  try {
    decoded = decodeURIComponent(url.pathname);
  } catch {}
  if (/^\/[\\/]/.test(decoded) || /^\/[\x00-\x20]/.test(decoded))
    return `${JSON.stringify(location)} becomes protocol-relative once decoded (${JSON.stringify(decoded)})`;
  return undefined;
}

/** The links and form targets of a page, HTML entities decoded. */
function links(html: string): string[] {
  const out: string[] = [];
  for (const m of html.matchAll(/\b(?:href|action|src|formaction)\s*=\s*"([^"]*)"/gi))
    out.push(decodeEntities(m[1]!));
  for (const m of html.matchAll(/<input[^>]*name="rd"[^>]*value="([^"]*)"/gi))
    out.push(decodeEntities(m[1]!));
  for (const m of html.matchAll(/http-equiv="refresh"[^>]*content="[^"]*url=([^"]*)"/gi))
    out.push(decodeEntities(m[1]!));
  return out;
}

function decodeEntities(s: string): string {
  return s
    .replace(/&#x([0-9a-f]+);/gi, (_m, h: string) => String.fromCodePoint(Number.parseInt(h, 16)))
    .replace(/&#(\d+);/g, (_m, d: string) => String.fromCodePoint(Number(d)))
    .replace(/&quot;/g, '"')
    .replace(/&#39;|&apos;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

/** How an attacker writes rd= into a URL: as typed (only non-ASCII escaped), or fully encoded. */
function inQuery(rd: string, form: 'literal' | 'encoded'): string {
  return form === 'encoded'
    ? encodeURIComponent(rd)
    : rd.replace(/[^\x00-\x7f]+/g, (c) => encodeURIComponent(c));
}

/** A cookie-keeping client that sends request targets byte for byte (tabs, backslashes and all). */
class RawBrowser {
  readonly cookies = new Map<string, string>();
  readonly base: string;
  constructor(base: string) {
    this.base = base;
  }
  async request(method: string, target: string, headers: WireHeaders = [], body = ''): Promise<WireResponse> {
    const list: [string, string][] = [
      ['Host', new URL(this.base).host],
      ['Accept', 'text/html'],
      ...(headers as [string, string][]),
    ];
    if (this.cookies.size > 0)
      list.push(['Cookie', [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ')]);
    if (body) list.push(['Content-Length', String(Buffer.byteLength(body, 'latin1'))]);
    list.push(['Connection', 'close']);
    const r = await exchange(this.base, requestBytes(method, target, list, body));
    const answer = r.responses[0] ?? { status: 0, headers: {}, rawHeaders: [], body: Buffer.alloc(0) };
    for (const [name, value] of answer.rawHeaders) {
      if (name.toLowerCase() !== 'set-cookie') continue;
      const [pair] = value.split(';');
      const eq = pair!.indexOf('=');
      const k = pair!.slice(0, eq).trim();
      const v = pair!.slice(eq + 1).trim();
      if (v === '' || /max-age=0|expires=thu, 01 jan 1970/i.test(value)) this.cookies.delete(k);
      else this.cookies.set(k, v);
    }
    return answer;
  }
}

describe('return paths (rd=) never send the browser off the site', () => {
  const t = suiteContext();
  let sso: SsoSetup;
  let site: URL;
  let idpOrigin: string;
  const idpJar = new CookieJar();

  before(async () => {
    // Hundreds of sign-ins from one address: not what limits.signInStartsPerMinute is tried on here.
    sso = await startProtectedAndPublic(
      t,
      { ai: 'auth: required', public: 'auth: optional' },
      { extra: 'limits: { signInStartsPerMinute: 0 }\n' },
    );
    site = new URL(sso.publicUrl);
    idpOrigin = new URL(sso.idp.issuer).origin;
  });

  const resolve = (rd: string) => rd.replaceAll('{origin}', site.origin);

  /**
   * Signs in starting at `target`, following the gateway's own redirects and the IdP's, and
   * returns every Location the gateway gave (the last one is the post-login redirect), or
   * `refused` when the gateway answered 4xx first.
   */
  async function signInFrom(target: string, browser = new RawBrowser(sso.gw.url)) {
    const trail: string[] = [];
    for (let hop = 0; hop < 8; hop++) {
      const r = await browser.request('GET', target);
      if (r.status === 0 || r.status >= 400) return { refused: true, trail, status: r.status };
      if (r.status === 200) return { refused: false, trail, page: r.body.toString() };
      const location = r.headers.location;
      assert.ok(location, `a ${r.status} without Location for ${target}`);
      trail.push(location);
      if (target.startsWith('/_portico/callback/')) return { refused: false, trail };
      const next = new URL(location, site);
      if (next.origin === idpOrigin) {
        const back = await driveLogin(sso.idp, next.href, { username: 'alice', password: 'alice' }, idpJar);
        const callback = new URL(back.location);
        assert.equal(callback.origin, site.origin, 'the IdP sends the browser back to the gateway');
        target = callback.pathname + callback.search;
        continue;
      }
      if (next.origin !== site.origin) return { refused: false, trail };
      target = next.pathname + next.search;
    }
    throw new Error(`too many redirects from ${target}`);
  }

  function check(trail: string[], page?: string): string[] {
    const problems: string[] = [];
    for (const location of trail) {
      const url = new URL(location, site);
      if (url.origin === idpOrigin) {
        const back = url.searchParams.get('post_logout_redirect_uri');
        const why = back === null ? undefined : offSite(back, site);
        if (why) problems.push(`post_logout_redirect_uri ${why}`);
        continue;
      }
      const why = offSite(location, site);
      if (why) problems.push(`Location ${why}`);
    }
    for (const link of page ? links(page) : []) {
      const why = offSite(link, site);
      if (why) problems.push(`link ${why}`);
    }
    return problems;
  }

  for (const rd of RD) {
    const label = JSON.stringify(rd);

    it(`keeps the post-login redirect on the site for /_portico/login?rd=${label}`, {
      todo: VULNERABLE[`chooser ${rd}`],
    }, async () => {
      for (const form of ['literal', 'encoded'] as const) {
        const r = await signInFrom(`/_portico/login?rd=${inQuery(resolve(rd), form)}`);
        assert.deepEqual(check(r.trail, r.page), [], `${form} rd`);
      }
    });

    it(`keeps the post-login redirect on the site for /_portico/login/corp?rd=${label}`, {
      todo: VULNERABLE[`provider ${rd}`],
    }, async () => {
      for (const form of ['literal', 'encoded'] as const) {
        const r = await signInFrom(`/_portico/login/corp?rd=${inQuery(resolve(rd), form)}`);
        assert.deepEqual(check(r.trail, r.page), [], `${form} rd`);
      }
    });

    it(`keeps the sign-out confirmation's links on the site for /_portico/logout?rd=${label}`, {
      todo: VULNERABLE[`confirm ${rd}`],
    }, async () => {
      for (const form of ['literal', 'encoded'] as const) {
        const browser = new RawBrowser(sso.gw.url);
        const r = await browser.request('GET', `/_portico/logout?rd=${inQuery(resolve(rd), form)}`);
        if (r.status >= 400 || r.status === 0) continue; // refused outright
        assert.equal(r.status, 200);
        assert.deepEqual(check([], r.body.toString()), [], `${form} rd`);
      }
    });

    it(`keeps the browser on the site after the logout form posts rd=${label}`, {
      todo: VULNERABLE[`logout ${rd}`],
    }, async () => {
      const problems: string[] = [];
      for (const form of ['literal', 'encoded'] as const) {
        for (const signedIn of [false, true]) {
          const browser = new RawBrowser(sso.gw.url);
          if (signedIn) {
            const r = await signInFrom('/dce5/', browser);
            assert.equal(r.refused, false);
          }
          const value = form === 'encoded' ? encodeURIComponent(resolve(rd)) : resolve(rd);
          // A signed-in user posts the confirmation form, token included.
          const confirm = signedIn ? await browser.request('GET', '/_portico/logout') : undefined;
          const csrf = confirm
            ? (/name="csrf" value="([^"]*)"/.exec(confirm.body.toString())?.[1] ?? '')
            : '';
          const r = await browser.request(
            'POST',
            '/_portico/logout',
            [
              ['Origin', site.origin],
              ['Content-Type', 'application/x-www-form-urlencoded'],
            ],
            `rd=${value}&csrf=${encodeURIComponent(csrf)}`,
          );
          if (r.status === 400) continue;
          assert.equal(r.status, 303, `${form} ${signedIn ? 'signed in' : 'anonymous'}`);
          const location = r.headers.location!;
          problems.push(...check([location]).map((p) => `${form}, ${signedIn}: ${p}`));
          // The signed-out page (directly, or where the IdP sends the browser back to).
          const landing = new URL(location, site);
          const back =
            landing.origin === idpOrigin
              ? new URL(landing.searchParams.get('post_logout_redirect_uri') ?? '/', site)
              : landing;
          if (back.origin !== site.origin) continue;
          const page = await browser.request('GET', back.pathname + back.search);
          problems.push(
            ...check([], page.body.toString()).map((p) => `${form}, ${signedIn}: signed-out page ${p}`),
          );
        }
      }
      assert.deepEqual(problems, []);
    });
  }

  it('still lands on the page asked for when rd= is a plain path on the site (control)', async () => {
    const r = await signInFrom(`/_portico/login?rd=${encodeURIComponent('/dce5/jobs?tab=gpu')}`);
    assert.equal(r.trail.at(-1), '/dce5/jobs?tab=gpu');
  });
});
