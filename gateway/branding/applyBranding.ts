import type { IncomingMessage } from 'node:http';
import type { HttpContext, ResponsePass, Stage } from '../context.ts';
import { pickLang } from '../pages/negotiate.ts';
import { brandableCoding, injectBranding, restoreIfNoneMatch } from './injectBranding.ts';
import { addVary, DOCUMENT_VARY } from './vary.ts';
import type { Brand } from './loadBrand.ts';

const CODINGS = new Set(['gzip', 'x-gzip', 'deflate', 'br', 'identity']);
const DOCUMENT_DESTS = new Set(['document', 'iframe', 'frame', 'embed', 'object']);

/**
 * Stage (slot `beforeForward`): on routes with `branding: true`, a GET for an HTML page asks the
 * upstream only for encodings the injector can undo and redo, and a validator Portico issued for
 * the page is translated back to the upstream's.
 */
export function applyBranding(brand: () => Brand | undefined): Stage<HttpContext> {
  return (ctx) => {
    if (!ctx.route?.branding || ctx.req.method !== 'GET') return;
    const b = brand();
    if (!b || !wantsDocument(ctx.req)) return;
    const h = ctx.upstreamHeaders;
    const acceptEncoding = h['accept-encoding'];
    if (acceptEncoding !== undefined) {
      const kept = supportedAcceptEncoding(String(acceptEncoding));
      if (kept) h['accept-encoding'] = kept;
      else delete h['accept-encoding'];
    }
    const ifNoneMatch = h['if-none-match'];
    if (typeof ifNoneMatch === 'string') {
      const { value, stale } = restoreIfNoneMatch(ifNoneMatch, b.version, pickLang(ctx.req));
      if (value) h['if-none-match'] = value;
      else delete h['if-none-match'];
      // The cached copy carries an older brand or another language: a date validator must not
      // revive it either.
      if (stale) delete h['if-modified-since'];
    }
  };
}

/**
 * Response pass (slot `response`): a branded route's page gets the theme injected on its way out.
 * Only when a page is asked for (wantsDocument): a script's fetch of the same URL gets the
 * upstream's bytes. So every page that could be branded says `Vary: Sec-Fetch-Dest, Accept`, or a
 * cache (the browser's, or a shared one in front) would answer a navigation with the copy a fetch
 * stored, unbranded, or a fetch with the branded one.
 */
export function brandResponse(brand: () => Brand | undefined): ResponsePass {
  return (ctx, upstreamRes, headers) => {
    if (!ctx.route?.branding || ctx.req.method !== 'GET') return;
    const b = brand();
    if (!b) return;
    if (brandableCoding(upstreamRes) !== undefined) addVary(headers, DOCUMENT_VARY);
    if (!wantsDocument(ctx.req)) return;
    ctx.transform = injectBranding(ctx, upstreamRes, b);
  };
}

/** A navigation (or frame) that expects HTML, not a script's fetch of a fragment. */
export function wantsDocument(req: IncomingMessage): boolean {
  const dest = req.headers['sec-fetch-dest'];
  if (typeof dest === 'string') return DOCUMENT_DESTS.has(dest.toLowerCase());
  const accept = req.headers.accept;
  return typeof accept === 'string' && /\btext\/html\b/i.test(accept);
}

/** Accept-Encoding less the codings the injector cannot handle (zstd, compress, `*`); undefined when none is left. */
export function supportedAcceptEncoding(value: string): string | undefined {
  const kept = value
    .split(',')
    .map((part) => part.trim())
    .filter((part) => CODINGS.has(part.split(';')[0]!.trim().toLowerCase()));
  return kept.length > 0 ? kept.join(', ') : undefined;
}
