/** The request headers wantsDocument reads. */
export const DOCUMENT_VARY = ['Sec-Fetch-Dest', 'Accept'];

/** Adds `names` to the answer's Vary (to its first Vary header, or a new one), unless listed or `*`. */
export function addVary(headers: string[], names: readonly string[]): void {
  let first = -1;
  const listed = new Set<string>();
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i]!.toLowerCase() !== 'vary') continue;
    if (first === -1) first = i + 1;
    for (const token of headers[i + 1]!.split(',')) listed.add(token.trim().toLowerCase());
  }
  if (listed.has('*')) return;
  const missing = names.filter((n) => !listed.has(n.toLowerCase()));
  if (missing.length === 0) return;
  if (first === -1) headers.push('Vary', missing.join(', '));
  else
    headers[first] =
      headers[first]!.trim() === '' ? missing.join(', ') : `${headers[first]}, ${missing.join(', ')}`;
}
