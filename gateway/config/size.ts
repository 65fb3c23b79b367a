const UNIT_BYTES: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };
/** `512k`, `100m`, `10g` (nginx's units, powers of 1024; `mb` spelled out too), or bytes. */
export const SIZE_PATTERN = '^\\s*\\d+(\\.\\d+)?\\s*([kKmMgGtT][bB]?|[bB])?\\s*$';
const SIZE_RE = new RegExp(SIZE_PATTERN);

/** A size as routes.yaml writes it → bytes; a bare number is bytes, as nginx reads `1024`. */
export function parseSize(value: string | number): number {
  if (typeof value === 'number') return Math.floor(value);
  if (!SIZE_RE.test(value)) throw new Error(`not a size: ${value}`);
  const unit = value
    .trim()
    .replace(/^[\d.\s]+/, '')
    .toLowerCase()
    .replace(/^([kmgt])b$/, '$1');
  return Math.floor(Number.parseFloat(value) * UNIT_BYTES[unit]!);
}
