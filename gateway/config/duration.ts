const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
export const DURATION_PATTERN = '^\\s*\\d+(\\.\\d+)?\\s*(ms|s|m|h|d)\\s*$';
const DURATION_RE = new RegExp(DURATION_PATTERN);

/** `300s`, `5m`, `8h` → milliseconds; a bare number means seconds, as nginx reads `300`. */
export function parseDuration(value: string | number): number {
  if (typeof value === 'number') return Math.round(value * 1000);
  const m = DURATION_RE.exec(value);
  if (!m) throw new Error(`not a duration: ${value}`);
  const unit = value.trim().replace(/^[\d.\s]+/, '');
  return Math.round(Number.parseFloat(value) * UNIT_MS[unit]!);
}
