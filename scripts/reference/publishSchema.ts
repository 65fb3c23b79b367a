import type { KeyDoc } from '../../gateway/config/configDocs.ts';
import { genericPath, type SchemaNode, variantOf } from './schemaKeys.ts';

/** A value written as an environment variable: Portico replaces it when it loads the file. */
const VARIABLE = {
  type: 'string',
  pattern: '\\$\\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\\}',
  description: 'An environment variable (${NAME} or ${NAME:-default}), replaced when Portico loads the file.',
} as const;

export type PublishOptions = {
  title: string;
  description: string;
  docs: Record<string, KeyDoc>;
  /** routes.yaml takes `${VARS}` anywhere a value goes; brand.yaml does not. */
  variables: boolean;
};

const isNode = (v: unknown): v is SchemaNode => typeof v === 'object' && v !== null && !Array.isArray(v);
const SCALAR_TYPES = new Set(['string', 'number', 'integer', 'boolean']);

/**
 * The JSON Schema editors read (yaml-language-server: validation, completion, hover): the code's
 * schema with each key's description and default (from the docs), its `x-hint` (Portico's error
 * wording) turned into text, and, where the file takes `${VARS}`, every value allowed to be one.
 */
export function publishSchema(schema: SchemaNode, options: PublishOptions): SchemaNode {
  const body = copy(schema, '', options, { described: false, inCondition: false }) as SchemaNode;
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    title: options.title,
    description: options.description,
    ...body,
    ...(options.variables ? { definitions: { variable: VARIABLE } } : {}),
  };
}

type Place = { described: boolean; inCondition: boolean };

function lookup(docs: Record<string, KeyDoc>, path: string): KeyDoc | undefined {
  return docs[path] ?? docs[genericPath(path)];
}

function copy(node: unknown, path: string, o: PublishOptions, place: Place): unknown {
  if (Array.isArray(node)) return node.map((n) => copy(n, path, o, place));
  if (!isNode(node)) return node;
  const out: SchemaNode = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === 'x-hint') continue;
    if (key === 'properties' && isNode(value)) {
      out.properties = Object.fromEntries(
        Object.entries(value).map(([k, child]) => [k, keyNode(child, join(path, k), o, place)]),
      );
    } else if (key === 'items')
      out.items = orVariable(value, copy(value, `${path}[]`, o, { ...place, described: false }), o, place);
    else if (key === 'additionalProperties' && isNode(value))
      out.additionalProperties = orVariable(
        value,
        copy(value, join(path, '<name>'), o, { ...place, described: false }),
        o,
        place,
      );
    else if (key === 'allOf' && Array.isArray(value))
      out.allOf = value.map((rule) => {
        const type = variantOf(rule);
        if (type === undefined || !isNode(rule)) return copy(rule, path, o, place);
        const base = path.endsWith('[]') ? `${path.slice(0, -2)}[${type}]` : path;
        return {
          if: copy(rule.if, path, o, { ...place, inCondition: true }),
          then: copy(rule.then, base, o, place),
        };
      });
    else if (key === 'if' || key === 'not') out[key] = copy(value, path, o, { ...place, inCondition: true });
    else out[key] = copy(value, path, o, place);
  }
  const hint = node['x-hint'];
  if (typeof hint === 'string' && !place.described && out.description === undefined)
    out.description = `${hint[0]!.toUpperCase()}${hint.slice(1)}.`;
  return out;
}

/** A key's own schema: its description and default, and (with variables) `${VAR}` allowed. */
function keyNode(child: unknown, path: string, o: PublishOptions, place: Place): unknown {
  if (!isNode(child) || place.inCondition) return copy(child, path, o, place);
  const doc = lookup(o.docs, path);
  const hint = typeof child['x-hint'] === 'string' ? child['x-hint'] : undefined;
  const inner = copy(child, path, o, { ...place, described: true }) as SchemaNode;
  // Portico's own wording of the form (`x-hint`) speaks in its error messages; the key's
  // description says what it is for.
  const description = doc?.description ?? (hint ? `${hint[0]!.toUpperCase()}${hint.slice(1)}.` : undefined);
  const annotations: SchemaNode = {
    ...(description ? { description } : {}),
    ...(doc && 'default' in doc ? { default: doc.default } : {}),
  };
  if (o.variables && takesString(child))
    return { ...annotations, anyOf: [inner, { $ref: '#/definitions/variable' }] };
  return { ...annotations, ...inner };
}

/** A list entry or a map value may be a variable too (`redirectUris: ["${PUBLIC_URL}/cb"]`). */
function orVariable(original: unknown, copied: unknown, o: PublishOptions, place: Place): unknown {
  if (!o.variables || place.inCondition || !isNode(original) || !takesString(original)) return copied;
  return { anyOf: [copied, { $ref: '#/definitions/variable' }] };
}

/** Whether a value here may be written as a string (a scalar, or alternatives that include one). */
function takesString(node: SchemaNode): boolean {
  if (typeof node.type === 'string') return SCALAR_TYPES.has(node.type);
  if (Array.isArray(node.enum) || 'const' in node) return true;
  if (Array.isArray(node.anyOf)) return node.anyOf.some((b) => isNode(b) && takesString(b));
  // A form picked by its JSON type (`if: { type: string }, then: …, else: …`).
  if (isNode(node.if)) return [node.then, node.else].some((b) => isNode(b) && takesString(b));
  return false;
}

function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}
