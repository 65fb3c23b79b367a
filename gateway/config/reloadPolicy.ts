import type { RawConfig } from './types.ts';

/**
 * Which keys a reload applies and which need a restart. Everything not listed here applies on
 * the next request after a good reload. These are read once, when the gateway starts (a listening
 * socket, the session store, the server's limits): a reload that changes one keeps the running
 * value, and says so by name in the log, the reload event and the admin API's deploy answer.
 */
export const RESTART_ONLY: readonly (readonly string[])[] = [
  ['listen'],
  ['session'],
  // The HTTP server's own limits; maxBodySize and maxUrlLength are read per request and apply on reload.
  ['limits', 'headersTimeout'],
  ['limits', 'requestTimeout'],
  ['limits', 'maxHeaderSize'],
  ['identity', 'jwt', 'keys'],
  ['metrics', 'listen'],
  ['admin', 'listen'],
  ['storage', 'cacheDir'],
  ['storage', 'spoolDir'],
  ['logging', 'accessLogFlush'],
  // The logger is made once, at start: a reload sets only its level.
  ['logging', 'format'],
];

type Loose = Record<string, unknown>;

function get(raw: unknown, path: readonly string[]): unknown {
  let v: unknown = raw;
  for (const k of path) v = v && typeof v === 'object' ? (v as Loose)[k] : undefined;
  return v;
}

/** The restart-only keys whose value differs between the running and the new file, dotted. */
export function restartNeeded(running: RawConfig, next: RawConfig): string[] {
  return RESTART_ONLY.filter((p) => JSON.stringify(get(running, p)) !== JSON.stringify(get(next, p))).map(
    (p) => p.join('.'),
  );
}

/** The new file with the running values of its restart-only keys: what the gateway really runs. */
export function withRunningValues(running: RawConfig, next: RawConfig): RawConfig {
  const out = structuredClone(next) as Loose;
  for (const path of RESTART_ONLY) {
    const value = get(running, path);
    let target: Loose | undefined = out;
    for (const k of path.slice(0, -1)) {
      // A section absent from the new file is only created to hold a running value.
      if ((target[k] === undefined || typeof target[k] !== 'object') && value !== undefined) target[k] = {};
      target = target[k] as Loose | undefined;
      if (!target) break;
    }
    if (!target) continue;
    const last = path[path.length - 1]!;
    if (value === undefined) delete target[last];
    else target[last] = structuredClone(value);
  }
  return out as RawConfig;
}
