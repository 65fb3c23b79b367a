import { type Document, isPair, isScalar, isSeq, type LineCounter, visit } from 'yaml';
import type { ConfigProblem } from './loadConfig.ts';

/**
 * How many alias uses a file may expand (yaml counts each use times the aliases inside what it
 * points to). A hand-written config uses a few; an "alias bomb" of a few lines needs thousands.
 */
export const MAX_ALIAS_COUNT = 100;

/**
 * The document as plain data, or the problem that stopped it: an alias bomb or an alias whose
 * anchor comes later throws from yaml's toJS, and is reported at the first alias of the file.
 */
export function yamlData(
  doc: Document,
  lineCounter: LineCounter,
): { ok: true; data: unknown } | { ok: false; problem: ConfigProblem } {
  try {
    return { ok: true, data: doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) };
  } catch (err) {
    const first = firstAlias(doc);
    const position = first?.offset !== undefined ? lineCounter.linePos(first.offset) : undefined;
    const excessive = /excessive alias count/i.test((err as Error).message);
    return {
      ok: false,
      problem: {
        path: first?.path ?? '',
        ...(position ? { line: position.line, column: position.col } : {}),
        message: excessive
          ? `YAML aliases here expand to too much data (more than ${MAX_ALIAS_COUNT} alias uses); write the values out`
          : (err as Error).message.split('\n')[0]!,
      },
    };
  }
}

function firstAlias(doc: Document): { path: string; offset: number | undefined } | undefined {
  let found: { path: string; offset: number | undefined } | undefined;
  visit(doc, {
    Alias(_key, node, ancestors) {
      // The path: a pair contributes its key, a sequence the index of the item below it.
      const path: (string | number)[] = [];
      ancestors.forEach((a, i) => {
        const below = ancestors[i + 1] ?? node;
        if (isPair(a) && a.value === below) path.push(isScalar(a.key) ? String(a.key.value) : String(a.key));
        else if (isSeq(a)) path.push(a.items.indexOf(below as never));
      });
      found = { path: dotted(path), offset: node.range?.[0] };
      return visit.BREAK;
    },
  });
  return found;
}

function dotted(path: (string | number)[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}
