import type { IncomingMessage } from 'node:http';

/** Browsers get pages and redirects; scripts, XHR and fetch get JSON and status codes. */
export function wantsHtml(req: Pick<IncomingMessage, 'headers'>): boolean {
  const accept = req.headers.accept;
  if (typeof accept !== 'string' || !accept.includes('text/html')) return false;
  if (req.headers['x-requested-with'] === 'XMLHttpRequest') return false;
  // A caller with a bearer token is a program: it gets JSON and status codes, never a page.
  if (req.headers.authorization !== undefined) return false;
  const mode = req.headers['sec-fetch-mode'];
  return mode === undefined || mode === 'navigate' || mode === 'nested-navigate';
}

const SUPPORTED = ['zh-CN', 'en-US'] as const;
export type Lang = (typeof SUPPORTED)[number];

/** `?lang=` first, then Accept-Language; zh-* → zh-CN, everything else → en-US. */
export function pickLang(req: IncomingMessage, fallback: Lang = 'en-US'): Lang {
  const url = req.url ?? '';
  const m = /[?&]lang=([A-Za-z-]+)/.exec(url);
  const wanted = m ? [m[1]!] : parseAcceptLanguage(req.headers['accept-language']);
  for (const tag of wanted) {
    const lower = tag.toLowerCase();
    if (lower.startsWith('zh')) return 'zh-CN';
    if (lower.startsWith('en')) return 'en-US';
  }
  return fallback;
}

function parseAcceptLanguage(header: string | undefined): string[] {
  if (!header) return [];
  return header
    .split(',')
    .map((part) => {
      const [tag, ...params] = part.trim().split(';');
      const q = params.find((p) => p.trim().startsWith('q='));
      return { tag: tag ?? '', q: q ? Number(q.trim().slice(2)) : 1 };
    })
    .filter((x) => x.tag && x.q > 0)
    .sort((a, b) => b.q - a.q)
    .map((x) => x.tag);
}
