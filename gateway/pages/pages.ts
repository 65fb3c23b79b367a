import { defaultPageBrand, type PageBrand } from './brandSource.ts';
import { type PageOptions, renderPage } from './renderPage.ts';

export type Pages = {
  /** The brand Portico's own pages use now (the branding feature sets it; Portico's default otherwise). */
  brand(): PageBrand;
  setBrand(brand: PageBrand | undefined): void;
  render(o: PageOptions): string;
};

/** Portico's own pages of one gateway: the brand they wear is this gateway's, nobody else's. */
export function createPages(): Pages {
  let current: PageBrand = defaultPageBrand;
  return {
    brand: () => current,
    setBrand(brand) {
      current = brand ?? defaultPageBrand;
    },
    render: (o) => renderPage(o, current),
  };
}
