/** JSON schema of branding/brand.yaml (validated with ajv; errors carry the YAML line). */

/** CSS colours that are safe to paste into a stylesheet: hex, a name, or rgb()/hsl() with plain numbers. */
export const CSS_COLOR =
  '^(#[0-9a-fA-F]{3,4}|#[0-9a-fA-F]{6}|#[0-9a-fA-F]{8}|[a-zA-Z]{3,30}|(rgb|rgba|hsl|hsla)\\([0-9.,%\\s/deg]+\\))$';

const localised = {
  anyOf: [
    { type: 'string' },
    {
      type: 'object',
      additionalProperties: false,
      minProperties: 1,
      properties: { 'zh-CN': { type: 'string' }, 'en-US': { type: 'string' } },
    },
  ],
  'x-hint': 'a string, or { zh-CN: …, en-US: … }',
};

const color = {
  type: 'string',
  pattern: CSS_COLOR,
  'x-hint': 'a CSS colour such as #0a5cd8, rgb(10 92 216) or a colour name',
};

const fileName = {
  type: 'string',
  pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$',
  'x-hint': 'a file name in the branding folder (no folders)',
};

const fileOrUrl = {
  type: 'string',
  pattern: '^([A-Za-z0-9][A-Za-z0-9._-]{0,127}|https?://[^\\s"\'()<>\\\\]+)$',
  'x-hint': 'a file name in the branding folder or an http(s) URL',
};

export const brandSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['productName'],
  properties: {
    productName: localised,
    logo: fileOrUrl,
    favicon: fileOrUrl,
    colors: {
      type: 'object',
      additionalProperties: false,
      properties: {
        primary: color,
        background: color,
        /** Background of the product header (.ghippo-header); the primary colour by default. */
        header: color,
        /** Text on the header; white by default. */
        headerText: color,
      },
    },
    extraCss: {
      ...fileName,
      pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,123}\\.css$',
      'x-hint': 'a .css file in the branding folder',
    },
    footerHtml: localised,
    login: {
      type: 'object',
      additionalProperties: false,
      properties: { title: localised, subtitle: localised, help: localised },
    },
  },
};
