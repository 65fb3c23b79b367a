import { extname } from 'node:path';
import { BRAND_FILE } from '../branding/loadBrand.ts';

const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const ICO = Buffer.from([0x00, 0x00, 0x01, 0x00]);

/** What the admin API accepts as a brand asset upload, by extension. */
export const UPLOAD_TYPES: Readonly<Record<string, string>> = {
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.css': 'text/css; charset=utf-8',
  '.webp': 'image/webp',
};

const NAME_RE = /^[a-z0-9][a-z0-9._-]{0,62}$/;

/** The content type of an uploadable name (brand.yaml or a lower-case svg/png/ico/css/webp file). */
export function uploadType(name: string): string | undefined {
  if (name === BRAND_FILE) return 'application/yaml';
  if (!NAME_RE.test(name) || name.includes('..')) return undefined;
  return UPLOAD_TYPES[extname(name)];
}

/**
 * Does the file look like what its name says? Brand assets are served from Portico's own origin,
 * so an SVG must not carry script (it would run with the portal's cookies in reach).
 * Answers a problem, or undefined when the file is acceptable. brand.yaml is checked by the caller.
 */
export function checkAssetContent(name: string, body: Buffer): string | undefined {
  switch (extname(name)) {
    case '.png':
      return body.subarray(0, 8).equals(PNG) ? undefined : 'This is not a PNG file.';
    case '.ico':
      return body.subarray(0, 4).equals(ICO) || body.subarray(0, 8).equals(PNG)
        ? undefined
        : 'This is not an ICO file.';
    case '.webp':
      return body.toString('latin1', 0, 4) === 'RIFF' && body.toString('latin1', 8, 12) === 'WEBP'
        ? undefined
        : 'This is not a WebP file.';
    case '.svg': {
      const text = body.toString('utf8');
      if (!/<svg[\s>/]/i.test(text)) return 'This is not an SVG file.';
      // Read as an XML parser reads it: character references decoded (`&#x6A;avascript:` is
      // javascript:; `&#160;` and CJK text stay fine). Refused: elements in any namespace prefix
      // (`<x:script xmlns:x="…/svg">` is a script); DTD declarations (an ATTLIST can give every
      // <svg> an `onload`) and DOCTYPE internal subsets, which can spell what the rest would
      // refuse (a plain DOCTYPE, as Illustrator writes, is fine); event handlers, javascript:, and
      // animations that set a link.
      const read = text.replace(/&#(x[0-9a-f]+|\d+);/gi, (ref, n: string) => {
        const code = n[0] === 'x' || n[0] === 'X' ? Number.parseInt(n.slice(1), 16) : Number(n);
        return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : ref;
      });
      if (
        /<([\w.-]+:)?(script|foreignObject|iframe|embed|object|handler)\b|<!(ENTITY|ATTLIST|ELEMENT|NOTATION)\b|\bon[a-z]+\s*=|attributeName\s*=\s*["']?([\w.-]+:)?href/i.test(
          read,
        ) ||
        // Browsers drop tabs and line breaks inside a URL: `java&#9;script:` runs.
        /javascript:/i.test(read.replace(/[\s\0]/g, '')) ||
        // A DOCTYPE with an internal subset (`[` before the root element, however it is quoted).
        (/<!DOCTYPE/i.test(read) && read.slice(0, read.search(/<svg[\s>/]/i)).includes('['))
      )
        return 'SVG files must not contain scripts, event handlers, foreignObject or entity declarations.';
      return undefined;
    }
    case '.css':
    case '.yaml':
      return Buffer.from(body.toString('utf8'), 'utf8').equals(body)
        ? undefined
        : 'The file must be UTF-8 text.';
    default:
      return 'This file type is not allowed.';
  }
}
