import { type Document, isCollection, isMap, isPair, isScalar, type Node, YAMLParseError } from 'yaml';

/**
 * Finds keys repeated within one map, as yaml's `uniqueKeys: true` does, in one pass: yaml's own
 * check compares each new key with every key before it, so a map of 50,000 keys (526 KB, under
 * the admin API's 1 MB body limit) took 18 s of event loop. Here each map keeps a Set of its key
 * values. Two keys are the same when yaml would say so: scalars with the same value (`~` and
 * `null` both read null; `1` and `"1"` differ); collection and alias keys are never compared.
 *
 * Each repeat becomes the error yaml would have raised (DUPLICATE_KEY at the start of the second
 * key), merged into `doc.errors` in source order, so it is reported like any syntax error. At most
 * `limit` are added: past that, the file is refused on what was found.
 */
export function addDuplicateKeyErrors(doc: Document, limit: number): void {
  const found: YAMLParseError[] = [];
  const stack: unknown[] = [doc.contents];
  while (stack.length > 0 && found.length < limit) {
    const node = stack.pop();
    if (!isCollection(node)) continue;
    const seen = isMap(node) ? new Set<unknown>() : undefined;
    for (const item of node.items) {
      if (isPair(item)) {
        const key = item.key as Node | null;
        if (seen && isScalar(key) && !Number.isNaN(key.value)) {
          // NaN !== NaN, so yaml never calls two `.nan` keys the same; a Set would.
          if (seen.has(key.value)) {
            const at = key.range?.[0] ?? 0;
            found.push(new YAMLParseError([at, at + 1], 'DUPLICATE_KEY', 'Map keys must be unique'));
            if (found.length >= limit) break;
          } else seen.add(key.value);
        }
        stack.push(item.key, item.value);
      } else stack.push(item);
    }
  }
  if (found.length === 0) return;
  found.sort((a, b) => a.pos[0] - b.pos[0]);
  const merged: YAMLParseError[] = [];
  let next = 0;
  for (const e of doc.errors) {
    while (next < found.length && found[next]!.pos[0] < e.pos[0]) merged.push(found[next++]!);
    merged.push(e);
  }
  merged.push(...found.slice(next));
  doc.errors.length = 0;
  for (const e of merged) doc.errors.push(e);
}
