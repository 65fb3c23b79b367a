import { createRequire } from 'node:module';
import type sanitizeHtml from 'sanitize-html';

/**
 * The brand's footer and help texts are HTML written by an admin but shown on every page of the
 * upstream products: a small allow-list of text-level tags and link attributes, no scripts, no event
 * handlers, no styles (CSP would block them anyway), only http(s)/mailto/tel links.
 */
const OPTIONS: sanitizeHtml.IOptions = {
  allowedTags: ['a', 'b', 'strong', 'i', 'em', 'small', 'span', 'br', 'p', 'ul', 'ol', 'li', 'code', 'abbr'],
  allowedAttributes: {
    a: ['href', 'title', 'target', 'rel', 'lang'],
    abbr: ['title'],
    span: ['class', 'lang'],
    p: ['class', 'lang'],
  },
  allowedClasses: { span: ['portico-*'], p: ['portico-*'] },
  allowedSchemes: ['http', 'https', 'mailto', 'tel'],
  allowedSchemesAppliedToAttributes: ['href'],
  allowProtocolRelative: false,
  disallowedTagsMode: 'discard',
  // A new window must not get a handle on the page that opened it.
  transformTags: {
    a: (tagName, attribs) => {
      if (attribs.target && attribs.target !== '_self') {
        return { tagName, attribs: { ...attribs, target: '_blank', rel: 'noopener noreferrer' } };
      }
      return { tagName, attribs };
    },
  },
};

/** Loaded when a brand first has HTML to clean (15 MB with its parsers): not every brand does. */
const load = createRequire(import.meta.url);

export function sanitizeBrandHtml(html: string): string {
  if (html.trim() === '') return '';
  const sanitize = load('sanitize-html') as typeof sanitizeHtml;
  return sanitize(html, OPTIONS).trim();
}
