import {
  type Document,
  isCollection,
  isNode,
  isPair,
  isScalar,
  isSeq,
  type LineCounter,
  type Node,
} from 'yaml';
import type { ConfigProblem } from './loadConfig.ts';

type YamlError = Document['errors'][number];
/** One step of a path, with the column its key (or its sequence's dash) starts at. */
type Step = { segment: string | number; column: number; offset: number };

/** What yaml says when a line is indented wrongly: the admin is told to look at the indentation. */
const INDENTATION = new Set([
  'BAD_INDENT',
  'TAB_AS_INDENT',
  'MULTILINE_IMPLICIT_KEY',
  'BLOCK_AS_IMPLICIT_KEY',
]);

/**
 * YAML syntax errors as an admin reads them: one per line, at the line's first character when the
 * error sits in its indentation, and with the path of the key the broken line belongs to. yaml
 * reports an indentation error at column 1 and may read the broken line as a new, nameless entry;
 * the line's own indentation says where it was meant to go (the deepest key left of it), so
 * `   inject:` under `- id: ai` is reported at `routes[0]`, never at an empty path.
 * Only the first `limit` errors (by where yaml raised them) are looked at.
 */
export function syntaxProblems(
  doc: Document,
  text: string,
  lineCounter: LineCounter,
  limit = Number.POSITIVE_INFINITY,
): ConfigProblem[] {
  // yaml may report one mistake twice from the same place: take the first, with the widest reach.
  const byStart = new Map<number, { e: YamlError; end: number }>();
  for (const e of doc.errors) {
    const seen = byStart.get(e.pos[0]);
    if (seen) seen.end = Math.max(seen.end, e.pos[1]);
    else byStart.set(e.pos[0], { e, end: e.pos[1] });
  }
  const seenLines = new Set<number>();
  const out: ConfigProblem[] = [];
  // Each error costs a walk down the document: past `limit` of them, the rest are not looked at.
  let examined = 0;
  for (const { e, end } of byStart.values()) {
    if (examined++ >= limit) break;
    const problem = syntaxProblem(doc, text, lineCounter, e, end);
    if (problem.line !== undefined && seenLines.has(problem.line)) continue;
    if (problem.line !== undefined) seenLines.add(problem.line);
    out.push(problem);
  }
  return out;
}

function syntaxProblem(
  doc: Document,
  text: string,
  lineCounter: LineCounter,
  e: YamlError,
  end: number,
): ConfigProblem {
  // A key that runs on into the next line (`path: /` followed by an over-indented `upstream:`) is
  // a mistake on the line where it ends.
  const spansLines = text.slice(e.pos[0], end).includes('\n');
  let offset = Math.min(spansLines ? text.lastIndexOf('\n', end - 1) + 1 : e.pos[0], text.length);
  let lineStart = text.lastIndexOf('\n', offset - 1) + 1;
  // At the end of the file (an unclosed quote or bracket), the mistake is in what came last.
  if (text.slice(lineStart).split('\n', 1)[0]!.trim() === '' && lineStart > 0) {
    offset = previousContent(text, lineStart);
    lineStart = text.lastIndexOf('\n', offset - 1) + 1;
  }
  const indent = /^[ \t]*/.exec(text.slice(lineStart))![0].length;
  const first = lineStart + indent;
  const atLineStart = offset <= first && e.code !== 'DUPLICATE_KEY';
  // An error in a line's indentation is about where that line belongs: look at what precedes it.
  const probe = atLineStart ? previousContent(text, lineStart) : offset;
  const steps = stepsAt(doc, probe, lineCounter);
  const kept: Step[] = [];
  for (const step of steps) {
    const onThisLine = step.offset >= lineStart && step.offset <= offset;
    if (e.code !== 'DUPLICATE_KEY' && step.column >= indent && !onThisLine) break;
    kept.push(step);
  }
  const { line, col } = lineCounter.linePos(atLineStart ? first : offset);
  const message = e.message.split('\n')[0]!;
  const indentation = atLineStart || INDENTATION.has(e.code) || /without - indicator/.test(message);
  return {
    path: dotted(kept.map((s) => s.segment)),
    line,
    column: col,
    message: indentation ? `${message} (check the indentation of this line)` : message,
  };
}

/** The offset of the last non-blank character before `lineStart` (0 at the top of the file). */
function previousContent(text: string, lineStart: number): number {
  let i = lineStart - 1;
  while (i > 0 && /\s/.test(text[i]!)) i--;
  return Math.max(i, 0);
}

/** The path of the deepest key whose node spans `offset`, each step with the column it starts at. */
function stepsAt(doc: Document, offset: number, lineCounter: LineCounter): Step[] {
  const steps: Step[] = [];
  let node: unknown = doc.contents;
  for (;;) {
    if (!isCollection(node)) return steps;
    const collection = node;
    let next: unknown;
    collection.items.forEach((item, i) => {
      if (next !== undefined) return;
      if (isPair(item)) {
        const value = item.value as Node | null;
        const start = isNode(item.key) ? item.key.range?.[0] : undefined;
        const end = value?.range?.[2] ?? (isNode(item.key) ? item.key.range?.[2] : undefined);
        if (start !== undefined && end !== undefined && offset >= start && offset <= end) {
          const segment = isScalar(item.key) ? String(item.key.value) : String(item.key);
          steps.push({ segment, column: lineCounter.linePos(start).col - 1, offset: start });
          next = value ?? null;
        }
      } else if (isNode(item) && item.range && offset >= item.range[0] && offset <= item.range[2]) {
        // A sequence entry starts at its dash, which is where the sequence itself starts.
        const start = isSeq(collection) && collection.range ? collection.range[0] : item.range[0];
        steps.push({ segment: i, column: lineCounter.linePos(start).col - 1, offset: item.range[0] });
        next = item;
      }
    });
    if (next === undefined || next === null) return steps;
    node = next;
  }
}

function dotted(path: (string | number)[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}
