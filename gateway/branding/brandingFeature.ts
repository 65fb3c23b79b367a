import type { IncomingMessage } from 'node:http';
import type { NextFunction, Request, Response, Router } from 'express';
import { ConfigError, type ConfigProblem } from '../config/loadConfig.ts';
import type { Identity } from '../context.ts';
import { expressLibrary } from '../endpoints/expressLibrary.ts';
import { routerOnFirstRequest } from '../endpoints/routerOnFirstRequest.ts';
import type { FeatureFactory } from '../server.ts';
import { type BrandAssetSource, type DiskAssetSource, diskAssetSource, isFileName } from './assetSource.ts';
import type { PageBrand } from '../pages/brandSource.ts';
import { applyBranding, brandResponse } from './applyBranding.ts';
import {
  BRAND_FILE,
  type Brand,
  type BrandAsset,
  contentTypeOf,
  loadBrand,
  loadBrandSync,
  makeAsset,
} from './loadBrand.ts';
import { etagMatches, type GetIdentity, navRouter } from './nav.ts';

export type BrandingOptions = {
  /** The branding folder (brand.yaml and its files). */
  dir: string;
  /** Where the files live; the folder on disk by default (plug S3 in here). */
  source?: BrandAssetSource;
  /** Who is asking, for nav.json's per-user filtering; anonymous by default. */
  getIdentity?: (req: IncomingMessage) => Promise<Identity | undefined>;
  /** Reload when the files change (default true). */
  watch?: boolean;
};

/** What the branding feature offers through `gateway.feature('branding').exports`. */
export type BrandingExports = { brand(): Brand | undefined };

export type BrandReloadResult = { ok: true; brand: Brand } | { ok: false; error: ConfigError };

/**
 * Appearance: loads branding/brand.yaml (a broken one stops the start, like routes.yaml; on a
 * reload it is logged and the last good brand keeps serving), hot-reloads it, serves
 * /_portico/branding/* and /_portico/nav.{json,js}, and gives Portico's own pages the brand.
 * The injection into upstream pages is the applyBranding stage, which reads the same brand.
 */
export function brandingFeature(options: BrandingOptions): FeatureFactory {
  return (fctx) => {
    const source = options.source ?? diskAssetSource(options.dir);
    let brand: Brand | undefined;
    let lastError: ConfigError | undefined;
    // The brand's HTML is sanitised on first read; where it shows on proxied pages or sign-in
    // pages it is read now, so no request waits for the sanitiser to load.
    const readHtmlIfUsed = () => {
      const c = fctx.config();
      if (brand && (c.routes.some((r) => r.branding) || c.identityProviders.length > 0)) readHtml(brand);
    };
    const activate = (next: Brand) => {
      brand = next;
      lastError = undefined;
      fctx.services.pages.setBrand(toPageBrand(next));
      readHtmlIfUsed();
    };
    const stopListening = fctx.events.on('configReload', (e) => {
      if (e.ok) readHtmlIfUsed();
    });
    if (!options.source) activate(loadBrandSync(source as DiskAssetSource));

    const reloadOnce = async (): Promise<BrandReloadResult> => {
      try {
        const next = await loadBrand(source);
        if (brand && brand.sourceHash === next.sourceHash) return { ok: true, brand };
        activate(next);
        fctx.log.info({ source: source.label, version: next.version }, 'brand reloaded');
        return { ok: true, brand: next };
      } catch (err) {
        const error =
          err instanceof ConfigError
            ? err
            : new ConfigError(`${source.label}/${BRAND_FILE}`, [{ path: '', message: String(err) }]);
        lastError = error;
        fctx.log.error(
          { file: error.file, problems: error.problems },
          brand ? 'brand rejected, the last good brand keeps serving' : 'brand rejected',
        );
        return { ok: false, error };
      }
    };
    // One load at a time, in order: a slow older read never overwrites a newer brand.
    let chain: Promise<unknown> = Promise.resolve();
    const reload = (): Promise<BrandReloadResult> => {
      const next = chain.then(reloadOnce);
      chain = next;
      return next;
    };
    if (options.source) void reload();

    const stopWatching =
      options.watch !== false && source.watch
        ? source.watch(
            () => void reload(),
            (err) => fctx.log.warn({ err }, 'branding watch failed'),
          )
        : undefined;

    const getIdentity: GetIdentity = options.getIdentity ?? fctx.identityOf;
    const exports: BrandingExports = { brand: () => brand };
    return {
      name: 'branding',
      exports,
      routers: [
        routerOnFirstRequest(() => brandingRouter(() => brand, source)),
        routerOnFirstRequest(() => navRouter(getIdentity, fctx.config, () => brand)),
      ],
      stages: {
        beforeForward: [{ http: () => applyBranding(() => brand) }],
        response: [() => brandResponse(() => brand)],
      },
      readiness: async () => ({
        ok: brand !== undefined,
        version: brand?.version,
        // The folder's path stays out of a public answer; a bucket prefix says where to look. So do
        // the problems' messages (they name files by their full path): where each is, in the file,
        // and the log has the rest.
        source: source.label.startsWith('storage:') ? source.label : 'folder',
        ...(lastError ? { lastError: publicProblems(lastError) } : {}),
      }),
      close: async () => {
        stopListening();
        stopWatching?.();
        fctx.services.pages.setBrand(undefined);
      },
    };
  };
}

/** A rejected brand as /_portico/readyz shows it: the file and where each problem is, no message. */
function publicProblems(error: ConfigError): { file: string; problems: Omit<ConfigProblem, 'message'>[] } {
  return {
    file: BRAND_FILE,
    problems: error.problems.map(({ path, line, column }) => ({ path, line, column })),
  };
}

function readHtml(brand: Brand): void {
  for (const html of [brand.footerHtml, brand.login.helpHtml]) {
    void html?.['zh-CN'];
    void html?.['en-US'];
  }
}

const SVG_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox";

/**
 * `/_portico/branding/<hash>/<name>`: cached for a year when `<hash>` is the file's own hash (the
 * URLs pages get), else revalidated; `/_portico/branding/<name>`: always revalidated (ETag/304).
 * theme.css is the generated stylesheet; other names are files of the branding folder (images,
 * fonts, CSS that extraCss refers to with relative URLs).
 */
export function brandingRouter(brand: () => Brand | undefined, source: BrandAssetSource): Router {
  const router = expressLibrary().Router();
  const serve = async (req: Request, res: Response, next: NextFunction, hash: string | undefined) => {
    try {
      const b = brand();
      const name = String(req.params.name);
      if (!b || !isFileName(name) || name === BRAND_FILE) return next();
      let asset: BrandAsset | undefined = b.assets.get(name);
      if (!asset) {
        const type = contentTypeOf(name);
        const body = type ? await source.get(name, { visitor: true }) : undefined;
        if (!type || !body) return next();
        asset = makeAsset(name, body, type);
      }
      res.set({
        'content-type': asset.type,
        etag: asset.etag,
        'cache-control': hash === asset.hash ? 'public, max-age=31536000, immutable' : 'no-cache',
        'x-content-type-options': 'nosniff',
      });
      if (asset.type.startsWith('image/svg')) res.set('content-security-policy', SVG_CSP);
      if (etagMatches(req.headers['if-none-match'], asset.etag)) {
        res.status(304).end();
        return;
      }
      res.status(200).set('content-length', String(asset.body.length));
      res.end(req.method === 'HEAD' ? undefined : asset.body);
    } catch (err) {
      next(err);
    }
  };
  router.get('/branding/:hash/:name', (req, res, next) => serve(req, res, next, String(req.params.hash)));
  router.get('/branding/:name', (req, res, next) => serve(req, res, next, undefined));
  return router;
}

/** What Portico's own pages (login chooser, logged out, errors) take from the brand. */
export function toPageBrand(brand: Brand): PageBrand {
  return {
    productName: (lang) => brand.productName[lang],
    stylesheetHref: brand.theme.href,
    faviconHref: brand.faviconHref,
    logoHref: brand.logoHref,
    footerHtml: (lang) => brand.footerHtml[lang],
    primaryColor: brand.colors.primary,
    backgroundColor: brand.colors.background,
    login: (lang) => ({
      title: brand.login.title?.[lang],
      subtitle: brand.login.subtitle?.[lang],
      helpHtml: brand.login.helpHtml?.[lang] ?? '',
    }),
  };
}
