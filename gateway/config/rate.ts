import { parseDuration } from './duration.ts';
import type { Rate } from './types.ts';

/** `100/1m`, `10/s`, `5000/1h`: requests per window. */
export const RATE_PATTERN = '^\\s*[1-9]\\d*\\s*/\\s*(\\d+(\\.\\d+)?)?\\s*(ms|s|m|h|d)\\s*$';
const RATE_RE = new RegExp(RATE_PATTERN);

export function parseRate(value: string): Rate {
  if (!RATE_RE.test(value)) throw new Error(`not a rate: ${value}`);
  const [count, per] = value.split('/') as [string, string];
  const window = per.trim();
  return { limit: Number(count.trim()), windowMs: parseDuration(/^\d/.test(window) ? window : `1${window}`) };
}
