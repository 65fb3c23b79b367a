import { defaultPageBrand, type PageBrand, pageBrand } from '../pages/brandSource.ts';
import type { Brand } from './loadBrand.ts';

let current: Brand | undefined;

/**
 * The brand in force, set by the branding feature at start and on every good reload. The injector
 * and the endpoints read it per request, so a reload applies to the next request without a restart.
 */
export const currentBrand = {
  get: (): Brand | undefined => current,
  set(brand: Brand | undefined): void {
    current = brand;
    pageBrand.set(brand ? toPageBrand(brand) : defaultPageBrand);
  },
};

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
