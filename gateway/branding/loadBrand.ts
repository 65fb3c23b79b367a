import { createHash } from 'node:crypto';
import { isNode, LineCounter, type Node, parseDocument } from 'yaml';
import { addDuplicateKeyErrors } from '../config/duplicateKeys.ts';
import { ConfigError, type ConfigProblem } from '../config/loadConfig.ts';
import { describeSchemaError, simplifyErrors } from '../config/schemaErrors.ts';
import { yamlData } from '../config/yamlData.ts';
import type { Lang } from '../pages/negotiate.ts';
import { type BrandAssetSource, type DiskAssetSource, isFileName } from './assetSource.ts';
import { sanitizeBrandHtml } from './sanitize.ts';
import { type BrandColors, type Localised, renderTheme } from './theme.ts';
import { validateBrand } from '../config/validators.generated.cjs';

export type { BrandColors, Localised } from './theme.ts';

export const BRAND_FILE = 'brand.yaml';
export const BRANDING_PATH = '/_portico/branding/';
export const THEME_FILE = 'theme.css';

type LocalisedInput = string | Partial<Record<Lang, string>>;

/** brand.yaml as written (after schema validation). */
export type RawBrand = {
  productName: LocalisedInput;
  logo?: string;
  favicon?: string;
  colors?: { primary?: string; background?: string; header?: string; headerText?: string };
  extraCss?: string;
  footerHtml?: LocalisedInput;
  login?: { title?: LocalisedInput; subtitle?: LocalisedInput; help?: LocalisedInput };
};

/** A file the branding endpoints serve, with its content hash (also its URL segment). */
export type BrandAsset = {
  readonly name: string;
  readonly body: Buffer;
  readonly type: string;
  /** 16 hex characters of the SHA-256 of the body. */
  readonly hash: string;
  /** Strong ETag: `"<hash>"`. */
  readonly etag: string;
  /** `/_portico/branding/<hash>/<name>`: immutable, cached for a year. */
  readonly href: string;
};

/** A loaded, validated brand: everything the pages, the injector and the endpoints need. */
export type Brand = {
  readonly source: string;
  /** Hash of brand.yaml and every file it names: unchanged means nothing to reload. */
  readonly sourceHash: string;
  readonly loadedAt: Date;
  /** Changes whenever anything injected into pages changes (theme, favicon, footer). */
  readonly version: string;
  readonly productName: Localised;
  readonly colors: BrandColors;
  readonly logoHref: string | undefined;
  readonly faviconHref: string | undefined;
  readonly faviconType: string | undefined;
  /** Sanitised HTML; '' when the brand has no footer. */
  readonly footerHtml: Localised;
  readonly login: {
    readonly title: Localised | undefined;
    readonly subtitle: Localised | undefined;
    /** Sanitised HTML. */
    readonly helpHtml: Localised | undefined;
  };
  readonly theme: BrandAsset;
  /** Files by name (logo, favicon, theme.css). */
  readonly assets: ReadonlyMap<string, BrandAsset>;
};

export const DEFAULT_COLORS: BrandColors = {
  primary: '#2563eb',
  background: '#f6f7fb',
  header: '#2563eb',
  headerText: '#ffffff',
};

const CONTENT_TYPES: Record<string, string> = {
  svg: 'image/svg+xml',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  gif: 'image/gif',
  webp: 'image/webp',
  avif: 'image/avif',
  ico: 'image/x-icon',
  css: 'text/css; charset=utf-8',
  woff: 'font/woff',
  woff2: 'font/woff2',
};
const IMAGE = /^image\//;

/** The content type served for a brand file, or undefined when that kind of file is not served. */
export function contentTypeOf(name: string): string | undefined {
  const ext = name.slice(name.lastIndexOf('.') + 1).toLowerCase();
  return Object.hasOwn(CONTENT_TYPES, ext) ? CONTENT_TYPES[ext] : undefined;
}

export function hashOf(body: Buffer | string): string {
  return createHash('sha256').update(body).digest('hex').slice(0, 16);
}

export function makeAsset(name: string, body: Buffer, type: string): BrandAsset {
  const hash = hashOf(body);
  return { name, body, type, hash, etag: `"${hash}"`, href: `${BRANDING_PATH}${hash}/${name}` };
}

// brandSchema compiled ahead of time by `npm run schemas` (gateway/config/validators.generated.cjs).
const validate = validateBrand;

export type ParsedBrand = {
  readonly file: string;
  readonly text: string;
  readonly raw: RawBrand;
  /** Line and column of the value at `path` (or of its closest parent). */
  at(path: (string | number)[]): { line?: number; column?: number };
};

/** Problems listed at most: past them, the file is refused on what was found. */
const BRAND_MAX_PROBLEMS = 100;

/** Parses and validates brand.yaml; throws ConfigError with every problem and its line. */
export function parseBrandText(text: string, file = BRAND_FILE): ParsedBrand {
  const lineCounter = new LineCounter();
  // As routes.yaml: yaml's own uniqueKeys check is quadratic in a map's size, and brand.yaml can
  // arrive through the admin API (a brand key); duplicates are found in one pass instead.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: false });
  addDuplicateKeyErrors(doc, BRAND_MAX_PROBLEMS);
  const pos = (offset: number) => {
    const { line, col } = lineCounter.linePos(offset);
    return { line, column: col };
  };
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors
        .slice(0, BRAND_MAX_PROBLEMS)
        .map((e) => ({ path: '', ...pos(e.pos[0]), message: e.message.split('\n')[0]! })),
    );
  }
  const at = (path: (string | number)[]) => {
    for (let n = path.length; n >= 0; n--) {
      const node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n), true);
      if (isNode(node) && (node as Node).range) return pos((node as Node).range![0]);
    }
    return {};
  };
  const data = yamlData(doc, lineCounter);
  if (!data.ok) throw new ConfigError(file, [data.problem]);
  const raw = (data.data ?? {}) as RawBrand;
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError(file, [{ path: '', ...at([]), message: 'must be a mapping of settings' }]);
  }
  if (!validate(raw)) {
    const problems: ConfigProblem[] = [];
    for (const e of simplifyErrors(validate.errors ?? [])) {
      // at() walks the document for each problem: past the cap, the rest are not placed.
      if (problems.length >= BRAND_MAX_PROBLEMS) break;
      const path = e.instancePath
        .split('/')
        .slice(1)
        .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
      const key = (e.params as { additionalProperty?: string }).additionalProperty;
      const full = key ? [...path, key] : path;
      problems.push({ path: full.join('.'), ...at(full), message: describeSchemaError(e) });
    }
    throw new ConfigError(file, problems);
  }
  return { file, text, raw, at };
}

/** The files brand.yaml names (those that are not URLs). */
export function brandFiles(raw: RawBrand): string[] {
  return [raw.logo, raw.favicon, raw.extraCss].filter(
    (v): v is string => typeof v === 'string' && !/^https?:/.test(v),
  );
}

/** Builds the brand from validated settings and the bytes of the files it names. */
export function compileBrand(
  parsed: ParsedBrand,
  files: ReadonlyMap<string, Buffer | undefined>,
  source = parsed.file,
): Brand {
  const { raw } = parsed;
  const problems: ConfigProblem[] = [];
  const assets = new Map<string, BrandAsset>();
  const resolveFile = (
    key: 'logo' | 'favicon' | 'extraCss',
    image: boolean,
  ): BrandAsset | string | undefined => {
    const value = raw[key];
    if (value === undefined) return undefined;
    if (/^https?:/.test(value)) return value;
    const type = contentTypeOf(value);
    const body = files.get(value);
    if (!isFileName(value) || !type || (image && !IMAGE.test(type))) {
      problems.push({
        path: key,
        ...parsed.at([key]),
        message: `"${value}" must be ${image ? 'an image (.svg, .png, .jpg, .gif, .webp, .ico, .avif)' : 'a .css file'}`,
      });
      return undefined;
    }
    if (body === undefined) {
      problems.push({ path: key, ...parsed.at([key]), message: `there is no file "${value}" in ${source}` });
      return undefined;
    }
    const asset = makeAsset(value, body, type);
    if (image) assets.set(value, asset);
    return asset;
  };
  const logo = resolveFile('logo', true);
  const favicon = resolveFile('favicon', true);
  const extraCss = resolveFile('extraCss', false);
  if (problems.length > 0) throw new ConfigError(parsed.file, problems);

  const c = raw.colors ?? {};
  const primary = c.primary ?? DEFAULT_COLORS.primary;
  const colors: BrandColors = {
    primary,
    background: c.background ?? DEFAULT_COLORS.background,
    header: c.header ?? primary,
    headerText: c.headerText ?? DEFAULT_COLORS.headerText,
  };
  const productName = localise(raw.productName)!;
  const logoHref = typeof logo === 'string' ? logo : logo?.href;
  const css = renderTheme({
    productName,
    colors,
    logoHref,
    extraCss: typeof extraCss === 'object' ? extraCss.body.toString('utf8') : '',
  });
  const theme = makeAsset(THEME_FILE, Buffer.from(css), 'text/css; charset=utf-8');
  assets.set(THEME_FILE, theme);
  const footerHtml = sanitisedOnFirstRead(raw.footerHtml) ?? { 'zh-CN': '', 'en-US': '' };
  const faviconHref = typeof favicon === 'string' ? favicon : favicon?.href;
  const faviconType =
    typeof favicon === 'object'
      ? favicon.type
      : favicon
        ? contentTypeOf(new URL(favicon).pathname)
        : undefined;
  const sourceHash = hashOf(
    [parsed.text, ...[...files].map(([name, body]) => `${name}:${body ? hashOf(body) : '-'}`)].join('\n'),
  );
  return {
    source,
    sourceHash,
    loadedAt: new Date(),
    // The footer as written: the same text always sanitises to the same HTML.
    version: hashOf(JSON.stringify([theme.hash, faviconHref, localise(raw.footerHtml)])).slice(0, 10),
    productName,
    colors,
    logoHref,
    faviconHref,
    faviconType,
    footerHtml,
    login: {
      title: localise(raw.login?.title),
      subtitle: localise(raw.login?.subtitle),
      helpHtml: sanitisedOnFirstRead(raw.login?.help),
    },
    theme,
    assets,
  };
}

/** Loads brand.yaml and its files from any source (disk, S3, …). */
export async function loadBrand(source: BrandAssetSource): Promise<Brand> {
  const text = await readBrandFile(source);
  const parsed = parseBrandText(text, `${source.label}/${BRAND_FILE}`);
  const files = new Map<string, Buffer | undefined>();
  await Promise.all(brandFiles(parsed.raw).map(async (name) => files.set(name, await source.get(name))));
  return compileBrand(parsed, files, source.label);
}

/** The same from disk, synchronously: a broken brand stops the gateway from starting. */
export function loadBrandSync(source: DiskAssetSource): Brand {
  let body: Buffer | undefined;
  try {
    body = source.getSync(BRAND_FILE);
  } catch (err) {
    throw new ConfigError(`${source.label}/${BRAND_FILE}`, [
      { path: '', message: `cannot read the file: ${(err as Error).message}` },
    ]);
  }
  if (!body) throw missing(source);
  const parsed = parseBrandText(body.toString('utf8'), `${source.label}/${BRAND_FILE}`);
  const files = new Map<string, Buffer | undefined>();
  for (const name of brandFiles(parsed.raw)) files.set(name, source.getSync(name));
  return compileBrand(parsed, files, source.label);
}

async function readBrandFile(source: BrandAssetSource): Promise<string> {
  let body: Buffer | undefined;
  try {
    body = await source.get(BRAND_FILE);
  } catch (err) {
    throw new ConfigError(`${source.label}/${BRAND_FILE}`, [
      { path: '', message: `cannot read the file: ${(err as Error).message}` },
    ]);
  }
  if (!body) throw missing(source);
  return body.toString('utf8');
}

function missing(source: BrandAssetSource): ConfigError {
  return new ConfigError(`${source.label}/${BRAND_FILE}`, [{ path: '', message: 'the file does not exist' }]);
}

/**
 * Brand HTML, sanitised when first read: sanitize-html and its parsers cost ~11 MB of RSS and
 * ~60 ms to load, and a pure proxy shows the footer only on an error page, if ever. Routes with
 * `branding: true` and sign-in pages read it up front (see brandingFeature.ts), off the hot path.
 */
function sanitisedOnFirstRead(value: LocalisedInput | undefined): Localised | undefined {
  const written = localise(value);
  if (written === undefined) return undefined;
  const clean: Partial<Record<Lang, string>> = {};
  const read = (lang: Lang) => (clean[lang] ??= sanitizeBrandHtml(written[lang]));
  return Object.defineProperties({} as Localised, {
    'zh-CN': { enumerable: true, get: () => read('zh-CN') },
    'en-US': { enumerable: true, get: () => read('en-US') },
  });
}

/** A text in both languages: a plain string is used for both, a missing language takes the other. */
export function localise(
  value: LocalisedInput | undefined,
  transform: (s: string) => string = (s) => s,
): Localised | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'string') {
    const v = transform(value);
    return { 'zh-CN': v, 'en-US': v };
  }
  const zh = value['zh-CN'] ?? value['en-US'] ?? '';
  const en = value['en-US'] ?? value['zh-CN'] ?? '';
  return { 'zh-CN': transform(zh), 'en-US': transform(en) };
}
