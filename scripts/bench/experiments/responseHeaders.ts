// EXPERIMENT helper: an undici response header object as a flat [name, value, ...] list for
// writeHead, less hop-by-hop headers.
export function responseHeaders(h: Record<string, string | string[] | undefined>): string[] {
  const out: string[] = [];
  for (const name in h) {
    if (name === 'connection' || name === 'keep-alive' || name === 'transfer-encoding') continue;
    const v = h[name];
    if (Array.isArray(v)) for (const x of v) out.push(name, x);
    else if (v !== undefined) out.push(name, v);
  }
  return out;
}
