/**
 * Every key a config schema declares, with its path: `routes[].timeouts.connect`, a map's entries as
 * `health.path.<name>`, and the keys of one kind of identity provider as `identityProviders[ldap].url`
 * (the `type`-discriminated `if`/`then` rules of the schema). The published JSON Schemas and the
 * configuration reference are both made from this walk, so they list the same keys as the code.
 */
export type SchemaNode = Record<string, unknown>;
export type SchemaKey = {
  path: string;
  /** The same path with every `[variant]` written `[]`: where shared descriptions live. */
  generic: string;
  node: SchemaNode;
  required: boolean;
  /** The `type` value of the variant this key belongs to (`ldap`), if any. */
  variant?: string;
};

const isNode = (v: unknown): v is SchemaNode => typeof v === 'object' && v !== null && !Array.isArray(v);
const LANGUAGE_TAG = /^[a-z]{2}-[A-Z]{2}$/;

export function schemaKeys(schema: SchemaNode): SchemaKey[] {
  const out: SchemaKey[] = [];
  walk(schema, '', out, undefined);
  return out;
}

function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

export function genericPath(path: string): string {
  return path.replace(/\[[^\]]+\]/g, '[]');
}

/** The `type` a `{ if: { properties: { type: { const } } }, then }` rule selects, if it is one. */
export function variantOf(rule: unknown): string | undefined {
  if (!isNode(rule) || !isNode(rule.if) || !isNode(rule.if.properties)) return undefined;
  const type = rule.if.properties.type;
  return isNode(type) && typeof type.const === 'string' ? type.const : undefined;
}

function walk(node: SchemaNode, path: string, out: SchemaKey[], variant: string | undefined): void {
  const required = Array.isArray(node.required) ? (node.required as string[]) : [];
  if (isNode(node.properties))
    for (const [key, child] of Object.entries(node.properties)) {
      if (!isNode(child)) continue; // `key: true` in a variant: declared by the shared properties
      const p = join(path, key);
      out.push({ path: p, generic: genericPath(p), node: child, required: required.includes(key), variant });
      walk(child, p, out, variant);
    }
  if (isNode(node.items)) walk(node.items, `${path}[]`, out, variant);
  if (
    isNode(node.additionalProperties) &&
    (node.additionalProperties.properties || node.additionalProperties.items)
  ) {
    const p = join(path, '<name>');
    walk(node.additionalProperties, p, out, variant);
  }
  // An object form among alternatives (`tls: true` or `tls: { ca, … }`) has keys of its own; the
  // `{ zh-CN, en-US }` form of a text does not need a row per language.
  if (Array.isArray(node.anyOf))
    for (const branch of node.anyOf)
      if (
        isNode(branch) &&
        isNode(branch.properties) &&
        !Object.keys(branch.properties).every((k) => LANGUAGE_TAG.test(k))
      )
        walk(branch, path, out, variant);
  // A form picked by its JSON type (`servers: [a URL, or { url, weight }]`): the object form's keys.
  if (isNode(node.if) && variantOf(node) === undefined)
    for (const branch of [node.then, node.else])
      if (isNode(branch) && isNode(branch.properties)) walk(branch, path, out, variant);
  if (Array.isArray(node.allOf))
    for (const rule of node.allOf) {
      const type = variantOf(rule);
      if (type === undefined || !isNode((rule as SchemaNode).then)) continue;
      const base = path.endsWith('[]') ? `${path.slice(0, -2)}[${type}]` : path;
      walk((rule as SchemaNode).then as SchemaNode, base, out, type);
    }
}
