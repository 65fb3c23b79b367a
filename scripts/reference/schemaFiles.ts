import { brandSchema } from '../../gateway/branding/brandSchema.ts';
import { BRAND_DOCS } from '../../gateway/branding/brandDocs.ts';
import { CONFIG_DOCS } from '../../gateway/config/configDocs.ts';
import { configSchema } from '../../gateway/config/schema.ts';
import { publishSchema } from './publishSchema.ts';
import type { SchemaNode } from './schemaKeys.ts';
import { validatorCode } from './validatorCode.ts';

/**
 * The published JSON Schemas and the validators the gateway runs, by their path in the repository
 * (what `npm run schemas` writes).
 */
export function schemaFiles(): Record<string, string> {
  const routes = publishSchema(configSchema as unknown as SchemaNode, {
    title: 'Portico routes.yaml',
    description:
      'The gateway configuration: listeners, sign-in, routes and operations. Generated from gateway/config/schema.ts by `npm run schemas`; see docs/configuration.md.',
    docs: CONFIG_DOCS,
    variables: true,
  });
  const brand = publishSchema(brandSchema as unknown as SchemaNode, {
    title: 'Portico branding/brand.yaml',
    description:
      'The appearance of Portico’s pages and of the products behind it. Generated from gateway/branding/brandSchema.ts by `npm run schemas`.',
    docs: BRAND_DOCS,
    variables: false,
  });
  return {
    'schemas/routes.schema.json': `${JSON.stringify(routes, null, 2)}\n`,
    'schemas/brand.schema.json': `${JSON.stringify(brand, null, 2)}\n`,
    'gateway/config/validators.generated.cjs': validatorCode(),
  };
}
