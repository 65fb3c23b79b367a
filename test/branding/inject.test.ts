import assert from 'node:assert/strict';
import { type IncomingMessage, request, type ServerResponse } from 'node:http';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import zlib from 'node:zlib';
import { cspAllows, parseCsp } from '../../gateway/branding/csp.ts';
import { HtmlScanner } from '../../gateway/branding/htmlScanner.ts';
import { LOOKAHEAD_BYTES } from '../../gateway/branding/injectBranding.ts';
import { send } from '../helpers/http.ts';
import { upstreamFor } from '../helpers/upstream.ts';
import { HTML_ACCEPT, brandedGateway, currentBrand } from './helpers.ts';

const PAGE =
  '<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>App</title></head>' +
  '<body><h1>Hello 世界</h1></body></html>\n';

/** What the injector adds for the current brand: [head markup, footer markup (en-US)]. */
function markup(lang: 'en-US' | 'zh-CN' = 'en-US') {
  const b = currentBrand();
  const head =
    `<link rel="stylesheet" href="${b.theme.href}" data-portico-brand="${b.version}">` +
    `<link rel="icon" href="${b.faviconHref}" type="image/svg+xml">`;
  const html = b.footerHtml[lang].replace(/[^\x00-\x7f]/gu, (c) => `&#x${c.codePointAt(0)!.toString(16)};`);
  const footer = `<div class="portico-footer" role="contentinfo" lang="${lang}">${html}</div>`;
  return { head, footer, brand: b };
}

function expected(page: string, lang: 'en-US' | 'zh-CN' = 'en-US'): string {
  const { head, footer } = markup(lang);
  return page.replace('</head>', `${head}</head>`).replace('</body>', `${footer}</body>`);
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

async function setup(t: import('node:test').TestContext, handler: Handler) {
  const up = await upstreamFor(t, { handler: (req, res) => void handler(req, res) });
  const gw = await brandedGateway(t, up.url);
  return { up, gw };
}

const html =
  (body: string | Buffer, headers: Record<string, string> = {}): Handler =>
  (_req, res) => {
    const buf = typeof body === 'string' ? Buffer.from(body) : body;
    res.writeHead(200, {
      'content-type': 'text/html; charset=utf-8',
      'content-length': String(buf.length),
      ...headers,
    });
    res.end(buf);
  };

describe('injecting the brand into upstream HTML', () => {
  it('adds the stylesheet and favicon before </head> and the sanitised footer before </body>', async (t) => {
    const { gw } = await setup(t, html(PAGE, { etag: '"abc"' }));
    const r = await send(gw.url, '/', { headers: HTML_ACCEPT });
    assert.equal(r.status, 200);
    assert.equal(r.text, expected(PAGE));
    assert.match(r.text, /href="\/_portico\/branding\/[0-9a-f]{16}\/theme\.css"/);
    assert.doesNotMatch(r.text, /onclick|<script>alert|onerror/);
    assert.equal(r.headers['content-length'], String(r.body.length));
    assert.equal(r.headers.etag, `W/"abc-pbs${markup().brand.version}"`);
  });

  it('writes the footer in the language of the page, as ASCII character references', async (t) => {
    const page = PAGE.replace('lang="en"', 'lang="zh-CN"');
    const { gw } = await setup(t, html(page));
    const r = await send(gw.url, '/', { headers: HTML_ACCEPT });
    assert.equal(r.text, expected(page, 'zh-CN'));
    assert.match(r.text, /lang="zh-CN">&#x9875;&#x811a; <a href="https:\/\/example.com\/zh">/);
  });

  it('finds </head> and </body> split across chunks and streams the page without a Content-Length', async (t) => {
    const pieces = ['<html><head><title>x</title></he', 'ad><body><p>one</p></bo', 'dy></html>'];
    const { gw } = await setup(t, async (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      for (const p of pieces) {
        res.write(p);
        // The point: each piece leaves as its own chunk, so the markers arrive split.
        await sleep(30);
      }
      res.end();
    });
    const r = await send(gw.url, '/', { headers: HTML_ACCEPT });
    assert.equal(r.text, expected(pieces.join('')));
    assert.equal(r.headers['content-length'], undefined);
    assert.equal(r.headers['transfer-encoding'], 'chunked');
  });

  it('is not fooled by </head> or </body> inside scripts, comments and attribute values', async (t) => {
    const page =
      '<html><head><script>var s = "</head></body>";</script><!-- </head> --><style>a::after{content:"</body>"}</style></head>' +
      '<body><script>document.write("</body>")</script><div title="</body>">x</div><textarea></body></textarea></body></html>';
    const { gw } = await setup(t, html(page));
    const r = await send(gw.url, '/', { headers: HTML_ACCEPT });
    const { head, footer } = markup();
    const at = page.lastIndexOf('</head>');
    const withHead = page.slice(0, at) + head + page.slice(at);
    const end = withHead.lastIndexOf('</body>');
    assert.equal(r.text, withHead.slice(0, end) + footer + withHead.slice(end));
  });

  it('reads tag names, attributes and CDATA as browsers do, so a quote in them hides nothing', async (t) => {
    const hostile = '<a title="</body><img src=x onerror=alert(1)>">hi</a>';
    for (const body of [
      // A tag name is anything up to a space, / or >, however long, `="` included.
      `<abcdefghijklmnopq="x>text</abcdefghijklmnopq="x>${hostile}`,
      // CDATA is text inside svg and math: its > ends nothing, its </body> is no tag.
      `<svg><![CDATA[ > "</body>" ]]></svg>${hostile}`,
    ]) {
      const page = `<html><head><title>t</title></head><body>${body}</body></html>`;
      const { gw } = await setup(t, html(page));
      const r = await send(gw.url, '/', { headers: HTML_ACCEPT });
      const { head, footer } = markup();
      const withHead = page.replace('</head>', `${head}</head>`);
      const end = withHead.lastIndexOf('</body>');
      assert.equal(r.text, withHead.slice(0, end) + footer + withHead.slice(end), body);
    }
  });

  it('puts the footer after the last byte when a comment or attribute is malformed before </body>', async (t) => {
    const hostile = '<a title="--></body><img src=x onerror=alert(1)>">hi</a>';
    for (const body of [
      `<!--> visible ${hostile}`, // <!--> is a whole (empty) comment
      `<!---> visible ${hostile}`,
      `<!-- c --!> visible ${hostile}`, // --!> ends a comment
      `<p ="oops>typo</p>${hostile.replace('--', 'q')}`, // ="oops is an attribute's name
      `</ x title="> visible ${hostile}`, // a bogus comment, ended by the first >
    ]) {
      const page = `<html><head><title>t</title></head><body>${body}</body></html>\n`;
      const { gw } = await setup(t, html(page));
      const r = await send(gw.url, '/', { headers: HTML_ACCEPT });
      const { head, footer } = markup();
      assert.equal(r.text, page.replace('</head>', `${head}</head>`) + footer, body);
    }
  });

  it('puts the head links at the end too when the head itself is malformed', async (t) => {
    const page = '<html><head><!--><title>t</title></head><body><p>hi</p></body></html>';
    const { gw } = await setup(t, html(page));
    const r = await send(gw.url, '/', { headers: HTML_ACCEPT });
    const { head, footer } = markup();
    assert.equal(r.text, page + head + footer);
  });

  it('adds no footer to a page that ends inside a comment or a tag', async (t) => {
    for (const page of [
      '<html><head><title>t</title></head><body><p>hi</p><!-- cut',
      '<html><head><title>t</title></head><body><p title="cut',
    ]) {
      const { gw } = await setup(t, html(page));
      const r = await send(gw.url, '/', { headers: HTML_ACCEPT });
      assert.equal(r.text, page.replace('</head>', `${markup().head}</head>`), page);
    }
  });

  it('passes a gzip answer through unbranded once 1 MiB of it decodes to almost nothing', async (t) => {
    // A gzip header, then stored deflate blocks of no bytes (5 bytes each, nothing decoded), held
    // open until the client has its answer, then a last block with the page and the trailer.
    const page = Buffer.from(PAGE);
    const empty = Buffer.from([0x00, 0x00, 0x00, 0xff, 0xff]);
    const blocks = Buffer.concat(Array.from({ length: Math.ceil((2 * 1024 * 1024) / 5) }, () => empty));
    const last = Buffer.alloc(5);
    last.writeUInt8(1, 0);
    last.writeUInt16LE(page.length, 1);
    last.writeUInt16LE(~page.length & 0xffff, 3);
    const trailer = Buffer.alloc(8);
    trailer.writeUInt32LE(zlib.crc32(page), 0);
    trailer.writeUInt32LE(page.length, 4);
    const body = Buffer.concat([
      Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]),
      blocks,
      last,
      page,
      trailer,
    ]);
    let answered!: () => void;
    const clientAnswered = new Promise<void>((resolve) => {
      answered = resolve;
    });
    let upstreamDone = false;
    const { gw } = await setup(t, async (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html', 'content-encoding': 'gzip' });
      res.write(body.subarray(0, 10 + blocks.length));
      await Promise.race([clientAnswered, sleep(3000)]);
      upstreamDone = true;
      res.end(body.subarray(10 + blocks.length));
    });
    const got = await new Promise<{ status: number; early: boolean; body: Buffer; coding?: string }>(
      (resolve, reject) => {
        const req = request(`${gw.url}/`, { headers: HTML_ACCEPT }, (res) => {
          const early = !upstreamDone;
          answered();
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({
              status: res.statusCode!,
              early,
              body: Buffer.concat(chunks),
              coding: res.headers['content-encoding'],
            }),
          );
        });
        req.on('error', reject);
        req.end();
      },
    );
    assert.equal(got.status, 200);
    assert.ok(got.early, 'the answer started before the upstream finished');
    assert.equal(got.coding, 'gzip');
    assert.ok(got.body.equals(body), 'the upstream bytes, untouched');
  });

  for (const [coding, encode, decode] of [
    ['gzip', zlib.gzipSync, zlib.gunzipSync],
    ['deflate', zlib.deflateSync, zlib.inflateSync],
    ['br', zlib.brotliCompressSync, zlib.brotliDecompressSync],
  ] as const) {
    it(`decompresses ${coding}, injects and compresses again with ${coding}`, async (t) => {
      const { gw, up } = await setup(t, html(encode(Buffer.from(PAGE)), { 'content-encoding': coding }));
      const r = await send(gw.url, '/', {
        headers: { ...HTML_ACCEPT, 'accept-encoding': 'gzip, deflate, br' },
      });
      assert.equal(r.headers['content-encoding'], coding);
      assert.equal(r.headers['content-length'], String(r.body.length));
      assert.equal(decode(r.body).toString(), expected(PAGE));
      assert.equal(up.last().headers['accept-encoding'], 'gzip, deflate, br');
    });
  }

  it('accepts raw deflate (no zlib header) as browsers do', async (t) => {
    const { gw } = await setup(
      t,
      html(zlib.deflateRawSync(Buffer.from(PAGE)), { 'content-encoding': 'deflate' }),
    );
    const r = await send(gw.url, '/', { headers: HTML_ACCEPT });
    assert.equal(zlib.inflateSync(r.body).toString(), expected(PAGE));
  });

  it('streams a large gzip page in pieces and still finds the footer place at its end', async (t) => {
    const rows = Array.from({ length: 40_000 }, (_, i) => `<tr><td>${i}</td><td>行 ${i}</td></tr>\n`).join(
      '',
    );
    const page = `<!doctype html><html><head><title>big</title></head><body><table>${rows}</table></body></html>`;
    const gz = zlib.gzipSync(page);
    const { gw } = await setup(t, async (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html', 'content-encoding': 'gzip' });
      for (let i = 0; i < gz.length; i += 7_000) {
        res.write(gz.subarray(i, i + 7_000));
        // The point: give the gateway a turn between bursts, as a network would.
        if (i % 70_000 === 0) await sleep(1);
      }
      res.end();
    });
    const r = await send(gw.url, '/', { headers: HTML_ACCEPT });
    assert.ok(page.length > 1_000_000);
    assert.equal(r.headers['content-length'], undefined);
    assert.equal(zlib.gunzipSync(r.body).toString(), expected(page));
  });

  it('passes a page whose head is not within the first 64 KiB through byte for byte', async (t) => {
    const page = `<!doctype html><!-- ${'x'.repeat(LOOKAHEAD_BYTES + 10_000)} --><html><head></head><body></body></html>`;
    const { gw } = await setup(t, html(page, { etag: '"big"' }));
    const r = await send(gw.url, '/', { headers: HTML_ACCEPT });
    assert.equal(r.text, page);
    assert.equal(r.headers['content-length'], String(Buffer.byteLength(page)));
    assert.equal(r.headers.etag, '"big"');
  });

  it('passes such a gzip page through as the upstream compressed it', async (t) => {
    const body = zlib.gzipSync(`<p>${'y'.repeat(LOOKAHEAD_BYTES * 3)}</p>`);
    const { gw } = await setup(t, html(body, { 'content-encoding': 'gzip' }));
    const r = await send(gw.url, '/', { headers: HTML_ACCEPT });
    assert.deepEqual(r.body, body);
    assert.equal(r.headers['content-length'], String(body.length));
  });

  it('leaves an HTML fragment without <html>, <head> or <body> untouched', async (t) => {
    const fragment = '<li>one</li><li>two</li>';
    const { gw } = await setup(t, html(fragment));
    const r = await send(gw.url, '/', { headers: HTML_ACCEPT });
    assert.equal(r.text, fragment);
  });

  it('leaves non-HTML answers byte-identical', async (t) => {
    const body = Buffer.from(JSON.stringify({ html: '</head></body>' }));
    const { gw } = await setup(t, (_req, res) => {
      res.writeHead(200, {
        'content-type': 'application/json',
        'content-length': String(body.length),
        etag: '"j"',
      });
      res.end(body);
    });
    const r = await send(gw.url, '/', { headers: HTML_ACCEPT });
    assert.deepEqual(r.body, body);
    assert.equal(r.headers.etag, '"j"');
    assert.equal(r.headers['content-length'], String(body.length));
  });

  it('respects Cache-Control: no-transform', async (t) => {
    const { gw } = await setup(t, html(PAGE, { 'cache-control': 'public, no-transform' }));
    const r = await send(gw.url, '/', { headers: HTML_ACCEPT });
    assert.equal(r.text, PAGE);
  });

  it('does not touch a fetch() of HTML, only navigations', async (t) => {
    const { gw } = await setup(t, html(PAGE));
    const r = await send(gw.url, '/', { headers: { accept: 'text/html', 'sec-fetch-dest': 'empty' } });
    assert.equal(r.text, PAGE);
  });

  it('keeps the status, every Set-Cookie and the other headers', async (t) => {
    const { gw } = await setup(t, (_req, res) => {
      res.writeHead(201, 'Made', [
        ['Content-Type', 'text/html'],
        ['Set-Cookie', 'a=1; Path=/; HttpOnly'],
        ['Set-Cookie', 'b=2; Path=/; Secure'],
        ['X-Custom', 'kept'],
        ['Cache-Control', 'private, max-age=60'],
        ['Content-MD5', 'Q2hlY2sgSW50ZWdyaXR5IQ=='],
        ['Content-Length', String(Buffer.byteLength(PAGE))],
      ]);
      res.end(PAGE);
    });
    const r = await send(gw.url, '/', { headers: HTML_ACCEPT });
    assert.equal(r.status, 201);
    assert.deepEqual(r.headers['set-cookie'], ['a=1; Path=/; HttpOnly', 'b=2; Path=/; Secure']);
    assert.equal(r.headers['x-custom'], 'kept');
    assert.equal(r.headers['cache-control'], 'private, max-age=60');
    assert.equal(r.headers['content-md5'], undefined);
    assert.equal(r.headers['content-length'], String(r.body.length));
    assert.equal(r.text, expected(PAGE));
  });

  it('passes a 304 through, with the page validator translated both ways', async (t) => {
    const { gw, up } = await setup(t, (req, res) => {
      if (req.headers['if-none-match'] === '"abc"') {
        res.writeHead(304, { etag: '"abc"' });
        res.end();
      } else html(PAGE, { etag: '"abc"' })(req, res);
    });
    const first = await send(gw.url, '/', { headers: HTML_ACCEPT });
    const etag = String(first.headers.etag);
    assert.match(etag, /^W\/"abc-pbs[0-9a-f]{10}"$/);
    const again = await send(gw.url, '/', { headers: { ...HTML_ACCEPT, 'if-none-match': etag } });
    assert.equal(up.last().headers['if-none-match'], '"abc"');
    assert.equal(again.status, 304);
    assert.equal(again.body.length, 0);
    assert.equal(again.headers.etag, etag);
  });

  it('drops validators of a page branded by an older brand, so it is fetched again', async (t) => {
    const { gw, up } = await setup(t, html(PAGE, { etag: '"abc"' }));
    await send(gw.url, '/', {
      headers: {
        ...HTML_ACCEPT,
        'if-none-match': 'W/"abc-pbs0123456789", "other"',
        'if-modified-since': new Date().toUTCString(),
      },
    });
    assert.equal(up.last().headers['if-none-match'], '"other"');
    assert.equal(up.last().headers['if-modified-since'], undefined);
  });

  it('passes HEAD through untouched', async (t) => {
    const { gw } = await setup(t, html(PAGE, { etag: '"abc"' }));
    const r = await send(gw.url, '/', { method: 'HEAD', headers: HTML_ACCEPT });
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-length'], String(Buffer.byteLength(PAGE)));
    assert.equal(r.headers.etag, '"abc"');
  });

  it('asks the upstream only for encodings it can undo', async (t) => {
    const { gw, up } = await setup(t, html(PAGE));
    await send(gw.url, '/', { headers: { ...HTML_ACCEPT, 'accept-encoding': 'zstd, gzip;q=0.8, br, *' } });
    assert.equal(up.last().headers['accept-encoding'], 'gzip;q=0.8, br');
    await send(gw.url, '/', { headers: { ...HTML_ACCEPT, 'accept-encoding': 'zstd' } });
    assert.equal(up.last().headers['accept-encoding'], undefined);
    await send(gw.url, '/app.js', { headers: { accept: '*/*', 'accept-encoding': 'zstd, gzip' } });
    assert.equal(up.last().headers['accept-encoding'], 'zstd, gzip');
  });
});

describe("respecting the page's Content-Security-Policy", () => {
  const hasStylesheet = (text: string) => text.includes('rel="stylesheet" href="/_portico/branding/');
  const hasIcon = (text: string) => text.includes('rel="icon"');
  const hasFooter = (text: string) => text.includes('class="portico-footer"');

  it("adds the stylesheet and icon when the policy allows 'self'", async (t) => {
    const { gw } = await setup(
      t,
      html(PAGE, { 'content-security-policy': "default-src 'self'; script-src 'none'" }),
    );
    const r = await send(gw.url, '/', { headers: HTML_ACCEPT });
    assert.ok(hasStylesheet(r.text) && hasIcon(r.text) && hasFooter(r.text));
    assert.doesNotMatch(r.text, /<style|<script/);
  });

  it('adds only the footer markup when style-src and img-src would block the links', async (t) => {
    const { gw } = await setup(
      t,
      html(PAGE, {
        'content-security-policy': "default-src 'self'; style-src 'nonce-r4nd0m'; img-src 'none'",
      }),
    );
    const r = await send(gw.url, '/', { headers: HTML_ACCEPT });
    assert.ok(!hasStylesheet(r.text) && !hasIcon(r.text) && hasFooter(r.text));
  });

  it('reads a policy from a <meta http-equiv> in the head as well', async (t) => {
    const page = PAGE.replace(
      '<meta charset="utf-8">',
      `<meta charset="utf-8"><meta http-equiv="Content-Security-Policy" content="style-src https://cdn.example.com">`,
    );
    const { gw } = await setup(t, html(page));
    const r = await send(gw.url, '/', { headers: HTML_ACCEPT });
    assert.ok(!hasStylesheet(r.text) && hasIcon(r.text) && hasFooter(r.text));
  });

  it('matches sources as browsers do', () => {
    const page = new URL('https://portal.example.com/dce5/');
    const theme = new URL('/_portico/branding/abc/theme.css', page);
    const allows = (policy: string, kind: 'style' | 'img' = 'style', url = theme) =>
      cspAllows(parseCsp([policy]), kind, url, page);
    assert.equal(allows("script-src 'none'"), true);
    assert.equal(allows("style-src 'self' 'unsafe-inline'"), true);
    assert.equal(allows("default-src 'none'"), false);
    assert.equal(allows("default-src 'none'; style-src *"), true);
    assert.equal(allows('style-src https:'), true);
    assert.equal(allows('style-src *.example.com'), true);
    assert.equal(allows('style-src https://portal.example.com/_portico/'), true);
    assert.equal(allows('style-src https://portal.example.com/other/'), false);
    assert.equal(allows("style-src-elem 'none'; style-src 'self'"), false);
    assert.equal(allows("img-src 'self'", 'img'), true);
    assert.equal(allows('img-src data:', 'img'), false);
    // Two policies (headers or comma-joined): both must allow.
    assert.equal(
      cspAllows(parseCsp(["style-src 'self'", "default-src 'none'"]), 'style', theme, page),
      false,
    );
    assert.equal(
      cspAllows(parseCsp(["style-src 'self', style-src 'self' https:"]), 'style', theme, page),
      true,
    );
  });
});

describe('the streaming HTML scanner', () => {
  it('finds the same tags wherever the input is split', () => {
    const doc =
      '<!doctype html><html lang="en"><head><!-- </head> --><script>if (a </b) x("</head>")</script>' +
      '<meta content="a>b" name=x></head><body class=\'a>\'><p>1 < 2</p><textarea></body></textarea></body></html>';
    const events = (chunks: string[]) => {
      const out: string[] = [];
      const scanner = new HtmlScanner({
        startTag: (name, _attrs, start) => void out.push(`${name}@${start}`),
        endTag: (name, start) => void out.push(`/${name}@${start}`),
      });
      for (const [i, chunk] of chunks.entries()) scanner.feed(chunk, i === chunks.length - 1);
      return out;
    };
    const whole = events([doc]);
    assert.deepEqual(whole, [
      'html@15',
      'head@31',
      'script@53',
      '/script@84',
      'meta@93',
      '/head@120',
      'body@127',
      'p@144',
      '/p@152',
      'textarea@156',
      '/textarea@173',
      '/body@184',
      '/html@191',
    ]);
    for (let i = 1; i < doc.length; i++) {
      assert.deepEqual(events([doc.slice(0, i), doc.slice(i)]), whole, `split at ${i}`);
    }
    assert.deepEqual(events(doc.split('')), whole);
  });

  it('reads comments, attributes, raw text and CDATA as the WHATWG tokenizer does', () => {
    const hostile = '<a title="--></body><img>">hi</a>';
    const cases: [string, boolean][] = [
      [`<!--> ${hostile}`, true],
      [`<!---> ${hostile}`, true],
      [`<!-- c --!> ${hostile}`, true],
      [`<p ="x>${hostile}`, true],
      [`<!x title="> ${hostile}`, true],
      [`<?x title="> ${hostile}`, true],
      [`</ x title="> ${hostile}`, true],
      [`<![CDATA[ title="> ]]>${hostile}`, true],
      [`<svg><![CDATA[ > "</body>" ]]></svg>${hostile}`, false],
      [`<abcdefghijklmnopq="x>t</abcdefghijklmnopq="x>${hostile}`, false],
      [`<noscript><p title="</noscript>${hostile}`, false],
      [`<script><!--<script>"</script>"</script>${hostile}`, false],
      [`<textarea><p title="</textarea>${hostile}`, false],
    ];
    for (const [body, misled] of cases) {
      const doc = `<html><head></head><body>${body}</body></html>`;
      for (const chunks of [[doc], doc.split('')]) {
        const ends: number[] = [];
        const scanner = new HtmlScanner({
          endTag: (name, start) => void (name === 'body' && ends.push(start)),
        });
        for (const [i, chunk] of chunks.entries()) scanner.feed(chunk, i === chunks.length - 1);
        assert.deepEqual(ends, [doc.lastIndexOf('</body>')], body);
        assert.equal(scanner.misled, misled, body);
      }
    }
  });

  it('holds back a tag it has not read to its end, and nothing else', () => {
    const scanner = new HtmlScanner({});
    scanner.feed('<p>one</p><!-- a', false);
    assert.equal(scanner.settled(), '<p>one</p>'.length);
    scanner.feed(' long comment --> text', false);
    assert.equal(scanner.settled(), '<p>one</p><!-- a long comment --> text'.length);
    scanner.feed('</bo', false);
    assert.equal(scanner.settled(), '<p>one</p><!-- a long comment --> text'.length);
  });
});
