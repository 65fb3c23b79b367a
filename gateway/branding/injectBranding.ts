import { createRequire } from 'node:module';
import type { Zlib } from 'node:zlib';
import type { OutgoingHttpHeader, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { Transform } from 'node:stream';
import type { HttpContext, ResponseTransform, UpstreamHead, UpstreamResponse } from '../context.ts';
import { escapeHtml } from '../pages/escapeHtml.ts';
import { type Lang, pickLang } from '../pages/negotiate.ts';
import { cspAllows, parseCsp } from './csp.ts';
import type { HtmlScanner } from './htmlScanner.ts';
import type { Brand } from './loadBrand.ts';
import { addVary, DOCUMENT_VARY } from './vary.ts';

/** How far into a page the injector looks for the end of <head> before giving up (decoded bytes). */
export const LOOKAHEAD_BYTES = 64 * 1024;
/**
 * How many compressed bytes are held while the decoded page is still under the look-ahead: past
 * this the page goes through unbranded. A real page decodes to far more than it weighs compressed,
 * so only a compression bomb (say gzip of empty blocks) gets here, and it must not fill the memory.
 */
export const SNIFF_RAW_MAX = 1024 * 1024;

export type Coding = 'identity' | 'gzip' | 'deflate' | 'br';

/** Response headers that describe the upstream's exact bytes, which the injection changes. */
const DROP = new Set([
  'content-length',
  'content-md5',
  'accept-ranges',
  'digest',
  'content-digest',
  'repr-digest',
]);
/** Elements that may stand in <head>: any other start tag implies </head>. */
const HEAD_CONTENT = new Set([
  'html',
  'head',
  'meta',
  'link',
  'title',
  'style',
  'script',
  'base',
  'noscript',
  'template',
]);

/**
 * The transform for a branded route's page (chosen by the brandResponse pass). Takes only 2xx
 * text/html answers to GET (not 204/205/206), in identity, gzip, deflate or br, without
 * `Cache-Control: no-transform`; everything else goes through untouched.
 */
export function injectBranding(
  ctx: HttpContext,
  upstreamRes: UpstreamHead,
  brand: Brand,
): ResponseTransform | undefined {
  if (ctx.req.method !== 'GET') return undefined;
  if (upstreamRes.statusCode === 304) return revalidated(ctx, brand);
  const coding = brandableCoding(upstreamRes);
  if (coding === undefined) return undefined;
  return { start: (res, up, headers) => inject(ctx, brand, coding, res, up, headers) };
}

/**
 * The coding of an answer injectBranding would brand when a page is asked for (2xx text/html, not
 * 204/205/206 nor a range, without `no-transform`, in a coding it can undo), else undefined.
 */
export function brandableCoding(upstreamRes: UpstreamHead): Coding | undefined {
  const status = upstreamRes.statusCode ?? 0;
  if (status < 200 || status > 299 || status === 204 || status === 205 || status === 206) return undefined;
  const h = upstreamRes.headers;
  if (!isHtml(h['content-type'])) return undefined;
  if (/(^|,)\s*no-transform\s*(,|$)/i.test(h['cache-control'] ?? '')) return undefined;
  if (h['content-range'] !== undefined) return undefined;
  return codingOf(h['content-encoding']);
}

/**
 * A 304 for a page: nothing to inject, but its ETag is the upstream's and the browser holds the
 * branded one; tag it as Portico did the 200, so the next revalidation is translated again. A copy
 * whose footer took the reader's language is tagged with it; the client's If-None-Match says which
 * (applyBranding let only this reader's language through).
 */
function revalidated(ctx: HttpContext, brand: Brand): ResponseTransform | undefined {
  const held = ctx.req.headers['if-none-match'];
  const tag = (etag: string) => {
    const inLang = brandEtag(etag, brand.version, pickLang(ctx.req));
    return typeof held === 'string' && inLang !== undefined && held.includes(inLang)
      ? inLang
      : brandEtag(etag, brand.version);
  };
  return {
    start(res, up, headers) {
      const out: string[] = [];
      let inLang = false;
      for (let i = 0; i < headers.length; i += 2) {
        let value: string | undefined = headers[i + 1];
        if (headers[i]!.toLowerCase() === 'etag') {
          value = tag(headers[i + 1]!);
          inLang = value !== undefined && value !== brandEtag(headers[i + 1]!, brand.version);
        }
        if (value !== undefined) out.push(headers[i]!, value);
      }
      // The 304 says what the 200 varied on (RFC 9110 §15.4.5), or a cache that takes its headers
      // would store the branded copy as every request's.
      addVary(out, inLang ? [...DOCUMENT_VARY, 'Accept-Language'] : DOCUMENT_VARY);
      if (writeHeadOrDestroy(res, 304, up.statusMessage, out)) up.pipe(res);
    },
  };
}

function isHtml(contentType: string | undefined): boolean {
  if (typeof contentType !== 'string') return false;
  if (contentType.split(';')[0]!.trim().toLowerCase() !== 'text/html') return false;
  // The injector works on ASCII-compatible bytes; UTF-16/32 pages are left alone.
  const charset = /charset\s*=\s*"?([^";\s]+)/i.exec(contentType)?.[1];
  return !(charset && /^(utf-?(16|32)|ucs-?[24])/i.test(charset));
}

export function codingOf(contentEncoding: string | undefined): Coding | undefined {
  const v = (contentEncoding ?? '').trim().toLowerCase();
  if (v === '' || v === 'identity') return 'identity';
  if (v === 'gzip' || v === 'x-gzip') return 'gzip';
  if (v === 'deflate' || v === 'br') return v;
  return undefined;
}

/** The mark of a footer language in a page's ETag. */
const LANG_MARK: Readonly<Record<Lang, string>> = { 'zh-CN': 'z', 'en-US': 'e' };

/**
 * A page's ETag after injection: weak (the bytes differ) and tied to the brand version, and to the
 * footer's language when that was the reader's (`lang`): the language variants of one page are
 * different answers (Vary: Accept-Language), and a cache that revalidates one reader's copy with
 * another's tag must not be told it still holds the right one.
 */
export function brandEtag(etag: string, version: string, lang?: Lang): string | undefined {
  const m = /^(W\/)?"([^"]*)"$/.exec(etag.trim());
  return m ? `W/"${m[2]}-pb${m[1] ? 'w' : 's'}${version}${lang ? LANG_MARK[lang] : ''}"` : undefined;
}

/**
 * The inverse for a request's If-None-Match: a tag Portico issued for the current brand (and for
 * `lang`, the request's language, if it names one) becomes the upstream's own again; one issued for
 * an older brand or another language is dropped (`stale`: the page must be fetched again). `value`
 * is undefined when no tag is left.
 */
export function restoreIfNoneMatch(
  value: string,
  version: string,
  lang: Lang,
): { value: string | undefined; stale: boolean } {
  const tags = value.match(/(W\/)?"[^"]*"|\*/g) ?? [];
  const out: string[] = [];
  let stale = false;
  for (const tag of tags) {
    const m = /^W\/"(.*)-pb([sw])([0-9a-f]{10})([ze]?)"$/.exec(tag);
    if (!m) out.push(tag);
    else if (m[3] === version && (m[4] === '' || m[4] === LANG_MARK[lang]))
      out.push(m[2] === 'w' ? `W/"${m[1]}"` : `"${m[1]}"`);
    else stale = true;
  }
  return { value: out.length > 0 ? out.join(', ') : undefined, stale };
}

function makeDecoder(coding: Exclude<Coding, 'identity'>, first: Buffer): Transform {
  // Lenient like browsers: a body cut short still yields what it has.
  const z = { finishFlush: zlib().constants.Z_SYNC_FLUSH };
  if (coding === 'gzip') return zlib().createGunzip(z);
  if (coding === 'br')
    return zlib().createBrotliDecompress({ finishFlush: zlib().constants.BROTLI_OPERATION_FLUSH });
  // "deflate" should be zlib-wrapped, but some servers send raw deflate: look at the header.
  const b0 = first[0] ?? 0;
  const wrapped =
    (b0 & 0x0f) === 8 && b0 >> 4 <= 7 && (first.length < 2 || ((b0 << 8) | first[1]!) % 31 === 0);
  return wrapped ? zlib().createInflate(z) : zlib().createInflateRaw(z);
}

const brotliParams = () => ({
  [zlib().constants.BROTLI_PARAM_QUALITY]: 5,
  [zlib().constants.BROTLI_PARAM_MODE]: zlib().constants.BROTLI_MODE_TEXT,
});

function makeEncoder(coding: Exclude<Coding, 'identity'>): Transform {
  if (coding === 'gzip') return zlib().createGzip();
  if (coding === 'deflate') return zlib().createDeflate();
  return zlib().createBrotliCompress({ params: brotliParams() });
}

function encodeSync(coding: Coding, body: Buffer): Buffer {
  if (coding === 'gzip') return zlib().gzipSync(body);
  if (coding === 'deflate') return zlib().deflateSync(body);
  if (coding === 'br') return zlib().brotliCompressSync(body, { params: brotliParams() });
  return body;
}

/** Markup Portico adds is pure ASCII (other characters as references), so it fits any ASCII-compatible charset. */
function asciiHtml(html: string): string {
  return html.replace(/[^\x00-\x7f]/gu, (c) => `&#x${c.codePointAt(0)!.toString(16)};`);
}

function langOf(tag: string | undefined): Lang | undefined {
  const v = tag?.trim().toLowerCase();
  if (!v) return undefined;
  if (v.startsWith('zh')) return 'zh-CN';
  if (v.startsWith('en')) return 'en-US';
  return undefined;
}

function inject(
  ctx: HttpContext,
  brand: Brand,
  coding: Coding,
  res: ServerResponse,
  up: UpstreamResponse,
  headers: string[],
): void {
  const status = up.statusCode!;
  const statusMessage = up.statusMessage;
  let phase: 'sniff' | 'inject' | 'tail' | 'pass' | 'done' = 'sniff';
  let raw: Buffer[] = [];
  let upEnded = false;
  let text = ''; // decoded bytes as latin1, while looking for the head
  let carry = ''; // decoded bytes not yet sent, from carryBase on
  let carryBase = 0;
  let footer = ''; // the footer, and the head's links when they cannot go in the head
  let varyLang = false;
  let footerLang: Lang | undefined; // the reader's language, when the footer took it
  let decoder: Transform | undefined;
  let encoder: Transform | undefined;
  let flushScheduled = false;
  let upPaused = false;
  let decoderPaused = false;
  let rawBytes = 0;
  const declaredLength = /^\d+$/.test(up.headers['content-length'] ?? '')
    ? Number(up.headers['content-length'])
    : -1;
  const inputComplete = () => upEnded || (declaredLength >= 0 && rawBytes >= declaredLength);

  const seen = {
    /** Where the head's links go: before </head>, <body> or the first tag that implies them. */
    insertAt: -1,
    /** A misleading construct came before insertAt: the links go at the end instead. */
    insertMisled: false,
    headEnd: -1,
    headEndMisled: false,
    /** The </body> the footer goes before, unless a misleading construct came before it. */
    bodyEnd: -1,
    documentish: false,
    lang: undefined as string | undefined,
    metaCsp: [] as string[],
  };
  // One tokenizer reads the page from its first byte to its </body>, as the browser will.
  const scanner: HtmlScanner = new (scanning().HtmlScanner)({
    startTag(name, attrs, start, end) {
      if (seen.insertAt >= 0) return;
      const attr = (n: string) => attrs.find((a) => a.name === n)?.value;
      if (name === 'body' || (seen.documentish && !HEAD_CONTENT.has(name))) {
        seen.insertAt = start;
        seen.insertMisled = scanner.misled;
      } else if (name === 'html') {
        seen.documentish = true;
        seen.lang = attr('lang');
      } else if (name === 'head') {
        seen.documentish = true;
        seen.headEnd = end;
        seen.headEndMisled = scanner.misled;
      } else if (name === 'meta') {
        const content = attr('content');
        if (attr('http-equiv')?.toLowerCase() === 'content-security-policy' && content) {
          seen.metaCsp.push(content);
        }
      }
    },
    endTag(name, start) {
      if (seen.insertAt < 0) {
        if (name === 'head') {
          seen.insertAt = start;
          seen.insertMisled = scanner.misled;
        }
      } else if (name === 'body' && seen.bodyEnd < 0 && !scanner.misled) seen.bodyEnd = start;
    },
  });
  let fed = 0; // how much of the page the scanner has read
  let scannerEnded = false;
  const feed = (s: string, final: boolean) => {
    if (scannerEnded) return;
    fed += s.length;
    scannerEnded = final;
    scanner.feed(s, final);
  };
  /** Only the first LOOKAHEAD_BYTES are searched for the head, however the bytes arrive. */
  const feedLookahead = () => {
    const upTo = Math.min(text.length, LOOKAHEAD_BYTES);
    if (upTo > fed) feed(text.slice(fed, upTo), false);
  };

  const pauseUpUntilDrain = (stream: NodeJS.WritableStream) => {
    if (upPaused) return;
    upPaused = true;
    up.pause();
    stream.once('drain', () => {
      upPaused = false;
      if (phase !== 'done') up.resume();
    });
  };

  /** Writes decoded output; false means wait for 'drain'. */
  const sink = (chunk: Buffer | string): boolean => {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk, 'latin1') : chunk;
    if (buf.length === 0) return true;
    if (!encoder) return res.write(buf);
    const ok = encoder.write(buf);
    if (!flushScheduled) {
      // One flush per turn of the event loop: the page streams, small writes still compress well.
      flushScheduled = true;
      setImmediate(() => {
        flushScheduled = false;
        if (encoder && !encoder.writableEnded && !encoder.destroyed) {
          (encoder as unknown as Zlib).flush(coding === 'br' ? undefined : zlib().constants.Z_SYNC_FLUSH);
        }
      });
    }
    return ok;
  };

  /**
   * Returns what of `carry` (all fed to the scanner) can be sent, with the footer placed before the
   * real </body>. Without one that is certain — none, one Portico already sent the start of, or one
   * after a misleading construct — the footer goes after the last byte, where the browser still
   * puts it at the end of the body and nothing of the page follows it, so even a misreading cannot
   * turn the page's own text into markup; and only if the page ends in plain text, not inside a tag,
   * comment or script.
   */
  const scanBody = (final: boolean): string => {
    if (final) feed('', true);
    if (seen.bodyEnd >= carryBase) {
      const at = seen.bodyEnd - carryBase;
      const out = carry.slice(0, at) + footer + carry.slice(at);
      carry = '';
      phase = 'tail';
      return out;
    }
    if (final) {
      const out = carry + (scanner.endedInText ? footer : '');
      carry = '';
      return out;
    }
    const stop = Math.max(scanner.settled() - carryBase, 0);
    const out = carry.slice(0, stop);
    carryBase += stop;
    carry = carry.slice(stop);
    return out;
  };

  /** The markup for the head and the footer; false when the page's CSP leaves nothing to add. */
  const prepareMarkup = (): { head: string } | undefined => {
    let page: URL;
    try {
      page = new URL(`${ctx.proto}://${ctx.req.headers.host ?? 'localhost'}/`);
    } catch {
      page = new URL('http://localhost/');
    }
    const cspValues: string[] = [];
    for (let i = 0; i < headers.length; i += 2) {
      if (headers[i]!.toLowerCase() === 'content-security-policy') cspValues.push(headers[i + 1]!);
    }
    const policies = parseCsp([...cspValues, ...seen.metaCsp]);
    let head = '';
    if (cspAllows(policies, 'style', new URL(brand.theme.href, page), page)) {
      head += `<link rel="stylesheet" href="${escapeHtml(brand.theme.href)}" data-portico-brand="${brand.version}">`;
    }
    if (brand.faviconHref && cspAllows(policies, 'img', new URL(brand.faviconHref, page), page)) {
      const type = brand.faviconType ? ` type="${escapeHtml(brand.faviconType)}"` : '';
      head += `<link rel="icon" href="${escapeHtml(brand.faviconHref)}"${type}>`;
    }
    let lang = langOf(seen.lang);
    if (!lang) {
      lang = pickLang(ctx.req);
      varyLang = brand.footerHtml['zh-CN'] !== brand.footerHtml['en-US'];
      if (varyLang) footerLang = lang;
    }
    const html = brand.footerHtml[lang];
    footer = html
      ? asciiHtml(`<div class="portico-footer" role="contentinfo" lang="${lang}">${html}</div>`)
      : '';
    if (!head && !footer) return undefined;
    if (seen.insertMisled) {
      // The head came after markup Portico does not trust itself to read as the browser does: the
      // links go at the end with the footer (a stylesheet link works in the body too).
      footer = asciiHtml(head) + footer;
      return { head: '' };
    }
    return { head: asciiHtml(head) };
  };

  const modifiedHeaders = (contentLength?: number): string[] => {
    const out: string[] = [];
    let hasVary = false;
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i]!;
      let value: string | undefined = headers[i + 1]!;
      const lower = name.toLowerCase();
      if (DROP.has(lower)) continue;
      if (lower === 'etag') value = brandEtag(value, brand.version, footerLang);
      else if (lower === 'vary' && varyLang) {
        hasVary = true;
        if (!/(^|,)\s*(accept-language|\*)\s*(,|$)/i.test(value)) value = `${value}, Accept-Language`;
      }
      if (value !== undefined) out.push(name, value);
    }
    if (varyLang && !hasVary) out.push('Vary', 'Accept-Language');
    if (contentLength !== undefined) out.push('Content-Length', String(contentLength));
    return out;
  };

  const stopDecoder = () => {
    if (!decoder) return;
    decoder.removeAllListeners('data');
    decoder.removeAllListeners('end');
    decoder.on('error', () => {});
    decoder.destroy();
    decoder = undefined;
  };

  /** Not a page Portico can brand: the upstream's own bytes and headers, as if no transform ran. */
  const passThrough = () => {
    phase = 'pass';
    stopDecoder();
    if (!writeHeadOrDestroy(res, status, statusMessage, headers)) return;
    for (const chunk of raw) res.write(chunk);
    raw = [];
    text = '';
    if (upEnded) res.end();
    else if (upPaused) {
      upPaused = false;
      up.resume();
    }
  };

  /** The head was found mid-stream: send the headers and what we have, then stream the rest. */
  const startStreaming = (): boolean => {
    const markup = prepareMarkup();
    if (!markup) {
      passThrough();
      return true;
    }
    phase = 'inject';
    feed(text.slice(fed), false);
    const before = text.slice(0, seen.insertAt) + markup.head;
    carry = text.slice(seen.insertAt);
    carryBase = seen.insertAt;
    text = '';
    raw = [];
    if (!writeHeadOrDestroy(res, status, statusMessage, modifiedHeaders())) return true;
    if (coding !== 'identity') {
      encoder = makeEncoder(coding);
      encoder.on('error', (err) => res.destroy(err));
      encoder.pipe(res);
    }
    return sink(before + scanBody(false));
  };

  /** The whole page arrived while looking for the head: inject and send it with its exact length. */
  const finishWhole = () => {
    feed(text.slice(fed), true);
    if (seen.insertAt < 0) {
      seen.insertAt = seen.headEnd;
      seen.insertMisled = seen.headEndMisled;
    }
    const markup = seen.insertAt >= 0 ? prepareMarkup() : undefined;
    if (!markup) return passThrough();
    carry = text.slice(seen.insertAt);
    carryBase = seen.insertAt;
    const page = Buffer.from(text.slice(0, seen.insertAt) + markup.head + scanBody(true), 'latin1');
    phase = 'done';
    text = '';
    raw = [];
    let body: Buffer;
    try {
      body = encodeSync(coding, page);
    } catch (err) {
      res.destroy(err as Error);
      return;
    }
    if (writeHeadOrDestroy(res, status, statusMessage, modifiedHeaders(body.length))) res.end(body);
  };

  const onDecoded = (chunk: Buffer): boolean => {
    switch (phase) {
      case 'sniff': {
        text += chunk.toString('latin1');
        if (seen.insertAt < 0) feedLookahead();
        if (seen.insertAt >= 0) {
          // The upstream sent its whole (small) body already: finish it in one piece, with a
          // Content-Length, once the decoder has caught up. Otherwise stream from here.
          if (inputComplete() && text.length < LOOKAHEAD_BYTES) return true;
          return startStreaming();
        }
        if (text.length >= LOOKAHEAD_BYTES) {
          if (seen.headEnd >= 0) {
            // A head longer than the look-ahead: the stylesheet goes right after <head>.
            seen.insertAt = seen.headEnd;
            seen.insertMisled = seen.headEndMisled;
            return startStreaming();
          }
          passThrough();
        }
        return true;
      }
      case 'inject': {
        const s = chunk.toString('latin1');
        carry += s;
        feed(s, false);
        return sink(scanBody(false));
      }
      case 'tail':
        return sink(chunk);
      default:
        return true;
    }
  };

  const onDecodedEnd = () => {
    if (phase === 'sniff') finishWhole();
    else if (phase === 'inject' || phase === 'tail') {
      if (phase === 'inject') sink(scanBody(true));
      phase = 'done';
      if (encoder) encoder.end();
      else res.end();
    }
  };

  const ensureDecoder = (first: Buffer): Transform => {
    if (decoder) return decoder;
    const d = makeDecoder(coding as Exclude<Coding, 'identity'>, first);
    d.on('data', (out: Buffer) => {
      if (!onDecoded(out) && encoder && !decoderPaused) {
        decoderPaused = true;
        d.pause();
        encoder.once('drain', () => {
          decoderPaused = false;
          d.resume();
        });
      }
    });
    d.on('end', onDecodedEnd);
    d.on('error', (err) => {
      // A body that does not decode: before anything was sent, hand over the upstream's bytes as
      // they are; after, the response is cut (the client sees a broken transfer, not a wrong page).
      if (phase === 'sniff') passThrough();
      else if (phase !== 'pass') res.destroy(err);
    });
    decoder = d;
    return d;
  };

  up.on('data', (chunk: Buffer) => {
    if (phase === 'pass') {
      if (!res.write(chunk)) pauseUpUntilDrain(res);
      return;
    }
    if (phase === 'done') return;
    rawBytes += chunk.length;
    if (phase === 'sniff') {
      raw.push(chunk);
      // Decoded text is bounded by the look-ahead; the compressed bytes behind it by this.
      if (coding !== 'identity' && rawBytes > SNIFF_RAW_MAX) return passThrough();
    }
    if (coding === 'identity') {
      if (!onDecoded(chunk)) pauseUpUntilDrain(res);
    } else {
      const d = ensureDecoder(chunk);
      if (!d.write(chunk)) pauseUpUntilDrain(d);
    }
  });
  up.on('end', () => {
    upEnded = true;
    if (phase === 'pass') res.end();
    else if (phase === 'done') return;
    else if (coding === 'identity' || !decoder) onDecodedEnd();
    else decoder.end();
  });
  res.on('close', () => {
    // writableEnded: a reset HTTP/2 stream reports itself finished without having been ended.
    if (res.writableEnded) return;
    phase = 'done';
    stopDecoder();
    encoder?.destroy();
  });
}

/** node:zlib when a page is first re-encoded: a proxy whose pages are never branded does not load it. */
const zlib = () => process.getBuiltinModule('node:zlib');

/** The tokenizer (parse5, ~45 ms and ~9 MB to load) when the first branded page arrives. */
const load = createRequire(import.meta.url);
const scanning = (): typeof import('./htmlScanner.ts') => load('./htmlScanner.ts');

/**
 * The head of a branded answer, written later than the forwarder writes an unbranded one (once the
 * page's head was found): a head Node refuses to write then must end this answer, not the process.
 */
function writeHeadOrDestroy(
  res: ServerResponse,
  status: number,
  message: string,
  headers: OutgoingHttpHeaders | OutgoingHttpHeader[],
): boolean {
  try {
    res.writeHead(status, message, headers);
    return true;
  } catch (err) {
    res.destroy(err as Error);
    return false;
  }
}
