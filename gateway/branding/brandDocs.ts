import type { KeyDoc } from '../config/configDocs.ts';

/** What each branding/brand.yaml key means (see gateway/config/configDocs.ts for how these are used). */
export const BRAND_DOCS: Record<string, KeyDoc> = {
  productName: {
    description: 'The product name on Portico’s pages and in page titles: a string or `{ zh-CN, en-US }`.',
  },
  logo: { description: 'The logo: a file in the branding folder or an http(s) URL.' },
  favicon: { description: 'The favicon: a file in the branding folder or an http(s) URL.' },
  colors: {
    description: 'Colours of Portico’s pages and of the products’ headers (DCE 5’s `.ghippo-header`).',
  },
  'colors.primary': {
    description: 'Buttons, links, focus rings, the active menu entry.',
    default: '#2563eb',
  },
  'colors.background': { description: 'The background of Portico’s own pages.', default: '#f6f7fb' },
  'colors.header': { description: 'The background of the product header (default: the primary colour).' },
  'colors.headerText': { description: 'Text on the header.', default: '#ffffff' },
  extraCss: { description: 'A .css file in the branding folder, added after the theme.' },
  footerHtml: {
    description:
      'The footer (sanitised HTML: links and text formatting only): a string or `{ zh-CN, en-US }`.',
  },
  login: { description: 'Texts of the login chooser and the directory sign-in form.' },
  'login.title': { description: 'The chooser’s title.' },
  'login.subtitle': { description: 'The line under the title.' },
  'login.help': {
    description:
      'Sanitised HTML under the chooser and the sign-in form, e.g. whom to call when sign-in fails.',
  },
};
