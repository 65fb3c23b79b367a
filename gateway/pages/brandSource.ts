import type { Lang } from './negotiate.ts';

/** What a page needs from the brand. The branding feature gives the gateway's Pages its brand. */
export type PageBrand = {
  productName(lang: Lang): string;
  stylesheetHref: string | undefined;
  faviconHref: string | undefined;
  logoHref: string | undefined;
  footerHtml(lang: Lang): string;
  primaryColor: string;
  backgroundColor: string;
  /** Login-page texts from brand.yaml (`login.title`, `subtitle`, `help`); helpHtml is sanitised HTML. */
  login?: (lang: Lang) => { title: string | undefined; subtitle: string | undefined; helpHtml: string };
};

export const defaultPageBrand: PageBrand = {
  productName: () => 'Portico',
  stylesheetHref: undefined,
  faviconHref: undefined,
  logoHref: undefined,
  footerHtml: () => '',
  primaryColor: '#2563eb',
  backgroundColor: '#f6f7fb',
};
